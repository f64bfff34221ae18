"""The catalogue as the engine searches it, and how one change record applies to it.

:class:`CatalogState` is the in-memory catalogue of one index version: products at fixed
positions (a replaced product gets a new position and its old one is retired, so a search sees
either the old or the new product), which positions are alive, the vector indexes and the
lexical index. :meth:`CatalogState.apply` applies one change record (``upsert``, ``meta``,
``delete``: the records of :mod:`shopsearch.index.wal` and of the PostgreSQL change log) and
knows nothing about where records come from.

:class:`LiveCatalog` holds the current state and the locks around it. The engine reads through
it; an :class:`~shopsearch.retrieve.live.Updates` component writes through it. Neither knows the
other's code: both hold the same ``LiveCatalog``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.index.dense import VectorIndex
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import Manifest
from shopsearch.index.wal import decode_array
from shopsearch.preprocess.brands import Brands, learn_brands
from shopsearch.preprocess.text import lexical_text
from shopsearch.retrieve.rwlock import RWLock
from shopsearch.types import Product


@dataclass
class CatalogState:
    """Products at positions 0..n-1 (retired ones included), ``alive`` (bool (n,)), the id ->
    position map of live products, the vector indexes by role, the lexical index (None without
    text fields), the brands learned from the titles, and the version folder it was read from
    (None for a catalogue held elsewhere, e.g. PostgreSQL)."""

    manifest: Manifest
    products: list[Product]
    dense: dict[str, VectorIndex]
    lexical: LexicalIndex | None
    brands: Brands
    alive: np.ndarray
    positions: dict[str, int]
    version_dir: Path | None = None

    @classmethod
    def create(
        cls, manifest: Manifest, products: list[Product], dense: Mapping[str, VectorIndex],
        lexical: LexicalIndex | None, *, shopper_words: bool = True, alive: Iterable[bool] | None = None,
        version_dir: Path | None = None,
    ) -> CatalogState:
        """A state over ``products`` (all alive unless ``alive`` says otherwise). With
        ``shopper_words``, brands learned from the titles fill in products without a brand
        field, so brand is a facet, a filter and part of the query vocabulary
        (:mod:`shopsearch.preprocess.brands`)."""
        brands = learn_brands(p.title for p in products) if shopper_words else Brands({})
        live = np.ones(len(products), dtype=bool) if alive is None else np.asarray(list(alive), dtype=bool)
        if live.shape != (len(products),):
            raise ValueError(f"alive must have one flag per product ({len(products)}), got {live.shape}")
        state = cls(manifest, [], dict(dense), lexical, brands, live, {}, version_dir)
        state.products = [state.with_brand(p) for p in products]
        state.positions = {p.id: i for i, p in enumerate(state.products) if live[i]}
        return state

    @property
    def size(self) -> int:
        """Number of live products."""
        return int(self.alive.sum())

    @property
    def text_fields(self) -> tuple[str, ...]:
        """The indexed text fields (every indexed field but the image)."""
        return tuple(f for f in self.manifest.fields if f != "image")

    def product(self, product_id: str) -> Product | None:
        pos = self.positions.get(product_id)
        return None if pos is None else self.products[pos]

    def with_brand(self, product: Product) -> Product:
        """``product`` with its brand read from its title when it has none (and one is known)."""
        if product.brand or not len(self.brands):
            return product
        brand = self.brands.of_title(product.title)
        return replace(product, brand=brand) if brand else product

    def live_products(self) -> list[Product]:
        return [p for p, ok in zip(self.products, self.alive) if ok]

    # -- applying one change record (caller holds the write lock) -------------------------------
    def apply(self, record: Mapping[str, Any]) -> None:
        """Apply one change record: ``{"op": "upsert", "products": [...], "vectors": {role: {"rows",
        "data"}}}`` (new positions; vectors absent when they live elsewhere, e.g. Milvus),
        ``{"op": "meta", "products": [...]}`` (in place) or ``{"op": "delete", "ids": [...]}``."""
        op = record.get("op")
        if op == "upsert":
            self._upsert(record)
        elif op == "meta":
            for d in record["products"]:
                p = Product.from_dict(d)
                pos = self.positions.get(p.id)
                if pos is not None:
                    self.products[pos] = self.with_brand(p)
        elif op == "delete":
            for i in record["ids"]:
                pos = self.positions.pop(i, None)
                if pos is not None:
                    self.alive[pos] = False
        else:
            raise ValueError(f"unknown update record {op!r}")

    def _upsert(self, record: Mapping[str, Any]) -> None:
        products = [self.with_brand(Product.from_dict(d)) for d in record["products"]]
        base = len(self.products)
        for p in products:
            old = self.positions.get(p.id)
            if old is not None:
                self.alive[old] = False
        self.products.extend(products)
        self.alive = np.concatenate([self.alive, np.ones(len(products), bool)])
        for i, p in enumerate(products):
            self.positions[p.id] = base + i
        for role, data in record.get("vectors", {}).items():
            if role in self.dense:
                rows = np.asarray(data["rows"], dtype=np.int64) + base
                self.dense[role].append(decode_array(data["data"]), rows, len(self.products))
        for index in self.dense.values():
            index.n_products = len(self.products)
        if self.lexical is not None:
            fields = self.text_fields
            for i, p in enumerate(products):
                self.lexical.add(base + i, lexical_text(p, fields))


class LiveCatalog:
    """The engine's current :class:`CatalogState` and the locks around it.

    ``rw``: searches read under its read lock, changes apply under its write lock;
    ``update_lock``: one writer at a time in this process, held from the durable write of a
    change to its application, so log order is apply order; ``generation``: bumped by every
    change, for state derived from the catalogue and cached elsewhere (the engine's views, the
    ranker's features).
    """

    def __init__(self, state: CatalogState) -> None:
        self.state = state
        self.rw = RWLock()
        self.update_lock = threading.Lock()
        self.generation = 0

    @contextmanager
    def writing(self) -> Iterator[LiveCatalog]:
        """Hold the write lock (no search runs meanwhile) to change ``state`` in place or replace
        it; the generation is bumped when the block ends."""
        with self.rw.write():
            try:
                yield self
            finally:
                self.generation += 1

    def apply(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Apply change records in order, under the write lock."""
        with self.writing():
            for record in records:
                self.state.apply(record)
