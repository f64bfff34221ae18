"""Security of the service: keys on writes, no path escapes, bounded image decoding, uploads
never written where the client says, body limits, CORS closed by default, no key in logs."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
from PIL import Image

from tests.optional import need_module

# ruff: noqa: E402
# (the imports below the check need the serve extra: a missing one skips the module, or fails it
# when SHOPSEARCH_REQUIRE names the part; tests/optional.py)
need_module("serve", "fastapi", module_level=True)

from fastapi.testclient import TestClient

import shopsearch
from devkit.service import API_KEY, make_settings
from shopsearch.catalog.images import check_image
from shopsearch.preprocess.image import ImageError, load_image
from shopsearch.service import create_app
from shopsearch.service.settings import Settings
from shopsearch.service.state import require_api_key
from shopsearch.types import Product

AUTH = {"X-API-Key": API_KEY}
ROW = {"id": "z1", "title": "Zebra print scarf", "price": 9.5}


def _png(w: int = 8, h: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


# Public POST/DELETE endpoints: shopper-side state (search, feedback events, a shopper's own
# session chips). Every other operation that is not a GET must demand the API key.
PUBLIC = ("/v1/search", "/v1/feedback", "/v1/sessions")


def _operations(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(m.upper(), path) for path, item in app.openapi()["paths"].items() for m in item
            if m in ("post", "put", "patch", "delete")]


def test_every_write_route_needs_the_key(app_client: TestClient) -> None:
    ops = [(m, p) for m, p in _operations(app_client.app) if not p.startswith(PUBLIC)]
    assert {m for m, _ in ops} >= {"PUT", "PATCH", "DELETE", "POST"}
    for method, path in ops:
        url = path.replace("{product_id}", "p1")
        assert "{" not in url, f"new write route {path}: add it to this test"
        body = {"upsert": [ROW]} if path.endswith(":batch") else ROW
        for headers in ({}, {"X-API-Key": "wrong-key-123456"}, {"Authorization": "Bearer wrong-key-123456"},
                        {"Authorization": f"Basic {API_KEY}"}, {"X-API-Key": API_KEY[:-1]}):
            r = app_client.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (method, url, headers, r.text)
            assert "wrong-key" not in r.text and API_KEY not in r.text
    assert app_client.get("/v1/products/z1").status_code == 404
    assert app_client.get("/v1/products/p1").status_code == 200
    r = app_client.put("/v1/products/z1", json=ROW, headers=AUTH)
    assert r.status_code == 200, r.text
    assert require_api_key  # the dependency every protected route uses (service/state.py)


def test_writes_are_off_without_a_configured_key(writable_index: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPSEARCH_API_KEY", raising=False)
    settings = make_settings(writable_index, tmp_path / "d", api_key=None)
    with TestClient(create_app(settings, engine=shopsearch.load(writable_index))) as c:
        r = c.put("/v1/products/z1", json=ROW, headers={"X-API-Key": ""})
        assert r.status_code == 403
    with pytest.raises(ValueError, match="at least 8"):
        make_settings(writable_index, tmp_path / "d", api_key="short")


ESCAPES = ["..", "../..", "..%2f..%2fetc%2fpasswd", "%2e%2e", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%252e%252e%252f",
           "/etc/passwd", "%2fetc%2fpasswd", "..%5c..%5cwindows", "....//....//etc", "app.js%00.png",
           "%c0%ae%c0%ae%2f", "app.js/../../settings.py", "..;/", "\\..\\..\\etc\\passwd"]


@pytest.mark.parametrize("name", ESCAPES)
def test_static_and_image_routes_do_not_escape(app_client: TestClient, name: str, tiny_index: Path) -> None:
    from shopsearch.service.routers.ui import STATIC_DIR

    # what may ever be served: the page's own files and the catalog's images (a client may
    # normalise "/static/.." to "/", which is the page itself)
    allowed = {p.read_bytes() for p in STATIC_DIR.iterdir()} | {
        p.read_bytes() for p in (tiny_index.parent / "shop" / "images").iterdir()}
    for url in (f"/static/{name}", f"/images/{name}/0", f"/images/p1/{name}", f"/static/../{name}",
                f"/images/../../{name}", f"/static/app.js/{name}"):
        r = app_client.get(url)
        assert r.status_code in (200, 400, 404, 405, 422), (url, r.status_code)
        if r.status_code == 200:
            assert r.content in allowed, url
        assert b"root:x:0:0" not in r.content


@pytest.mark.parametrize("raw", [b"/static/../../../../etc/passwd", b"/static/%2e%2e%2f%2e%2e%2fsettings.py",
                                 b"/static/..%2F..%2Fservice%2Fsettings.py", b"/images/p1/..%2F..%2F0",
                                 b"/static//etc/passwd", b"/static/%2Fetc%2Fpasswd"])
def test_raw_paths_are_not_normalised_into_an_escape(app_client: TestClient, raw: bytes) -> None:
    """Raw request targets as an attacker sends them (no client-side normalisation)."""
    import asyncio

    app = app_client.app
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    from urllib.parse import unquote_to_bytes

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": unquote_to_bytes(raw).decode("latin-1"), "raw_path": raw, "query_string": b"",
             "root_path": "", "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1),
             "server": ("testserver", 80), "state": {}, "app": app}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] in (400, 404, 422), (raw, start["status"])
    assert b"root:x:0:0" not in body and b"API_KEY" not in body


def test_image_route_refuses_symlinks_and_paths_outside_the_image_folders(
        app_client: TestClient, writable_index: Path, tmp_path: Path, tiny_index: Path) -> None:
    images = tiny_index.parent / "shop" / "images"
    outside = tmp_path / "secret.png"
    outside.write_bytes(_png())
    link = images / f"link-{os.getpid()}-{id(tmp_path)}.png"
    link.symlink_to(outside)
    try:
        engine = app_client.app.state.service.engine
        # bypass the API's own checks: the route must still refuse what lies outside
        engine.upsert([Product(id="evil1", title="evil link", images=(str(link),)),
                       Product(id="evil2", title="evil dotdot",
                               images=(os.path.join(images, os.path.relpath(outside, images)),)),
                       Product(id="evil3", title="evil abs", images=(str(outside),))])
        for pid in ("evil1", "evil2", "evil3"):
            assert app_client.get(f"/images/{pid}/0").status_code == 404
        assert app_client.get("/images/p1/0").status_code == 200
        # and the write API refuses such rows outright
        for img in (str(link), str(outside), "../../secret.png", "file:///etc/passwd"):
            r = app_client.put("/v1/products/evil4", json={**ROW, "id": "evil4", "image": img}, headers=AUTH)
            assert r.status_code == 422, (img, r.text)
    finally:
        link.unlink()


def test_image_decoding_is_bounded(tmp_path: Path) -> None:
    bomb = io.BytesIO()
    Image.new("1", (8_000, 8_000)).save(bomb, "PNG")  # 64 MP in a few kB
    with pytest.raises(ImageError, match="exceeds"):
        load_image(bomb.getvalue(), max_pixels=25_000_000)
    with pytest.raises(ImageError, match="byte limit"):
        load_image(_png(), max_bytes=10)
    for fmt in ("ICO", "TGA", "PCX", "PPM"):  # decodable by Pillow, not on the allow-list
        buf = io.BytesIO()
        Image.new("RGB", (16, 16)).save(buf, fmt)
        with pytest.raises(ImageError, match="allowed format"):
            load_image(buf.getvalue())
        path = tmp_path / f"x.{fmt.lower()}"
        path.write_bytes(buf.getvalue())
        assert check_image(str(path)) is not None
    (tmp_path / "bomb.png").write_bytes(bomb.getvalue())
    assert "exceeds" in str(check_image(str(tmp_path / "bomb.png"), max_pixels=25_000_000))
    (tmp_path / "big.png").write_bytes(_png())
    assert "byte limit" in str(check_image(str(tmp_path / "big.png"), max_bytes=10))


def test_uploads_bounded_and_never_written_where_the_client_says(app_client: TestClient, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "planted.png"
    cwd = tmp_path / "cwd" / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)  # relative names would land here
    names = [str(target), f"../../../../{target}", "..%2f..%2fplanted.png", "planted.png", "../planted.png"]
    for name in names:
        r = app_client.post("/v1/search", files={"image": (name, _png(), "image/png")}, data={"text": "red"})
        assert r.status_code == 200, r.text
    assert not target.exists()
    assert [p for p in (tmp_path / "cwd").rglob("*") if p.is_file()] == []
    big = _png(1200, 1200) + b"\0" * (600 * 1024)
    r = app_client.post("/v1/search", files={"image": ("a.png", big, "image/png")})
    assert r.status_code == 413
    bomb = io.BytesIO()
    Image.new("1", (6000, 6000)).save(bomb, "PNG")
    r = app_client.post("/v1/search", files={"image": ("b.png", bomb.getvalue(), "image/png")})
    assert r.status_code == 422 and "pixels" in r.json()["reason"]


def test_request_body_limits(app_client: TestClient) -> None:
    limit = app_client.app.state.service.settings.max_body_bytes
    big = b'{"text": "' + b"a" * (limit + 10) + b'"}'
    r = app_client.post("/v1/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536

    r = app_client.post("/v1/products:batch", content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413
    r = app_client.post("/v1/search", content=b"{}", headers={"content-length": "abc"})
    assert r.status_code in (400, 413)


def test_cors_closed_by_default_and_open_only_to_listed_origins(writable_index: Path, tmp_path: Path,
                                                                app_client: TestClient) -> None:
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    r = app_client.options("/v1/search", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    r = app_client.get("/v1/products/p1", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    assert Settings(index_dir=writable_index).cors_origins == ()
    settings = make_settings(writable_index, tmp_path / "d", cors_origins=("https://shop.example",))
    with TestClient(create_app(settings, engine=app_client.app.state.service.engine)) as c:
        ok = c.options("/v1/search", headers={**pre, "Origin": "https://shop.example"})
        assert ok.headers.get("access-control-allow-origin") == "https://shop.example"
        assert "access-control-allow-credentials" not in ok.headers
        bad = c.options("/v1/search", headers=pre)
        assert "access-control-allow-origin" not in bad.headers


def test_api_key_never_logged(app_client: TestClient, caplog: pytest.LogCaptureFixture,
                              capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    app_client.put("/v1/products/z2", json={**ROW, "id": "z2"}, headers=AUTH)
    app_client.put("/v1/products/z3", json={**ROW, "id": "z3"}, headers={"Authorization": f"Bearer {API_KEY}x"})
    app_client.put("/v1/products/z4", json={**ROW, "id": "z4", "price": "NaN"}, headers=AUTH)
    settings = app_client.app.state.service.settings
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.to_env())
    out = capsys.readouterr()
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records) + out.out + out.err
    assert API_KEY not in logged


def test_key_not_in_server_logs_of_a_real_server(writable_index: Path, tmp_path: Path) -> None:
    need_module("serve", "uvicorn")
    from devkit import crashkit
    from devkit.servers import free_port

    log = tmp_path / "server.log"
    port = free_port()
    proc = crashkit.start_server(writable_index, port, log=log)
    try:
        status, _ = crashkit._request("PUT", f"http://127.0.0.1:{port}/v1/products/z9", {**ROW, "id": "z9"})
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "PUT /v1/products/z9" in text  # the access log was captured
    assert crashkit.API_KEY not in text


def test_security_headers_on_every_response(app_client: TestClient) -> None:
    for r in (app_client.get("/"), app_client.get("/v1/products/p1"), app_client.get("/images/p1/0"),
              app_client.get("/nope"), app_client.post("/v1/search", content=b"{")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in app_client.get("/").headers


def test_write_after_an_external_compaction_lands_in_the_live_version(
    app_client: TestClient, writable_index: Path,
) -> None:
    shopsearch.load(writable_index).compact()  # another process moved the index on
    r = app_client.put("/v1/products/z5", json={**ROW, "id": "z5"}, headers=AUTH)
    assert r.status_code in (200, 201), r.text  # the service switched to the live version first
    assert app_client.delete("/v1/products/p2", headers=AUTH).status_code == 200
    assert app_client.post("/v1/search", json={"text": "red"}).status_code == 200
    fresh = shopsearch.load(writable_index)
    assert fresh.product("z5") is not None and fresh.product("p2") is None
