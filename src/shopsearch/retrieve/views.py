"""Structures derived from one catalogue state, built on first use.

Filters, facet fields, price buckets, autocomplete and the query parser are read from the live
products. :class:`CatalogViews` builds each once, the first time a search needs it, for one
:class:`~shopsearch.retrieve.state.CatalogState` at one generation; after a change the engine
starts a fresh ``CatalogViews`` from the previous one, which keeps what the change cannot have
altered. A shop's usual write changes a price or the stock: the parser and autocomplete
(~250 and ~90 ms to build on 7,667 products) and the facet fields are kept when no product's
title, brand, category or attributes changed (the parser only takes the new price thresholds),
and filter columns are patched at the changed positions. Before, the first search after every write rebuilt all
of it (250-340 ms on the sample catalogue).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np

from shopsearch.preprocess.query import QueryParser
from shopsearch.preprocess.shopper import ShopperLexicon, default_shopper_lexicon, learn_expansions, word_keys
from shopsearch.retrieve.facets import PRICE_FACET, choose_facet_fields, price_buckets
from shopsearch.retrieve.filters import FilterIndex
from shopsearch.retrieve.state import CatalogState
from shopsearch.retrieve.suggest import Suggester
from shopsearch.types import Product


class CatalogViews:
    """What searches read besides the indexes, for ``state`` as of ``generation``.

    Each attribute is computed on first access; two threads may both compute one (the result is
    the same), which costs less than a lock every search would take."""

    def __init__(self, state: CatalogState, generation: int, shopper_words: bool = True,
                 previous: CatalogViews | None = None) -> None:
        """``previous``: the views of an earlier generation of the same ``state`` (see the
        module's docstring); only its finished parts are reused, and it keeps no older one."""
        self.state = state
        self.generation = generation
        self.shopper_words = shopper_words
        same = previous is not None and previous.state is state and previous.shopper_words == shopper_words
        self._previous = previous if same else None
        if previous is not None:
            previous._previous = None

    def _done(self, name: str) -> Any:
        """The previous views' ``name`` if it was built, else None."""
        previous = self._previous
        return previous.__dict__.get(name) if previous is not None else None

    @cached_property
    def live(self) -> list[Product]:
        return self.state.live_products()

    @cached_property
    def same_words(self) -> bool:
        """True when the previous views' live products read the same as these: the same
        products in the same order, none with a changed title, brand, category or attribute (a
        changed price or stock leaves the words alone)."""
        previous = self._previous
        if previous is None or "live" not in previous.__dict__:
            return False
        old, new = previous.live, self.live
        return len(old) == len(new) and all(a is b or _same_words(a, b) for a, b in zip(old, new))

    @cached_property
    def filters(self) -> FilterIndex:
        """Filter masks over every position (retired ones included; callers AND with ``alive``)."""
        return FilterIndex(self.state.products, previous=self._done("filters"))

    @cached_property
    def facet_fields(self) -> tuple[str, ...]:
        kept = self._done("facet_fields")
        if kept is None or not self.same_words:
            return choose_facet_fields(self.live)
        # the words are the same: only whether any product has a price may have changed
        fields = tuple(f for f in kept if f != PRICE_FACET)
        return (*fields, PRICE_FACET) if any(p.price is not None for p in self.live) else fields

    @cached_property
    def price_edges(self) -> list[float]:
        return price_buckets(np.array([p.price for p in self.live if p.price is not None], float))

    @cached_property
    def suggester(self) -> Suggester:
        kept = self._done("suggester")
        if kept is not None and self.same_words:
            return cast(Suggester, kept)
        return Suggester(self.live)

    @cached_property
    def parser(self) -> QueryParser:
        kept = self._done("parser")
        if kept is not None and self.same_words:
            cheap, expensive = price_thresholds(self.live)
            if (cheap, expensive) == (kept.cheap_price, kept.expensive_price):
                return cast(QueryParser, kept)
            parser = copy.copy(kept)  # the same vocabulary and spelling lists, new price words
            parser.cheap_price, parser.expensive_price = cheap, expensive
            return parser
        return make_parser(self.live, self.facet_fields, self.shopper_words)

    @cached_property
    def image_dirs(self) -> tuple[Path, ...]:
        """Folders holding the catalog's local product images (what a service may serve)."""
        return tuple(sorted({Path(img).parent.resolve() for p in self.state.products for img in p.images
                             if not img.startswith(("http://", "https://"))}))


def _same_words(a: Product, b: Product) -> bool:
    """What the parser, autocomplete and facet choice read is the same in ``a`` and ``b``."""
    return a.title == b.title and a.brand == b.brand and a.category == b.category and a.attributes == b.attributes


def _text_attribute(product: Product, field: str) -> str | None:
    """The product's ``field`` when it is a string (numbers and absent fields: None)."""
    value = product.attributes.get(field)
    return value if isinstance(value, str) else None


def price_thresholds(products: Sequence[Product]) -> tuple[float | None, float | None]:
    """What "cheap" and "expensive" mean in this catalogue: the 25th and 90th price percentiles."""
    prices = np.array([p.price for p in products if p.price is not None], dtype=float)
    if not prices.size:
        return None, None
    return float(np.quantile(prices, 0.25)), float(np.quantile(prices, 0.9))


def make_parser(products: Sequence[Product], facet_fields: Sequence[str], shopper_words: bool = True) -> QueryParser:
    """A query parser over the catalog's own vocabulary (facet attributes and brands), the
    shopper lexicon extended with what the catalogue's titles teach (``learn_expansions``),
    and the titles' words as the words typo correction leaves alone (without
    ``shopper_words``: the catalogue's own words only)."""
    vocabulary: dict[str, set[str]] = {}
    for p in products:
        for f in facet_fields:
            if f == "brand" and p.brand:
                vocabulary.setdefault("brand", set()).add(p.brand)
            elif isinstance(p.attributes.get(f), str):
                vocabulary.setdefault(f, set()).add(str(p.attributes[f]))
    cheap, expensive = price_thresholds(products)
    if not shopper_words:
        return QueryParser(vocabulary, cheap_price=cheap, expensive_price=expensive, shopper=ShopperLexicon([]),
                           known_words=None, correct_typos=False)
    shopper = default_shopper_lexicon()
    attribute_fields = [f for f in facet_fields if f in vocabulary and f != "brand"]
    known = {w for values in vocabulary.values() for v in values for w in word_keys(v)} | shopper.words()
    learned = learn_expansions([p.title for p in products],
                               {f: [_text_attribute(p, f) for p in products] for f in attribute_fields}, known=known)
    title_words = Counter(w for p in products for w in set(word_keys(p.title)))
    return QueryParser(vocabulary, cheap_price=cheap, expensive_price=expensive, shopper=shopper.extended(learned),
                       known_words=title_words)
