"""Several processes over one index directory (service workers, a shell running upsert or
compact): every acknowledged write survives a compaction elsewhere and is visible everywhere."""

from __future__ import annotations

import multiprocessing as mp
import shutil
from pathlib import Path

import pytest

import shopsearch
from shopsearch.types import Product


@pytest.fixture()
def index_copy(tiny_index: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_index, tmp_path / "idx"))


def _meta(engine, pid: str, price: float) -> Product:  # type: ignore[no-untyped-def]
    p = engine.product(pid)
    return Product(**{**p.__dict__, "price": price})


def test_two_engines_see_each_others_writes_and_compactions(index_copy: Path) -> None:
    a, b = shopsearch.load(index_copy), shopsearch.load(index_copy)
    a.upsert([_meta(a, "p1", 1.0)])
    assert b.search("tshirt", k=10, filters=["price<2"]).ids() == ["p1"]  # b picked up a's write
    b.delete(["p2"])
    b.compact()  # b folds a's write and its own delete into a new version
    a.upsert([_meta(a, "p3", 2.0)])  # a writes after b's compaction: onto the new version, not lost
    assert a.product("p2") is None  # a switched to the compacted version on that write
    assert set(b.search("shoes", k=10, filters=["price<3"]).ids()) == {"p1", "p3"}
    fresh = shopsearch.load(index_copy)
    assert fresh.product("p1").price == 1.0 and fresh.product("p3").price == 2.0 and fresh.product("p2") is None


def _writer(path: str, pid: str, n: int) -> None:
    engine = shopsearch.load(path)
    for i in range(n):
        engine.upsert([_meta(engine, pid, float(i + 1))])


def test_concurrent_writer_processes_and_a_compaction(index_copy: Path) -> None:
    ctx = mp.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(index_copy), pid, 15)) for pid in ("p1", "p4")]
    for w in writers:
        w.start()
    engine = shopsearch.load(index_copy)
    for _ in range(3):
        engine.compact()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    fresh = shopsearch.load(index_copy)
    assert fresh.product("p1").price == 15.0 and fresh.product("p4").price == 15.0  # the last writes won
    engine.refresh()
    assert engine.product("p1").price == 15.0
