"""Ranking over HTTP: multi-turn sessions, real-time feedback, session chips, impressions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import shopsearch
from devkit.service import make_settings
from shopsearch.service import create_app

from .conftest import copy_index


@pytest.fixture(scope="module")
def http(shop_index: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("ranking")
    engine = shopsearch.load(copy_index(shop_index, root / "index"))
    settings = make_settings(engine.path, root / "data")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


def _search(client: TestClient, text: str | None, session: str, **extra: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/search", json={"text": text, "session_id": session, "k": 6, **extra})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _labels(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [c["label"] for c in body["session"]["chips"]]


def _attrs(body: dict, key: str) -> list[str]:  # type: ignore[type-arg]
    return [h["product"]["attributes"].get(key) for h in body["hits"]]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_multi_turn_conversation(http: TestClient, lang: str) -> None:
    turns = {"en": ["red tshirt", "for women", "sportier", "no black", "cheaper", "more like the second one"],
             "zh": ["红色T恤", "女款", "换成运动款", "不要黑色", "再便宜一点", "和第二个类似的"]}[lang]
    sid = f"http-{lang}"
    body = _search(http, turns[0], sid)
    assert _labels(body) == ["base colour: Red", "article type: Tshirt"]
    body = _search(http, turns[1], sid)
    assert "gender: Women" in _labels(body) and _attrs(body, "gender")[0] == "Women"
    body = _search(http, turns[2], sid)
    assert "usage: Sports" in _labels(body)
    assert body["hits"][0]["product_id"] == "t3"  # red sports T-shirt for women
    body = _search(http, turns[3], sid)
    assert "base colour: not Black" in _labels(body) and "Black" not in _attrs(body, "base_colour")
    shown = [h["product"]["price"] for h in body["hits"]]
    body = _search(http, turns[4], sid)
    assert any(label.startswith("price ≤") for label in _labels(body))
    assert max(h["product"]["price"] for h in body["hits"]) < max(shown)
    second = body["hits"][1]["product_id"]
    body = _search(http, turns[5], sid)
    assert f"like {second}" in _labels(body)
    assert body["session"]["turns"] == turns


def test_dislike_over_http_removes_the_product(http: TestClient) -> None:
    first = _search(http, "dress", "http-dislike", user_id="shopper-1", explain=True)
    top = first["hits"][0]["product_id"]
    assert "explain" in first["hits"][0] and "features" in first["hits"][0]["explain"]
    r = http.post("/v1/feedback", json={"event": "dislike", "product_id": top, "session_id": "http-dislike",
                                        "user_id": "shopper-1", "position": 1})
    assert r.status_code == 202 and r.json() == {"stored": 1}
    again = _search(http, "dress", "http-dislike")
    assert top not in [h["product_id"] for h in again["hits"]]
    assert again["session"]["disliked"] == [top]
    chips = again["session"]["chips"]
    assert chips[-1]["kind"] == "hidden"
    # the shopper can bring it back by removing the "hidden" chip, then re-run without words
    r = http.delete("/v1/sessions/http-dislike/chips/hidden/0")
    assert r.status_code == 200 and r.json()["disliked"] == []
    rerun = _search(http, None, "http-dislike")
    assert top in [h["product_id"] for h in rerun["hits"]]


def test_session_endpoints(http: TestClient) -> None:
    _search(http, "red dress", "http-chips")
    _search(http, "不要黑色", "http-chips")
    state = http.get("/v1/sessions/http-chips").json()
    assert [c["label"] for c in state["chips"]] == ["base colour: Red", "article type: Dress",
                                                   "base colour: not Black"]
    r = http.delete("/v1/sessions/http-chips/chips/constraint/0")
    assert [c["label"] for c in r.json()["chips"]] == ["article type: Dress", "base colour: not Black"]
    assert http.delete("/v1/sessions/http-chips/chips/constraint/7").status_code == 404
    assert http.delete("/v1/sessions/http-chips/chips/nonsense/0").status_code == 422
    r = http.post("/v1/sessions/http-chips/reset")
    assert r.status_code == 200 and r.json()["chips"] == [] and r.json()["turns"] == []
    empty = http.post("/v1/search", json={"text": "", "session_id": "http-chips"})
    assert empty.status_code == 200 and empty.json()["hits"] == []
    assert http.post("/v1/search", json={"text": ""}).status_code == 422  # no session: nothing to re-run


def test_impressions_and_feedback_land_in_the_log(http: TestClient) -> None:
    state = http.app.state.service  # type: ignore[attr-defined]
    before = state.feedback.count().get("impression", 0)
    _search(http, "shoes", "http-log", user_id="shopper-2")
    deadline = time.time() + 5
    while state.feedback.count().get("impression", 0) < before + 6 and time.time() < deadline:
        time.sleep(0.05)  # impressions are written after the response
    events = state.feedback.read(session_id="http-log", event_types=["impression"])
    assert [e.position for e in events] == list(range(6)) and events[0].query == "shoes"
    bad = http.post("/v1/feedback", json={"event": "click", "product_id": "nope", "session_id": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "product_id"
