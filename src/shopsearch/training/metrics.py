"""Vectorised ranking metrics over a score matrix, for validation and the alignment benchmark.

Binary relevance. ``scores`` float (n_queries, n_docs), ``relevant`` bool of the same shape.
Every function returns float64 (n_queries,); queries with no relevant document score 0.
Ties are broken by document index (stable sort), so results are deterministic.
(:mod:`shopsearch.evaluation.metrics` holds the id-based reference implementations.)
"""

from __future__ import annotations

import numpy as np


def _ranked_relevance(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} differ in shape")
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(relevant.astype(bool), order, axis=1)


def ndcg_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """nDCG@k with gain 1 per relevant document and log2(rank + 1) discount."""
    rel = _ranked_relevance(scores, relevant)[:, :k].astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, rel.shape[1] + 2))
    dcg = rel @ disc
    n_rel = np.minimum(relevant.sum(axis=1), k)
    idcg = np.array([disc[:n].sum() for n in n_rel])
    return np.where(idcg > 0, dcg / np.maximum(idcg, 1e-12), 0.0)


def recall_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """Fraction of the relevant documents found in the top k."""
    rel = _ranked_relevance(scores, relevant)[:, :k]
    total = relevant.sum(axis=1)
    return np.where(total > 0, rel.sum(axis=1) / np.maximum(total, 1), 0.0)


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """Relevant documents in the top k, divided by k."""
    return _ranked_relevance(scores, relevant)[:, :k].sum(axis=1) / float(k)


def reciprocal_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1 / rank of the first relevant document (0 if none)."""
    rel = _ranked_relevance(scores, relevant)
    first = np.argmax(rel, axis=1)
    return np.where(rel.any(axis=1), 1.0 / (first + 1), 0.0)


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Mean of precision@rank over the ranks of all relevant documents (full ranking)."""
    rel = _ranked_relevance(scores, relevant).astype(np.float64)
    hits = np.cumsum(rel, axis=1)
    prec = hits / np.arange(1, rel.shape[1] + 1)
    total = rel.sum(axis=1)
    return np.where(total > 0, (prec * rel).sum(axis=1) / np.maximum(total, 1), 0.0)


def ranking_summary(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mean nDCG@k, Recall@k, Recall@1, MRR and MAP over the queries (plain floats)."""
    return {
        f"ndcg@{k}": float(ndcg_at_k(scores, relevant, k).mean()),
        f"recall@{k}": float(recall_at_k(scores, relevant, k).mean()),
        "recall@1": float(recall_at_k(scores, relevant, 1).mean()),
        "mrr": float(reciprocal_rank(scores, relevant).mean()),
        "map": float(average_precision(scores, relevant).mean()),
    }
