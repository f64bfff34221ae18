"""What every benchmark shares: timing and percentiles, the machine and its load, the sample data
path, and result files with one header.

Benchmarks run as scripts (``python benchmarks/NAME.py`` from the repository root), so this
module is imported as a sibling, with no path set-up::

    from _harness import Run, data_dir, latency_summary, time_calls

    run = Run("speed_latency", baseline="the encoder alone (what a query costs before any search)")
    ms = time_calls(lambda q: engine.search(text=q, k=10), queries)
    run.write({"text": latency_summary(ms)}, ["# Query latency", "", "| ... |"])

:meth:`Run.write` writes ``results/<stem>.json`` and ``results/<stem>.md``. The JSON is one
schema for every benchmark::

    {"benchmark": NAME, "schema": 1,
     "run": {"date", "commit", "uncommitted_changes", "machine", "versions",
             "load_average": {"start", "end"}, "seconds"},
     "baseline": "what the results are compared against, measured in the same run",
     "results": {...the benchmark's own numbers...}}

The Markdown keeps the benchmark's title line and puts the same facts under it in one line
(:func:`header`), so a reader sees when, where, under what load and against what baseline the
numbers were measured.

Percentiles: ``linear`` is numpy's default (interpolates between neighbours); ``rank`` is the
nearest-rank value ``sorted[min(n - 1, floor(q * n))]`` (a measured sample, never interpolated).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from shopsearch.config import DataNotFoundError, sample_data_dir

__all__ = [
    "RESULTS",
    "ROOT",
    "Run",
    "Stopwatch",
    "data_dir",
    "environment",
    "header",
    "latency_summary",
    "load_average",
    "percentile",
    "rerender",
    "slice_catalog",
    "stopwatch",
    "time_calls",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SCHEMA = 1
# installed versions recorded with every run (read from package metadata, nothing is imported)
PACKAGES = ("shopsearch", "numpy", "faiss-cpu", "torch", "onnxruntime", "pymilvus", "psycopg", "ray")

T = TypeVar("T")
PercentileMethod = Literal["linear", "rank"]


# --------------------------------------------------------------------------- timing


@dataclass
class Stopwatch:
    """Seconds between entering and leaving :func:`stopwatch` (``perf_counter``); created
    directly, it starts at once and :attr:`elapsed` reads it."""

    start: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    @property
    def ms(self) -> float:
        return self.seconds * 1000.0

    @property
    def elapsed(self) -> float:
        """Seconds since the start, now (while the stopwatch runs)."""
        return time.perf_counter() - self.start


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """``with stopwatch() as sw: work()`` then ``sw.seconds`` / ``sw.ms``."""
    sw = Stopwatch()
    try:
        yield sw
    finally:
        sw.seconds = time.perf_counter() - sw.start


def time_calls(fn: Callable[[T], object], items: Iterable[T]) -> list[float]:
    """Milliseconds of ``fn(item)`` for each item, one call at a time, in order."""
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def percentile(values: Sequence[float] | np.ndarray, q: float, method: PercentileMethod = "linear") -> float:
    """The ``q``-th percentile (0-100) of ``values`` (see the module docstring for ``method``)."""
    if len(values) == 0:
        raise ValueError("percentile of no values")
    if method == "rank":
        s = sorted(values)
        return float(s[min(len(s) - 1, int(q / 100.0 * len(s)))])
    if method != "linear":
        raise ValueError(f"method must be 'linear' or 'rank', got {method!r}")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(ms: Sequence[float], quantiles: Sequence[float] = (50, 90, 99), digits: int | None = 2,
                    method: PercentileMethod = "linear") -> dict[str, float | int | None]:
    """``{"n", "p50_ms", ..., "mean_ms"}`` of latencies in milliseconds, rounded to ``digits``
    (None: not rounded). No latencies: the percentiles and the mean are None."""
    def r(x: float) -> float:
        return x if digits is None else round(x, digits)

    out: dict[str, float | int | None] = {"n": len(ms)}
    for q in quantiles:
        out[f"p{q:g}_ms"] = r(percentile(ms, q, method)) if len(ms) else None
    out["mean_ms"] = r(float(np.mean(ms))) if len(ms) else None
    return out


# --------------------------------------------------------------------------- environment


def load_average() -> tuple[float, float, float]:
    """The machine's 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        p = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def environment() -> dict[str, Any]:
    """Date (UTC), commit, machine, package versions and the load average, now."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _git("rev-parse", "--short=12", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
        "machine": {"cpu": _cpu_model(), "cpus": os.cpu_count(), "memory_gib": _memory_gib(),
                    "platform": platform.platform(), "python": platform.python_version()},
        "versions": _versions(),
        "load_average": {"start": load_average()},
    }


def data_dir(subfolder: str = "") -> Path:
    """The shared sample data (``$SHOPSEARCH_DATA``, default ``../shared/data``), or one of its
    folders; exits with the reason (the variable to set, the paths tried) when it is absent."""
    try:
        folder = sample_data_dir()
    except DataNotFoundError as exc:
        raise SystemExit(f"benchmark needs the sample data: {exc}") from exc
    path = folder / subfolder if subfolder else folder
    if not path.exists():
        raise SystemExit(f"benchmark needs {path} (sample data at {folder}, from $SHOPSEARCH_DATA or ../shared/data)")
    return path


# --------------------------------------------------------------------------- results


def header(run: Mapping[str, Any], baseline: str) -> str:
    """One Markdown line: date, commit, machine, load at start and end, duration, baseline."""
    m = run["machine"]
    commit = run.get("commit") or "unknown commit"
    dirty = " + uncommitted changes" if run.get("uncommitted_changes") else ""
    load = run["load_average"]
    loads = f"{load['start'][0]:.1f} at the start" + (f", {load['end'][0]:.1f} at the end" if "end" in load else "")
    seconds = f", {run['seconds']:.0f} s" if run.get("seconds") is not None else ""
    return (f"_Measured {run['date']} at commit `{commit}`{dirty} on {m['cpus']} CPUs ({m['cpu']}), "
            f"Python {m['python']}{seconds}; load average (1 min) {loads} (the machine may be shared). "
            f"Baseline in the same run: {baseline}._")


class Run:
    """One benchmark run: the environment when it starts; :meth:`write` adds the end and writes
    ``<stem>.json`` and ``<stem>.md`` in ``folder`` (default ``benchmarks/results``)."""

    def __init__(self, name: str, baseline: str, folder: Path = RESULTS) -> None:
        if not baseline:
            raise ValueError("every benchmark states its baseline (or why it has none)")
        self.name, self.baseline, self.folder = name, baseline, folder
        self.started = time.perf_counter()
        self.env = environment()

    @property
    def load_start(self) -> tuple[float, float, float]:
        return tuple(self.env["load_average"]["start"])  # type: ignore[return-value]

    def meta(self) -> dict[str, Any]:
        """The run's record so far, with the load average and the seconds since the start, now."""
        env = json.loads(json.dumps(self.env))
        env["load_average"]["end"] = load_average()
        env["seconds"] = round(time.perf_counter() - self.started, 1)
        return env

    def document(self, results: Mapping[str, Any]) -> dict[str, Any]:
        return {"benchmark": self.name, "schema": SCHEMA, "run": self.meta(), "baseline": self.baseline,
                "results": dict(results)}

    def write(self, results: Mapping[str, Any], markdown: str | Sequence[str], stem: str | None = None,
              folder: Path | None = None) -> tuple[Path, Path]:
        """Write the JSON document and the Markdown (its title line, :func:`header`, the rest);
        returns both paths. Safe to call again (a long run's partial results)."""
        doc = self.document(results)
        lines = _with_header(markdown, header(doc["run"], self.baseline))
        out = folder or self.folder
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or self.name
        json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
        json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return json_path, md_path


