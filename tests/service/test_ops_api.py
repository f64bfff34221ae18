"""Feedback, product images, health, metrics, OpenAPI, the page, and the real server."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shopsearch
from devkit.service import make_settings
from shopsearch.types import Product
from tests.optional import need_module


def test_feedback_is_stored(client) -> None:  # type: ignore[no-untyped-def]
    state = client.app.state.service
    before = state.feedback.count()
    for event in ("click", "add_to_cart", "purchase", "like", "dislike", "impression"):
        r = client.post("/v1/feedback", json={"event": event, "product_id": "p1", "position": 2,
                                               "session_id": "s1", "query": "红色 T恤"})
        assert r.status_code == 202 and r.json() == {"stored": 1}, r.text
    events = [{"event": "impression", "product_id": p} for p in ("p1", "p2")]
    r = client.post("/v1/feedback:batch", json={"events": events})
    assert r.json() == {"stored": 2}
    after = state.feedback.count()
    assert after["impression"] == before.get("impression", 0) + 3 and after["like"] == before.get("like", 0) + 1
    with sqlite3.connect(state.settings.feedback_path) as db:
        assert db.execute("SELECT query FROM events WHERE event='click' ORDER BY id DESC").fetchone()[0] == "红色 T恤"
    assert 'shopsearch_feedback_events_total{event="like"}' in client.get("/metrics").text


@pytest.mark.parametrize("payload, field", [
    ({"event": "teleport", "product_id": "p1"}, "event"),
    ({"event": "click"}, "product_id"),
    ({"event": "click", "product_id": "nope"}, "product_id"),
    ({"event": "click", "product_id": "p1", "position": 0}, "position"),
    ({"event": "click", "product_id": "p1", "position": "first"}, "position"),
    ({"event": "click", "product_id": "p1", "price": 3}, "price"),
    ({"event": "click", "product_id": ""}, "product_id"),
])
def test_bad_feedback(client, payload: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/feedback", json=payload)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_bad_feedback_batch(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/feedback:batch", json={"events": []}).status_code == 422
    r = client.post("/v1/feedback:batch", json={"events": [{"event": "click", "product_id": "p1"},
                                                            {"event": "click", "product_id": "zz"}]})
    assert r.status_code == 422 and r.json()["field"] == "events[1].product_id"


def test_product_images_are_served_with_type_and_caching(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/images/p1/0")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"] and r.headers["last-modified"]
    again = client.get("/images/p1/0", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    assert client.get("/images/p1/1").status_code == 404
    assert client.get("/images/nope/0").status_code == 404
    for path in ("/images/p1/-1", "/images/p1/..%2F..%2Fetc%2Fpasswd", "/images/..%2F..%2Fetc/0",
                 "/images/p1/0/../../../../etc/passwd", "/static/..%2F..%2Fsettings.py", "/static/app.py"):
        r = client.get(path)
        assert 400 <= r.status_code < 500 and b"root:" not in r.content, path


def test_images_outside_the_catalog_folders_are_never_served(tiny_index: Path, tmp_path: Path) -> None:
    """Even a product record pointing outside the image folders (written around the API)."""
    from fastapi.testclient import TestClient

    from shopsearch.service import create_app
    from tests.service.conftest import copy_index

    engine = shopsearch.load(copy_index(tiny_index, tmp_path / "index"))
    secret = tmp_path / "secret.png"
    secret.write_bytes((tiny_index.parent / "shop" / "images" / "p1.png").read_bytes())
    with TestClient(create_app(make_settings(engine.path, tmp_path / "data"), engine=engine)) as c:
        old = engine.product("p2")
        engine.upsert([Product(**{**old.__dict__, "images": (str(secret),)})])
        assert c.get("/images/p2/0").status_code == 404


def test_health_metrics_openapi_and_page(client) -> None:  # type: ignore[no-untyped-def]
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["products"] >= 7 and "lexical" in h["signals"] and h["voice"]
    client.post("/v1/search", json={"text": "red"})
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert 'shopsearch_http_requests_total{method="POST",route="/v1/search",status="200"}' in body
    from prometheus_client.parser import text_string_to_metric_families

    samples = [s for f in text_string_to_metric_families(body) for s in f.samples]
    assert any(s.name == "shopsearch_http_request_duration_seconds_bucket" and s.value >= 1
               and s.labels == {"method": "POST", "route": "/v1/search", "le": "+Inf"} for s in samples)
    assert "shopsearch_index_products " in body and "shopsearch_index_bytes " in body
    assert 'shopsearch_searches_total{modality="text"}' in body
    spec = client.get("/openapi.json").json()
    for path in ("/v1/search", "/v1/suggest", "/v1/products/{product_id}", "/v1/products/{product_id}/similar",
                 "/v1/products:batch", "/v1/feedback", "/health", "/metrics"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/v1/search"]["post"]["requestBody"]["content"]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for name in ("app.js", "i18n.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and "https://" not in r.text
    r = client.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["reason"]
    assert client.delete("/health").status_code == 405


def test_cors_is_closed_by_default_and_configurable(read_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from shopsearch.service import create_app

    origin = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(make_settings(read_engine.path, tmp_path), engine=read_engine)) as c:
        assert "access-control-allow-origin" not in c.options("/v1/search", headers=origin).headers
    settings = make_settings(read_engine.path, tmp_path, cors_origins=("https://shop.example",))
    with TestClient(create_app(settings, engine=read_engine)) as c:
        r = c.options("/v1/search", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://shop.example"


def test_warm_service_leaves_what_it_loaded_out_of_the_garbage_collector(tiny_index: Path, tmp_path: Path) -> None:
    # a full collection over the loaded index paused a request for ~175 ms on the fashion
    # catalogue; a warmed-up service freezes what it loaded (and still answers)
    import gc

    from fastapi.testclient import TestClient

    from shopsearch.service import create_app

    try:
        with TestClient(create_app(make_settings(tiny_index, tmp_path, warmup=True, voice=False))) as c:
            assert gc.get_freeze_count() > 0
            assert c.post("/v1/search", json={"text": "red shirt"}).json()["hits"]
    finally:
        gc.unfreeze()


def test_settings_validation_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopsearch.service import Settings

    with pytest.raises(ValueError, match="max_k"):
        Settings(index_dir=tmp_path, max_k=0)
    with pytest.raises(ValueError, match="api_key"):
        Settings(index_dir=tmp_path, api_key="short")
    monkeypatch.setenv("SHOPSEARCH_API_KEY", "from-the-environment")
    monkeypatch.setenv("SHOPSEARCH_INDEX_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPSEARCH_MAX_K", "7")
    monkeypatch.setenv("SHOPSEARCH_CORS_ORIGINS", "https://a.example, https://b.example")
    s = Settings.from_env()
    assert s.api_key == "from-the-environment" and s.max_k == 7 and s.index_dir == tmp_path
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert "from-the-environment" not in repr(s) and "from-the-environment" not in str(s.to_env())
    assert Settings.from_env(**{"max_k": 9}).max_k == 9


@pytest.mark.slow
def test_run_serves_on_localhost_with_two_workers(tiny_index: Path, tmp_path: Path) -> None:
    """``shopsearch.service.run`` as the CLI calls it: a real uvicorn process, two workers."""
    need_module("serve", "uvicorn")
    import httpx

    from devkit.servers import free_port

    port = free_port()
    code = ("import sys; from shopsearch.service import run; "
            f"run({str(tiny_index)!r}, port={port}, workers=2, data_dir={str(tmp_path)!r}, voice=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "SHOPSEARCH_API_KEY": "k" * 16})
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/search", json={"text": "red tshirt", "k": 1}, timeout=30)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not answer: " + (proc.stdout.read().decode() if proc.stdout else ""))
            time.sleep(0.5)
        assert r.json()["hits"][0]["product_id"] == "p1"
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["voice"].startswith("voice search is turned off")
        # every worker counts into one place: a scrape of either sees all searches (multiprocess mode)
        def text_searches() -> float:
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Connection": "close"}).text
            line = next(x for x in body.splitlines() if x.startswith('shopsearch_searches_total{modality="text"}'))
            return float(line.split()[-1])

        before = text_searches()
        for _ in range(6):  # a new connection each: both workers answer some
            assert httpx.post(f"http://127.0.0.1:{port}/v1/search", json={"text": "shoes", "k": 1},
                              headers={"Connection": "close"}, timeout=30).status_code == 200
        assert {text_searches() for _ in range(4)} == {before + 6}
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}/" in out


def test_default_workers_are_one_per_cpu_up_to_four(monkeypatch: pytest.MonkeyPatch) -> None:
    from shopsearch.service import server

    for cpus, want in ((None, 1), (1, 1), (2, 2), (16, server.MAX_DEFAULT_WORKERS)):
        monkeypatch.setattr(server.os, "cpu_count", lambda cpus=cpus: cpus)
        assert server.default_workers() == want
    from shopsearch.cli import build_parser

    assert build_parser().parse_args(["serve", "idx"]).workers is None  # run() picks default_workers()
    import inspect

    import shopsearch.service

    # `shopsearch demo --serve` calls the package's run() without workers: the same default
    for fn in (shopsearch.service.run, server.run):
        assert inspect.signature(fn).parameters["workers"].default is None


def test_workers_get_a_share_of_the_cpus_for_their_thread_pools(tiny_index: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    need_module("serve", "uvicorn")
    import uvicorn

    from shopsearch.service import server

    seen: list[dict[str, str | None]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.append(
        {v: os.environ.get(v) for v in server.POOL_THREAD_VARS}))
    monkeypatch.setattr(server.os, "cpu_count", lambda: 4)
    for var in server.POOL_THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the operator's choice stays
    saved = dict(os.environ)
    try:
        server.run(tiny_index, workers=2, data_dir=tmp_path, voice=False)
        after = dict(os.environ)
    finally:  # run() leaves the SHOPSEARCH_* settings for the workers in this process's environment
        os.environ.clear()
        os.environ.update(saved)
    assert seen == [{"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "3"}]
    assert after.get("OMP_NUM_THREADS") is None and after["MKL_NUM_THREADS"] == "3"  # restored
