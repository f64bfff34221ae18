"""Offline evaluation: ranking/classification metrics, judged query sets, evaluation reports.

Stands beside the search pipeline: it calls a search function and never imports the engine.
"""

from __future__ import annotations

from shopsearch.evaluation.evaluate import EvalReport, SearchFn, evaluate
from shopsearch.evaluation.metrics import (
    accuracy,
    average_precision,
    classification_metrics,
    f1,
    hit_at_k,
    mean_ranking_metrics,
    ndcg_at_k,
    precision,
    precision_at_k,
    r_precision,
    ranking_metrics,
    recall,
    recall_at_k,
    reciprocal_rank,
)
from shopsearch.evaluation.queries import EvalQuery, QueryFileError, load_queries

__all__ = [
    "EvalQuery",
    "EvalReport",
    "QueryFileError",
    "SearchFn",
    "accuracy",
    "average_precision",
    "classification_metrics",
    "evaluate",
    "f1",
    "hit_at_k",
    "load_queries",
    "mean_ranking_metrics",
    "ndcg_at_k",
    "precision",
    "precision_at_k",
    "r_precision",
    "ranking_metrics",
    "recall",
    "recall_at_k",
    "reciprocal_rank",
]
