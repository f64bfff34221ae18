"""The randomised compaction race (issue 14): a real server takes writes from two clients and
searches from a third while ``shopsearch compact`` runs repeatedly from another process; every
acknowledged write is checked on the live server and after a restart. CI runs a few rounds
(``SHOPSEARCH_RACE_ROUNDS``, default 8); ``benchmarks/compaction_race.py`` runs 50 and more."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from devkit.racekit import run_races
from tests.optional import need_module

ROUNDS = int(os.environ.get("SHOPSEARCH_RACE_ROUNDS", "8"))


@pytest.mark.slow
def test_compaction_from_a_shell_under_writes_loses_nothing(tiny_index: Path, tmp_path: Path) -> None:
    need_module("serve", "uvicorn")
    index = Path(shutil.copytree(tiny_index, tmp_path / "idx"))
    images = sorted(str(p) for p in (tiny_index.parent / "shop" / "images").glob("*.png"))[:3]
    report = run_races([sys.executable, "-m", "shopsearch.cli"], index, ROUNDS, seed=11, images=images,
                       gap_s=(0.2, 1.0))
    assert report.writes_acked > 20 and report.ids_checked > 5, report.to_dict()
    assert report.ok, report.to_dict()
