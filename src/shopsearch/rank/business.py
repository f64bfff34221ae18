"""Business signals as ranking features: price fit, rating, popularity, stock, freshness, rules.

Every signal is an array over catalog positions (the engine's product list), rebuilt when the
catalog changes. Missing data is neutral: an unknown rating or stock scores the catalog's middle,
never zero, so products without the data are neither punished nor favoured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from shopsearch.preprocess.query import ParsedQuery
from shopsearch.rank.config import EVENT_WEIGHTS, BoostRule
from shopsearch.retrieve.filters import FilterIndex, normalize_filters
from shopsearch.types import Product

_DATE_KEYS = ("created", "created_at", "published_at", "release_date", "launched", "updated_at")


def product_value(product: Product, info: Mapping[str, Mapping[str, Any]] | None, key: str) -> Any:
    """``key`` for ``product``: from the ``info`` override first, then the product itself."""
    if info is not None:
        extra = info.get(product.id)
        if extra is not None and key in extra:
            return extra[key]
    if key in ("price", "rating", "stock"):
        return getattr(product, key)
    if key == "created":
        for k in _DATE_KEYS:
            value = product.extra.get(k, product.attributes.get(k))
            if value is not None:
                return value
        year = product.attributes.get("year")
        return f"{int(year)}-01-01" if isinstance(year, (int, float)) and 1900 < year < 2200 else None
    return None


def _timestamp(value: Any) -> float:
    """Unix seconds from a number or an ISO-8601 date; NaN when unknown or unreadable."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else math.nan
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return math.nan


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _price_bounds(op: str, value: str | float | tuple[float, float]) -> tuple[float, float]:
    """(low, high) of a price constraint: a range's own bounds, or open on one side for le / ge."""
    if op == "range":
        if not isinstance(value, tuple):
            raise TypeError(f"a price range needs (low, high), got {value!r}")
        return float(value[0]), float(value[1])
    if isinstance(value, tuple):
        raise TypeError(f"a price {op} constraint needs one value, got {value!r}")
    return (-math.inf, float(value)) if op == "le" else (float(value), math.inf)


def _facts(products: Sequence[Product], info: Mapping[str, Mapping[str, Any]] | None) -> np.ndarray:
    """(4, n) float64: price, rating, stock and created (unix seconds) per product, NaN = unknown."""
    return np.array([[_number(product_value(p, info, "price")) for p in products],
                     [_number(product_value(p, info, "rating")) for p in products],
                     [_number(product_value(p, info, "stock")) for p in products],
                     [_timestamp(product_value(p, info, "created")) for p in products]],
                    dtype=np.float64).reshape(4, len(products))


class CatalogSignals:
    """Per-position arrays of the product facts ranking uses (NaN = unknown)."""

    def __init__(self, products: Sequence[Product], info: Mapping[str, Mapping[str, Any]] | None = None,
                 previous: CatalogSignals | None = None) -> None:
        """``previous``: the signals of an earlier state of the same list (products replaced in
        place or appended since, as live updates do) with the same ``info``: only the products
        that changed are read again (a price write no longer reads every product's facts)."""
        self.n = len(products)
        self._seen: list[Product] = list(products)
        self._info = info
        self._raw: np.ndarray
        old = previous._seen if previous is not None and previous._info is info else None
        if previous is not None and old is not None and len(old) <= self.n:
            changed = [i for i, (a, b) in enumerate(zip(old, self._seen)) if a is not b]
            changed += range(len(old), self.n)
            raw = np.full((4, self.n), np.nan)
            raw[:, :len(old)] = previous._raw
            raw[:, changed] = _facts([self._seen[i] for i in changed], info)
        else:
            raw = _facts(self._seen, info)
        self._raw = raw
        self.price = raw[0].copy()
        rating, stock, created = raw[1], raw[2], raw[3]
        known = ~np.isnan(rating)
        mean = float(rating[known].mean()) if known.any() else 2.5
        self.rating = np.clip(np.where(known, rating, mean) / 5.0, 0.0, 1.0)
        self.in_stock = np.where(np.isnan(stock), 0.5, (stock > 0).astype(np.float64))
        self.freshness = _percentile(created)

    def price_fit(self, positions: np.ndarray, parsed: ParsedQuery | None) -> np.ndarray:
        """1 for products within the query's budget, decaying with the relative overshoot
        (e.g. 20% over budget scores ~0.67); 1 for every product when there is no budget."""
        price = self.price[positions]
        fit = np.ones(len(positions))
        if parsed is None:
            return fit
        for c in parsed.constraints:
            if c.fields[0] != "price" or c.op in ("eq", "ne"):
                continue
            lo, hi = _price_bounds(c.op, c.value)
            with np.errstate(invalid="ignore", divide="ignore"):
                over = np.where(price > hi, (price - hi) / max(hi, 1e-9), 0.0)
                under = np.where(price < lo, (lo - price) / max(lo, 1e-9), 0.0)
            miss = np.nan_to_num(over + under, nan=0.5)  # unknown price: half a fit
            fit = np.minimum(fit, np.exp(-2.0 * miss))
        return fit


