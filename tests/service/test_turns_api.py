"""A turn is ranked once: pages, facet clicks, sorts and dislikes are views over that ranking
(issue 18), and a query with no good match says so (the relevance floor)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import shopsearch
from devkit.service import make_settings
from shopsearch.retrieve.paging import view, weak_match
from shopsearch.service import create_app
from shopsearch.types import Hit, Product

from .conftest import copy_index


@pytest.fixture(scope="module")
def http(shop_index: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("turns")
    engine = shopsearch.load(copy_index(shop_index, root / "index"))
    with TestClient(create_app(make_settings(engine.path, root / "data"), engine=engine)) as client:
        yield client


def _search(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [h["product_id"] for h in body["hits"]]


@pytest.mark.parametrize("session", [None, "paging-s"])
@pytest.mark.parametrize("text", ["red dress", "shoes for men", "红色T恤"])
def test_pages_one_to_four_repeat_nothing_and_keep_the_total(http: TestClient, text: str, session: str | None) -> None:
    seen: list[str] = []
    totals = set()
    for page in range(1, 5):
        body = _search(http, text=text, k=4, page=page, session_id=f"{session}-{text}" if session else None)
        assert not set(_ids(body)) & set(seen)
        seen += _ids(body)
        totals.add(body["total"])
    assert len(totals) == 1 and len(seen) == min(16, totals.pop())


def test_a_facet_click_and_a_sort_keep_the_order_of_what_was_shown(http: TestClient) -> None:
    sid = "facet-order"
    first = _search(http, text="red", k=20, session_id=sid)
    ranking = _ids(first)
    women = next(v["count"] for v in first["facets"]["gender"] if v["value"] == "Women")
    clicked = _search(http, k=20, session_id=sid, same_turn=True, filters={"gender": ["Women"]})
    assert clicked["total"] == women == len(clicked["hits"])  # the count promised what the click shows
    assert _ids(clicked) == [pid for pid in ranking if pid in set(_ids(clicked))]  # same relative order
    # multi-select: a second value of the same field adds to the first; its counts ignore its own choice
    both = _search(http, k=20, session_id=sid, same_turn=True, filters={"gender": ["Women", "Men"]})
    assert both["total"] == first["total"]
    assert {v["value"] for v in clicked["facets"]["gender"]} == {"Women", "Men"}
    cheap = _search(http, k=20, session_id=sid, same_turn=True, sort="price_asc")
    prices = [h["product"]["price"] for h in cheap["hits"]]
    assert prices == sorted(prices) and set(_ids(cheap)) == set(ranking)
    assert {"price_asc", "price_desc"} <= set(cheap["sorts"])
    again = _search(http, k=20, session_id=sid, same_turn=True)
    assert _ids(again) == ranking


def test_a_dislike_hides_one_product_and_moves_nothing_else(http: TestClient) -> None:
    sid = "dislike-frozen"
    ranking = _ids(_search(http, text="tshirt", k=20, session_id=sid))
    gone = ranking[1]
    assert http.post("/v1/feedback", json={"event": "dislike", "product_id": gone, "session_id": sid}).status_code < 300
    after = _ids(_search(http, k=20, session_id=sid, same_turn=True))
    assert after == [pid for pid in ranking if pid != gone]


def test_a_removed_chip_ranks_again(http: TestClient) -> None:
    sid = "chip-rerank"
    body = _search(http, text="red dress", k=20, session_id=sid)
    colour = next(c for c in body["session"]["chips"] if c["field"] == "base_colour")
    assert http.delete(f"/v1/sessions/{sid}/chips/constraint/{colour['index']}").status_code == 200
    after = _search(http, k=20, session_id=sid, same_turn=True)
    assert not any(c["field"] == "base_colour" for c in after["session"]["chips"])


def test_a_preference_chip_becomes_a_filter(http: TestClient) -> None:
    sid = "require"
    body = _search(http, text="red shoes", k=20, session_id=sid)
    assert any(h["product"]["attributes"]["base_colour"] != "Red" for h in body["hits"])  # a preference
    colour = next(c for c in body["session"]["chips"] if c["field"] == "base_colour")
    r = http.post(f"/v1/sessions/{sid}/chips/constraint/{colour['index']}/require")
    assert r.status_code == 200 and any(c["kind"] == "required" for c in r.json()["chips"])
    after = _search(http, k=20, session_id=sid, same_turn=True)
    assert after["hits"] and all(h["product"]["attributes"]["base_colour"] == "Red" for h in after["hits"])
    assert http.post(f"/v1/sessions/{sid}/chips/constraint/9/require").status_code == 404


@pytest.mark.parametrize("text", ["xyzzy", "🙂"])
def test_nonsense_gets_an_honest_answer(http: TestClient, text: str) -> None:
    sid = f"floor-{text}"
    _search(http, text="red dress", k=5, session_id=sid)
    body = _search(http, text=text, k=5, session_id=sid)  # not a follow-up of "red dress"
    assert body["weak"] and body["hits"] == [] and body["total"] == 0
    loose = _search(http, text=text, k=5, loose=True)
    assert not loose["weak"] and loose["hits"]


def test_a_real_query_is_not_weak(http: TestClient) -> None:
    body = _search(http, text="black shoes", k=5)
    assert not body["weak"] and body["hits"]


def test_view_and_floor_on_their_own() -> None:
    products = [Product(f"p{i}", price=float(10 - i) if i % 3 else None,
                        attributes={"year": 2000 + i, "c": "x" if i % 2 else "y"}) for i in range(8)]
    v = view(products, 3, 2, filters={"c": ["x"]}, facet_fields=("c",))
    assert [p.id for p in v.products] == ["p7"] and v.total == 4
    assert dict(v.facets["c"]) == {"x": 4, "y": 4}  # a field's counts ignore its own selection
    assert [p.id for p in view(products, 8, 1, sort="newest").products][:2] == ["p7", "p6"]
    priced = [p.id for p in view(products, 8, 1, sort="price_asc").products]
    assert priced[-3:] == ["p0", "p3", "p6"]  # no price: last, in ranking order
    with pytest.raises(ValueError, match="sort must be one of"):
        view(products, 3, 1, sort="cheapest")
    loose = [Hit("a", 1.0, signals={"text": (0.8, 1)})]
    assert weak_match(loose, {"constraints": []}, has_image=False)
    assert not weak_match(loose, {"constraints": [{"field": "gender"}]}, has_image=False)
    assert not weak_match([Hit("a", 1.0, signals={"lexical": (3.0, 1)})], None, has_image=False)
    assert not weak_match(loose, None, has_image=True)
