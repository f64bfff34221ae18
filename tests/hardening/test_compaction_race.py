"""Compaction from one process while another acknowledges writes: the interleavings that lost
writes, forced deterministically (issue 14). The randomised version with a real server and
``shopsearch compact`` from a shell is ``test_compaction_under_load`` in test_compaction_load.py
and ``benchmarks/compaction_race.py``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit import crashkit


def _fresh(tiny_index: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_index, tmp_path / "idx"))


def _load_while(index: Path, server: object, action: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> object:
    """Load ``index`` as a second engine and run ``action`` (the server's writes) once, just after
    that load has applied its first log record: the interleaving that lost writes."""
    import shopsearch
    from shopsearch.retrieve.live import LocalUpdates
    from shopsearch.retrieve.state import CatalogState

    real_apply = LocalUpdates._apply_record
    fired = []

    def apply_then_act(self: LocalUpdates, state: CatalogState, record: dict) -> None:
        real_apply(self, state, record)
        if self is not server.updates and not fired:  # type: ignore[attr-defined]
            fired.append(True)
            action()

    monkeypatch.setattr(LocalUpdates, "_apply_record", apply_then_act)
    engine = shopsearch.load(index)
    monkeypatch.setattr(LocalUpdates, "_apply_record", real_apply)
    assert fired
    return engine


def test_write_landing_while_another_process_loads_survives_its_compaction(
        tiny_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server appends (acknowledged, fsynced) while the compacting process is between
    reading the log and recording its position; the compaction must fold that write in."""
    import shopsearch

    index = _fresh(tiny_index, tmp_path)
    server = shopsearch.load(index)
    server.upsert([crashkit._product({"id": "w0", "title": "first wool scarf", "price": 1.0})])

    def server_writes() -> None:
        server.upsert([crashkit._product({"id": "p1", "title": "changed under the load", "price": 835.08})])
        server.upsert([crashkit._product({"id": "w1", "title": "brand new scarf", "price": 2.0})])
        server.delete(["p2"])

    compactor = _load_while(index, server, server_writes, monkeypatch)
    compactor.compact()

    for engine in (shopsearch.load(index), compactor):
        assert engine.product("p1").price == 835.08
        assert engine.product("w0") is not None and engine.product("w1") is not None
        assert engine.product("p2") is None
    server.upsert([crashkit._product({"id": "w2", "title": "after the compaction", "price": 3.0})])
    again = shopsearch.load(index)
    assert again.product("w2") is not None and again.product("p1").price == 835.08


def test_compaction_elsewhere_while_loading_is_not_mistaken_for_the_live_version(
        tiny_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process compacts after this one read ``CURRENT`` but before it finished loading:
    this process must not later compact (or write) on top of the superseded version."""
    import shopsearch

    index = _fresh(tiny_index, tmp_path)
    server = shopsearch.load(index)
    server.upsert([crashkit._product({"id": "w0", "title": "first wool scarf", "price": 1.0})])

    def other_compacts() -> None:
        server.upsert([crashkit._product({"id": "w1", "title": "acknowledged before", "price": 2.0})])
        server.compact()
        server.upsert([crashkit._product({"id": "w2", "title": "acknowledged after", "price": 3.0})])

    late = _load_while(index, server, other_compacts, monkeypatch)
    late.compact()
    late.delete(["p1"])
    fresh = shopsearch.load(index)
    assert all(fresh.product(i) is not None for i in ("w0", "w1", "w2"))
    assert fresh.product("p1") is None


def test_a_record_being_appended_is_not_cut_by_a_reader(tiny_index: Path, tmp_path: Path) -> None:
    """Loading (a reader) while another process is mid-append leaves the partial bytes alone;
    once the append completes, every process sees the record."""
    import shopsearch
    from shopsearch.index.wal import encode_record

    index = _fresh(tiny_index, tmp_path)
    server = shopsearch.load(index)
    server.upsert([crashkit._product({"id": "w0", "title": "first wool scarf", "price": 1.0})])
    wal = next(index.glob("*.wal"))
    line = encode_record({"op": "delete", "ids": ["p1"]})
    with open(wal, "ab") as fh:  # the first half of an append still in progress
        fh.write(line[:10])
        fh.flush()
        reader = shopsearch.load(index)
        assert reader.product("p1") is not None
        fh.write(line[10:])
    assert wal.read_bytes().endswith(line)
    reader.refresh()
    assert reader.product("p1") is None and shopsearch.load(index).product("p1") is None


def test_a_damaged_record_is_refused_even_when_it_stays_valid_json(tiny_index: Path, tmp_path: Path) -> None:
    import shopsearch
    from shopsearch.index.wal import WalCorruptError

    index = _fresh(tiny_index, tmp_path)
    server = shopsearch.load(index)
    server.upsert([crashkit._product({"id": "p1", "title": "price change only", "price": 835.08})])
    server.upsert([crashkit._product({"id": "w1", "title": "a later write", "price": 2.0})])
    wal = next(index.glob("*.wal"))
    data = wal.read_bytes()
    assert data.count(b"835.08") == 1
    wal.write_bytes(data.replace(b"835.08", b"935.08"))
    with pytest.raises(WalCorruptError, match=r"record 1 .*damaged.*1 record\(s\) follow"):
        shopsearch.load(index)
    # the damage is in the last record: still refused, not mistaken for a torn append
    wal.write_bytes(data.replace(b'"a later write"', b'"a later writf"'))
    with pytest.raises(WalCorruptError, match="record 2"):
        shopsearch.load(index)
