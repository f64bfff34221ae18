"""The service's Prometheus metrics, through ``prometheus_client``.

Counters and the latency histogram live in one registry per app. With several worker
processes (``shopsearch serve --workers N``) :func:`shopsearch.service.server.run` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, so every worker writes its numbers there
and a scrape of any worker reports the sum over all of them (``prometheus_client``'s
multiprocess mode). Gauges are read when scraped (index size) from the worker that answers;
split-traffic experiment counts are counters, so they too are summed over the workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # no *_created series: one timestamp per label set is noise here


class Gauge:
    """A gauge whose samples are read when scraped: ``read()`` returns (labels, value) pairs
    (every pair with the same label names)."""

    def __init__(self, name: str, help_text: str,
                 read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        self.name, self.help, self.read = name, help_text, read

    def family(self) -> GaugeMetricFamily:
        samples = [(dict(labels), float(v)) for labels, v in self.read()]
        names = sorted(samples[0][0]) if samples else []
        family = GaugeMetricFamily(self.name, self.help, labels=names)
        for labels, value in samples:
            family.add_metric([str(labels[n]) for n in names], value)
        return family


class _Gauges(Collector):
    def __init__(self, gauges: Callable[[], list[Gauge]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for gauge in self.gauges():
            yield gauge.family()


class Metrics:
    """The service's metrics; gauges are registered by the app once the engine is loaded."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shopsearch_http_requests_total", "HTTP requests by route, method and status.",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("shopsearch_http_request_duration_seconds",
                                 "HTTP request latency by route and method.", ("method", "route"),
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.searches = Counter("shopsearch_searches_total", "Searches by query modality.", ("modality",),
                                registry=self.registry)
        self.feedback = Counter("shopsearch_feedback_events_total", "Feedback events stored, by type.", ("event",),
                                registry=self.registry)
        self.experiment = Counter("shopsearch_experiment_total",
                                  "Split-traffic experiment counters per arm (searches, zero_results, "
                                  "latency_ms_sum, event_<type>), summed over the workers.",
                                  ("arm", "counter", "experiment"), registry=self.registry)
        self.gauges: list[Gauge] = []
        self._gauges = _Gauges(lambda: self.gauges)
        self.registry.register(self._gauges)

    def render(self) -> str:
        """The exposition text: this process's numbers, or every worker's summed in
        multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self._gauges)
            return generate_latest(registry).decode("utf-8")
        return generate_latest(self.registry).decode("utf-8")
