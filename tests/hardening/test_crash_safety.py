"""Kill -9 the writer, the service and the indexer at seeded random moments; every acknowledged
write must survive and nothing half-written may show. CI runs a bounded number of kills
(``SHOPSEARCH_CRASH_KILLS`` per victim, default 4); ``benchmarks/crash_safety.py`` runs many."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devkit import crashkit
from devkit.catalogs import tiny_rows
from tests.optional import need_module

KILLS = int(os.environ.get("SHOPSEARCH_CRASH_KILLS", "4"))


@pytest.fixture(scope="module")
def base(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory) -> crashkit.State:
    return crashkit.initial_state(tiny_rows(tmp_path_factory.mktemp("rows")))


def _fresh(tiny_index: Path, tmp_path: Path, seed: int) -> Path:
    return Path(shutil.copytree(tiny_index, tmp_path / f"idx-{seed}"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(KILLS))
def test_kill_writer_keeps_acknowledged_writes(tiny_index: Path, tmp_path: Path, base: crashkit.State,
                                               seed: int) -> None:
    outcome = crashkit.kill_writer(_fresh(tiny_index, tmp_path, seed), base, seed=100 + seed)
    assert outcome.ok, outcome


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(max(1, KILLS // 2)))
def test_kill_service_keeps_acknowledged_writes(tiny_index: Path, tmp_path: Path, base: crashkit.State,
                                                seed: int) -> None:
    need_module("serve", "uvicorn")
    outcome = crashkit.kill_service(_fresh(tiny_index, tmp_path, seed), base, seed=200 + seed)
    assert outcome.ok, outcome


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(max(1, KILLS // 2)))
def test_kill_indexer_leaves_old_or_new_version(tiny_index: Path, tmp_path: Path, base: crashkit.State,
                                                seed: int) -> None:
    catalog = tiny_index.parent / "shop" / "catalog.jsonl"
    outcome = crashkit.kill_indexer(_fresh(tiny_index, tmp_path, seed), catalog, base, base, seed=300 + seed)
    assert outcome.ok, outcome


def test_torn_tail_is_trimmed_and_next_write_survives(tiny_index: Path, tmp_path: Path, base: crashkit.State) -> None:
    import shopsearch
    from shopsearch.index.wal import decode_record

    index = _fresh(tiny_index, tmp_path, 0)
    engine = shopsearch.load(index)
    engine.upsert([crashkit._product({"id": "a1", "title": "amber wool scarf", "price": 3.0})])
    wal = next(index.glob("*.wal"))
    with open(wal, "ab") as fh:  # a crash in the middle of the next append
        fh.write(b'{"op":"delete","ids":["a1"')
    again = shopsearch.load(index)
    assert again.product("a1") is not None
    again.upsert([crashkit._product({"id": "a2", "title": "amber linen scarf", "price": 4.0})])
    third = shopsearch.load(index)
    assert third.product("a1") is not None and third.product("a2") is not None
    assert all(decode_record(line) for line in wal.read_bytes().splitlines())


def test_writes_after_a_compaction_elsewhere_land_in_the_live_version(tiny_index: Path, tmp_path: Path) -> None:
    """A service that has an old version loaded when another process compacts (or rebuilds)
    the index switches to the live version before its next write: nothing lands in the dropped
    log, nothing acknowledged is lost, and the log of a superseded version refuses appends."""
    import shopsearch
    from shopsearch.index.wal import StaleVersionError, WriteAheadLog

    index = _fresh(tiny_index, tmp_path, 0)
    serving = shopsearch.load(index)
    serving.upsert([crashkit._product({"id": "k1", "title": "kept before", "price": 1.0})])
    old_log = WriteAheadLog(index / f"{serving.version_dir.name}.wal")
    shopsearch.load(index).compact()  # e.g. `shopsearch compact` from a shell
    serving.upsert([crashkit._product({"id": "k2", "title": "after the compaction", "price": 1.0})])
    serving.delete(["p1"])
    fresh = shopsearch.load(index)
    assert fresh.product("k1") is not None and fresh.product("k2") is not None and fresh.product("p1") is None
    with pytest.raises(StaleVersionError, match="reload"):
        old_log.append({"op": "delete", "ids": ["k1"]})
