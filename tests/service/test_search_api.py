"""POST /v1/search and GET /v1/suggest: JSON and multipart, and every class of bad input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.optional import need_module, unavailable
from tests.service.images import png_bytes, png_header_only


def _error(r, status: int, field: str) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["field"] == field and body["reason"], body
    assert body["errors"][0]["field"] == field
    return body  # type: ignore[no-any-return]


def test_text_search_returns_products_facets_and_timing(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", json={"text": "red tshirt", "k": 3, "explain": True})
    assert r.status_code == 200, r.text
    body = r.json()
    top = body["hits"][0]
    assert top["product_id"] == "p1" and top["rank"] == 1
    assert top["product"]["title"] == "Red Cotton Tshirt for Men" and top["product"]["price"] == 19.0
    assert top["product"]["attributes"]["base_colour"] == "Red"
    assert top["product"]["images"] == ["/images/p1/0"]
    assert set(top["signals"]) >= {"lexical", "text"} and top["signals"]["lexical"]["rank"] >= 1
    assert body["k"] == 3 and body["page"] == 1 and body["total"] >= 3
    assert body["pages"] == -(-body["total"] // 3)
    assert body["took_ms"] > 0 and body["server_ms"] >= body["took_ms"]
    assert "gender" in body["facets"] and {"value", "count"} <= set(body["facets"]["gender"][0])
    assert body["transcript"] is None
    # without explain, no signals
    assert client.post("/v1/search", json={"text": "red"}).json()["hits"][0].get("signals") is None


def test_parsed_query_and_constraint_modes(client) -> None:  # type: ignore[no-untyped-def]
    body = client.post("/v1/search", json={"text": "red tshirt for men", "k": 8}).json()
    fields = {c["field"] for c in body["parsed"]["constraints"]}
    assert {"base_colour", "gender"} <= fields
    strict = client.post("/v1/search", json={"text": "red tshirt for men", "k": 8, "constraints": "filter"}).json()
    assert [h["product_id"] for h in strict["hits"]] == ["p1"]
    off = client.post("/v1/search", json={"text": "red tshirt for men", "k": 8, "constraints": "off"})
    assert off.status_code == 200 and len(off.json()["hits"]) > 1


def test_chinese_query(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", json={"text": "男士黑色皮鞋", "k": 3})
    assert r.status_code == 200 and r.json()["hits"][0]["product_id"] == "p3"


def test_paging_is_disjoint_and_consistent(client) -> None:  # type: ignore[no-untyped-def]
    pages = [client.post("/v1/search", json={"text": "shirt", "k": 3, "page": p}).json() for p in (1, 2, 3)]
    ids = [h["product_id"] for page in pages for h in page["hits"]]
    assert len(ids) == len(set(ids)) == min(9, pages[0]["total"])
    assert [h["rank"] for h in pages[1]["hits"]] == [4, 5, 6]
    everything = client.post("/v1/search", json={"text": "shirt", "k": 9}).json()
    assert [h["product_id"] for h in everything["hits"]] == ids


def test_filters_as_mapping_and_strings(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", json={"text": "tshirt", "filters": {"gender": "Men", "price": {"lt": 21}}})
    assert [h["product_id"] for h in r.json()["hits"]] == ["p1"]
    r = client.post("/v1/search", json={"text": "tshirt", "filters": ["gender=Men", "price<21"]})
    assert [h["product_id"] for h in r.json()["hits"]] == ["p1"]


def test_image_search_base64_data_url_and_multipart(client, shop_images: Path) -> None:  # type: ignore[no-untyped-def]
    photo = (shop_images / "p3.png").read_bytes()
    b64 = base64.b64encode(photo).decode()
    for image in (b64, "data:image/png;base64," + b64):
        r = client.post("/v1/search", json={"image": image, "k": 2})
        assert r.status_code == 200 and r.json()["hits"][0]["product_id"] == "p3"
    r = client.post("/v1/search", files={"image": ("p3.png", photo, "image/png")},
                    data={"text": "black shoes", "k": "2", "filter": "gender=Men"})
    assert r.status_code == 200, r.text
    assert r.json()["hits"][0]["product_id"] == "p3"
    r = client.post("/v1/search", files={"image": ("p3.png", photo, "image/png")},
                    data={"filters": '{"gender": "Women"}', "k": "8"})
    assert "p3" not in [h["product_id"] for h in r.json()["hits"]]


@pytest.mark.parametrize("payload, field", [
    ({"text": ""}, "text"),
    ({"text": "   \t\n"}, "text"),
    ({}, "text"),
    ({"text": "x", "k": 0}, "k"),
    ({"text": "x", "k": 51}, "k"),
    ({"text": "x", "k": 10**12}, "k"),
    ({"text": "x", "k": "ten"}, "k"),
    ({"text": "x", "k": 2.5}, "k"),
    ({"text": "x", "page": 0}, "page"),
    ({"text": "x", "page": 21}, "page"),
    ({"text": "x", "page": -3}, "page"),
    ({"text": 42}, "text"),
    ({"text": ["a"]}, "text"),
    ({"text": "x" * 501}, "text"),
    ({"text": "a\x00b"}, "text"),
    ({"text": "x", "colour": "red"}, "colour"),
    ({"text": "x", "filters": {"colour": "Red"}}, "filters"),
    ({"text": "x", "filters": {"price": {"lt": "cheap"}}}, "filters"),
    ({"text": "x", "filters": {"price": {"between": 3}}}, "filters"),
    ({"text": "x", "filters": ["price<<3"]}, "filters"),
    ({"text": "x", "filters": "gender=Men"}, "filters"),
    ({"text": "x", "explain": "maybe"}, "explain"),
    ({"text": "x", "language": "fr"}, "language"),
    ({"text": "x", "constraints": "sometimes"}, "constraints"),
    ({"image": "not base64!!"}, "image"),
    ({"image": base64.b64encode(b"plain text, not a picture").decode()}, "image"),
    ({"image": "data:image/png,rawbytes"}, "image"),
])
def test_bad_json_inputs_are_4xx_naming_the_field(client, payload: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", json=payload)
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert body["field"] == field or body["field"].startswith(field), body
    assert body["reason"]


def test_malformed_bodies(client) -> None:  # type: ignore[no-untyped-def]
    headers = {"content-type": "application/json"}
    _error(client.post("/v1/search", content=b'{"text": "\xff\xfe"}', headers=headers), 400, "body")
    _error(client.post("/v1/search", content=b'{"text": ', headers=headers), 400, "body")
    _error(client.post("/v1/search", content=b"", headers=headers), 400, "body")
    _error(client.post("/v1/search", content=b'["red"]', headers=headers), 422, "body")
    _error(client.post("/v1/search", content=b"text=red", headers={"content-type": "text/plain"}),
           415, "content-type")


def test_oversized_body_and_uploads(client) -> None:  # type: ignore[no-untyped-def]
    big = b"x" * (1024 * 1024 + 1)
    _error(client.post("/v1/search", content=big, headers={"content-type": "application/json"}), 413, "body")

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(20):
            yield b" " * 100_000

    _error(client.post("/v1/search", content=chunks(), headers={"content-type": "application/json"}), 413, "body")
    r = client.post("/v1/search", files={"image": ("big.png", b"\x89PNG" + b"0" * 600_000, "image/png")})
    _error(r, 413, "image")
    r = client.post("/v1/search", json={"image": base64.b64encode(b"0" * 600_000).decode()})
    _error(r, 413, "image")


def test_image_that_is_not_an_image_or_a_bomb(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", files={"image": ("x.png", b"GIF89a but not really", "image/png")})
    assert "not a decodable image" in _error(r, 422, "image")["reason"]
    r = client.post("/v1/search", files={"image": ("bomb.png", png_header_only(3000, 3000), "image/png")})
    assert "exceeds" in _error(r, 422, "image")["reason"]  # over the service's 4M-pixel limit
    r = client.post("/v1/search", files={"image": ("bomb.png", png_header_only(40000, 40000), "image/png")})
    _error(r, 422, "image")  # over Pillow's own bomb limit
    r = client.post("/v1/search", files={"image": ("empty.png", b"", "image/png")})
    _error(r, 422, "image")


def test_bad_multipart_inputs(client) -> None:  # type: ignore[no-untyped-def]
    photo = png_bytes()
    _error(client.post("/v1/search", data={"text": "red", "k": "many"}), 422, "k")
    _error(client.post("/v1/search", data={"text": "red", "filters": "{not json"}), 422, "filters")
    _error(client.post("/v1/search", data={"text": "red", "surprise": "1"}), 422, "surprise")
    _error(client.post("/v1/search", files={"video": ("v.mp4", b"123", "video/mp4")}, data={"text": "red"}),
           422, "video")
    _error(client.post("/v1/search", files={"image": ("a.png", photo, "image/png")},
                       data={"image": base64.b64encode(photo).decode()}), 422, "image")
    _error(client.post("/v1/search", data={"text": "  "}), 422, "text")
    r = client.post("/v1/search", content=b"--xyz\r\nnot a multipart body",
                    headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert 400 <= r.status_code < 500 and r.json()["reason"]
    body = (b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\n\xff\xfe red\r\n--b--\r\n')
    r = client.post("/v1/search", content=body, headers={"content-type": "multipart/form-data; boundary=b"})
    assert 200 <= r.status_code < 500, r.text


def test_corrupt_audio_is_422(client) -> None:  # type: ignore[no-untyped-def]
    need_module("voice", "av")
    r = client.post("/v1/search", files={"audio": ("v.webm", b"\x1aE\xdf\xa3 garbage", "audio/webm")})
    if r.status_code == 503:
        unavailable("voice", r.json()["reason"])
    assert "could not be decoded" in _error(r, 422, "audio")["reason"]


def test_suggest(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/v1/suggest", params={"q": "bl"})
    assert r.status_code == 200
    got = r.json()["suggestions"]
    assert "Black" in got and "Blue" in got and all(s.lower().startswith("bl") or " bl" in s.lower() for s in got)
    assert client.get("/v1/suggest", params={"q": "  "}).json()["suggestions"] == []
    assert len(client.get("/v1/suggest", params={"q": "b", "k": 1}).json()["suggestions"]) <= 1
    _error(client.get("/v1/suggest", params={"q": "x" * 101}), 422, "q")
    _error(client.get("/v1/suggest", params={"q": "b", "k": 0}), 422, "k")
    _error(client.get("/v1/suggest", params={"q": "b", "k": "x"}), 422, "k")
    assert client.get("/v1/suggest?q=%FF%FE").status_code < 500