def _with_header(markdown: str | Sequence[str], head: str) -> list[str]:
    """The Markdown's lines with ``head`` under its title line (or first, when it has none)."""
    text = markdown if isinstance(markdown, str) else "\n".join(markdown)
    lines = text.rstrip("\n").split("\n")
    if lines and lines[0].startswith("# "):
        lines[1:1] = ["", head]
    else:
        lines[0:0] = [head, ""]
    return lines


def rerender(stem: str, render: Callable[[Mapping[str, Any]], str | Sequence[str]],
             folder: Path = RESULTS) -> list[str]:
    """Write ``folder/<stem>.md`` again from ``folder/<stem>.json`` (after a change to how a
    benchmark renders its results; nothing is measured): ``render`` turns the JSON's
    ``results`` into Markdown, under the header of the run that measured them. Returns the lines."""
    doc = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
    lines = _with_header(render(doc["results"]), header(doc["run"], doc["baseline"]))
    (folder / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def slice_catalog(catalog: Path, limit: int, folder: Path) -> Path:
    """The first ``limit`` rows of ``catalog`` in ``folder``, its photo folder linked beside them."""
    rows = catalog.read_text(encoding="utf-8").splitlines()[:limit]
    out = folder / catalog.name
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "images").symlink_to(catalog.parent / "images", target_is_directory=True)
    return out
