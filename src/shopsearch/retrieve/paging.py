"""One turn's result list, frozen: pages, facet filters and sorts are views over it.

A shopper who pages, ticks a facet or sorts has not asked a new question, so the products
already shown must keep their order: the service ranks a turn once (the top
:data:`FREEZE_DEPTH` products), stores the ids, and answers every further page, filter and
sort of that turn from the stored list (:func:`view`). Totals are the size of that list after
the filters, so they cannot change from one page to the next, and facet counts are counted
over the same list, so a count promises exactly the number of products a click shows.

Facet counts follow the usual multi-select convention: the counts of one field are taken over
the list filtered by every *other* field's selection, so a second value of a field can be
added without first removing the one chosen.

:func:`weak_match` is the relevance floor: a text query of which no word matches a product
and no part was understood ("xyzzy", an emoji) has no good match, only loose neighbours in
the embedding space, and the service says so instead of listing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from shopsearch.retrieve.facets import facet_counts
from shopsearch.retrieve.filters import Filter, FilterIndex, normalize_filters
from shopsearch.types import Hit, Product

FREEZE_DEPTH = 300  # products ranked once per turn: more pages than a shopper reads (12 of 24)
SortOrder = Literal["relevance", "price_asc", "price_desc", "newest"]
SORT_ORDERS: tuple[str, ...] = get_args(SortOrder)
# attributes that date a product, newest sort; "year" is what the fashion catalogue has
DATE_KEYS: tuple[str, ...] = ("created", "created_at", "published_at", "release_date", "launched", "year")
# signals that only match when a word of the query is in the product's text or attributes
MATCHING_SIGNALS = frozenset({"lexical", "attributes"})


@dataclass(frozen=True)
class View:
    """A page of a frozen list: ``products`` of this page (best first, or sorted); ``total``
    products after the filters; ``facets`` field -> [(value, count)] over the filtered list."""

    products: list[Product]
    total: int
    facets: dict[str, list[tuple[str, int]]]


def sort_orders(products: Sequence[Product]) -> list[str]:
    """The sorts a catalogue (or a result list) supports: price only when some product has a
    price, newest only when some product is dated."""
    out = ["relevance"]
    if any(p.price is not None for p in products):
        out += ["price_asc", "price_desc"]
    if any(_date(p) is not None for p in products):
        out.append("newest")
    return out


def view(
    products: Sequence[Product], k: int, page: int, *, filters: Mapping[str, Any] | Sequence[str] | None = None,
    sort: str = "relevance", facet_fields: Sequence[str] = (), price_edges: Sequence[float] = (),
) -> View:
    """Page ``page`` (1-based, ``k`` per page) of ``products`` (a frozen ranking, best first)
    filtered by ``filters`` (the syntax of :mod:`shopsearch.retrieve.filters`) and sorted by
    ``sort`` (ties keep the ranking's order). Raises ``FilterError`` for a bad filter and
    ``ValueError`` for an unknown sort."""
    if sort not in SORT_ORDERS:
        raise ValueError(f"sort must be one of {', '.join(SORT_ORDERS)}, got {sort!r}")
    parsed = normalize_filters(filters)
    index = FilterIndex(products)
    keep = _mask(index, parsed)
    rows = [i for i in range(len(products)) if keep is None or keep[i]]
    if sort == "price_asc":
        rows.sort(key=lambda i: (products[i].price is None, products[i].price or 0.0))
    elif sort == "price_desc":
        rows.sort(key=lambda i: (products[i].price is None, -(products[i].price or 0.0)))
    elif sort == "newest":
        rows.sort(key=lambda i: _newest_key(products[i]))
    # fields without a choice of their own are counted over the filtered list, in one pass
    chosen = {f.key for f in parsed}
    counts = facet_counts(products, rows, [f for f in facet_fields if f not in chosen], price_edges)
    for field in (f for f in facet_fields if f in chosen):
        mask = _mask(index, [f for f in parsed if f.key != field])
        positions = [i for i in range(len(products)) if mask is None or mask[i]]
        counts.update(facet_counts(products, positions, [field], price_edges))
    counts = {f: counts[f] for f in facet_fields if f in counts}  # the catalogue's field order
    start = (page - 1) * k
    return View([products[i] for i in rows[start:start + k]], len(rows), counts)


def weak_match(hits: Sequence[Hit], parsed: Mapping[str, Any] | None, has_image: bool) -> bool:
    """True when a text-only query has no good match: no hit matched a word of it (lexical)
    or an understood attribute, and nothing of it was understood (no constraint, no correction)."""
    if has_image or not hits:
        return False
    if parsed and (parsed.get("constraints") or parsed.get("corrected")):
        return False
    return not any(MATCHING_SIGNALS & set(h.signals) for h in hits)


def _mask(index: FilterIndex, filters: Sequence[Filter]) -> Any:
    return index.mask(list(filters)) if filters else None


def _date(p: Product) -> float | str | None:
    for key in DATE_KEYS:
        value = p.attributes.get(key)
        if value is not None and not isinstance(value, bool):
            return value
    return None


def _newest_key(p: Product) -> tuple[int, float, str]:
    value = _date(p)
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, (int, float)):
        return (0, -float(value), "")
    # ISO dates sort as text: newest first by inverting each character
    return (1, 0.0, "".join(chr(0x10FFFF - ord(c)) for c in str(value)))
