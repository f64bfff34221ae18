"""Collaborative filtering on the interaction log: implicit-feedback ALS (the ``implicit`` package).

The user x product matrix holds, per pair, the sum of the pair's event weights
(:data:`EVENT_WEIGHTS`: a purchase counts more than a click, a dislike counts against) each
multiplied by a time decay ``0.5 ** (age / half_life)``. Implicit ALS (Hu, Koren & Volinsky
2008) treats the value as confidence: positive values are observed preferences, negative ones
(net dislikes) confident non-preferences, absent pairs weak non-preferences.

``score(user, products)`` is the dot product of the user's and the products' factors, 0.0 for
an unknown user or product (the ranker's cold-start path falls back to other features).
Requires the ``rank`` extra: ``pip install 'shopsearch[rank]'``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.rank.events import Event

__all__ = ["EVENT_WEIGHTS", "CFModel", "interaction_weights"]

logger = logging.getLogger(__name__)

EVENT_WEIGHTS: dict[str, float] = {
    "impression": 0.0, "click": 1.0, "add_to_cart": 3.0, "purchase": 5.0, "like": 4.0, "dislike": -4.0,
}
CF_FORMAT = 1


def interaction_weights(
    events: Iterable[Event], *, half_life_days: float | None = 30.0, now: float | None = None,
    weights: Mapping[str, float] = EVENT_WEIGHTS,
) -> dict[tuple[str, str], float]:
    """{(user_id, product_id): decayed weight sum} over events that have a user (impressions
    and zero-weight events are skipped). ``now`` defaults to the newest event's time."""
    rows = [e for e in events if e.user_id and weights.get(e.event, 0.0) != 0.0]
    if not rows:
        return {}
    ref = max(e.ts for e in rows) if now is None else float(now)
    out: dict[tuple[str, str], float] = {}
    for e in rows:
        decay = 1.0 if not half_life_days else 0.5 ** (max(0.0, ref - e.ts) / (half_life_days * 86400.0))
        key = (str(e.user_id), e.product_id)
        out[key] = out.get(key, 0.0) + weights[e.event] * decay
    return out


def as_event_list(events: Iterable[Event] | Any) -> list[Event]:
    """Events as a list, from an iterable of them or an event log (anything with ``read()``)."""
    read = getattr(events, "read", None)
    return list(read() if callable(read) else events)


class CFModel:
    """User and product factors from implicit ALS; see the module docstring."""

    def __init__(self, user_ids: Sequence[str], product_ids: Sequence[str], user_factors: np.ndarray,
                 item_factors: np.ndarray, params: Mapping[str, Any] | None = None) -> None:
        if user_factors.shape[0] != len(user_ids) or item_factors.shape[0] != len(product_ids):
            raise ValueError(f"CFModel: {len(user_ids)} users / {len(product_ids)} products but factor shapes "
                             f"{user_factors.shape} / {item_factors.shape}")
        self.user_ids = list(user_ids)
        self.product_ids = list(product_ids)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.params = dict(params or {})
        self._users = {u: i for i, u in enumerate(self.user_ids)}
        self._items = {p: i for i, p in enumerate(self.product_ids)}

    @classmethod
    def fit(
        cls, events: Iterable[Event], product_ids: Sequence[str], *, factors: int = 32, iterations: int = 15,
        regularization: float = 0.05, alpha: float = 2.0, half_life_days: float | None = 30.0,
        now: float | None = None, seed: int = 0,
    ) -> CFModel:
        """Fit on ``events`` (a list of :class:`Event` or an ``EventLog``) over ``product_ids``.

        Events on products outside ``product_ids`` are ignored. Single-threaded and seeded,
        so the same input gives the same factors.
        """
        try:
            from implicit.cpu.als import AlternatingLeastSquares  # type: ignore[import-untyped]
            from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ImportError(f"collaborative filtering needs the implicit package ({exc}); "
                              "pip install 'shopsearch[rank]'") from None
        if factors < 1 or iterations < 1 or regularization < 0:
            raise ValueError(f"CFModel.fit: factors and iterations must be >= 1 and regularization >= 0, got "
                             f"{factors}, {iterations}, {regularization}")
        items = {p: i for i, p in enumerate(product_ids)}
        pairs = interaction_weights(as_event_list(events), half_life_days=half_life_days, now=now)
        skipped = sum(1 for (_, p) in pairs if p not in items)
        pairs = {k: v for k, v in pairs.items() if k[1] in items and v != 0.0}
        user_ids = sorted({u for u, _ in pairs})
        users = {u: i for i, u in enumerate(user_ids)}
        params = {"factors": factors, "iterations": iterations, "regularization": regularization, "alpha": alpha,
                  "half_life_days": half_life_days, "seed": seed, "pairs": len(pairs)}
        if skipped:
            logger.info("CF: %d user-product pairs on products outside the catalog ignored", skipped)
        if not pairs:
            logger.warning("CF: no interactions to learn from; every score will be 0")
            return cls([], list(product_ids), np.zeros((0, factors), np.float32),
                       np.zeros((len(product_ids), factors), np.float32), params)
        r = np.array([users[u] for u, _ in pairs], dtype=np.int32)
        c = np.array([items[p] for _, p in pairs], dtype=np.int32)
        v = np.array(list(pairs.values()), dtype=np.float32)
        matrix = csr_matrix((v, (r, c)), shape=(len(user_ids), len(items)), dtype=np.float32)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                            iterations=iterations, random_state=seed, num_threads=1)
            model.fit(matrix, show_progress=False)
        logger.info("CF: fitted %d users x %d products on %d pairs", len(user_ids), len(items), len(pairs))
        return cls(user_ids, list(product_ids), np.asarray(model.user_factors), np.asarray(model.item_factors),
                   params)

    def has_user(self, user_id: str | None) -> bool:
        return user_id is not None and user_id in self._users

    def score(self, user_id: str | None, product_ids: Sequence[str]) -> np.ndarray:
        """float32 (len(product_ids),): user factors . product factors; 0.0 where either is unknown."""
        out = np.zeros(len(product_ids), dtype=np.float32)
        u = self._users.get(user_id) if user_id is not None else None
        if u is None:
            return out
        idx = np.array([self._items.get(p, -1) for p in product_ids], dtype=np.int64)
        known = idx >= 0
        if known.any():
            out[known] = self.item_factors[idx[known]] @ self.user_factors[u]
        return out

    def save(self, folder: str | Path) -> None:
        """Write ``factors.npz`` and ``cf.json`` (ids, parameters, format) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "factors.npz", user_factors=self.user_factors, item_factors=self.item_factors)
        meta = {"format": CF_FORMAT, "kind": "implicit-als", "user_ids": self.user_ids,
                "product_ids": self.product_ids, "params": self.params}
        (folder / "cf.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> CFModel:
        folder = Path(folder)
        meta_path = folder / "cf.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"no CF model in {folder} (missing cf.json)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != CF_FORMAT:
            raise ValueError(f"{meta_path}: CF model format {meta.get('format')!r}, this version reads {CF_FORMAT}")
        with np.load(folder / "factors.npz") as data:
            return cls(meta["user_ids"], meta["product_ids"], data["user_factors"], data["item_factors"],
                       meta.get("params"))
