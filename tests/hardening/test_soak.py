"""A 60 s soak on a real server subprocess: mixed text searches, image searches and updates at
a steady rate; zero errors, flat memory, and every acknowledged update still there when the
index is loaded again afterwards. The 10-minute version is benchmarks/soak.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.optional import need_module

# ruff: noqa: E402
# (the imports below the check need the serve extra: a missing one skips the module, or fails it
# when SHOPSEARCH_REQUIRE names the part; tests/optional.py)
need_module("serve", "uvicorn", module_level=True)

from devkit.catalogs import tiny_rows
from devkit.soakkit import SoakConfig, run_soak

DURATION = float(os.environ.get("SHOPSEARCH_SOAK_SECONDS", "60"))
WARMUP = min(15.0, DURATION / 4)
RSS_BOUND = 48 * 2 ** 20  # allowed growth of the server's RSS after the warm-up


@pytest.mark.slow
def test_soak_zero_errors_flat_memory(tiny_index: Path, tmp_path: Path) -> None:
    index = Path(shutil.copytree(tiny_index, tmp_path / "index"))
    images = sorted((tiny_index.parent / "shop" / "images").glob("*.png"))
    ids = [r["id"] for r in tiny_rows(tmp_path / "rows")]
    result = run_soak(index, images, ids, SoakConfig(duration_s=DURATION, rate=8.0, threads=4),
                      log=tmp_path / "server.log")
    assert result.requests >= 0.9 * 8.0 * DURATION
    assert result.errors == 0, result.error_samples[:5]
    assert set(result.by_kind) == {"text", "image", "update"}
    _, _, growth = result.rss_growth_after(WARMUP, window_s=10.0)
    assert growth <= RSS_BOUND, f"server RSS grew {growth / 2**20:.1f} MiB after the warm-up: {result.rss}"
    assert all(w["p99_ms"] < 5000 for w in result.windows), result.windows
    assert result.updates_checked >= 10 and not result.updates_lost, (result.updates_checked, result.updates_lost)
