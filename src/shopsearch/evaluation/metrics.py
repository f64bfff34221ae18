"""Ranking and classification metrics in pure NumPy.

Conventions (shared by the per-query functions and the vectorised aggregate):

* ``ranked`` is a list of product ids, best first. ``relevant`` is either a collection of ids
  (binary relevance, every gain 1) or a mapping id -> gain (graded relevance). Gains must be
  finite and >= 0; an id with gain 0 counts as not relevant. Only nDCG uses the gain values;
  every other metric uses "gain > 0" as binary relevance.
* Duplicate ids in a ranking: only the first occurrence can earn credit. Later repeats keep
  their rank position (they are a wasted slot the user sees) but count as not relevant.
* A query with no relevant ids scores 0 on every metric and is still counted in averages, so a
  query set with unjudged queries is penalised rather than silently shrunk.
* ``k`` larger than the ranking: missing positions count as not relevant. precision@k always
  divides by ``k`` (the trec_eval ``P_k`` convention), so a short list is penalised.
* MRR, average precision and R-precision look at the whole ranking they are given unless a
  cut-off is passed; :func:`shopsearch.evaluation.evaluate.evaluate` cuts every ranking at ``k``
  first, so there they are effectively @k.
* Score matrices (:func:`score_metrics`, :func:`ranking_summary`, for training validation and
  the alignment benchmark): ``scores`` float (n_queries, n_docs) and ``relevant`` bool of the
  same shape (binary relevance). Each row ranks every document, best score first, ties by
  document index (a stable sort), so MRR and AP see the full ranking. The same kernels as the
  id-based functions compute every value.

Definitions (R = number of relevant ids, rel_i = 1 if the item at 1-based rank i is relevant):

* precision@k = sum_{i<=k} rel_i / k
* recall@k    = sum_{i<=k} rel_i / R
* hit@k       = 1 if any rel_i = 1 for i <= k else 0
* RR          = 1 / (rank of the first relevant item), 0 if none is retrieved
* AP          = sum_i rel_i * precision@i / R   (TREC: unretrieved relevant items add 0)
* nDCG@k      = DCG@k / IDCG@k with DCG@k = sum_{i<=k} gain_i / log2(i + 1) (linear gain);
  IDCG@k is the DCG of the relevant gains sorted descending, capped at k
* R-precision = sum_{i<=R} rel_i / R

All per-query arrays are float64 of shape (n_queries,).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Relevance",
    "accuracy",
    "average_precision",
    "classification_metrics",
    "f1",
    "hit_at_k",
    "mean_ranking_metrics",
    "ndcg_at_k",
    "precision",
    "precision_at_k",
    "r_precision",
    "ranked_relevance",
    "ranking_metrics",
    "ranking_summary",
    "recall",
    "recall_at_k",
    "reciprocal_rank",
    "score_metrics",
]

Relevance = Mapping[str, float] | Iterable[str]
"""Relevant ids for one query: a collection of ids (binary) or a mapping id -> gain (graded)."""

FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------- input checks


def _check_k(k: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    return int(k)


def _check_ranked(ranked: Sequence[str]) -> Sequence[str]:
    if isinstance(ranked, (str, bytes)):
        raise TypeError(f"ranked must be a sequence of ids, not a single string: {ranked!r}")
    return ranked


def _gains(relevant: Relevance) -> dict[str, float]:
    """Relevant id -> positive gain; ids with gain 0 are dropped."""
    if isinstance(relevant, (str, bytes)):
        raise TypeError(
            f"relevant must be a collection of ids or a mapping id -> gain, "
            f"not a single string: {relevant!r}"
        )
    if isinstance(relevant, Mapping):
        out: dict[str, float] = {}
        for pid, value in relevant.items():
            gain = float(value)
            if not math.isfinite(gain) or gain < 0:
                raise ValueError(f"gain for id {pid!r} must be finite and >= 0, got {value!r}")
            if gain > 0:
                out[pid] = gain
        return out
    return dict.fromkeys(relevant, 1.0)


# --------------------------------------------------------------------------- matrices


def _gain_matrix(
    rankings: Sequence[Sequence[str]], gains: Sequence[Mapping[str, float]], width: int
) -> FloatArray:
    """(n, width) float64: gain earned at each rank (0 for misses, repeats and padding)."""
    out = np.zeros((len(rankings), width), dtype=np.float64)
    for row, (ranked, query_gains) in enumerate(zip(rankings, gains, strict=True)):
        seen: set[str] = set()
        for col, pid in enumerate(_check_ranked(ranked)):
            if pid in seen:
                continue
            seen.add(pid)
            gain = query_gains.get(pid)
            if gain:
                out[row, col] = gain
    return out


def _ideal_matrix(gains: Sequence[Mapping[str, float]], k: int) -> FloatArray:
    """(n, k) float64: each query's relevant gains sorted descending, zero-padded."""
    out = np.zeros((len(gains), k), dtype=np.float64)
    for row, query_gains in enumerate(gains):
        best = sorted(query_gains.values(), reverse=True)[:k]
        out[row, : len(best)] = best
    return out


