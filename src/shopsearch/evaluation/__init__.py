"""Offline evaluation: ranking/classification metrics, judged query sets, evaluation reports,
significance tests, TREC files, interleaving and split-traffic A/B experiments.

Stands beside the search pipeline: the library modules call a search function and never import
the engine; only :mod:`shopsearch.evaluation.systems` (named engine configurations) and
:mod:`shopsearch.evaluation.cli` load engines.
"""

from __future__ import annotations

from shopsearch.evaluation.abtest import ArmComparison, Experiment, ExperimentConfig, assign_arm
from shopsearch.evaluation.clicks import CascadeModel, ClickModel, PositionBasedModel, create_click_model
from shopsearch.evaluation.compare import PairedComparison, compare_reports, comparison_markdown, comparison_table
from shopsearch.evaluation.evaluate import EvalReport, SearchFn, evaluate
from shopsearch.evaluation.interleaving import (
    Interleaved,
    InterleavingResult,
    credit,
    replay_log,
    simulate_interleaving,
    team_draft,
)
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
    ranked_relevance,
    ranking_metrics,
    ranking_summary,
    recall,
    recall_at_k,
    reciprocal_rank,
    score_metrics,
)
from shopsearch.evaluation.queries import EvalQuery, QueryFileError, load_queries
from shopsearch.evaluation.results import RunResults, load_results, recall_curve, save_results
from shopsearch.evaluation.stats import (
    binomial_test,
    bootstrap_test,
    holm,
    paired_t_test,
    randomization_test,
    sign_test,
)
from shopsearch.evaluation.trec import TrecFormatError, apply_qrels, read_qrels, read_run, read_topics, write_run

__all__ = [
    "ArmComparison",
    "CascadeModel",
    "ClickModel",
    "EvalQuery",
    "EvalReport",
    "Experiment",
    "ExperimentConfig",
    "Interleaved",
    "InterleavingResult",
    "PairedComparison",
    "PositionBasedModel",
    "QueryFileError",
    "RunResults",
    "SearchFn",
    "TrecFormatError",
    "accuracy",
    "apply_qrels",
    "assign_arm",
    "average_precision",
    "binomial_test",
    "bootstrap_test",
    "classification_metrics",
    "compare_reports",
    "comparison_markdown",
    "comparison_table",
    "create_click_model",
    "credit",
    "evaluate",
    "f1",
    "hit_at_k",
    "holm",
    "load_queries",
    "load_results",
    "mean_ranking_metrics",
    "ndcg_at_k",
    "paired_t_test",
    "precision",
    "precision_at_k",
    "r_precision",
    "randomization_test",
    "ranked_relevance",
    "ranking_metrics",
    "ranking_summary",
    "read_qrels",
    "read_run",
    "read_topics",
    "recall",
    "recall_at_k",
    "recall_curve",
    "reciprocal_rank",
    "replay_log",
    "save_results",
    "score_metrics",
    "sign_test",
    "simulate_interleaving",
    "team_draft",
    "write_run",
]
