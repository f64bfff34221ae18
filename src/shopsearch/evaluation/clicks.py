"""Click models for simulating users on a ranked list, with relevance taken from judgements.

Both models map a result's gain to an attraction probability
``p_nonrel + (p_rel - p_nonrel) * gain / max_gain`` (``max_gain`` is the query's largest gain,
so binary judgements give ``p_rel`` and ``p_nonrel``):

* :class:`PositionBasedModel` (PBM): the user examines rank r with probability
  ``(1 / r) ** eta`` independently of other ranks, and clicks an examined result with its
  attraction probability.
* :class:`CascadeModel`: the user scans top-down, clicks with the attraction probability, and
  after a click stops with probability ``stop_after_click`` (1.0 = the classic cascade model,
  at most one click; smaller values approximate the dependent click model).

``clicks(ranking, gains, rng)`` returns the clicked 0-based positions, in increasing order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

__all__ = ["CascadeModel", "ClickModel", "PositionBasedModel", "create_click_model"]

ClickModelName = Literal["pbm", "cascade"]


class ClickModel(Protocol):
    def clicks(self, ranking: Sequence[str], gains: Mapping[str, float], rng: np.random.Generator) -> list[int]:
        """0-based positions the simulated user clicks, in increasing order."""
        ...


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _attraction(ranking: Sequence[str], gains: Mapping[str, float], p_rel: float, p_nonrel: float) -> np.ndarray:
    top = max((g for g in gains.values() if g > 0), default=0.0)
    rel = np.array([gains.get(pid, 0.0) / top if top > 0 else 0.0 for pid in ranking], dtype=np.float64)
    return p_nonrel + (p_rel - p_nonrel) * np.clip(rel, 0.0, 1.0)


@dataclass(frozen=True)
class PositionBasedModel:
    """PBM: examination ``(1/r)**eta`` at 1-based rank r, attraction from the gain."""

    p_rel: float = 0.9
    p_nonrel: float = 0.05
    eta: float = 1.0

    def __post_init__(self) -> None:
        _check_prob("PositionBasedModel.p_rel", self.p_rel)
        _check_prob("PositionBasedModel.p_nonrel", self.p_nonrel)
        if not self.eta >= 0:
            raise ValueError(f"PositionBasedModel.eta must be >= 0, got {self.eta!r}")

    def clicks(self, ranking: Sequence[str], gains: Mapping[str, float], rng: np.random.Generator) -> list[int]:
        n = len(ranking)
        if n == 0:
            return []
        examine = (1.0 / np.arange(1, n + 1, dtype=np.float64)) ** self.eta
        p = examine * _attraction(ranking, gains, self.p_rel, self.p_nonrel)
        return np.flatnonzero(rng.random(n) < p).tolist()


@dataclass(frozen=True)
class CascadeModel:
    """Cascade: top-down scan, click by attraction, stop after a click with ``stop_after_click``."""

    p_rel: float = 0.9
    p_nonrel: float = 0.05
    stop_after_click: float = 1.0

    def __post_init__(self) -> None:
        _check_prob("CascadeModel.p_rel", self.p_rel)
        _check_prob("CascadeModel.p_nonrel", self.p_nonrel)
        _check_prob("CascadeModel.stop_after_click", self.stop_after_click)

    def clicks(self, ranking: Sequence[str], gains: Mapping[str, float], rng: np.random.Generator) -> list[int]:
        attraction = _attraction(ranking, gains, self.p_rel, self.p_nonrel)
        out: list[int] = []
        for pos, p in enumerate(attraction):
            if rng.random() < p:
                out.append(pos)
                if rng.random() < self.stop_after_click:
                    break
        return out


def create_click_model(name: str, **params: float) -> ClickModel:
    """``"pbm"`` or ``"cascade"`` with their dataclass parameters; unknown names raise ``ValueError``."""
    models: dict[str, type[PositionBasedModel] | type[CascadeModel]] = {
        "pbm": PositionBasedModel, "cascade": CascadeModel,
    }
    if name not in models:
        raise ValueError(f"unknown click model {name!r}; valid: {', '.join(models)}")
    return models[name](**params)
