"""Fusion of ranked candidate lists from several signals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from shopsearch.config import FUSION_METHODS

Ranking = tuple[np.ndarray, np.ndarray]  # (positions int64, scores float32), best first


class Candidate(NamedTuple):
    """One fused candidate: its catalogue ``position``, fused ``score``, and per signal the
    (raw score, 1-based rank) it had there."""

    position: int
    score: float
    signals: dict[str, tuple[float, int]]


Fused = list[Candidate]
MAX_WEIGHT = 1e12  # keeps every weighted sum finite


def _combine(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float] | None,
    contribution: Callable[[int, np.ndarray], np.ndarray],
) -> Fused:
    """Sum ``w_s * contribution(rank, scores)`` per document over signals; keep each signal's
    (raw score, 1-based rank). Ties break by the best single rank, then by position."""
    fused: dict[int, float] = {}
    detail: dict[int, dict[str, tuple[float, int]]] = {}
    for name, (positions, scores) in rankings.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        if not (math.isfinite(w) and abs(w) <= MAX_WEIGHT):
            raise ValueError(f"fusion weight of signal {name!r} must be a finite number with |w| <= {MAX_WEIGHT:g}, "
                             f"got {w!r}")
        values = contribution(len(positions), scores).tolist()
        for rank, (pos, raw, value) in enumerate(zip(positions.tolist(), scores.tolist(), values), start=1):
            fused[pos] = fused.get(pos, 0.0) + w * value
            detail.setdefault(pos, {})[name] = (float(raw), rank)
    order = sorted(fused, key=lambda p: (-fused[p], min(r for _, r in detail[p].values()), p))
    return [Candidate(p, fused[p], detail[p]) for p in order]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Ranking], k: int = 60, weights: Mapping[str, float] | None = None,
) -> Fused:
    """RRF: fused(d) = sum over signals s of w_s / (k + rank_s(d)), ranks 1-based.

    Returns (position, fused score, {signal: (raw score, rank)}) best first; ties are broken
    by the best single rank, then by position, so the order is deterministic. ``k`` must be a
    finite number >= 0 (``ValueError`` otherwise).
    """
    if not (isinstance(k, (int, float)) and math.isfinite(k) and k >= 0):
        raise ValueError(f"RRF constant k (rrf_k) must be a finite number >= 0, got {k!r}")
    return _combine(rankings, weights, lambda n, _: 1.0 / (k + np.arange(1, n + 1, dtype=np.float64)))


def normalize_scores(scores: np.ndarray, method: str) -> np.ndarray:
    """Per-query score normalisation of one signal's candidate scores (float64 out).

    ``minmax``: (s - min) / (max - min); ``zscore``: (s - mean) / std; ``dbsf``
    (distribution-based score fusion): min-max between mean - 3 std and mean + 3 std, clipped
    to [0, 1]. A constant list maps to 1.0 (min-max, dbsf) or 0.0 (z-score).

    Non-finite scores never reach the output: NaN and -inf count as the lowest finite score,
    +inf as the highest (all 0.0 when no score is finite). Huge magnitudes are scaled down
    first (every method is scale-invariant), so nothing overflows.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    finite = np.isfinite(s)
    if not finite.all():
        lo, hi = (s[finite].min(), s[finite].max()) if finite.any() else (0.0, 0.0)
        s = np.where(np.isnan(s), lo, np.clip(s, lo, hi))
    top = float(np.abs(s).max())
    if top > 1e100:
        s = s / top
    if method == "minmax":
        lo, hi = s.min(), s.max()
        return np.ones_like(s) if hi == lo else (s - lo) / (hi - lo)
    if method == "zscore":
        sd = s.std()
        return np.zeros_like(s) if sd == 0 else (s - s.mean()) / sd
    if method == "dbsf":
        mu, sd = s.mean(), s.std()
        if sd == 0:
            return np.ones_like(s)
        lo, hi = mu - 3 * sd, mu + 3 * sd
        return np.clip((s - lo) / (hi - lo), 0.0, 1.0)
    raise ValueError(f"unknown score normalisation {method!r}; use minmax, zscore or dbsf")


def linear_fusion(
    rankings: Mapping[str, Ranking], method: str = "minmax", weights: Mapping[str, float] | None = None,
) -> Fused:
    """Weighted sum of per-signal normalised scores: fused(d) = sum_s w_s * norm_s(score_s(d)).

    A document missing from a signal's candidates contributes nothing for that signal
    (for z-score that is the signal's mean). Same output shape and tie-breaking as
    :func:`reciprocal_rank_fusion`.
    """
    return _combine(rankings, weights, lambda _, scores: normalize_scores(scores, method))




def fuse(
    rankings: Mapping[str, Ranking], method: str = "rrf", weights: Mapping[str, float] | None = None,
    rrf_k: int = 60,
) -> Fused:
    """Fuse with ``method``: "rrf" (reciprocal rank fusion) or linear fusion after
    "minmax", "zscore" or "dbsf" normalisation."""
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, k=rrf_k, weights=weights)
    if method in FUSION_METHODS:
        return linear_fusion(rankings, method, weights)
    raise ValueError(f"unknown fusion method {method!r}; valid: {', '.join(FUSION_METHODS)}")
