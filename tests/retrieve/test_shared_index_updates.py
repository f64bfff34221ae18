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


def test_a_write_decided_against_a_product_another_writer_changed_meanwhile(index_copy: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine a reads p1 and decides its write (a price change: no model call); before a takes
    the write lock, engine b renames p1 (re-embedded). a's write then carries the old title, so
    it must be re-embedded against what is there now: the stored vectors match the final text."""
    import numpy as np

    from shopsearch.retrieve import live

    a, b = shopsearch.load(index_copy), shopsearch.load(index_copy)
    cheaper = _meta(a, "p1", 2.5)  # a's row: the title as a read it
    real = live.prepare_upsert
    calls = []

    def prepare_then_b_writes(*args, **kwargs):  # type: ignore[no-untyped-def]
        batch = real(*args, **kwargs)
        calls.append(batch)
        if len(calls) == 1:  # b's write lands between a's decision and a's lock
            b.upsert([Product(**{**b.product("p1").__dict__, "title": "Emerald Velvet Evening Gown"})])
        return batch

    monkeypatch.setattr(live, "prepare_upsert", prepare_then_b_writes)
    a.upsert([cheaper])
    monkeypatch.undo()
    for engine in (a, shopsearch.load(index_copy)):
        p1 = engine.product("p1")
        assert p1.title == cheaper.title and p1.price == 2.5  # the last acknowledged write wins
        state = engine.catalog.state
        pos = state.positions["p1"]
        expected = live.embed_changed(state, engine.encoders, [Product(**{**p1.__dict__, "images": ()})])
        text = state.dense["text"]
        stored = text.vectors[np.flatnonzero(text.rows == pos)]
        np.testing.assert_allclose(stored, expected["text"][0], atol=1e-5)  # the vectors of its text
