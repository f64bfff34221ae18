"""Seeded random requests: whatever arrives, the answer is never a 5xx."""

from __future__ import annotations

import json
import random

WEIRD = [None, True, False, 0, -1, 1, 2**63, -(2**63), 1.5, float("1e308"), "", " ", "\x00", "\ud800",
         "红色", "x" * 600, [], [1, "a"], {}, {"a": {"b": {"c": None}}}, "gender=Men", ["price<3", "zz"],
         {"price": {"lt": "a"}}, {"price": {"lt": None}}, {"gender": {"in": "Men"}}, {"gender": {"eq": [1]}},
         "data:image/png;base64,AAAA", "////", "=" * 10]
FIELDS = ["text", "image", "filters", "k", "page", "user_id", "session_id", "explain", "language", "extra"]


def test_random_json_search_bodies_never_500(client) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    for _ in range(150):
        body = {f: rng.choice(WEIRD) for f in rng.sample(FIELDS, rng.randint(0, 5))}
        if rng.random() < 0.5:
            body["text"] = rng.choice(["red", "shirt", "男士", " "])
        raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        r = client.post("/v1/search", content=raw, headers={"content-type": "application/json"})
        assert r.status_code < 500, (body, r.text)
        assert "field" in r.json() or "hits" in r.json()


def test_random_query_strings_never_500(client) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(6)
    paths = ["/v1/suggest?q={}&k={}", "/v1/products/{}/similar?k={}", "/v1/products/{}?x={}", "/images/{}/{}"]
    values = ["", "%FF", "%00", "..%2F..", "p1", "-1", "1e9", "红", "%E7%BA", "a" * 300, "0", "nan"]
    for _ in range(100):
        path = rng.choice(paths).format(rng.choice(values), rng.choice(values))
        r = client.get(path)
        assert r.status_code < 500, (path, r.text)


def test_random_feedback_never_500(client) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    keys = ["event", "product_id", "position", "value", "ts", "query", "user_id"]
    values = [*WEIRD, "click", "p1", "like", 3, 1e12]
    for _ in range(100):
        body = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 5))}
        raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        r = client.post("/v1/feedback", content=raw, headers={"content-type": "application/json"})
        assert r.status_code < 500, (body, r.text)
