"""Backups: ``shopsearch snapshot`` / ``restore`` while the index is being written to."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

import shopsearch
from devkit import crashkit
from devkit.catalogs import tiny_rows
from devkit.servers import free_port
from shopsearch.cli import main
from shopsearch.index.manifest import resolve_version
from shopsearch.index.snapshot import SNAPSHOT_MANIFEST, SnapshotError, restore, snapshot, verify_snapshot
from shopsearch.rank.events import EventLog
from tests.optional import need_module


@pytest.fixture()
def index(tiny_index: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_index, tmp_path / "idx"))


def test_snapshot_during_concurrent_writes_restores_a_consistent_index(index: Path, tmp_path: Path) -> None:
    base = crashkit.initial_state(tiny_rows(tmp_path / "rows"))
    ops = crashkit.make_ops(7, 400, base)
    engine = shopsearch.load(index)
    feedback = EventLog(index / "feedback.sqlite")
    acked = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal acked
        for i, op in enumerate(ops):
            if stop.is_set():
                return
            if op["op"] == "upsert":
                engine.upsert([crashkit._product(r) for r in op["rows"]])
            elif op["op"] == "delete":
                engine.delete(op["ids"])
            else:
                engine.compact()  # the version changes under the snapshot: it must copy again
            feedback.append([{"event": "click", "product_id": f"op{i}"}])
            acked = i + 1

    t = threading.Thread(target=writer)
    t.start()
    snaps = []
    try:
        for n in range(4):
            while acked < 20 * (n + 1) and t.is_alive():
                threading.Event().wait(0.01)
            before = acked
            info = snapshot(index, tmp_path / f"snap{n}")
            snaps.append((before, acked, info))
    finally:
        stop.set()
        t.join()
        feedback.close()
    for n, (before, after, info) in enumerate(snaps):
        verify_snapshot(info.path)
        target = tmp_path / f"restored{n}"
        restore(info.path, target)
        got = crashkit.engine_state(shopsearch.load(target))
        matches = [k for k in range(before, min(after + 1, len(ops)) + 1) if crashkit.apply_ops(base, ops[:k]) == got]
        assert matches, f"snapshot {n}: state matches no prefix between {before} and {after} acked ops"
        with sqlite3.connect(target / "feedback.sqlite") as db:
            clicks = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        assert before <= clicks <= after + 1


def test_restore_over_a_live_index_switches_atomically(index: Path, tmp_path: Path) -> None:
    engine = shopsearch.load(index)
    engine.upsert([crashkit._product({"id": "s1", "title": "saved scarf", "price": 1.0})])
    snapshot(index, tmp_path / "snap")
    engine.upsert([crashkit._product({"id": "s2", "title": "later scarf", "price": 2.0})])
    engine.delete(["p1"])
    old_version = resolve_version(index).name
    name = restore(tmp_path / "snap", index)
    assert resolve_version(index).name == name != old_version
    back = shopsearch.load(index)
    assert back.product("s1") is not None and back.product("s2") is None and back.product("p1") is not None
    back.upsert([crashkit._product({"id": "s3", "title": "after restore", "price": 3.0})])
    assert shopsearch.load(index).product("s3") is not None


def test_damaged_snapshot_is_refused_and_index_untouched(index: Path, tmp_path: Path) -> None:
    shopsearch.load(index).upsert([crashkit._product({"id": "s1", "title": "saved scarf", "price": 1.0})])
    info = snapshot(index, tmp_path / "snap")
    wal = next((tmp_path / "snap").rglob("*.wal"))
    wal.write_bytes(wal.read_bytes().replace(b"saved", b"SAVED"))
    before = sorted(p.name for p in index.iterdir())
    with pytest.raises(SnapshotError, match="checksum mismatch"):
        restore(info.path, index)
    assert sorted(p.name for p in index.iterdir()) == before
    (tmp_path / "snap" / "index" / "stray.bin").write_bytes(b"x")
    with pytest.raises(SnapshotError):
        verify_snapshot(info.path)
    with pytest.raises(SnapshotError, match="already exists"):
        snapshot(index, tmp_path / "snap")
    with pytest.raises(SnapshotError, match=SNAPSHOT_MANIFEST):
        restore(tmp_path, index)


def test_snapshot_copies_only_complete_wal_records(index: Path, tmp_path: Path) -> None:
    shopsearch.load(index).upsert([crashkit._product({"id": "s1", "title": "saved scarf", "price": 1.0})])
    wal = next(index.glob("*.wal"))
    with open(wal, "ab") as fh:
        fh.write(b'{"op":"delete","ids":["s1"]')  # an append in progress
    info = snapshot(index, tmp_path / "snap")
    assert info.wal_records == 1
    restore(info.path, tmp_path / "restored")
    assert shopsearch.load(tmp_path / "restored").product("s1") is not None


def test_cli_snapshot_and_restore(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshot", str(index), str(tmp_path / "snap")]) == 0
    assert "written to" in capsys.readouterr().out
    assert main(["restore", str(tmp_path / "snap"), str(tmp_path / "new")]) == 0
    assert shopsearch.load(tmp_path / "new").size == 8
    assert main(["snapshot", str(index), str(tmp_path / "snap")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_separate_data_dir_is_backed_up_and_restored(index: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EventLog(data / "feedback.sqlite") as log:
        log.append([{"event": "click", "product_id": "p1"}, {"event": "purchase", "product_id": "p2"}])
        info = snapshot(index, tmp_path / "snap", data_dir=data)
    assert "data/feedback.sqlite" in info.sqlite
    assert main(["restore", str(tmp_path / "snap"), str(tmp_path / "new"), "--data-dir", str(tmp_path / "d2")]) == 0
    with sqlite3.connect(tmp_path / "d2" / "feedback.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_snapshot_of_a_serving_index_taking_http_writes(index: Path, tmp_path: Path, workers: int) -> None:
    """A real `shopsearch serve` takes product writes and feedback events over HTTP while
    `shopsearch snapshot` runs; the restored copy loads and holds a consistent prefix. With 2
    workers, each click may reach the worker that did not take the product's write."""
    need_module("serve", "uvicorn")
    base = crashkit.initial_state(tiny_rows(tmp_path / "rows"))
    ops = [op for op in crashkit.make_ops(11, 300, base) if op["op"] != "compact"]
    port = free_port()
    proc = crashkit.start_server(index, port, workers=workers)
    url = f"http://127.0.0.1:{port}"
    acked = clicks_acked = 0
    stop = threading.Event()
    refused: list[str] = []

    def writer() -> None:
        nonlocal acked, clicks_acked
        for i, op in enumerate(ops):
            if stop.is_set():
                return
            body = {"upsert": op["rows"]} if op["op"] == "upsert" else {"delete": op["ids"]}
            status, answer = crashkit._request("POST", f"{url}/v1/products:batch", body)
            if status != 200:
                refused.append(f"write {i}: {status} {answer}")
                return
            acked = i + 1
            if op["op"] == "upsert":  # a click on a product that exists now
                event = {"event": "click", "product_id": op["rows"][0]["id"]}
                status, answer = crashkit._request("POST", f"{url}/v1/feedback", event)
                if status != 202:
                    refused.append(f"click after write {i}: {status} {answer}")
                    return
                clicks_acked += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        while acked < 30 and t.is_alive():
            threading.Event().wait(0.01)
        before, clicks_before = acked, clicks_acked
        assert main(["snapshot", str(index), str(tmp_path / "snap")]) == 0
        after, clicks_after = acked, clicks_acked
    finally:
        stop.set()
        t.join()
        proc.terminate()
        proc.wait(timeout=30)
    assert not refused
    restore(tmp_path / "snap", tmp_path / "restored")
    got = crashkit.engine_state(shopsearch.load(tmp_path / "restored"))
    assert any(crashkit.apply_ops(base, ops[:k]) == got for k in range(before, after + 2)), (before, after)
    with sqlite3.connect(tmp_path / "restored" / "feedback.sqlite") as db:
        clicks = db.execute("SELECT COUNT(*) FROM events WHERE event = 'click'").fetchone()[0]
    assert clicks_before <= clicks <= clicks_after + 1


def test_compaction_during_the_copy_makes_the_snapshot_copy_again(index: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from shopsearch.index import snapshot as snap_mod

    engine = shopsearch.load(index)
    engine.upsert([crashkit._product({"id": "c1", "title": "compacted scarf", "price": 1.0})])
    real_copytree = shutil.copytree
    calls = []

    def copy_then_compact(src: Path, dst: Path, *a: object, **k: object) -> object:
        out = real_copytree(src, dst, *a, **k)
        if not calls:  # a compaction lands between the version copy and the log copy
            engine.compact()
            engine.upsert([crashkit._product({"id": "c2", "title": "after compaction", "price": 2.0})])
        calls.append(src)
        return out

    monkeypatch.setattr(snap_mod.shutil, "copytree", copy_then_compact)
    info = snapshot(index, tmp_path / "snap")
    assert info.attempts == 2 and info.version == resolve_version(index).name
    restore(info.path, tmp_path / "restored")
    back = shopsearch.load(tmp_path / "restored")
    assert back.product("c1") is not None and back.product("c2") is not None
