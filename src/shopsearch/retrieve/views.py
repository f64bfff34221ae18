"""Structures derived from one catalogue state, built on first use.

Filters, facet fields, price buckets, autocomplete and the query parser are read from the live
products. :class:`CatalogViews` builds each once, the first time a search needs it, for one
:class:`~shopsearch.retrieve.state.CatalogState` at one generation; after a change the engine
starts a fresh ``CatalogViews`` (the old one is simply dropped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from shopsearch.preprocess.query import QueryParser
from shopsearch.preprocess.shopper import ShopperLexicon, default_shopper_lexicon, learn_expansions, word_keys
from shopsearch.retrieve.facets import choose_facet_fields, price_buckets
from shopsearch.retrieve.filters import FilterIndex
from shopsearch.retrieve.state import CatalogState
from shopsearch.retrieve.suggest import Suggester
from shopsearch.types import Product


class CatalogViews:
    """What searches read besides the indexes, for ``state`` as of ``generation``.

    Each attribute is computed on first access; two threads may both compute one (the result is
    the same), which costs less than a lock every search would take."""

    def __init__(self, state: CatalogState, generation: int, shopper_words: bool = True) -> None:
        self.state = state
        self.generation = generation
        self.shopper_words = shopper_words

    @cached_property
    def live(self) -> list[Product]:
        return self.state.live_products()

    @cached_property
    def filters(self) -> FilterIndex:
        """Filter masks over every position (retired ones included; callers AND with ``alive``)."""
        return FilterIndex(self.state.products)

    @cached_property
    def facet_fields(self) -> tuple[str, ...]:
        return choose_facet_fields(self.live)

    @cached_property
    def price_edges(self) -> list[float]:
        return price_buckets(np.array([p.price for p in self.live if p.price is not None], float))

    @cached_property
    def suggester(self) -> Suggester:
        return Suggester(self.live)

    @cached_property
    def parser(self) -> QueryParser:
        return make_parser(self.live, self.facet_fields, self.shopper_words)

    @cached_property
    def image_dirs(self) -> tuple[Path, ...]:
        """Folders holding the catalog's local product images (what a service may serve)."""
        return tuple(sorted({Path(img).parent.resolve() for p in self.state.products for img in p.images
                             if not img.startswith(("http://", "https://"))}))


def _text_attribute(product: Product, field: str) -> str | None:
    """The product's ``field`` when it is a string (numbers and absent fields: None)."""
    value = product.attributes.get(field)
    return value if isinstance(value, str) else None


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
    prices = np.array([p.price for p in products if p.price is not None], dtype=float)
    cheap = float(np.quantile(prices, 0.25)) if prices.size else None
    expensive = float(np.quantile(prices, 0.9)) if prices.size else None
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
