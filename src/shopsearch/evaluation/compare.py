"""Compare two or more evaluated systems on the same queries with paired significance tests.

Each system is an :class:`~shopsearch.evaluation.evaluate.EvalReport` (or its ``to_dict()``).
Every non-baseline system is compared with the baseline on each metric: the mean difference
(system - baseline), a paired t-test with its confidence interval, a paired randomisation
test, and a bootstrap percentile interval. With more than one system, p-values are also
Holm-adjusted per metric (many-vs-one).

    comparisons = compare_reports({"bm25": r1, "fusion": r2}, baseline="bm25")
    print(comparison_table(comparisons))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from shopsearch.evaluation.evaluate import EvalReport
from shopsearch.evaluation.stats import bootstrap_test, holm, paired_t_test, randomization_test

__all__ = [
    "COMPARISON_HEADER",
    "PairedComparison",
    "compare_reports",
    "comparison_markdown",
    "comparison_rows",
    "comparison_table",
]


@dataclass(frozen=True)
class PairedComparison:
    """``system`` vs ``baseline`` on ``metric`` over ``n`` shared queries (diff = system - baseline)."""

    metric: str
    baseline: str
    system: str
    n: int
    baseline_mean: float
    system_mean: float
    diff: float
    t: float
    p_t: float
    ci_t: tuple[float, float]
    p_randomization: float
    ci_bootstrap: tuple[float, float]
    p_bootstrap: float
    p_holm: float
    confidence: float

    def significant(self, alpha: float = 0.05) -> bool:
        """Both the t-test and the randomisation test (Holm-adjusted t) reject at ``alpha``."""
        return self.p_holm < alpha and self.p_randomization < alpha

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci_t"], out["ci_bootstrap"] = list(self.ci_t), list(self.ci_bootstrap)
        return out


def _per_query(report: EvalReport | Mapping[str, Any], name: str) -> dict[str, dict[str, float]]:
    rows = report.per_query if isinstance(report, EvalReport) else report.get("per_query")
    if not rows:
        raise ValueError(f"system {name!r} has no per-query results to compare")
    return {str(row["qid"]): row["metrics"] for row in rows}


def compare_reports(
    reports: Mapping[str, EvalReport | Mapping[str, Any]],
    baseline: str | None = None,
    metrics: Sequence[str] | None = None,
    *,
    n_samples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[PairedComparison]:
    """Compare every system with ``baseline`` (default: the first) on ``metrics``.

    ``metrics`` defaults to the baseline's metric keys. Queries are paired by ``qid``; the
    systems must cover the same qids (a ``ValueError`` names the first differences).
    """
    if len(reports) < 2:
        raise ValueError(f"a comparison needs at least two systems, got {len(reports)}")
    names = list(reports)
    baseline = names[0] if baseline is None else baseline
    if baseline not in reports:
        raise ValueError(f"baseline {baseline!r} is not one of the systems: {', '.join(names)}")
    per_query = {name: _per_query(rep, name) for name, rep in reports.items()}
    base_rows = per_query[baseline]
    qids = list(base_rows)
    for name, rows in per_query.items():
        if set(rows) != set(qids):
            missing = sorted(set(qids) - set(rows))[:5]
            extra = sorted(set(rows) - set(qids))[:5]
            raise ValueError(
                f"system {name!r} was run on different queries than baseline {baseline!r} "
                f"(missing e.g. {missing}, extra e.g. {extra}); compare runs over the same query set"
            )
    if metrics is None:
        metrics = list(next(iter(base_rows.values())))
    out: list[PairedComparison] = []
    for metric in metrics:
        missing_metric = [n for n, rows in per_query.items() if metric not in rows[qids[0]]]
        if missing_metric:
            raise ValueError(f"metric {metric!r} is missing from system(s) {missing_metric}")
        a = np.array([base_rows[q][metric] for q in qids], dtype=np.float64)
        block = []
        for name in names:
            if name == baseline:
                continue
            b = np.array([per_query[name][q][metric] for q in qids], dtype=np.float64)
            tt = paired_t_test(a, b, confidence)
            boot = bootstrap_test(a, b, n_samples=n_samples, seed=seed, confidence=confidence)
            block.append(PairedComparison(
                metric=metric, baseline=baseline, system=name, n=len(qids),
                baseline_mean=float(a.mean()), system_mean=float(b.mean()), diff=tt.mean_diff,
                t=tt.t, p_t=tt.p_value, ci_t=(tt.ci_low, tt.ci_high),
                p_randomization=randomization_test(a, b, n_samples=n_samples, seed=seed),
                ci_bootstrap=(boot.ci_low, boot.ci_high), p_bootstrap=boot.p_value,
                p_holm=1.0, confidence=confidence,
            ))
        adjusted = holm([c.p_t for c in block])
        out += [replace(c, p_holm=p) for c, p in zip(block, adjusted, strict=True)]
    return out


def comparison_rows(comparisons: Sequence[PairedComparison]) -> list[list[str]]:
    """Formatted cells under :data:`COMPARISON_HEADER`, one row per comparison."""
    rows = []
    for c in comparisons:
        rows.append([
            c.metric, c.system, c.baseline, f"{c.baseline_mean:.4f}", f"{c.system_mean:.4f}", f"{c.diff:+.4f}",
            f"[{c.ci_t[0]:+.4f}, {c.ci_t[1]:+.4f}]", f"{c.p_t:.4g}", f"{c.p_holm:.4g}", f"{c.p_randomization:.4g}",
            f"[{c.ci_bootstrap[0]:+.4f}, {c.ci_bootstrap[1]:+.4f}]", "*" if c.significant() else "",
        ])
    return rows


COMPARISON_HEADER = ["metric", "system", "baseline", "baseline mean", "system mean", "diff", "t CI", "p(t)",
                     "p(t,Holm)", "p(rand)", "bootstrap CI", "sig"]


def comparison_table(comparisons: Sequence[PairedComparison]) -> str:
    """Plain aligned text; ``*`` marks a difference significant at 0.05 by both tests."""
    rows = [COMPARISON_HEADER, *comparison_rows(comparisons)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COMPARISON_HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if comparisons:
        conf = round(100 * comparisons[0].confidence)
        lines.append(f"CIs at {conf}% for mean(system - baseline); * = p(t,Holm) and p(rand) < 0.05")
    return "\n".join(lines)


def comparison_markdown(comparisons: Sequence[PairedComparison]) -> str:
    """A Markdown table of the same columns as :func:`comparison_table`."""
    lines = ["| " + " | ".join(COMPARISON_HEADER) + " |", "|" + "---|" * len(COMPARISON_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in comparison_rows(comparisons)]
    return "\n".join(lines)
