"""benchmarks/run_all.py on a folder of fake benchmarks (the real ones are far too slow)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from devkit.scripts import load_script

RUN_ALL = Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"


def _load() -> ModuleType:
    return load_script(RUN_ALL, "run_all_under_test")


@pytest.fixture()
def bench_dir(tmp_path: Path) -> Path:
    d = tmp_path / "benchmarks"
    d.mkdir()
    (d / "fast.py").write_text(
        '"""Fast fake benchmark | with a pipe."""\nimport json, pathlib, sys\n'
        'out = pathlib.Path(__file__).parent / "results"\nout.mkdir(exist_ok=True)\n'
        '(out / "fast.json").write_text(json.dumps({"args": sys.argv[1:], "path": sys.path}))\n'
        '(out / "fast.md").write_text("| a |\\n")\n'
    )
    (d / "broken.py").write_text('"""Always fails."""\nraise SystemExit(3)\n')
    (d / "_helper.py").write_text("X = 1\n")
    (d / "README.md").write_text("# Benchmarks\n\nHand-written intro.\n")
    return d


def test_discovery_skips_helpers(bench_dir: Path) -> None:
    run_all = _load()
    assert [b.name for b in run_all.discover(bench_dir)] == ["broken", "fast"]
    real = {b.name for b in run_all.discover(RUN_ALL.parent)}
    assert "run_all" not in real and "_zh_queries" not in real and "retrieval_quality" in real


def test_dry_run_changes_nothing(bench_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_all = _load()
    before = (bench_dir / "README.md").read_text()
    assert run_all.main(["--bench-dir", str(bench_dir), "--dry-run", "--args", "fast=--n 3"]) == 0
    out = capsys.readouterr().out
    assert "would run:" in out and "fast.py --n 3" in out and "broken.py" in out
    assert (bench_dir / "README.md").read_text() == before
    assert not (bench_dir / "results").exists()


def test_run_only_then_summary_keeps_status(bench_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_all = _load()
    assert run_all.main(["--bench-dir", str(bench_dir), "--only", "fast", "--args", "fast=--n 3"]) == 0
    readme = (bench_dir / "README.md").read_text()
    assert readme.startswith("# Benchmarks\n\nHand-written intro.")
    assert "[fast.md](results/fast.md), [fast.json](results/fast.json)" in readme
    assert "Fast fake benchmark \\| with a pipe." in readme
    row = next(line for line in readme.splitlines() if line.startswith("| `fast`"))
    assert "| ok " in row
    ran = json.loads((bench_dir / "results" / "fast.json").read_text())
    assert ran["args"] == ["--n", "3"]
    # run from the root with the root importable (benchmarks import their servers and kits from devkit/)
    assert str(bench_dir.parent) in ran["path"]
    broken_row = next(line for line in readme.splitlines() if line.startswith("| `broken`"))
    assert broken_row.endswith("| none yet | - | - |")

    # a failing benchmark: exit 1, its status recorded, the earlier status of `fast` kept
    assert run_all.main(["--bench-dir", str(bench_dir), "--only", "broken"]) == 1
    readme = (bench_dir / "README.md").read_text()
    assert readme.count(run_all.BEGIN) == 1
    assert "failed (rc 3" in readme and row.split("|")[5].strip() in readme
    assert (bench_dir / "results" / "logs" / "broken.log").is_file()
    capsys.readouterr()
    assert run_all.main(["--bench-dir", str(bench_dir), "--only", "nope"]) == 2


def test_measured_date_from_the_json_then_git_then_the_file(tmp_path: Path) -> None:
    run_all = _load()
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"benchmark": "new", "run": {"date": "2026-12-01T10:20:30Z"}, "results": {}}))
    assert run_all.measured([new]) == "2026-12-01 10:20"
    # an older result file without the harness's date: its last commit (UTC), once committed and unchanged
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"rows": []}))
    env = {"GIT_COMMITTER_DATE": "2026-11-26T19:04:56+00:00", "GIT_AUTHOR_DATE": "2026-11-26T19:04:56+00:00",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    for cmd in (["git", "init", "-q"], ["git", "add", "old.json"], ["git", "commit", "-q", "-m", "results"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True)
    assert run_all.measured([old]) == "2026-11-26 19:04"
    # its Markdown edited and committed later: the numbers are still those of the JSON's commit
    md = tmp_path / "old.md"
    md.write_text("# Old results, with a caveat added later\n")
    later = {**env, "GIT_COMMITTER_DATE": "2026-12-03T07:05:00+00:00", "GIT_AUTHOR_DATE": "2026-12-03T07:05:00+00:00"}
    for cmd in (["git", "add", "old.md"], ["git", "commit", "-q", "-m", "caveat"]):
        subprocess.run(cmd, cwd=tmp_path, env=later, check=True)
    assert run_all.measured([md, old]) == "2026-11-26 19:04"
    assert run_all.measured([md]) == "2026-12-03 07:05"
    legacy = tmp_path / "legacy.json"  # a top-level date, as some scripts wrote before the harness
    legacy.write_text(json.dumps({"date": "2026-11-26T18:51:48+0000"}))
    assert run_all.measured([legacy]) == "2026-11-26 18:51"
    old.write_text(json.dumps({"rows": [1]}))  # changed since: the file time
    assert run_all.measured([old]) != "2026-11-26 19:04"
