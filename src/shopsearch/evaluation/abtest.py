"""Split-traffic A/B experiments: stable arm assignment and per-arm counters.

Library pieces for the service's ``experiment`` mode (the service owns the wiring):

* :func:`assign_arm` puts a user in an arm by a stable hash (BLAKE2b of ``salt:user_id``), so a
  user keeps the same arm across requests, workers and restarts, and different experiments
  (different salts) split users independently.
* :class:`Experiment` holds an :class:`ExperimentConfig` and thread-safe per-arm counters
  (searches, zero-result searches, latency, feedback events by type, click positions) with
  :meth:`Experiment.snapshot` for logs/JSON, :meth:`Experiment.gauge_samples` for a
  Prometheus gauge, an ``on_count`` callback for counters kept elsewhere (the service's
  Prometheus counter, summed over its worker processes), and :meth:`Experiment.compare` for
  the significance of the difference in an event rate between two arms (exact conditional
  binomial test on the event counts given each arm's number of searches: a Poisson rate-ratio
  test).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsearch.evaluation.stats import binomial_test

__all__ = ["ArmComparison", "Experiment", "ExperimentConfig", "assign_arm"]

SEARCH_OPTIONS = frozenset({"signals", "constraints", "weights", "fusion"})
"""Per-arm options an experiment may set; they are passed to ``Engine.search``."""


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: its name, arms with traffic weights, and each arm's search options.

    ``arm_options[arm]`` holds ``Engine.search`` keyword arguments (``signals``,
    ``constraints``, ``weights``, ``fusion``); an arm without options is the engine's default.
    ``salt`` (default: ``name``) keys the hash, so renaming the salt reshuffles users.
    """

    name: str
    arms: tuple[str, ...] = ("control", "treatment")
    weights: tuple[float, ...] | None = None
    salt: str | None = None
    arm_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        if not self.name or not self.name.strip():
            raise ValueError("ExperimentConfig.name must be non-empty")
        if len(self.arms) < 2 or len(set(self.arms)) != len(self.arms) or not all(self.arms):
            raise ValueError(f"ExperimentConfig.arms must be 2 or more distinct non-empty names, got {self.arms!r}")
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
            assert self.weights is not None
            if len(self.weights) != len(self.arms) or any(not w >= 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError(
                    f"ExperimentConfig.weights must be one non-negative weight per arm ({len(self.arms)}) "
                    f"with a positive sum, got {self.weights!r}"
                )
        unknown_arms = set(self.arm_options) - set(self.arms)
        if unknown_arms:
            raise ValueError(f"ExperimentConfig.arm_options names unknown arm(s) {sorted(unknown_arms)}; "
                             f"arms: {', '.join(self.arms)}")
        for arm, options in self.arm_options.items():
            bad = set(options) - SEARCH_OPTIONS
            if bad:
                raise ValueError(f"ExperimentConfig.arm_options[{arm!r}]: unknown option(s) {sorted(bad)}; "
                                 f"valid: {', '.join(sorted(SEARCH_OPTIONS))}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentConfig:
        """From ``{"name", "arms": {arm: options} | [arms], "weights"?: {arm: w} | [w], "salt"?}``."""
        unknown = set(data) - {"name", "arms", "weights", "salt"}
        if unknown:
            raise ValueError(f"experiment config: unknown key(s) {sorted(unknown)}; valid: name, arms, weights, salt")
        if "name" not in data:
            raise ValueError("experiment config: 'name' is required")
        raw_arms = data.get("arms", ["control", "treatment"])
        options = dict(raw_arms) if isinstance(raw_arms, Mapping) else {}
        arms = tuple(raw_arms)
        weights = data.get("weights")
        if isinstance(weights, Mapping):
            weights = tuple(float(weights.get(arm, 0.0)) for arm in arms)
        return cls(name=str(data["name"]), arms=arms, weights=weights, salt=data.get("salt"),
                   arm_options={a: dict(o or {}) for a, o in options.items()})

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _unit_interval(key: str) -> float:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign_arm(user_id: str, arms: Sequence[str], *, salt: str = "", weights: Sequence[float] | None = None) -> str:
    """The arm for ``user_id``: a stable function of ``salt``, ``user_id`` and the weights."""
    if not isinstance(user_id, str) or not user_id:
        raise ValueError(f"user_id must be a non-empty string, got {user_id!r}")
    if not arms:
        raise ValueError("assign_arm needs at least one arm")
    w = [1.0] * len(arms) if weights is None else [float(x) for x in weights]
    if len(w) != len(arms) or sum(w) <= 0:
        raise ValueError(f"weights must be one per arm with a positive sum, got {weights!r}")
    u = _unit_interval(f"{salt}:{user_id}") * sum(w)
    acc = 0.0
    for arm, weight in zip(arms, w, strict=True):
        acc += weight
        if u < acc:
            return arm
    return arms[-1]


@dataclass(frozen=True)
class ArmComparison:
    """Event rate per search in two arms, and the exact test of their difference."""

    event: str
    arm_a: str
    arm_b: str
    searches_a: int
    searches_b: int
    events_a: int
    events_b: int
    rate_a: float
    rate_b: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Experiment:
    """A running experiment: assignment plus thread-safe per-arm counters."""

    def __init__(self, config: ExperimentConfig,
                 on_count: Callable[[str, str, float], None] | None = None) -> None:
        """``on_count(arm, counter, amount)`` is told every increment, with the counter names
        of :meth:`gauge_samples`."""
        self.config = config
        self.on_count = on_count
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, float]] = {
            arm: {"searches": 0, "zero_results": 0, "latency_ms_sum": 0.0, "click_position_sum": 0}
            for arm in config.arms
        }
        self._events: dict[str, dict[str, int]] = {arm: {} for arm in config.arms}

    def assign(self, user_id: str) -> str:
        """The user's arm (stable: see :func:`assign_arm`)."""
        return assign_arm(user_id, self.config.arms, salt=self.config.salt or self.config.name,
                          weights=self.config.weights)

    def search_options(self, arm: str) -> dict[str, Any]:
        """``Engine.search`` keyword arguments for ``arm``."""
        self._check_arm(arm)
        return dict(self.config.arm_options.get(arm, {}))

    def _check_arm(self, arm: str) -> None:
        if arm not in self._counts:
            raise ValueError(f"unknown arm {arm!r}; arms: {', '.join(self.config.arms)}")

    def record_search(self, arm: str, n_results: int, latency_ms: float) -> None:
        self._check_arm(arm)
        with self._lock:
            c = self._counts[arm]
            c["searches"] += 1
            c["zero_results"] += int(n_results == 0)
            c["latency_ms_sum"] += float(latency_ms)
        if self.on_count is not None:
            self.on_count(arm, "searches", 1.0)
            if n_results == 0:
                self.on_count(arm, "zero_results", 1.0)
            self.on_count(arm, "latency_ms_sum", float(latency_ms))

    def record_event(self, arm: str, event: str, position: int | None = None) -> None:
        """A feedback event (``click``, ``add_to_cart``...); ``position`` is the 1-based rank clicked."""
        self._check_arm(arm)
        with self._lock:
            events = self._events[arm]
            events[event] = events.get(event, 0) + 1
            if event == "click" and position is not None:
                self._counts[arm]["click_position_sum"] += int(position)
        if self.on_count is not None:
            self.on_count(arm, f"event_{event}", 1.0)

    def snapshot(self) -> dict[str, Any]:
        """``{"experiment", "arms": {arm: {searches, zero_results, mean_latency_ms, events,
        rates (events per search), mean_click_position}}}``, JSON-ready."""
        with self._lock:
            counts = {a: dict(c) for a, c in self._counts.items()}
            events = {a: dict(e) for a, e in self._events.items()}
        arms = {}
        for arm in self.config.arms:
            c, e = counts[arm], events[arm]
            n = int(c["searches"])
            clicks = e.get("click", 0)
            arms[arm] = {
                "searches": n,
                "zero_results": int(c["zero_results"]),
                "mean_latency_ms": c["latency_ms_sum"] / n if n else None,
                "events": e,
                "rates": {name: count / n if n else None for name, count in e.items()},
                "mean_click_position": c["click_position_sum"] / clicks if clicks else None,
            }
        return {"experiment": self.config.name, "arms": arms}

    def gauge_samples(self) -> Iterable[tuple[dict[str, str], float]]:
        """(labels, value) pairs for one gauge, e.g. ``shopsearch_experiment_total``: labels
        ``experiment``, ``arm`` and ``counter`` (``searches``, ``zero_results``,
        ``latency_ms_sum``, ``event_<type>``)."""
        with self._lock:
            counts = {a: dict(c) for a, c in self._counts.items()}
            events = {a: dict(e) for a, e in self._events.items()}
        for arm in self.config.arms:
            base = {"experiment": self.config.name, "arm": arm}
            for name in ("searches", "zero_results", "latency_ms_sum"):
                yield {**base, "counter": name}, float(counts[arm][name])
            for name, count in sorted(events[arm].items()):
                yield {**base, "counter": f"event_{name}"}, float(count)

    def compare(self, event: str = "click", arm_a: str | None = None, arm_b: str | None = None) -> ArmComparison:
        """Rate of ``event`` per search in ``arm_b`` vs ``arm_a`` (default: the first two arms).

        Given the total number of events, the count in A is Binomial(total, n_a / (n_a + n_b))
        when the rates are equal; the p-value is the exact two-sided binomial test.
        """
        arm_a = arm_a or self.config.arms[0]
        arm_b = arm_b or self.config.arms[1]
        self._check_arm(arm_a)
        self._check_arm(arm_b)
        snap = self.snapshot()["arms"]
        na, nb = snap[arm_a]["searches"], snap[arm_b]["searches"]
        ea, eb = snap[arm_a]["events"].get(event, 0), snap[arm_b]["events"].get(event, 0)
        p = binomial_test(ea, ea + eb, na / (na + nb)) if na and nb else 1.0
        return ArmComparison(event, arm_a, arm_b, na, nb, ea, eb, ea / na if na else 0.0, eb / nb if nb else 0.0, p)
