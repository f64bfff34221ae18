"""benchmarks/_harness.py: timing, percentiles, the common result schema and Markdown header."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from devkit.scripts import load_script

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "_harness.py"


@pytest.fixture(scope="module")
def h() -> ModuleType:
    return load_script(HARNESS, "harness_under_test")


def test_percentiles_hand_computed(h: ModuleType) -> None:
    xs = [4.0, 1.0, 3.0, 2.0]
    # linear: numpy's default, between neighbours: p50 of 1..4 = 2.5; p90 = 3 + 0.7 * (4 - 3)
    assert h.percentile(xs, 50) == 2.5
    assert h.percentile(xs, 90) == pytest.approx(3.7)
    # rank: sorted[min(n - 1, floor(q n))]: p50 -> index 2 -> 3; p99 -> index 3 -> 4
    assert h.percentile(xs, 50, "rank") == 3.0
    assert h.percentile(xs, 99, "rank") == 4.0
    with pytest.raises(ValueError, match="no values"):
        h.percentile([], 50)
    s = h.latency_summary(xs, quantiles=(50, 95), digits=1)
    assert s == {"n": 4, "p50_ms": 2.5, "p95_ms": round(float(np.percentile(xs, 95)), 1), "mean_ms": 2.5}
    assert h.latency_summary([], quantiles=(50,)) == {"n": 0, "p50_ms": None, "mean_ms": None}


def test_time_calls_and_stopwatch(h: ModuleType) -> None:
    seen: list[int] = []
    ms = h.time_calls(seen.append, [1, 2, 3])
    assert seen == [1, 2, 3] and len(ms) == 3 and all(m >= 0 for m in ms)
    with h.stopwatch() as sw:
        sum(range(1000))
    assert sw.seconds >= 0 and sw.ms == sw.seconds * 1000


def test_run_writes_one_schema_and_a_header(h: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="baseline"):
        h.Run("x", baseline="")
    run = h.Run("demo", baseline="BM25 alone", folder=tmp_path)
    js, md = run.write({"ndcg@10": 0.5}, ["# Demo results", "", "| a |", "|---|"])
    doc = json.loads(js.read_text())
    assert doc["benchmark"] == "demo" and doc["schema"] == 1 and doc["baseline"] == "BM25 alone"
    assert doc["results"] == {"ndcg@10": 0.5}
    meta = doc["run"]
    assert {"date", "commit", "uncommitted_changes", "machine", "versions", "load_average", "seconds"} <= set(meta)
    assert len(meta["load_average"]["start"]) == 3 and len(meta["load_average"]["end"]) == 3
    assert meta["machine"]["cpus"] >= 1 and "numpy" in meta["versions"]
    lines = md.read_text().splitlines()
    assert lines[0] == "# Demo results" and lines[1] == ""
    assert lines[2].startswith("_Measured ") and "Baseline in the same run: BM25 alone" in lines[2]
    assert "load average (1 min)" in lines[2] and lines[3:] == ["", "| a |", "|---|"]
    # another stem, and text without a title: the header goes first
    _, md2 = run.write({}, "plain text", stem="demo-extra")
    assert md2.name == "demo-extra.md" and md2.read_text().startswith("_Measured ")


def test_data_dir_names_the_variable_when_absent(h: ModuleType, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSEARCH_DATA", str(tmp_path / "missing"))
    with pytest.raises(SystemExit, match="SHOPSEARCH_DATA"):
        h.data_dir("fashion")
    monkeypatch.setenv("SHOPSEARCH_DATA", str(tmp_path))
    assert h.data_dir() == tmp_path.resolve()
    with pytest.raises(SystemExit, match="fashion"):
        h.data_dir("fashion")
