"""Catalogue signals updated after live writes equal signals read afresh."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from shopsearch.rank.business import CatalogSignals
from shopsearch.types import Product

ARRAYS = ("price", "rating", "in_stock", "freshness")


def _product(i: int, rng: random.Random) -> Product:
    return Product(id=f"p{i}", title=f"item {i}", price=rng.choice([None, round(rng.uniform(1, 200), 2)]),
                   rating=rng.choice([None, round(rng.uniform(0, 5), 1)]), stock=rng.choice([None, 0, 3]),
                   attributes={"year": rng.choice([2015, 2020, 2024])} if rng.random() < 0.7 else {})


def test_signals_updated_in_place_equal_fresh_ones() -> None:
    rng = random.Random(5)
    products = [_product(i, rng) for i in range(60)]
    info = {"p3": {"price": 9.5, "created": "2026-01-01"}}
    signals = CatalogSignals(products, info)
    for step in range(30):
        if rng.random() < 0.3:
            products.append(_product(100 + step, rng))  # a new position, as a re-embedded write makes
        else:
            i = rng.randrange(len(products))
            products[i] = replace(products[i], price=rng.choice([None, 5.0, 50.0]), stock=rng.choice([None, 0, 7]),
                                  rating=rng.choice([None, 4.5]))  # replaced in place, as a price write does
        signals = CatalogSignals(products, info, previous=signals)
        fresh = CatalogSignals(products, info)
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(signals, name), getattr(fresh, name), err_msg=f"{name} at {step}")


def test_other_overrides_read_everything_again() -> None:
    rng = random.Random(1)
    products = [_product(i, rng) for i in range(10)]
    before = CatalogSignals(products, None)
    after = CatalogSignals(products, {"p1": {"price": 1.0}}, previous=before)
    assert after.price[1] == 1.0


def test_ranker_facts_after_writes_equal_fresh_ones(tiny_index, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    import shopsearch
    from shopsearch.rank import Ranker
    from shopsearch.rank.ranker import CatalogFacts

    engine = shopsearch.load(shutil.copytree(tiny_index, tmp_path / "idx"))
    ranker = Ranker(engine).attach()

    def check() -> CatalogFacts:
        facts = ranker.facts()
        facts.catalog, facts.space, facts.features  # noqa: B018 - built, as searches build them
        fresh = CatalogFacts(engine.products, engine.dense, None, engine.generation)
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(facts.catalog, name), getattr(fresh.catalog, name))
        assert facts.space is not None and fresh.space is not None and facts.space[0] == fresh.space[0]
        np.testing.assert_array_equal(facts.space[1], fresh.space[1])
        np.testing.assert_array_equal(facts.features, fresh.features)
        return facts

    first = check()
    p1 = engine.product("p1")
    engine.upsert([replace(p1, price=3.0, stock=0)])  # no model call, no new vector
    second = check()
    assert second is not first and second.space is first.space and second.features is first.features
    engine.upsert([replace(p1, title="Crimson Wool Scarf")])  # re-embedded: new vectors, a new position
    third = check()
    assert third.space is not second.space
    engine.upsert([Product(id="n1", title="Teal Canvas Backpack", price=40.0)])
    check()