def _safe_div(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _prepare(
    rankings: Sequence[Sequence[str]], relevants: Sequence[Relevance], k: int
) -> tuple[FloatArray, FloatArray, list[dict[str, float]]]:
    if len(rankings) != len(relevants):
        raise ValueError(
            f"rankings and relevants must have the same length, "
            f"got {len(rankings)} and {len(relevants)}"
        )
    gains = [_gains(r) for r in relevants]
    width = max([k, *(len(r) for r in rankings)])
    matrix = _gain_matrix(rankings, gains, width)
    n_relevant = np.array([len(g) for g in gains], dtype=np.float64)
    return matrix, n_relevant, gains


# --------------------------------------------------------------------------- kernels
# Each takes the (n, width) gain matrix G (width >= k) and returns shape (n,).


def _precision_k(hits: NDArray[np.bool_], k: int) -> FloatArray:
    return hits[:, :k].sum(axis=1) / float(k)


def _recall_k(hits: NDArray[np.bool_], n_rel: FloatArray, k: int) -> FloatArray:
    return _safe_div(hits[:, :k].sum(axis=1).astype(np.float64), n_rel)


def _hit_k(hits: NDArray[np.bool_], k: int) -> FloatArray:
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def _rr(hits: NDArray[np.bool_]) -> FloatArray:
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _ap(hits: NDArray[np.bool_], n_rel: FloatArray) -> FloatArray:
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    precision_at_i = np.cumsum(hits, axis=1) / ranks
    return _safe_div((precision_at_i * hits).sum(axis=1), n_rel)


def _ndcg_k(gain: FloatArray, ideal: FloatArray, k: int) -> FloatArray:
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    return _safe_div(gain[:, :k] @ discount, ideal @ discount)


def _r_precision(hits: NDArray[np.bool_], n_rel: FloatArray) -> FloatArray:
    n, width = hits.shape
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    cum = np.cumsum(hits, axis=1)
    # Hits within the top R; when R exceeds the list, every retrieved hit counts.
    col = np.clip(n_rel.astype(np.int64), 1, width) - 1
    return _safe_div(cum[np.arange(n), col].astype(np.float64), n_rel)


# --------------------------------------------------------------------------- aggregate


def ranking_metrics(
    rankings: Sequence[Sequence[str]], relevants: Sequence[Relevance], k: int
) -> dict[str, FloatArray]:
    """Every ranking metric for many queries at once.

    Args:
        rankings: one ranked id list per query (lists may differ in length).
        relevants: one :data:`Relevance` per query, aligned with ``rankings``.
        k: cut-off for precision/recall/hit/nDCG.

    Returns:
        ``{"precision@k", "recall@k", "hit@k", "ndcg@k", "mrr", "map", "r_precision"}`` (with
        the actual k in the names) -> float64 array of shape (n_queries,). ``mrr``, ``map``
        and ``r_precision`` use each whole ranking (cut the rankings at k first for @k values).
    """
    k = _check_k(k)
    gain, n_rel, gains = _prepare(rankings, relevants, k)
    return _all_metrics(gain, n_rel, _ideal_matrix(gains, k), k)


def _all_metrics(gain: FloatArray, n_rel: FloatArray, ideal: FloatArray, k: int) -> dict[str, FloatArray]:
    """Every kernel over the gain matrix (n, width >= k) and the ideal gains (n, k)."""
    hits = gain > 0
    return {
        f"precision@{k}": _precision_k(hits, k),
        f"recall@{k}": _recall_k(hits, n_rel, k),
        f"hit@{k}": _hit_k(hits, k),
        f"ndcg@{k}": _ndcg_k(gain, ideal, k),
        "mrr": _rr(hits),
        "map": _ap(hits, n_rel),
        "r_precision": _r_precision(hits, n_rel),
    }


def mean_ranking_metrics(
    rankings: Sequence[Sequence[str]], relevants: Sequence[Relevance], k: int
) -> dict[str, float]:
    """Means of :func:`ranking_metrics` over queries; raises ``ValueError`` for no queries."""
    if len(rankings) == 0:
        raise ValueError("cannot average metrics over zero queries")
    return {
        name: float(values.mean())
        for name, values in ranking_metrics(rankings, relevants, k).items()
    }


# --------------------------------------------------------------------------- score matrices


def ranked_relevance(scores: ArrayLike, relevant: ArrayLike) -> NDArray[np.bool_]:
    """``relevant`` (bool (n_queries, n_docs)) reordered by ``scores`` (same shape), best first.

    Ties keep document order (a stable sort), so results are deterministic.
    """
    s, r = np.asarray(scores), np.asarray(relevant)
    if s.ndim != 2 or s.shape != r.shape:
        raise ValueError(f"scores {s.shape} and relevant {r.shape} must be 2-D arrays of the same shape")
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(r.astype(bool), order, axis=1)


def _score_gains(scores: ArrayLike, relevant: ArrayLike, k: int) -> tuple[FloatArray, FloatArray]:
    """(gain matrix float64 (n, max(k, n_docs)), number relevant float64 (n,)) of a score matrix."""
    hits = ranked_relevance(scores, relevant)
    n, width = hits.shape
    gain = np.zeros((n, max(k, width)), dtype=np.float64)
    gain[:, :width] = hits
    return gain, hits.sum(axis=1).astype(np.float64)


def score_metrics(scores: ArrayLike, relevant: ArrayLike, k: int) -> dict[str, FloatArray]:
    """:func:`ranking_metrics` for a score matrix with binary relevance.

    Args:
        scores: float (n_queries, n_docs); higher is better.
        relevant: bool (n_queries, n_docs), True where the document is relevant to the query.
        k: cut-off for precision/recall/hit/nDCG.

    Returns:
        The keys of :func:`ranking_metrics` -> float64 (n_queries,). Every document is ranked, so
        ``mrr``, ``map`` and ``r_precision`` see the full ranking.
    """
    k = _check_k(k)
    gain, n_rel = _score_gains(scores, relevant, k)
    ideal = (np.arange(k) < n_rel[:, None]).astype(np.float64)  # binary: R ones, capped at k
    return _all_metrics(gain, n_rel, ideal, k)


def ranking_summary(scores: ArrayLike, relevant: ArrayLike, k: int = 10) -> dict[str, float]:
    """Means over the queries of a score matrix: ``ndcg@k``, ``recall@k``, ``recall@1``, ``mrr``
    and ``map`` (plain floats; NaN for zero queries), as :func:`score_metrics` computes them."""
    k = _check_k(k)
    gain, n_rel = _score_gains(scores, relevant, k)
    per_query = _all_metrics(gain, n_rel, (np.arange(k) < n_rel[:, None]).astype(np.float64), k)
    return {
        f"ndcg@{k}": float(per_query[f"ndcg@{k}"].mean()),
        f"recall@{k}": float(per_query[f"recall@{k}"].mean()),
        "recall@1": float(_recall_k(gain > 0, n_rel, 1).mean()),
        "mrr": float(per_query["mrr"].mean()),
        "map": float(per_query["map"].mean()),
    }


# --------------------------------------------------------------------------- per query


def _one(
    ranked: Sequence[str], relevant: Relevance, k: int | None
) -> tuple[FloatArray, FloatArray, list[dict[str, float]]]:
    ranked = _check_ranked(ranked)
    if k is not None:
        ranked = list(ranked)[: _check_k(k)]
    return _prepare([ranked], [relevant], k or 1)


def precision_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Relevant items in the top ``k`` divided by ``k``."""
    gain, _, _ = _one(ranked, relevant, k)
    return float(_precision_k(gain > 0, k)[0])


def recall_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Relevant items in the top ``k`` divided by the number of relevant items (0 if none)."""
    gain, n_rel, _ = _one(ranked, relevant, k)
    return float(_recall_k(gain > 0, n_rel, k)[0])


def hit_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """1.0 if any of the top ``k`` is relevant, else 0.0."""
    gain, _, _ = _one(ranked, relevant, k)
    return float(_hit_k(gain > 0, k)[0])


def reciprocal_rank(ranked: Sequence[str], relevant: Relevance, k: int | None = None) -> float:
    """1 / rank of the first relevant item; 0.0 if none. ``k=None`` uses the whole ranking."""
    gain, _, _ = _one(ranked, relevant, k)
    return float(_rr(gain > 0)[0])


def average_precision(ranked: Sequence[str], relevant: Relevance, k: int | None = None) -> float:
    """TREC average precision: sum of precision at each relevant hit / number relevant."""
    gain, n_rel, _ = _one(ranked, relevant, k)
    return float(_ap(gain > 0, n_rel)[0])


def ndcg_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """nDCG@k with linear gains and a log2(rank + 1) discount; 0.0 if nothing is relevant."""
    gain, _, gains = _one(ranked, relevant, k)
    return float(_ndcg_k(gain, _ideal_matrix(gains, k), k)[0])


def r_precision(ranked: Sequence[str], relevant: Relevance) -> float:
    """Precision at rank R = number of relevant items; 0.0 if nothing is relevant."""
    gain, n_rel, _ = _one(ranked, relevant, None)
    return float(_r_precision(gain > 0, n_rel)[0])


# --------------------------------------------------------------------------- classification


def _binary(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    arrays = []
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
        if arr.size and not np.isin(arr, (0, 1)).all():
            bad = arr[~np.isin(arr, (0, 1))][:5].tolist()
            raise ValueError(f"{name} must hold only 0/1 or booleans, got values like {bad}")
        arrays.append(arr.astype(bool))
    t, p = arrays
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("y_true and y_pred are empty")
    return t, p


def _confusion(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    t, p = _binary(y_true, y_pred)
    tp = int((t & p).sum())
    fp = int((~t & p).sum())
    fn = int((t & ~p).sum())
    tn = int((~t & ~p).sum())
    return {
        "accuracy": (tp + tn) / (tp + fp + fn + tn),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "tn": float(tn),
    }


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of predictions equal to the truth."""
    return _confusion(y_true, y_pred)["accuracy"]


def precision(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """TP / (TP + FP); 0.0 when nothing is predicted positive."""
    return _confusion(y_true, y_pred)["precision"]


def recall(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """TP / (TP + FN); 0.0 when nothing is truly positive."""
    return _confusion(y_true, y_pred)["recall"]


def f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall; 0.0 if undefined."""
    return _confusion(y_true, y_pred)["f1"]


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``accuracy``, ``precision``, ``recall``, ``f1`` plus the counts ``tp, fp, fn, tn``.

    ``y_true`` and ``y_pred`` are equal-length, non-empty 1-D arrays of 0/1 or booleans.
    """
    return _confusion(y_true, y_pred)
