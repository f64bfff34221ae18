"""Prometheus text exposition (format 0.0.4), written here: counters, gauges, histograms.

Each worker process keeps its own numbers (with ``--workers N`` a scrape sees one worker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(x: float) -> str:
    if x == float("inf"):
        return "+Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        with self._lock:
            items = sorted(self._values.items())
        for labels, v in items:
            yield f"{self.name}{_labels(labels)} {_num(v)}"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._data: dict[Labels, tuple[list[int], list[float]]] = {}  # counts per bucket, [sum, n]
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            counts, total = self._data.setdefault(key, ([0] * len(self.buckets), [0.0, 0.0]))
            for i, edge in enumerate(self.buckets):
                if value <= edge:
                    counts[i] += 1
            total[0] += value
            total[1] += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            items = sorted((k, (list(c), list(t))) for k, (c, t) in self._data.items())
        for labels, (counts, (total, n)) in items:
            for edge, c in zip(self.buckets, counts):
                le = 'le="' + _num(edge) + '"'
                yield f"{self.name}_bucket{_labels(labels, le)} {c}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(labels, inf)} {_num(n)}"
            yield f"{self.name}_sum{_labels(labels)} {total!r}"
            yield f"{self.name}_count{_labels(labels)} {_num(n)}"


class Gauge:
    """A gauge whose samples are read when scraped: ``read()`` returns (labels, value) pairs."""

    def __init__(self, name: str, help_text: str,
                 read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        self.name, self.help, self.read = name, help_text, read

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, v in self.read():
            yield f"{self.name}{_labels(tuple(sorted(labels.items())))} {_num(v)}"


class Metrics:
    """The service's metrics; gauges are registered by the app once the engine is loaded."""

    def __init__(self) -> None:
        self.requests = Counter("shopsearch_http_requests_total", "HTTP requests by route, method and status.")
        self.latency = Histogram("shopsearch_http_request_duration_seconds",
                                 "HTTP request latency by route and method.")
        self.searches = Counter("shopsearch_searches_total", "Searches by query modality.")
        self.feedback = Counter("shopsearch_feedback_events_total", "Feedback events stored, by type.")
        self.gauges: list[Gauge] = []

    def render(self) -> str:
        lines: list[str] = []
        metrics: list[Counter | Histogram | Gauge] = [self.requests, self.latency, self.searches, self.feedback]
        for metric in metrics + self.gauges:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
