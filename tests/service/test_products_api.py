"""Products: read, similar, and key-protected live updates validated like catalog rows."""

from __future__ import annotations

from pathlib import Path

import pytest

import shopsearch
from devkit.service import API_KEY, make_settings
from shopsearch.service import create_app
from tests.service.conftest import copy_index

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def test_get_product(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/v1/products/p3")
    assert r.status_code == 200
    assert r.json()["title"] == "Black Leather Formal Shoes" and r.json()["images"] == ["/images/p3/0"]
    r = client.get("/v1/products/nope")
    assert r.status_code == 404 and r.json()["field"] == "product_id"
    assert client.get("/v1/products/" + "x" * 200).status_code == 422


def test_similar(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/v1/products/p1/similar", params={"k": 3})
    assert r.status_code == 200, r.text
    ids = [h["product_id"] for h in r.json()["hits"]]
    assert len(ids) == 3 and "p1" not in ids
    r = client.get("/v1/products/p1/similar", params={"k": 3, "filter": "gender=Women"})
    assert all(h["product"]["attributes"]["gender"] == "Women" for h in r.json()["hits"])
    page2 = client.get("/v1/products/p1/similar", params={"k": 3, "page": 2}).json()
    assert not set(ids) & {h["product_id"] for h in page2["hits"]}
    assert client.get("/v1/products/nope/similar").status_code == 404
    for params, field in (({"k": 0}, "k"), ({"k": 51}, "k"), ({"page": 21}, "page"),
                          ({"filter": "colour=Red"}, "filters")):
        r = client.get("/v1/products/p1/similar", params=params)
        assert r.status_code == 422 and r.json()["field"] == field, r.text


@pytest.fixture(scope="module")
def writer(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    root = tmp_path_factory.mktemp("writes")
    index = copy_index(tiny_index, root / "index")
    engine = shopsearch.load(index)
    with TestClient(create_app(make_settings(index, root / "data"), engine=engine)) as c:
        yield c


def test_writes_need_the_api_key(writer, read_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    row = {"title": "Purple Hat", "base_colour": "Purple"}
    r = writer.put("/v1/products/x1", json=row)
    assert r.status_code == 401 and r.json()["field"] == "authorization"
    assert r.headers["www-authenticate"] == "Bearer"
    r = writer.put("/v1/products/x1", json=row, headers={"Authorization": "Bearer wrong-key-123456"})
    assert r.status_code == 401
    assert writer.delete("/v1/products/p1", headers={"X-API-Key": "nope"}).status_code == 401
    assert writer.post("/v1/products:batch", json={"delete": ["p1"]}).status_code == 401
    # no key configured: writes are refused outright
    from fastapi.testclient import TestClient

    settings = make_settings(read_engine.path, tmp_path, api_key=None)
    with TestClient(create_app(settings, engine=read_engine)) as c:
        r = c.put("/v1/products/x1", json=row, headers=AUTH)
        assert r.status_code == 403 and "SHOPSEARCH_API_KEY" in r.json()["reason"]


def test_put_patch_delete_are_visible_to_search(writer, shop_images: Path) -> None:  # type: ignore[no-untyped-def]
    row = {"title": "Purple Velvet Party Dress", "gender": "Women", "base_colour": "Purple",
           "article_type": "dress", "price": "49.5", "image": str(shop_images / "p8.png"),
           "extra": {"sku": "PVD-1"}}
    r = writer.put("/v1/products/x1", json=row, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["product"]["price"] == 49.5 and r.json()["upserted"] == 1
    hits = writer.post("/v1/search", json={"text": "purple velvet dress", "k": 1}).json()["hits"]
    assert hits[0]["product_id"] == "x1"

    r = writer.patch("/v1/products/x1", json={"price": 29, "attributes": {"season": "Winter"}},
                     headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    got = writer.get("/v1/products/x1").json()
    assert got["price"] == 29 and got["attributes"]["season"] == "Winter"
    assert got["attributes"]["base_colour"] == "Purple" and got["title"] == "Purple Velvet Party Dress"

    assert writer.delete("/v1/products/x1", headers=AUTH).json()["deleted"] == 1
    assert writer.get("/v1/products/x1").status_code == 404
    hits = writer.post("/v1/search", json={"text": "purple velvet dress", "k": 8}).json()["hits"]
    assert "x1" not in [h["product_id"] for h in hits]
    assert writer.delete("/v1/products/x1", headers=AUTH).status_code == 404
    assert writer.patch("/v1/products/x1", json={"price": 1}, headers=AUTH).status_code == 404


def test_bad_writes_name_every_field(writer) -> None:  # type: ignore[no-untyped-def]
    r = writer.put("/v1/products/x2", json={"title": "Hat", "price": -3, "rating": "great"}, headers=AUTH)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"price", "rating"} <= fields
    r = writer.put("/v1/products/x2", json={"id": "other", "title": "Hat"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "id"
    r = writer.put("/v1/products/x2", json={"price": 3}, headers=AUTH)
    assert r.status_code == 422 and "searchable" in r.json()["reason"]
    r = writer.put("/v1/products/x2", json={"title": "Hat", "image": "/etc/passwd"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "images" and "image folders" in r.json()["reason"]
    r = writer.put("/v1/products/x2", json={"title": "Hat", "image": "../../../../etc/hostname"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "images"
    r = writer.put("/v1/products/x2", json={"title": "Hat", "image": "ftp://example.com/a.png"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "images"
    r = writer.put("/v1/products/x2", json={"title": "Hat", "extra": "nope"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "extra"
    r = writer.put("/v1/products/x2", content=b"[1, 2]", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422
    json_headers = {**AUTH, "content-type": "application/json"}
    r = writer.put("/v1/products/x2", content=b'{"title": "\xff"}', headers=json_headers)
    assert 400 <= r.status_code < 500
    r = writer.put("/v1/products/x2", content=b'{"title": ', headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert writer.get("/v1/products/x2").status_code == 404


def test_batch_keeps_good_rows_and_reports_bad_ones(writer) -> None:  # type: ignore[no-untyped-def]
    rows = [{"id": "b1", "title": "Orange Beach Shorts", "base_colour": "Orange"},
            {"id": "b2", "title": "Bad Price", "price": "free"},
            {"id": "b3", "title": "Teal Scarf"},
            {"title": "No id at all"}]
    r = writer.post("/v1/products:batch", json={"upsert": rows, "delete": ["p5"]}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["upserted"] == 2 and body["deleted"] == 1
    assert {(e["index"], e["field"]) for e in body["rejects"]} == {(1, "price"), (3, "id")}
    assert writer.get("/v1/products/b1").status_code == 200
    assert writer.get("/v1/products/p5").status_code == 404
    r = writer.post("/v1/products:batch", json={"upsert": [{"id": "b9", "price": -1}]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"]
    assert writer.post("/v1/products:batch", json={}, headers=AUTH).status_code == 422
    r = writer.post("/v1/products:batch", json={"upsert": [{"id": f"z{i}", "title": "t"} for i in range(1001)]},
                    headers=AUTH)
    assert r.status_code == 413
    assert writer.post("/v1/products:batch", json={"upsert": "x"}, headers=AUTH).status_code == 422
    assert writer.post("/v1/products:batch", json={"remove": []}, headers=AUTH).json()["field"] == "remove"
