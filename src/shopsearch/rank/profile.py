"""Shoppers in the joint text-image space: product vectors and user profiles from history.

A product's vector is the mean of its joint-space image vectors (the trained alignment model),
so a profile built from clicked photos also scores products by their look; indexes without the
joint model fall back to the image, then the text vectors. A user's profile is the
time-decayed, event-weighted sum of the vectors of the products they interacted with
(purchases and likes count most, dislikes subtract), L2-normalised.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopsearch.rank.config import EVENT_WEIGHTS

PROFILE_ROLES: tuple[str, ...] = ("joint", "image", "text")


def per_position(vectors: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Mean vector per position (n, d) float32, L2-normalised; zero rows for positions without one."""
    vectors = np.asarray(vectors, dtype=np.float32)
    out = np.zeros((n, vectors.shape[1]), dtype=np.float32)
    if len(rows) == n and np.array_equal(rows, np.arange(n)):
        out[:] = vectors
    else:
        np.add.at(out, rows, vectors)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def role_matrix(dense: Mapping[str, Any], role: str, n: int) -> np.ndarray | None:
    """Per-position vectors of one dense role; ``"text"`` also covers per-field text roles."""
    if role in dense:
        index = dense[role]
        return per_position(index.vectors, index.rows, n)
    if role == "text":
        parts = [per_position(ix.vectors, ix.rows, n) for r, ix in dense.items() if r.startswith("text.")]
        if parts:
            return per_position(np.sum(parts, axis=0), np.arange(n), n)
    return None


def product_space(dense: Mapping[str, Any], n: int) -> tuple[str, np.ndarray] | None:
    """The space profiles live in: the first of joint, image, text the index has."""
    for role in PROFILE_ROLES:
        m = role_matrix(dense, role, n)
        if m is not None:
            return role, m
    return None


def product_features(dense: Mapping[str, Any], n: int) -> np.ndarray:
    """Multimodal product features (n, d) float32 for the graph model: the joint (or image)
    vector next to the text vector, each half L2-normalised; a missing half is zeros."""
    visual = role_matrix(dense, "joint", n)
    if visual is None:
        visual = role_matrix(dense, "image", n)
    text = role_matrix(dense, "text", n)
    parts = [m for m in (visual, text) if m is not None]
    if not parts:
        raise ValueError("the index has no dense vectors to describe products with")
    return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass(frozen=True)
class Profile:
    """A shopper's taste: ``vector`` (d,) L2-normalised or None without usable history;
    ``price`` the typical (weighted geometric mean) price of what they engaged with."""

    vector: np.ndarray | None
    price: float | None
    events: int

    @property
    def cold(self) -> bool:
        return self.vector is None


def build_profile(
    events: Iterable[Any], positions_of: Mapping[str, int], matrix: np.ndarray, prices: np.ndarray,
    now: float, half_life_days: float, limit: int = 500,
) -> Profile:
    """Profile from a user's events (newest ``limit`` count), decayed with ``half_life_days``."""
    rate = math.log(2) / (half_life_days * 86400.0)
    total = np.zeros(matrix.shape[1], dtype=np.float64)
    price_sum = price_w = 0.0
    used = 0
    recent = sorted(events, key=lambda e: e.ts)[-limit:]
    for e in recent:
        w = EVENT_WEIGHTS.get(e.event, 0.0)
        pos = positions_of.get(e.product_id)
        if w == 0.0 or pos is None:
            continue
        d = w * math.exp(-rate * max(0.0, now - e.ts))
        total += d * matrix[pos]
        used += 1
        price = prices[pos]
        if d > 0 and price > 0:  # NaN compares false
            price_sum += d * math.log(price)
            price_w += d
    norm = float(np.linalg.norm(total))
    vector = (total / norm).astype(np.float32) if norm > 1e-9 else None
    return Profile(vector, math.exp(price_sum / price_w) if price_w else None, used)


def session_vector(
    positive: Sequence[np.ndarray], negative: Sequence[np.ndarray], beta: float, gamma: float,
) -> np.ndarray | None:
    """Rocchio's feedback term: beta * mean(positive) - gamma * mean(negative), L2-normalised;
    None without feedback. (The query term is the retrieval itself.)"""
    if not positive and not negative:
        return None
    dim = (positive or negative)[0].shape[0]
    total = np.zeros(dim, dtype=np.float64)
    if positive:
        total += beta * np.mean(positive, axis=0)
    if negative:
        total -= gamma * np.mean(negative, axis=0)
    norm = float(np.linalg.norm(total))
    return (total / norm).astype(np.float32) if norm > 1e-9 else None


def price_affinity(prices: np.ndarray, center: float | None) -> np.ndarray:
    """How close each price is to a shopper's usual price, in (0, 1]; 1 when unknown."""
    if center is None or center <= 0:
        return np.ones(len(prices))
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = np.exp(-np.abs(np.log(prices / center)))
    return np.nan_to_num(fit, nan=1.0)
