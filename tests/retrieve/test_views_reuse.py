"""Views kept across live writes (parser, autocomplete, filter columns) answer exactly as views
built afresh over the same catalogue, and a price or stock change rebuilds none of them."""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import shopsearch
from shopsearch.retrieve.filters import FilterError, normalize_filters
from shopsearch.retrieve.views import CatalogViews
from shopsearch.types import Product

FILTERS = [["tag=gift"], ["gender=Women"], ["price<30"], ["price>=60"], ["base_colour=Red"],
           ["article_type=shoe", "gender=Men"], ["category=shirt"], ["brand=Acme"], ["base_colour!=Black"], ["stock>2"]]
QUERIES = ["cheap red tshirt", "expensive bag for women", "acme shoes", "black formal shoes under 50",
           "yellow summer", "purple scarf", "blu shirt", "绿色包"]
PREFIXES = ["re", "bl", "ac", "sh", "pu", "t"]


@pytest.fixture()
def engine(tiny_index: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return shopsearch.load(Path(shutil.copytree(tiny_index, tmp_path / "idx")))


def _answers(views: CatalogViews) -> tuple[object, ...]:
    alive = views.state.alive

    def mask(f: list[str]) -> object:
        try:
            return tuple(np.flatnonzero(views.filters.mask(normalize_filters(f)) & alive))
        except FilterError as exc:
            return str(exc)

    masks = tuple(mask(f) for f in FILTERS)
    parsed = tuple(repr(views.parser.parse(q).to_dict()) for q in QUERIES)
    suggested = tuple(tuple(views.suggester.suggest(p, 5)) for p in PREFIXES)
    return masks, parsed, suggested, views.facet_fields, tuple(views.price_edges), sorted(views.filters.keys)


def _write(engine, rng: random.Random, n: int) -> str:  # type: ignore[no-untyped-def]
    ids = sorted(engine.positions)
    p = engine.product(rng.choice(ids))
    kind = rng.choice(["price", "price", "no price", "stock", "colour", "title", "brand", "new", "delete", "tag"])
    if kind == "price":
        engine.upsert([replace(p, price=round(rng.uniform(5, 150), 2))])
    elif kind == "no price":
        engine.upsert([replace(p, price=None)])
    elif kind == "stock":
        engine.upsert([replace(p, stock=rng.randint(0, 5))])
    elif kind == "colour":
        engine.upsert([replace(p, attributes={**p.attributes, "base_colour": rng.choice(["Red", "Purple", "Blue"])})])
    elif kind == "title":
        engine.upsert([replace(p, title=p.title + " deluxe")])
    elif kind == "tag":  # an attribute only some products have, given or taken away
        attributes = {k: v for k, v in p.attributes.items() if k != "tag"}
        engine.upsert([replace(p, attributes=attributes if "tag" in p.attributes else {**attributes, "tag": "gift"})])
    elif kind == "brand":
        engine.upsert([replace(p, brand=rng.choice(["Acme", "Zenda"]))])
    elif kind == "new":
        engine.upsert([Product(id=f"n{n}", title=f"Purple Silk Scarf {n}", price=float(n + 10),
                               category=("scarf",), attributes={"gender": "Women", "base_colour": "Purple"})])
    elif len(ids) > 3:
        engine.delete([p.id])
    return kind


def test_views_kept_across_writes_answer_like_fresh_ones(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shopsearch.retrieve import filters

    patched = []
    real = filters._Column.patched
    monkeypatch.setattr(filters._Column, "patched", lambda self, *a: patched.append(real(self, *a)) or patched[-1])
    rng = random.Random(7)
    _answers(engine.views())  # every part built, as a serving engine has them
    kinds = []
    for n in range(40):
        kinds.append(_write(engine, rng, n))
        kept = engine.views()
        fresh = CatalogViews(engine.catalog.state, -1, engine.config.shopper_words)
        assert _answers(kept) == _answers(fresh), (n, kinds[-1])
    assert {"price", "no price", "stock", "colour", "title", "brand", "new", "delete", "tag"} <= set(kinds)
    assert sum(c is not None for c in patched) > 100  # columns were patched, not rebuilt


def test_a_price_or_stock_change_rebuilds_no_vocabulary(engine) -> None:  # type: ignore[no-untyped-def]
    before = engine.views()
    _answers(before)
    p = engine.product("p1")
    assert engine.upsert([replace(p, stock=3)])["metadata"] == 1
    after = engine.views()
    _answers(after)
    assert after is not before
    assert after.suggester is before.suggester and after.parser is before.parser
    # a price that moves the "cheap" threshold: the same vocabulary with the new price words
    assert engine.upsert([replace(p, price=1.0)])["metadata"] == 1
    again = engine.views()
    _answers(again)
    assert again.suggester is before.suggester
    assert again.parser is not before.parser and again.parser._values is before.parser._values
    assert again.parser.cheap_price != before.parser.cheap_price
    # a new title teaches new words: rebuilt
    engine.upsert([replace(p, title="Mauve Velvet Blazer")])
    assert engine.views().suggester is not before.suggester
    assert engine.views().suggester.suggest("mauv", 1) == ["Mauve Velvet Blazer"]


def test_the_price_facet_follows_the_last_price_leaving_and_coming_back(engine) -> None:  # type: ignore[no-untyped-def]
    _answers(engine.views())
    for pid in sorted(engine.positions):
        engine.upsert([replace(engine.product(pid), price=None)])
        assert _answers(engine.views()) == _answers(CatalogViews(engine.catalog.state, -1))
    assert "price" not in engine.views().facet_fields
    engine.upsert([replace(engine.product("p2"), price=12.0)])
    assert engine.views().facet_fields == CatalogViews(engine.catalog.state, -1).facet_fields
    assert "price" in engine.views().facet_fields
