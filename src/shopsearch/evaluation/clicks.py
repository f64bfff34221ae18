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

The PBM is the one position-based click model of the library: the shopper simulator
(:mod:`shopsearch.rank.simulate`) drives it through :meth:`PositionBasedModel.browse`, with
relevance ``grade / 3``, Normal noise on the attraction, and uniforms it draws itself (one
stream per query whatever the ranking), because it also needs to know what was examined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Browsing", "CascadeModel", "ClickModel", "PositionBasedModel", "create_click_model", "relative_gains"]

ClickModelName = Literal["pbm", "cascade"]


class ClickModel(Protocol):
    def clicks(self, ranking: Sequence[str], gains: Mapping[str, float], rng: np.random.Generator) -> list[int]:
        """0-based positions the simulated user clicks, in increasing order."""
        ...


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def relative_gains(ranking: Sequence[str], gains: Mapping[str, float]) -> NDArray[np.float64]:
    """Each ranked id's gain divided by the query's largest gain, float64 (len(ranking),); 0 for
    ids without a gain (and for every id when no gain is positive)."""
    top = max((g for g in gains.values() if g > 0), default=0.0)
    return np.array([gains.get(pid, 0.0) / top if top > 0 else 0.0 for pid in ranking], dtype=np.float64)


def _attraction(relevance: ArrayLike, p_rel: float, p_nonrel: float) -> NDArray[np.float64]:
    """``p_nonrel + (p_rel - p_nonrel) * relevance``, relevance clipped to [0, 1]."""
    return p_nonrel + (p_rel - p_nonrel) * np.clip(np.asarray(relevance, dtype=np.float64), 0.0, 1.0)


class Browsing(NamedTuple):
    """What a simulated user did on a ranked list: bool arrays (n,) by 0-based position."""

    examined: NDArray[np.bool_]
    clicked: NDArray[np.bool_]


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

    def examination(self, n: int) -> NDArray[np.float64]:
        """Probability that 1-based rank r = 1..n is examined, ``(1 / r) ** eta``, float64 (n,)."""
        return (1.0 / np.arange(1, n + 1, dtype=np.float64)) ** self.eta

    def attraction(self, relevance: ArrayLike, noise: ArrayLike | None = None) -> NDArray[np.float64]:
        """Click probability of an examined result, float64 (n,): ``p_nonrel + (p_rel - p_nonrel)
        * relevance`` (relevance in [0, 1], clipped), plus ``noise`` (n,) if given, clipped to [0, 1]."""
        p = _attraction(relevance, self.p_rel, self.p_nonrel)
        if noise is None:
            return p
        return np.clip(p + np.asarray(noise, dtype=np.float64), 0.0, 1.0)

    def clicks(self, ranking: Sequence[str], gains: Mapping[str, float], rng: np.random.Generator) -> list[int]:
        """One uniform per rank: a click where it falls below examination x attraction."""
        n = len(ranking)
        if n == 0:
            return []
        p = self.examination(n) * self.attraction(relative_gains(ranking, gains))
        return np.flatnonzero(rng.random(n) < p).tolist()

    def browse(self, relevance: ArrayLike, u_examine: ArrayLike, u_click: ArrayLike,
               noise: ArrayLike | None = None) -> Browsing:
        """Examinations and clicks from uniforms the caller drew (each float (n,), in [0, 1)):
        rank i is examined when ``u_examine[i] < examination``, and an examined rank is clicked
        when ``u_click[i] < attraction(relevance, noise)[i]``. ``relevance`` float (n,) in [0, 1]."""
        attraction = self.attraction(relevance, noise)
        n = attraction.shape[0]
        examined = np.asarray(u_examine, dtype=np.float64)[:n] < self.examination(n)
        return Browsing(examined, examined & (np.asarray(u_click, dtype=np.float64)[:n] < attraction))


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
        attraction = _attraction(relative_gains(ranking, gains), self.p_rel, self.p_nonrel)
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