def _percentile(values: np.ndarray) -> np.ndarray:
    """Rank of each value among the known ones, in [0, 1]; unknown values get 0.5."""
    out = np.full(len(values), 0.5)
    known = np.flatnonzero(~np.isnan(values))
    if len(known) > 1:
        order = values[known].argsort(kind="stable")
        ranks = np.empty(len(known))
        ranks[order] = np.arange(len(known))
        out[known] = ranks / (len(known) - 1)
    return out


def popularity(
    events: Iterable[Any], positions_of: Mapping[str, int], n: int, now: float, half_life_days: float,
) -> np.ndarray:
    """Time-decayed, event-weighted interest per position, squashed into [0, 1] with log1p.

    ``events`` are :class:`shopsearch.rank.events.Event`; impressions and dislikes add nothing.
    """
    score = np.zeros(n, dtype=np.float64)
    rate = math.log(2) / (half_life_days * 86400.0)
    for e in events:
        w = EVENT_WEIGHTS.get(e.event, 0.0)
        pos = positions_of.get(e.product_id)
        if w <= 0 or pos is None:
            continue
        score[pos] += w * math.exp(-rate * max(0.0, now - e.ts))
    top = score.max() if n else 0.0
    return np.log1p(score) / math.log1p(top) if top > 0 else score


def rule_boosts(
    rules: Sequence[BoostRule], products: Sequence[Product], parsed: ParsedQuery | None,
) -> tuple[np.ndarray, list[list[str]]]:
    """Sum of the weights of the rules that fire for each of ``products`` (the candidates),
    and the names of the rules fired per product (the explain trace)."""
    boost = np.zeros(len(products))
    fired: list[list[str]] = [[] for _ in products]
    if not rules or not products:
        return boost, fired
    index = FilterIndex(products)
    asked = _asked(parsed)
    for rule in rules:
        if rule.scope == "query" and rule.when and not _query_matches(rule.when, asked):
            continue
        mask = index.mask(normalize_filters(rule.match))
        hit = np.ones(len(products), bool) if mask is None else mask
        if rule.scope == "product" and rule.when:
            when = index.mask(normalize_filters(rule.when))
            hit = hit if when is None else hit & when
        boost[hit] += rule.weight
        for i in np.flatnonzero(hit):
            fired[i].append(rule.name)
    return boost, fired


def _asked(parsed: ParsedQuery | None) -> dict[str, set[str]]:
    asked: dict[str, set[str]] = {}
    if parsed is None:
        return asked
    for c in parsed.constraints:
        if c.op != "eq":
            continue
        for f, v in zip(c.fields, c.values or (str(c.value),) * len(c.fields)):
            asked.setdefault(f, set()).add(str(v).casefold())
    return asked


def _query_matches(when: Mapping[str, Any], asked: dict[str, set[str]]) -> bool:
    """Whether the query asked for every ``key: value`` of ``when`` (a value may be a list)."""
    for key, wanted in when.items():
        values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        if not {str(v).casefold() for v in values} & asked.get(key, set()):
            return False
    return True
