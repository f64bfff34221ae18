"""Issue 14's robustness findings, each as a test that failed before its fix: one long word in a
title or query, over-long fields, deeply nested JSON to /v1/search, an unforeseen error closing
a keep-alive connection, and a client that never finishes its request head."""

from __future__ import annotations

import json
import random
import socket
import string
import time
from pathlib import Path

import pytest

from devkit.catalogs import tiny_rows, write_catalog
from tests.optional import need_module

LONG_WORD = "".join(random.Random(3).choice(string.ascii_lowercase) for _ in range(1000))


def test_a_1000_letter_word_costs_milliseconds_in_the_spelling_corrector() -> None:
    from shopsearch.preprocess.spelling import SpellCorrector

    words = {"white": 30, "skirt": 20, "shirt": 40, LONG_WORD: 1}
    t0 = time.perf_counter()
    corrector = SpellCorrector(words)
    assert corrector.correct("whte") == "white" and corrector.correct("skrit") == "skirt"
    assert corrector.correct(LONG_WORD[:-1] + "q") is None
    assert time.perf_counter() - t0 < 0.05


def test_a_1000_letter_word_in_a_title_indexes_and_searches_fast(tmp_path: Path) -> None:
    """The word adds under 50 ms to building the lexical index and to a typo search over it,
    and the engine's query parser (which corrects typos against the titles' words) is just
    as quick (the corrector used to take ~60 s to set up)."""
    import shopsearch
    from shopsearch.index.lexical import LexicalIndex
    from shopsearch.preprocess.query import QueryParser
    from shopsearch.preprocess.shopper import word_keys
    from shopsearch.preprocess.text import lexical_text

    rows = tiny_rows(tmp_path / "shop")
    products = [shopsearch.Product(id=r["id"], title=r["title"]) for r in rows]
    long = [*products, shopsearch.Product(id="long", title=f"Cotton {LONG_WORD} skirt")]

    def timed(fn):  # type: ignore[no-untyped-def]
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return out, best

    def build(items):  # type: ignore[no-untyped-def]
        return lambda: LexicalIndex.build([lexical_text(p, ("title",)) for p in items])

    (_, base_s), (lexical, long_s) = timed(build(products)), timed(build(long))
    assert long_s - base_s < 0.05, (base_s, long_s)
    for query in ("whte skrit", LONG_WORD[:500] + " skrit", LONG_WORD):
        fresh = build(long)()  # the corrector is set up on the first typo: timed with it
        _, search_s = timed(lambda q=query, ix=fresh: ix.search(q, k=5))
        assert search_s < 0.05, (query[:20], search_s)
    assert len(lexical.search("whte skrit", k=5)[0]) > 0
    def parser_of(items):  # type: ignore[no-untyped-def]
        words = {w: 1 for p in items for w in word_keys(p.title)}
        return lambda: QueryParser({"article_type": ["Skirts"]}, known_words=words)

    (_, base_s), (parser, long_s) = timed(parser_of(products)), timed(parser_of(long))
    _, parse_s = timed(lambda: parser.parse(f"whte {LONG_WORD} skrit"))
    assert long_s - base_s < 0.05 and parse_s < 0.05, (base_s, long_s, parse_s)


@pytest.mark.parametrize(("field", "value", "limit"), [
    ("title", "x" * 1001, "1,000"), ("description", "y" * 20_001, "20,000"), ("brand", "b" * 201, "200"),
    ("id", "i" * 129, "128"),
])
def test_over_long_fields_are_rejected_with_the_field_named(tmp_path: Path, field: str, value: str,
                                                             limit: str) -> None:
    from shopsearch.catalog import load_catalog

    rows = [{"id": "ok1", "title": "red shirt"}, {"id": "bad", "title": "blue shirt", field: value},
            {"id": "ok2", "title": "huge " + "z" * 900}]
    loaded = load_catalog(write_catalog(tmp_path, rows))
    assert [p.id for p in loaded.products] == ["ok1", "ok2"]
    (reject,) = loaded.rejects
    assert reject.field == field and f"longer than {limit} characters" in reject.reason


