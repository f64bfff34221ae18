"""Fusion of ranked candidate lists from several signals."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Ranking = tuple[np.ndarray, np.ndarray]  # (positions int64, scores float32), best first


def reciprocal_rank_fusion(
    rankings: Mapping[str, Ranking], k: int = 60, weights: Mapping[str, float] | None = None,
) -> list[tuple[int, float, dict[str, tuple[float, int]]]]:
    """RRF: fused(d) = sum over signals s of w_s / (k + rank_s(d)), ranks 1-based.

    Returns (position, fused score, {signal: (raw score, rank)}) best first; ties are broken
    by the best single rank, then by position, so the order is deterministic.
    """
    fused: dict[int, float] = {}
    detail: dict[int, dict[str, tuple[float, int]]] = {}
    for name, (positions, scores) in rankings.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        for rank, (pos, score) in enumerate(zip(positions.tolist(), scores.tolist()), start=1):
            fused[pos] = fused.get(pos, 0.0) + w / (k + rank)
            detail.setdefault(pos, {})[name] = (float(score), rank)
    order = sorted(fused, key=lambda p: (-fused[p], min(r for _, r in detail[p].values()), p))
    return [(p, fused[p], detail[p]) for p in order]
