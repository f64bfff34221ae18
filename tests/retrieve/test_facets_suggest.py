from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shopsearch
from shopsearch.retrieve.facets import choose_facet_fields, facet_counts, price_buckets
from shopsearch.retrieve.suggest import Suggester
from shopsearch.types import Product

PRODUCTS = [
    Product(id="1", title="Puma Men Polo Tshirts", brand="Puma", price=15.0,
            attributes={"gender": "Men", "colour": "Black", "year": 2011}),
    Product(id="2", title="Nike Women Running Shoes", brand="Nike", price=120.0,
            attributes={"gender": "Women", "colour": "Black", "year": 2012}),
    Product(id="3", title="Nike Men Polo Tshirts", brand="Nike", price=45.0,
            attributes={"gender": "Men", "colour": "Blue", "year": 2012}),
]


def test_facet_fields_and_counts() -> None:
    fields = choose_facet_fields(PRODUCTS)
    assert fields == ("brand", "gender", "colour", "price")  # numeric "year" is not a facet
    edges = price_buckets(np.array([15.0, 120.0, 45.0]))
    assert edges == [20.0, 40.0, 60.0, 80.0, 100.0]
    counts = facet_counts(PRODUCTS, [0, 1, 2], fields, edges)
    assert counts["brand"] == [("Nike", 2), ("Puma", 1)]
    assert counts["colour"] == [("Black", 2), ("Blue", 1)]
    assert counts["price"] == [("0-20", 1), ("40-60", 1), ("100+", 1)]
    assert facet_counts(PRODUCTS, [1], fields, edges)["gender"] == [("Women", 1)]
    # a number in a text field counts as its text, with that text
    mixed = [Product(id=str(i), title="t", attributes={"size": v}) for i, v in enumerate([40, "40", "M", 40])]
    assert facet_counts(mixed, [0, 1, 2, 3], ["size"], []) == {"size": [("40", 3), ("M", 1)]}


def test_suggest() -> None:
    s = Suggester(PRODUCTS, extra_terms=["连衣裙", "连帽衫"])
    assert s.suggest("ni") == ["Nike", "Nike Men Polo Tshirts", "Nike Women Running Shoes"]  # ties: shorter first
    assert s.suggest("polo")[0] == "Polo Tshirts"  # word start inside titles, most common first
    assert s.suggest("BLA") == ["Black"]
    assert s.suggest("连") == ["连帽衫", "连衣裙"]
    assert s.suggest("") == [] and s.suggest("zzz") == []


def test_engine_paging_facets_similar(tiny_index: Path) -> None:
    engine = shopsearch.load(tiny_index)
    full = engine.search(text="tshirt", k=8)
    page2 = engine.search(text="tshirt", k=3, offset=3)
    assert page2.ids() == full.ids()[3:6] and page2.offset == 3
    assert full.total == 8
    assert dict(full.facets["gender"]) == {"Men": 3, "Women": 5}
    assert "price" in full.facets
    sim = engine.similar("p1", k=3)
    assert "p1" not in sim.ids() and len(sim.ids()) == 3
    assert set(sim.signals_used) == {"image", "text"}
    with pytest.raises(KeyError):
        engine.similar("nope")
    with pytest.raises(ValueError, match="offset"):
        engine.search(text="x", offset=-1)
    assert engine.suggest("red")[:1] in (["Red"], ["Red Cotton Tshirt for Men"], ["Red Party Handbag"])
    assert engine.stats()["products"] == 8
