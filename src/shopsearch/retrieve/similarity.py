"""Similarity functions between a query vector and candidate vectors, selectable per signal.

Dense candidates are found by inner product (FAISS); a signal configured with another
function is re-scored exactly on its candidates. For the L2-normalised vectors that
shopsearch's encoders produce, every function here orders candidates the same way as cosine
(they are monotonic in the cosine); they differ in the *scores*, which matters for linear
fusion, and in ordering for user-supplied, non-normalised vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def cosine(q: np.ndarray, m: np.ndarray) -> np.ndarray:
    """cos(q, m_i) = q.m_i / (|q| |m_i|); 0 for zero vectors."""
    denom = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
    return np.divide(m @ q, denom, out=np.zeros(len(m), np.float64), where=denom > 0)


def dot(q: np.ndarray, m: np.ndarray) -> np.ndarray:
    """q.m_i."""
    return (m @ q).astype(np.float64)


def euclidean(q: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Euclidean distance as a similarity: 1 / (1 + |q - m_i|), in (0, 1]."""
    return 1.0 / (1.0 + np.linalg.norm(m - q, axis=1))


def smoothed(q: np.ndarray, m: np.ndarray, alpha: float = 0.0, beta: float = 0.0) -> np.ndarray:
    """(q.m_i + alpha) / (|q| |m_i| + beta): cosine with additive smoothing (beta > 0 keeps
    near-zero vectors from getting extreme scores)."""
    denom = np.linalg.norm(m, axis=1) * np.linalg.norm(q) + beta
    return np.divide(m @ q + alpha, denom, out=np.zeros(len(m), np.float64), where=denom != 0)


@dataclass(frozen=True)
class Similarity:
    """A named similarity; ``alpha``/``beta`` only apply to ``smoothed``."""

    name: str = "cosine"
    alpha: float = 0.0
    beta: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in _FUNCTIONS:
            raise ValueError(f"unknown similarity {self.name!r}; valid: {', '.join(_FUNCTIONS)}")
        if self.name == "smoothed" and self.beta < 0:
            raise ValueError(f"smoothed similarity needs beta >= 0, got {self.beta}")

    def __call__(self, q: np.ndarray, m: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        m = np.asarray(m, dtype=np.float64)
        if self.name == "smoothed":
            return smoothed(q, m, self.alpha, self.beta)
        return _FUNCTIONS[self.name](q, m)


_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "cosine": cosine, "dot": dot, "euclidean": euclidean, "smoothed": smoothed,
}
SIMILARITIES: tuple[str, ...] = tuple(_FUNCTIONS)


def parse_similarity(spec: str) -> Similarity:
    """``"cosine"``, ``"dot"``, ``"euclidean"``, ``"smoothed"`` or ``"smoothed:ALPHA:BETA"``."""
    name, _, rest = spec.partition(":")
    if not rest:
        return Similarity(name)
    try:
        alpha, beta = (float(x) for x in rest.split(":"))
    except ValueError:
        raise ValueError(f"similarity {spec!r}: use smoothed:ALPHA:BETA with two numbers") from None
    return Similarity(name, alpha, beta)
