"""Run every benchmark in this folder and refresh the summary table in ``benchmarks/README.md``.

    python benchmarks/run_all.py                      # everything (slow: tens of minutes)
    python benchmarks/run_all.py --only retrieval_quality http_latency
    python benchmarks/run_all.py --dry-run            # show what would run; change nothing
    python benchmarks/run_all.py --args retrieval_quality="--index work/fx-index"
    python benchmarks/run_all.py --summary-only       # rebuild the README table from results/

A benchmark is any ``benchmarks/*.py`` except this file and helpers whose name starts with
``_``. Each runs as ``python benchmarks/NAME.py [ARGS]`` from the repository root, with the
repository root on ``PYTHONPATH`` (the scale and hardening benchmarks import their servers and
kits from ``devkit/``), and writes ``benchmarks/results/NAME.json`` and ``NAME.md`` itself
(through ``_harness.Run``). The summary table between the
``<!-- run_all:begin -->`` / ``<!-- run_all:end -->`` markers lists every benchmark with its
description, result files, when they were measured (the date the harness records in the JSON;
for older files their last commit, or the file time when they have uncommitted changes), and the
status of its last run here (kept from the previous table for benchmarks not run this time). Logs of each run go to
``benchmarks/results/logs/NAME.log``.

This file is not collected by pytest (``testpaths = ["tests"]``); it is tested through
``--bench-dir`` on a folder of fake benchmarks in ``tests/evaluation/test_eval_run_all.py``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"
HEADER = "| benchmark | what it measures | results | measured (UTC) | last run |"


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: Path
    description: str


def discover(bench_dir: Path) -> list[Benchmark]:
    """Benchmarks in ``bench_dir``, sorted by name, with the first line of their docstring."""
    out = []
    for path in sorted(bench_dir.glob("*.py")):
        if path.name.startswith("_") or path.name == Path(__file__).name or path.name.startswith("test_"):
            continue
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        except SyntaxError:
            doc = ""
        out.append(Benchmark(path.stem, path, doc.strip().splitlines()[0] if doc.strip() else ""))
    return out


def run_one(bench: Benchmark, args: list[str], root: Path, logs: Path, timeout: float) -> str:
    """Run one benchmark; returns its status cell (``ok 12 s``, ``failed (rc 1) 3 s``...)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{bench.name}.log"
    cmd = [sys.executable, str(bench.path), *args]
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(root) + (os.pathsep + path if path else "")}
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(cmd) + "\n")
        handle.flush()
        try:
            rc = subprocess.run(cmd, cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout,
                                check=False).returncode
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout:.0f} s"
    seconds = time.monotonic() - start
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return f"ok {seconds:.0f} s ({when})" if rc == 0 else f"failed (rc {rc}, log results/logs/{log.name}) ({when})"


def _previous_status(readme: Path) -> dict[str, str]:
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    out = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("benchmark", "---"):
            out[cells[0].strip("`")] = cells[4]
    return out


def _git_date(path: Path) -> str | None:
    """The last commit date of ``path`` (UTC), or None when it is not committed or has changes."""
    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True, timeout=10,
                               check=False, env={**os.environ, "TZ": "UTC"})
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    if git("status", "--porcelain", "--", path.name) != "":
        return None  # untracked, changed, or not in a repository
    return git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d %H:%M", "--", path.name) or None


def _json_date(path: Path) -> str | None:
    """``run.date`` (the harness) or a top-level ``date`` of a results JSON, as ``YYYY-MM-DD HH:MM`` UTC."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        date = doc.get("run", {}).get("date") or doc.get("date")
        when = dt.datetime.fromisoformat(str(date).replace("Z", "+00:00")) if isinstance(date, str) else None
    except (OSError, ValueError, AttributeError):
        return None
    if when is None:
        return None
    when = when.astimezone(dt.UTC) if when.tzinfo else when
    return when.strftime("%Y-%m-%d %H:%M")


def measured(files: list[Path]) -> str:
    """When results were measured: the date in the JSON (the harness's ``run.date``), else the
    JSON's last commit (the Markdown may have been edited later), else the files' last commit,
    else their modification time (UTC)."""
    data = [p for p in files if p.suffix == ".json"]
    for p in data:
        if (date := _json_date(p)) is not None:
            return date
    for group in (data, files):
        dates = [_git_date(p) for p in group]
        if dates and all(dates):
            return max(d for d in dates if d)
    return dt.datetime.fromtimestamp(max(p.stat().st_mtime for p in files), dt.UTC).strftime("%Y-%m-%d %H:%M")


def summary_table(benches: list[Benchmark], results: Path, status: dict[str, str], link_base: str) -> str:
    rows = [HEADER, "|---|---|---|---|---|"]
    for b in benches:
        files = [p for p in (results / f"{b.name}.md", results / f"{b.name}.json") if p.is_file()]
        links = ", ".join(f"[{p.name}]({link_base}{p.name})" for p in files) or "none yet"
        updated = measured(files) if files else "-"
        desc = b.description.replace("|", "\\|")
        rows.append(f"| `{b.name}` | {desc} | {links} | {updated} | {status.get(b.name, '-')} |")
    return "\n".join(rows)


def write_summary(readme: Path, table: str) -> None:
    """Replace the marked block in ``readme`` (appending one if absent)."""
    block = f"{BEGIN}\n{table}\n{END}"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, text, count=1, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Summary\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def _parse_extra(items: list[str], names: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in names:
            raise SystemExit(f"--args expects NAME=ARGS with NAME one of {', '.join(sorted(names))}; got {item!r}")
        out[name] = shlex.split(raw)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    ap.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="do not run these")
    ap.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                    help="extra arguments for one benchmark (repeatable)")
    ap.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per benchmark (default 3 h)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and the table; run and write nothing")
    ap.add_argument("--summary-only", action="store_true", help="only rebuild the README table")
    ap.add_argument("--bench-dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    bench_dir = args.bench_dir.resolve()
    root = (args.root or bench_dir.parent).resolve()
    results, readme = bench_dir / "results", bench_dir / "README.md"
    benches = discover(bench_dir)
    names = {b.name for b in benches}
    unknown = (set(args.only or []) | set(args.skip)) - names
    if unknown:
        print(f"unknown benchmark(s) {sorted(unknown)}; available: {', '.join(sorted(names))}", file=sys.stderr)
        return 2
    extra = _parse_extra(args.args, names)
    selected = [b for b in benches if (not args.only or b.name in args.only) and b.name not in args.skip]
    if args.summary_only:
        selected = []

    status = _previous_status(readme)
    failures = 0
    for b in selected:
        cmd = shlex.join([sys.executable, str(b.path.relative_to(root) if b.path.is_relative_to(root) else b.path),
                          *extra.get(b.name, [])])
        if args.dry_run:
            print(f"would run: {cmd}")
            continue
        print(f"running {b.name}: {cmd}", flush=True)
        status[b.name] = run_one(b, extra.get(b.name, []), root, results / "logs", args.timeout)
        failures += not status[b.name].startswith("ok")
        print(f"  {status[b.name]}", flush=True)
    table = summary_table(benches, results, status, "results/")
    if args.dry_run:
        print("\nsummary table (not written):\n" + table)
        return 0
    write_summary(readme, table)
    print(f"updated {readme}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
