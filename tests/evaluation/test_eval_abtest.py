"""Split-traffic experiments: stable hash assignment, per-arm counters, rate comparison."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from shopsearch.evaluation.abtest import Experiment, ExperimentConfig, assign_arm


def test_assignment_is_stable_and_follows_weights() -> None:
    arms = ("control", "treatment")
    users = [f"user-{i}" for i in range(20_000)]
    first = [assign_arm(u, arms, salt="exp1") for u in users]
    assert first == [assign_arm(u, arms, salt="exp1") for u in users]  # same user, same arm
    share = first.count("treatment") / len(users)
    assert 0.48 < share < 0.52
    weighted = [assign_arm(u, arms, salt="exp1", weights=(9, 1)) for u in users[:10_000]]
    assert 0.08 < weighted.count("treatment") / 10_000 < 0.12
    # another salt splits users independently of the first experiment
    other = [assign_arm(u, arms, salt="exp2") for u in users]
    agree = np.mean([x == y for x, y in zip(first, other, strict=True)])
    assert 0.48 < agree < 0.52
    # pinned values: a change of hash would silently reshuffle users of live experiments
    pinned = [assign_arm(u, arms, salt="exp1") for u in ("alice", "bob", "carol", "dave", "erin", "frank")]
    assert pinned == ["control", "treatment", "treatment", "control", "treatment", "control"]
    with pytest.raises(ValueError, match="user_id"):
        assign_arm("", arms)
    with pytest.raises(ValueError, match="weights"):
        assign_arm("u", arms, weights=(1,))


def test_config_validation_and_from_file(tmp_path: Path) -> None:
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"name": "filter-vs-boost", "arms": {"control": {}, "filter": {"constraints": "filter"}},
                                "weights": {"control": 3, "filter": 1}}))
    cfg = ExperimentConfig.from_file(path)
    assert cfg.arms == ("control", "filter") and cfg.weights == (3.0, 1.0)
    exp = Experiment(cfg)
    assert exp.search_options("filter") == {"constraints": "filter"}
    assert exp.search_options("control") == {}
    with pytest.raises(ValueError, match="unknown option"):
        ExperimentConfig(name="x", arm_options={"control": {"colour": "red"}})
    with pytest.raises(ValueError, match="arms"):
        ExperimentConfig(name="x", arms=("only",))
    with pytest.raises(ValueError, match="weights"):
        ExperimentConfig(name="x", weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="unknown key"):
        ExperimentConfig.from_dict({"name": "x", "arm": []})
    with pytest.raises(ValueError, match="unknown arm"):
        exp.record_search("nope", 3, 1.0)


def test_counters_snapshot_gauges_and_comparison() -> None:
    exp = Experiment(ExperimentConfig(name="e"))
    for i in range(1000):
        exp.record_search("control", n_results=0 if i % 100 == 0 else 10, latency_ms=10.0)
        exp.record_search("treatment", n_results=10, latency_ms=20.0)
    for _ in range(100):
        exp.record_event("control", "click", position=3)
    for _ in range(160):
        exp.record_event("treatment", "click", position=1)
    exp.record_event("treatment", "purchase")
    snap = exp.snapshot()["arms"]
    assert snap["control"]["searches"] == 1000 and snap["control"]["zero_results"] == 10
    assert snap["control"]["mean_latency_ms"] == pytest.approx(10.0)
    assert snap["control"]["rates"]["click"] == pytest.approx(0.1)
    assert snap["treatment"]["mean_click_position"] == pytest.approx(1.0)
    assert snap["treatment"]["events"] == {"click": 160, "purchase": 1}
    json.dumps(exp.snapshot())  # JSON-ready for the log
    samples = {(lab["arm"], lab["counter"]): v for lab, v in exp.gauge_samples()}
    assert samples[("treatment", "event_click")] == 160 and samples[("control", "searches")] == 1000
    comp = exp.compare("click")
    assert comp.rate_b > comp.rate_a and comp.p_value < 0.001
    even = Experiment(ExperimentConfig(name="e"))
    for arm in ("control", "treatment"):
        for _ in range(500):
            even.record_search(arm, 5, 1.0)
        for _ in range(50):
            even.record_event(arm, "click")
    assert even.compare().p_value == pytest.approx(1.0)


def test_counters_are_thread_safe() -> None:
    exp = Experiment(ExperimentConfig(name="t"))

    def work() -> None:
        for _ in range(2000):
            arm = exp.assign("same-user")
            exp.record_search(arm, 1, 1.0)
            exp.record_event(arm, "click", 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arm = exp.assign("same-user")
    snap = exp.snapshot()["arms"][arm]
    assert snap["searches"] == 8000 and snap["events"]["click"] == 8000
