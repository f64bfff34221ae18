from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

import shopsearch
from shopsearch.index.manifest import resolve_version
from shopsearch.types import Product


@pytest.fixture()
def index_copy(tiny_index: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_index, tmp_path / "idx"))


def _shop(tiny_index: Path) -> Path:
    return tiny_index.parent / "shop" / "images"


def test_upsert_delete_are_visible_and_durable(index_copy: Path, tiny_index: Path) -> None:
    engine = shopsearch.load(index_copy)
    img = str(_shop(tiny_index) / "p5.png")
    counts = engine.upsert([Product(id="n1", title="Purple Silk Scarf", attributes={"gender": "Women"},
                                    price=30.0, images=(img,))])
    assert counts == {"added": 1, "replaced": 0, "metadata": 0}
    assert engine.search(text="silk scarf", k=1).ids() == ["n1"]
    # metadata-only update: no re-embedding, visible at once, filters see the new price
    p1 = engine.product("p1")
    assert p1 is not None
    cheap = Product(**{**p1.__dict__, "price": 5.0})
    assert engine.upsert([cheap]) == {"added": 0, "replaced": 0, "metadata": 1}
    assert engine.search(text="tshirt", k=10, filters=["price<6"]).ids() == ["p1"]
    # text change: re-embedded, old version never returned
    renamed = Product(**{**p1.__dict__, "title": "Orange Linen Kurta"})
    assert engine.upsert([renamed])["replaced"] == 1
    hits = engine.search(text="orange linen kurta", k=10).hits
    assert hits[0].product_id == "p1" and hits[0].product.title == "Orange Linen Kurta"
    assert [h.product_id for h in hits].count("p1") == 1
    assert engine.delete(["p3", "nope"]) == 1
    assert "p3" not in engine.search(text="black formal shoes", k=10).ids()
    assert engine.product("p3") is None
    assert engine.size == 8  # 8 + n1 - p3

    # a fresh load replays the log
    again = shopsearch.load(index_copy)
    assert again.size == 8 and again.product("p3") is None
    assert again.product("p1").title == "Orange Linen Kurta"  # type: ignore[union-attr]
    assert again.search(text="silk scarf", k=1).ids() == ["n1"]

    # compaction folds the log into a new version
    before = resolve_version(index_copy).name
    version = again.compact()
    assert version != before and resolve_version(index_copy).name == version
    assert not list(index_copy.glob("*.wal"))
    third = shopsearch.load(index_copy)
    assert sorted(p.id for p in third.products) == ["n1", "p1", "p2", "p4", "p5", "p6", "p7", "p8"]
    assert third.search(text="silk scarf", k=1).ids() == ["n1"]
    assert again.search(text="orange linen kurta", k=1).ids() == ["p1"]


def test_torn_log_line_is_ignored(index_copy: Path) -> None:
    engine = shopsearch.load(index_copy)
    engine.delete(["p2"])
    wal = next(index_copy.glob("*.wal"))
    with open(wal, "a") as fh:
        fh.write('{"op": "delete", "ids": ["p4"')  # crash mid-append: never acknowledged
    again = shopsearch.load(index_copy)
    assert again.product("p2") is None and again.product("p4") is not None
    again.delete(["p6"])  # the log stays readable after the truncation
    assert shopsearch.load(index_copy).product("p6") is None


def test_concurrent_searches_during_updates(index_copy: Path) -> None:
    engine = shopsearch.load(index_copy)
    engine.warmup()
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            try:
                for hit in engine.search(text="tshirt", k=8).hits:
                    assert hit.product is not None and hit.product.id == hit.product_id
                    assert hit.product.price in (19.0, 1.0, 15.0, 22.0, 39.0, 120.0, 80.0, 25.0, 60.0)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    p1 = engine.product("p1")
    assert p1 is not None
    for i in range(20):
        engine.upsert([Product(**{**p1.__dict__, "price": 1.0 if i % 2 else 19.0})])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_upsert_rejects_duplicate_ids(index_copy: Path) -> None:
    engine = shopsearch.load(index_copy)
    with pytest.raises(ValueError, match="duplicate ids in one batch: x"):
        engine.upsert([Product(id="x", title="a"), Product(id="x", title="b")])
