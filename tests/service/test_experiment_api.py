"""Split-traffic A/B experiment in the service: stable arms, per-arm options and counters."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from devkit.service import make_settings
from shopsearch.service import create_app


def test_split_traffic_experiment(read_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "exp.json"
    config.write_text(json.dumps({"name": "constraints-filter",
                                  "arms": {"control": {}, "treatment": {"constraints": "filter"}}}))
    settings = make_settings(read_engine.path, tmp_path / "data", experiment=config)
    with TestClient(create_app(settings, engine=read_engine)) as client:
        arms: dict[str, str] = {}
        for i in range(30):
            user = f"user-{i}"
            body = client.post("/v1/search", json={"text": "black for women", "k": 8, "user_id": user}).json()
            arms[user] = body["experiment"]["arm"]
            again = client.post("/v1/search", json={"text": "black for women", "k": 8},
                                headers={"X-User-Id": user}).json()
            assert again["experiment"]["arm"] == arms[user]  # stable per user
            # the treatment arm turns parsed constraints into filters: nothing is black and for women
            assert (len(body["hits"]) == 0) == (arms[user] == "treatment")
        assert set(arms.values()) == {"control", "treatment"}
        anonymous = client.post("/v1/search", json={"text": "black for women"}).json()
        assert anonymous["experiment"] is None
        user = next(u for u, a in arms.items() if a == "control")
        r = client.post("/v1/feedback", json={"event": "click", "product_id": "p1", "user_id": user, "position": 2})
        assert r.status_code == 202
        metrics = client.get("/metrics").text
        assert 'shopsearch_experiment_total{arm="control",counter="event_click",experiment="constraints-filter"} 1' \
            in metrics
        assert 'counter="searches",experiment="constraints-filter"}' in metrics
