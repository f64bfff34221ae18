"""Facet counts over a set of matching products, and the choice of facet fields."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import cast

import numpy as np

from shopsearch.types import Product

# Attributes with more distinct values than this (or than 60% of the products, for catalogs of
# more than ~35 products) are identifiers or free text, not facets; so are long values.
MAX_FACET_VALUES = 200
MAX_FACET_VALUE_CHARS = 40
PRICE_FACET = "price"


def choose_facet_fields(products: Sequence[Product], max_values: int = MAX_FACET_VALUES) -> tuple[str, ...]:
    """Facet fields for a catalog: brand, low-cardinality text attributes, price, category levels.

    Numbers-only attributes (years, sizes) are left out except price, which gets buckets.
    """
    values: dict[str, set[str]] = {}
    numeric: set[str] = set()
    for p in products:
        for key, value in p.attributes.items():
            if isinstance(value, str):
                values.setdefault(key, set()).add(value)
            else:
                numeric.add(key)
    fields = []
    if any(p.brand for p in products):
        fields.append("brand")
    limit = min(max_values, max(20, int(0.6 * len(products))))
    fields += [k for k, v in values.items() if 1 < len(v) <= limit and k not in numeric
               and sum(map(len, v)) / len(v) <= MAX_FACET_VALUE_CHARS]
    if not fields and any(p.category for p in products):
        fields.append("category")
    if any(p.price is not None for p in products):
        fields.append(PRICE_FACET)
    return tuple(fields)


def price_buckets(prices: np.ndarray) -> list[float]:
    """Round bucket edges (about five buckets) spanning the catalog's price range."""
    prices = prices[np.isfinite(prices)]
    if prices.size == 0:
        return []
    hi = float(np.quantile(prices, 0.95))
    if hi <= 0:
        return []
    base = 10 ** np.floor(np.log10(hi / 5))
    step = float(min((base * m for m in (1, 2, 5, 10)), key=lambda s: abs(hi / s - 5)))
    return [step * i for i in range(1, 6) if step * i < float(prices.max())]


def facet_counts(
    products: Sequence[Product], positions: Sequence[int], fields: Sequence[str], edges: Sequence[float],
    max_values: int = 20,
) -> dict[str, list[tuple[str, int]]]:
    """For each facet field, (value, count) over ``positions``, most frequent first (price:
    buckets in price order)."""
    chosen = [products[pos] for pos in positions]
    out: dict[str, list[tuple[str, int]]] = {}
    for field in fields:
        # one comprehension per field kind and Counter's C loop: this runs on every search
        values: list[object]
        if field == PRICE_FACET:
            values = [_bucket(p.price, edges) for p in chosen if p.price is not None]
        elif field == "brand":
            values = [p.brand for p in chosen if p.brand]
        elif field == "category":
            values = [p.category[-1] for p in chosen if p.category]
        else:
            values = [v for p in chosen if (v := p.attributes.get(field)) is not None]
        if not values:
            continue
        counts = _as_text(Counter(values))
        if field == PRICE_FACET:
            out[field] = sorted(counts.items(), key=lambda kv: _bucket_start(kv[0]))
        else:
            out[field] = counts.most_common(max_values)
    return out


def _as_text(counts: Counter[object]) -> Counter[str]:
    """``counts`` keyed by text: a number in a text field counts as its text (first seen first)."""
    if all(type(v) is str for v in counts):
        return cast(Counter[str], counts)  # the usual case: every value is text
    out: Counter[str] = Counter()
    for value, n in counts.items():
        out[str(value)] += n
    return out


def _bucket(price: float, edges: Sequence[float]) -> str:
    lo = 0.0
    for edge in edges:
        if price < edge:
            return f"{_fmt(lo)}-{_fmt(edge)}"
        lo = edge
    return f"{_fmt(lo)}+"


def _bucket_start(label: str) -> float:
    return float(label.rstrip("+").split("-")[0])


def _fmt(x: float) -> str:
    return f"{x:g}"
