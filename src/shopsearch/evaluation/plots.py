"""Report figures with matplotlib (Agg backend, no display); each function returns PNG bytes.

matplotlib is optional: it is imported when a figure is drawn, and a missing install raises an
``ImportError`` naming the package to install.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["group_bars_png", "latency_histogram_png", "metric_bars_png", "recall_curves_png"]

_DPI = 100


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("report plots need matplotlib: pip install matplotlib") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def recall_curves_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "Recall@k") -> bytes:
    """One line per system: mean recall@k against k."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, (ks, values) in curves.items():
        ax.plot(ks, values, marker="." if len(ks) <= 30 else None, label=name)
    ax.set_xlabel("k (results)")
    ax.set_ylabel("mean recall@k")
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def metric_bars_png(metrics: Mapping[str, Mapping[str, float]], names: Sequence[str], title: str = "Metrics") -> bytes:
    """Grouped bars: metric names on the x axis, one bar per system."""
    plt = _pyplot()
    systems = list(metrics)
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    width = 0.8 / max(1, len(systems))
    x = np.arange(len(names))
    for i, system in enumerate(systems):
        ax.bar(x + i * width - 0.4 + width / 2, [metrics[system].get(n, 0.0) for n in names], width, label=system)
    ax.set_xticks(x, list(names))
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def group_bars_png(by_group: Mapping[str, Mapping[str, float]], metric: str, title: str | None = None) -> bytes:
    """Horizontal grouped bars: one row per query type, one bar per system, for ``metric``."""
    plt = _pyplot()
    systems = list(by_group)
    groups = sorted({g for values in by_group.values() for g in values})
    fig, ax = plt.subplots(figsize=(8.0, max(2.5, 0.35 * len(groups) * max(1, len(systems)) ** 0.5 + 1.2)))
    height = 0.8 / max(1, len(systems))
    y = np.arange(len(groups))
    for i, system in enumerate(systems):
        ax.barh(y + i * height - 0.4 + height / 2, [by_group[system].get(g, 0.0) for g in groups], height,
                label=system)
    ax.set_yticks(y, groups, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel(metric)
    ax.set_title(title or f"{metric} by query type")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def latency_histogram_png(latencies: Mapping[str, Sequence[float]], title: str = "Latency per query") -> bytes:
    """Overlaid histograms of per-query latency (ms), shared bins, p50/p95 in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    values = [np.asarray(v, dtype=np.float64) for v in latencies.values() if len(v)]
    if values:
        everything = np.concatenate(values)
        bins = np.linspace(0.0, float(np.percentile(everything, 99)) * 1.05 + 1e-9, 40)
        for name, v in latencies.items():
            arr = np.asarray(v, dtype=np.float64)
            if arr.size:
                p50, p95 = np.percentile(arr, [50, 95])
                ax.hist(np.clip(arr, 0, bins[-1]), bins=bins, alpha=0.55,
                        label=f"{name} (p50 {p50:.1f} ms, p95 {p95:.1f} ms)")
    ax.set_xlabel("ms per query (values above p99 in the last bin)")
    ax.set_ylabel("queries")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)
