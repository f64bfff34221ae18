"""One integration suite (index, search, filters, updates, deletes) over every backend:
SQLite + FAISS (the default), PostgreSQL + Milvus, and Ray-indexed PostgreSQL + Milvus.

The remote backends must return what the embedded one returns for the same data (the tiny
catalog is far below any ANN recall loss).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import shopsearch
from devkit.catalogs import tiny_rows, write_catalog
from shopsearch.config import IndexConfig
from shopsearch.retrieve.engine import Engine
from shopsearch.scale.build import build
from shopsearch.scale.config import StoreConfig
from tests.scale.conftest import fresh_namespace

BACKENDS = ("sqlite+faiss", "postgres+milvus", "ray+postgres+milvus")
QUERIES: list[tuple[str, Any]] = [
    ("red shirt", None),
    ("shoes", None),
    ("shoes", {"gender": "Women"}),
    ("tshirt", ["price<20"]),
    ("bag", ["base_colour=Red|Green"]),
    ("black", {"article_type": "shirt"}),
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scale-catalog")
    return write_catalog(root, tiny_rows(root))


@pytest.fixture(scope="module")
def index_config(catalog: Path) -> IndexConfig:
    return IndexConfig(zero_shot=False, cache_path=catalog.parent / "cache.sqlite", progress=False)


def make_index(backend: str, request: pytest.FixtureRequest, catalog: Path, config: IndexConfig, out: Path) -> Path:
    """Build ``catalog`` into ``out`` on ``backend`` (starting the servers it needs)."""
    if backend == "sqlite+faiss":
        build(catalog, out, config)
        return out
    pg, mv = request.getfixturevalue("postgres"), request.getfixturevalue("milvus")
    stores = StoreConfig(products="postgres", vectors="milvus", postgres_dsn=pg.dsn, milvus_uri=mv.uri,
                         namespace=fresh_namespace(), sync_interval=0.1)
    encode: Any = None
    if backend.startswith("ray"):
        from shopsearch.scale.ray_index import RayEncoder

        encode = RayEncoder(request.getfixturevalue("ray_cluster").address, block_size=3,
                            checkpoint_dir=out.parent / f"{out.name}-blocks")
    build(catalog, out, config, stores, **({"encode": encode} if encode else {}))
    return out


def _ids(result: Any) -> list[str]:
    return [h.product_id for h in result.hits]


def _open(path: Path) -> Engine:
    return shopsearch.load(path)


def _close(engine: Engine) -> None:
    engine.close()


@pytest.fixture(scope="module")
def reference(catalog: Path, index_config: IndexConfig, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    out = tmp_path_factory.mktemp("reference") / "idx"
    build(catalog, out, index_config)
    return Engine.load(out)


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest, catalog: Path, index_config: IndexConfig,
           tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = make_index(request.param, request, catalog, index_config, tmp_path_factory.mktemp("idx") / "idx")
    e = _open(out)
    yield e
    _close(e)


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, catalog: Path, index_config: IndexConfig, tmp_path: Path) -> Any:
    """A new index per test (these tests change it)."""
    out = make_index(request.param, request, catalog, index_config, tmp_path / "idx")
    e = _open(out)
    yield out, e
    _close(e)


def test_index_counts(engine: Engine, reference: Engine) -> None:
    assert engine.size == reference.size == 8
    assert engine.manifest.counts == reference.manifest.counts
    assert sorted(engine.dense) == sorted(reference.dense) == ["image", "joint", "text"]
    assert engine.stats()["vectors"] == reference.stats()["vectors"]


@pytest.mark.parametrize(("text", "filters"), QUERIES)
def test_search_matches_embedded(engine: Engine, reference: Engine, text: str, filters: Any) -> None:
    got, want = engine.search(text, k=5, filters=filters), reference.search(text, k=5, filters=filters)
    assert _ids(got) == _ids(want)
    assert [round(h.score, 5) for h in got.hits] == [round(h.score, 5) for h in want.hits]
    assert got.signals_used == want.signals_used


def test_search_finds_the_obvious(engine: Engine) -> None:
    assert _ids(engine.search("red cotton tshirt", k=3))[0] == "p1"
    women = engine.search("shoes", k=8, filters={"gender": "Women"})
    assert women.hits and all(h.product.attributes["gender"] == "Women" for h in women.hits)
    cheap = engine.search("tshirt", k=8, filters=["price<20"])
    assert cheap.hits and all(h.product.price < 20 for h in cheap.hits)
    assert engine.search("tshirt", k=8, filters=["price<1"]).hits == []


def test_image_query_and_similar(engine: Engine, reference: Engine, catalog: Path) -> None:
    photo = catalog.parent / "images" / "p3.png"
    got, want = engine.search(image=photo, k=4), reference.search(image=photo, k=4)
    assert _ids(got)[0] == "p3"
    assert _ids(got) == _ids(want)
    assert _ids(engine.similar("p3", k=3)) == _ids(reference.similar("p3", k=3))


def test_updates(fresh: tuple[Path, Engine], reference: Engine) -> None:
    path, engine = fresh
    p1 = engine.product("p1")
    assert p1 is not None
    # attribute order is part of the product (facets, API output): a store must keep it
    attributes = {"zz_a_long_attribute_name": "x", **p1.attributes, "gender": "Women", "a": "y"}
    added = dataclasses.replace(p1, id="p9", title="Purple Velvet Scarf", attributes=attributes)
    assert engine.upsert([added]) == {"added": 1, "replaced": 0, "metadata": 0}
    assert _ids(engine.search("purple velvet scarf", k=3))[0] == "p9"
    # re-embedded replacement: the old title no longer matches
    renamed = dataclasses.replace(engine.product("p7"), title="Orange Wool Beanie Hat")
    assert engine.upsert([renamed]) == {"added": 0, "replaced": 1, "metadata": 0}
    assert _ids(engine.search("orange wool beanie", k=3))[0] == "p7"
    assert engine.product("p7").title == "Orange Wool Beanie Hat"
    # metadata only (price): no re-embedding, filters see it
    cheaper = dataclasses.replace(engine.product("p3"), price=5.0)
    assert engine.upsert([cheaper]) == {"added": 0, "replaced": 0, "metadata": 1}
    assert "p3" in _ids(engine.search("shoes", k=8, filters=["price<10"]))
    assert engine.size == 9
    # a fresh load sees the same state (log replay / PostgreSQL snapshot)
    again = _open(path)
    try:
        assert again.size == 9
        assert again.product("p3").price == 5.0
        assert list(again.product("p9").attributes) == list(attributes)
        assert again.product("p9").to_dict() == engine.product("p9").to_dict()
        assert [p.to_dict() for p in again.products] == [p.to_dict() for p in engine.products]
        for q in ("purple velvet scarf", "orange wool beanie", "shoes"):
            assert _ids(again.search(q, k=5)) == _ids(engine.search(q, k=5))
    finally:
        _close(again)


def test_deletes(fresh: tuple[Path, Engine]) -> None:
    path, engine = fresh
    assert "p1" in _ids(engine.search("red cotton tshirt", k=8))
    assert engine.delete(["p1", "nope"]) == 1
    assert engine.delete(["p1"]) == 0
    assert engine.product("p1") is None
    assert "p1" not in _ids(engine.search("red cotton tshirt", k=8))
    assert "p1" not in _ids(engine.search("shirt", k=8, filters={"gender": "Men"}))
    assert engine.size == 7
    again = _open(path)
    try:
        assert again.size == 7 and again.product("p1") is None
        assert "p1" not in _ids(again.search("red cotton tshirt", k=8))
    finally:
        _close(again)