def test_over_long_attribute_values_are_rejected(tmp_path: Path) -> None:
    from shopsearch.catalog import load_catalog

    rows = [{"id": "a", "title": "shirt", "colour": "c" * 20_001}, {"id": "b", "title": "shirt", "colour": "red"}]
    loaded = load_catalog(write_catalog(tmp_path, rows))
    assert [p.id for p in loaded.products] == ["b"]
    assert loaded.rejects[0].field == "attributes.colour" or loaded.rejects[0].field == "colour"


def test_api_write_of_a_10mb_title_is_refused_naming_the_field(app_client) -> None:  # type: ignore[no-untyped-def]
    from devkit.service import API_KEY

    r = app_client.put("/v1/products/huge", headers={"X-API-Key": API_KEY},
                       json={"title": "x" * 1_000_001})
    assert r.status_code in (413, 422), r.text  # over the body limit, or over the title limit
    r = app_client.put("/v1/products/huge", headers={"X-API-Key": API_KEY}, json={"title": "x" * 5000})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "title", r.text
    assert "longer than 1,000 characters" in r.text


# -- deeply nested JSON ---------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_body_is_a_400(app_client) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post("/v1/search", content=DEEP.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "nested too deeply" in r.json()["reason"], r.text
    r = app_client.post("/v1/search", content=('{"text": "red", "filters": ' + DEEP + "}").encode(),
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text


def test_deeply_nested_multipart_filters_is_a_4xx(app_client) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post("/v1/search", data={"text": "red", "filters": DEEP})
    assert r.status_code == 422 and r.json()["field"] == "filters", r.text


# -- connections ----------------------------------------------------------------------------------

def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one request and read one complete response (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_unforeseen_error_is_a_json_500_and_keeps_the_connection(tiny_index: Path, tmp_path: Path) -> None:
    need_module("serve", "uvicorn")
    import shutil

    import shopsearch
    from devkit.service import LiveServer, make_settings
    from shopsearch.service import create_app

    index = Path(shutil.copytree(tiny_index, tmp_path / "idx"))
    engine = shopsearch.load(index)
    real_search = engine.search

    def broken(text, *args, **kwargs):  # type: ignore[no-untyped-def]
        if text == "boom":
            raise ZeroDivisionError("a bug")
        return real_search(text, *args, **kwargs)

    engine.search = broken  # type: ignore[method-assign]
    body = json.dumps({"text": "boom"}).encode()
    request = (b"POST /v1/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    with LiveServer(create_app(make_settings(index, tmp_path / "data", voice=False), engine=engine)) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        first = _exchange(sock, request)
        assert first.startswith(b"HTTP/1.1 500") and b'"internal error' in first, first[:300]
        assert b"a bug" not in first
        second = _exchange(sock, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert second.startswith(b"HTTP/1.1 200"), second[:300]


@pytest.mark.parametrize("impl", ["h11", "httptools"])
def test_a_client_that_never_finishes_its_request_head_is_cut_off(impl: str) -> None:
    need_module("serve", "uvicorn")
    if impl == "httptools":
        need_module("serve", "httptools")
    from devkit.service import LiveServer
    from shopsearch.service.protocol import head_timeout_protocol

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with LiveServer(app, http=head_timeout_protocol(1.0, impl)) as server:
        # a normal client keeps its connection across requests (the keep-alive timeout is uvicorn's)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for _ in range(2):
                assert _exchange(sock, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").endswith(b"ok")
                time.sleep(0.6)
            # ...then starts a request and never finishes its head: cut off after ~1 s
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
            t0 = time.monotonic()
            for _ in range(3):
                time.sleep(0.3)
                sock.sendall(b"X-Slow: 1\r\n")
            assert sock.recv(100) == b"" and time.monotonic() - t0 < 3
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # silent from the start
            t0 = time.monotonic()
            assert sock.recv(100) == b""
            assert 0.8 < time.monotonic() - t0 < 3
