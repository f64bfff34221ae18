"""Fusion of ranked candidate lists from several signals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FusedArrays:
    """Fused candidates as arrays, row 0 best: ``positions`` int64 (n,), ``scores`` float64 (n,),
    ``best_rank`` int64 (n,) (the best 1-based rank over signals, the first tie-break), and per
    signal of ``names`` the ``raw`` score float64 (s, n) and 1-based ``ranks`` int64 (s, n), 0
    where that signal did not retrieve the candidate.

    A search fuses a few hundred candidates per signal but shows a page of them: the order,
    boosts and cuts work on these arrays, and only the rows shown become :class:`Candidate`
    objects (:meth:`candidates`)."""

    positions: np.ndarray
    scores: np.ndarray
    best_rank: np.ndarray
    names: tuple[str, ...]
    raw: np.ndarray
    ranks: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)

    def signals(self, row: int) -> dict[str, tuple[float, int]]:
        """{signal: (raw score, rank)} of one row, in the signals' order."""
        return self.signal_rows(row, row + 1)[0]

    def signal_rows(self, start: int, stop: int) -> list[dict[str, tuple[float, int]]]:
        """:meth:`signals` of rows ``[start, stop)``: one pass per signal over the rows it
        retrieved (a candidate is usually in one or two of them), read as Python lists."""
        out: list[dict[str, tuple[float, int]]] = [{} for _ in range(max(0, stop - start))]
        for s, name in enumerate(self.names):
            ranks = self.ranks[s, start:stop]
            rows = np.flatnonzero(ranks)
            for row, raw, rank in zip(rows.tolist(), self.raw[s, start:stop][rows].tolist(), ranks[rows].tolist()):
                out[row][name] = (raw, rank)
        return out

    def candidates(self, start: int = 0, stop: int | None = None) -> Fused:
        """Rows ``[start, stop)`` as :class:`Candidate` objects, best first."""
        stop = len(self) if stop is None else min(stop, len(self))
        start = min(start, stop)
        return [Candidate(p, s, sig) for p, s, sig in zip(self.positions[start:stop].tolist(),
                                                          self.scores[start:stop].tolist(),
                                                          self.signal_rows(start, stop))]

    def reorder(self, rows: np.ndarray, scores: np.ndarray | None = None) -> FusedArrays:
        """These candidates in the order ``rows`` (indices into this list), with new ``scores``
        (float64, one per row of the result) when given."""
        return FusedArrays(self.positions[rows], self.scores[rows] if scores is None else scores,
                           self.best_rank[rows], self.names, self.raw[:, rows], self.ranks[:, rows])

    def sorted(self, scores: np.ndarray) -> FusedArrays:
        """These candidates re-sorted by ``scores`` (float64, one per row): highest first, ties
        by the best single rank, then by position."""
        order = np.lexsort((self.positions, self.best_rank, -scores))
        return self.reorder(order, scores[order])


def _combine(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float] | None,
    contribution: Callable[[int, np.ndarray], np.ndarray],
) -> FusedArrays:
    """Sum ``w_s * contribution(rank, scores)`` per document over signals; keep each signal's
    (raw score, 1-based rank). Ties break by the best single rank, then by position."""
    names = tuple(rankings)
    lists = [(np.asarray(p, dtype=np.int64), np.asarray(sc)) for p, sc in rankings.values()]
    every = np.concatenate([p for p, _ in lists]) if lists else np.zeros(0, dtype=np.int64)
    positions, inverse = np.unique(every, return_inverse=True)
    n = len(positions)
    fused = np.zeros(n, dtype=np.float64)
    raw = np.full((len(names), n), np.nan, dtype=np.float64)
    ranks = np.zeros((len(names), n), dtype=np.int64)
    start = 0
    for s, (name, (pos, scores)) in enumerate(zip(names, lists)):
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        if not (math.isfinite(w) and abs(w) <= MAX_WEIGHT):
            raise ValueError(f"fusion weight of signal {name!r} must be a finite number with |w| <= {MAX_WEIGHT:g}, "
                             f"got {w!r}")
        rows = inverse[start:start + len(pos)]
        start += len(pos)
        np.add.at(fused, rows, w * np.asarray(contribution(len(pos), scores), dtype=np.float64))
        raw[s, rows] = scores.astype(np.float64)
        ranks[s, rows] = np.arange(1, len(pos) + 1)
    best = np.where(ranks > 0, ranks, np.iinfo(np.int64).max).min(axis=0) if n else np.zeros(0, dtype=np.int64)
    return FusedArrays(positions, fused, best, names, raw, ranks).sorted(fused)


def reciprocal_rank_fusion(
    rankings: Mapping[str, Ranking], k: int = 60, weights: Mapping[str, float] | None = None,
) -> Fused:
    """RRF: fused(d) = sum over signals s of w_s / (k + rank_s(d)), ranks 1-based.

    Returns (position, fused score, {signal: (raw score, rank)}) best first; ties are broken
    by the best single rank, then by position, so the order is deterministic. ``k`` must be a
    finite number >= 0 (``ValueError`` otherwise).
    """
    return _rrf(rankings, k, weights).candidates()


def _rrf(rankings: Mapping[str, Ranking], k: float, weights: Mapping[str, float] | None) -> FusedArrays:
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
    return _combine(rankings, weights, lambda _, scores: normalize_scores(scores, method)).candidates()




def fuse_arrays(
    rankings: Mapping[str, Ranking], method: str = "rrf", weights: Mapping[str, float] | None = None,
    rrf_k: int = 60,
) -> FusedArrays:
    """:func:`fuse` as arrays (what a search uses: it shows a page of the candidates)."""
    if method == "rrf":
        return _rrf(rankings, rrf_k, weights)
    if method in FUSION_METHODS:
        return _combine(rankings, weights, lambda _, scores: normalize_scores(scores, method))
    raise ValueError(f"unknown fusion method {method!r}; valid: {', '.join(FUSION_METHODS)}")


def fuse(
    rankings: Mapping[str, Ranking], method: str = "rrf", weights: Mapping[str, float] | None = None,
    rrf_k: int = 60,
) -> Fused:
    """Fuse with ``method``: "rrf" (reciprocal rank fusion) or linear fusion after
    "minmax", "zscore" or "dbsf" normalisation."""
    return fuse_arrays(rankings, method, weights, rrf_k).candidates()
