"""Parsed query constraints evaluated over the catalog."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shopsearch.preprocess.query import Constraint
from shopsearch.retrieve.filters import Filter, FilterIndex


def constraint_mask(c: Constraint, filters: FilterIndex) -> np.ndarray:
    """Bool mask over all positions of the products satisfying ``c``."""
    n = len(filters.products)
    if c.op in ("eq", "ne"):
        mask = np.zeros(n, dtype=bool)
        for field, value in zip(c.fields, c.values or (str(c.value),) * len(c.fields)):
            if field in filters.keys:
                m = filters.mask([Filter(field, "eq", value)])
                if m is not None:
                    mask |= m
        return ~mask if c.op == "ne" else mask
    if c.op == "range":
        if not isinstance(c.value, tuple):
            raise ValueError(f"constraint on {c.fields[0]}: a range needs (low, high), got {c.value!r}")
        lo, hi = c.value
        m = filters.mask([Filter(c.fields[0], "ge", lo), Filter(c.fields[0], "le", hi)])
    else:
        m = filters.mask([Filter(c.fields[0], c.op, c.value)])
    return np.ones(n, dtype=bool) if m is None else m


def constraint_ranking(constraints: Sequence[Constraint], filters: FilterIndex, alive: np.ndarray) -> np.ndarray:
    """Per position, the confidence-weighted fraction of ``constraints`` it satisfies (0..1);
    retired positions score 0."""
    total = sum(c.confidence for c in constraints)
    score = np.zeros(len(alive), dtype=np.float64)
    for c in constraints:
        score += c.confidence * constraint_mask(c, filters)
    return np.where(alive, score / total if total else 0.0, 0.0)
