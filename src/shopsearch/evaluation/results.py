"""Evaluation results files: what ``shopsearch eval --out`` writes and ``shopsearch report`` reads.

A results file is JSON::

    {"format": "shopsearch-eval/1",
     "runs": [{"name": "fusion", "system": {...}, "index": "...", "queries": "...", "depth": 100,
               "k": 10, "metrics": {...}, "latency_ms": {...}, "per_query": [...],
               "products": {"p1": {"title": "...", "image": "/abs/p1.jpg"}, ...}}],
     "comparisons": [...]}

``per_query`` rows are those of :class:`~shopsearch.evaluation.evaluate.EvalReport`. A bare
``EvalReport.to_json()`` object (one run, no ``runs`` key) is read too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.evaluation.evaluate import EvalReport

__all__ = ["FORMAT", "RunResults", "load_results", "recall_curve", "save_results"]

FORMAT = "shopsearch-eval/1"


@dataclass(frozen=True)
class RunResults:
    """One evaluated system: its report plus what a report page needs to show it."""

    name: str
    report: EvalReport
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.info, **self.report.to_dict(per_query=True), "products": self.products}

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_name: str = "run") -> RunResults:
        report = EvalReport.from_dict(data)
        info = {k: v for k, v in data.items()
                if k not in ("name", "k", "metrics", "per_query", "latency_ms", "products")}
        return cls(name=str(data.get("name") or default_name), report=report,
                   products=dict(data.get("products") or {}), info=info)


def save_results(path: str | Path, runs: Sequence[RunResults], comparisons: Iterable[Any] = ()) -> None:
    """Write ``runs`` (and comparison dicts or objects with ``to_dict``) as a results file."""
    data = {
        "format": FORMAT,
        "runs": [r.to_dict() for r in runs],
        "comparisons": [c.to_dict() if hasattr(c, "to_dict") else c for c in comparisons],
    }
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def load_results(paths: Sequence[str | Path]) -> list[RunResults]:
    """Every run in the given results files, in order; a repeated name gets ``#2``, ``#3``..."""
    runs: list[RunResults] = []
    for raw in paths:
        path = Path(raw)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON results file ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of evaluation results")
        items = data.get("runs", [data])
        for i, item in enumerate(items):
            try:
                run = RunResults.from_dict(item, default_name=path.stem if len(items) == 1 else f"{path.stem}-{i}")
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            runs.append(run)
    seen: dict[str, int] = {}
    out = []
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        out.append(run if count == 0 else RunResults(f"{run.name}#{count + 1}", run.report, run.products, run.info))
    return out


def recall_curve(report: EvalReport, max_k: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean recall@k for k = 1..max_k (default: the longest stored ranking), from ``per_query``.

    Returns ``(ks, recalls)`` as int64 and float64 arrays, or ``None`` when the rows do not
    carry their relevant ids (results written before they were stored).
    """
    rows = report.per_query
    if not rows or any("relevant" not in row for row in rows):
        return None
    depth = max(len(row["retrieved"]) for row in rows)
    max_k = depth if max_k is None else max_k
    if max_k < 1:
        return None
    curves = np.zeros((len(rows), max_k), dtype=np.float64)
    for i, row in enumerate(rows):
        relevant = set(row["relevant"])
        if not relevant:
            continue
        seen: set[str] = set()
        hits = np.zeros(max_k, dtype=np.float64)
        for pos, pid in enumerate(row["retrieved"][:max_k]):
            if pid in relevant and pid not in seen:
                hits[pos] = 1.0
            seen.add(pid)
        curves[i] = np.cumsum(hits) / len(relevant)
    return np.arange(1, max_k + 1), curves.mean(axis=0)
