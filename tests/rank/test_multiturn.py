"""Multi-turn refinement through the Python API: follow-ups edit the session's query.

The catalog is :func:`tests.conftest.shop_rows` (dresses, T-shirts, shoes with colours, genders,
usage and prices); the encoders are the real packaged ones.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import shopsearch
from shopsearch.rank import Ranker

_ids = itertools.count()


@pytest.fixture(scope="module")
def engine(shop_index: Path):  # type: ignore[no-untyped-def]
    eng = shopsearch.load(shop_index)
    Ranker(eng).attach()
    return eng


def _session() -> str:
    return f"s{next(_ids)}"


def _attr(hit, key: str):  # type: ignore[no-untyped-def]
    return hit.product.attributes.get(key)


def _chips(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [c["label"] for c in result.session["chips"]]


@pytest.mark.parametrize("follow_up", ["cheaper", "便宜一点", "再便宜一点", "less expensive please"])
def test_cheaper_lowers_the_budget_below_what_was_shown(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    first = engine.search("red dress", session_id=sid, k=5)
    shown = [h.product.price for h in first.hits
             if _attr(h, "article_type") == "Dress" and _attr(h, "base_colour") == "Red"]
    assert len(shown) >= 2
    second = engine.search(follow_up, session_id=sid, k=5)
    budget = sorted(shown)[(len(shown) - 1) // 2]  # below the middle price of the matching results
    assert second.hits and all(h.product.price < budget + 1e-9 for h in second.hits)
    assert any(label.startswith("price ≤") for label in _chips(second))
    assert "base colour: Red" in _chips(second) and "article type: Dress" in _chips(second)  # kept


def test_cheaper_twice_keeps_going_down(engine) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("shoes", session_id=sid, k=6)
    a = engine.search("cheaper", session_id=sid, k=6)
    b = engine.search("再便宜一点", session_id=sid, k=6)
    assert max(h.product.price for h in b.hits) < max(h.product.price for h in a.hits)


@pytest.mark.parametrize("follow_up", ["for women", "女款", "women's"])
def test_gender_follow_up_keeps_the_query(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("red tshirt", session_id=sid, k=5)
    r = engine.search(follow_up, session_id=sid, k=5)
    top = r.hits[:2]
    assert all(_attr(h, "gender") == "Women" and _attr(h, "base_colour") == "Red"
               and _attr(h, "article_type") == "Tshirt" for h in top), [h.product_id for h in r.hits]
    assert "gender: Women" in _chips(r)


@pytest.mark.parametrize("follow_up", ["in blue", "蓝色的", "blue instead"])
def test_colour_follow_up_replaces_the_colour(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("red dress", session_id=sid, k=5)
    r = engine.search(follow_up, session_id=sid, k=5)
    assert r.hits[0].product_id == "d4"  # the one blue dress
    assert "base colour: Red" not in _chips(r) and "base colour: Blue" in _chips(r)


@pytest.mark.parametrize("follow_up", ["不要黑色", "no black", "not black please", "without black"])
def test_negation_removes_a_colour(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    first = engine.search("dress", session_id=sid, k=6)
    assert any(_attr(h, "base_colour") == "Black" for h in first.hits)
    r = engine.search(follow_up, session_id=sid, k=20)
    assert r.hits and not any(_attr(h, "base_colour") == "Black" for h in r.hits)
    assert _attr(r.hits[0], "article_type") == "Dress"
    assert "base colour: not Black" in _chips(r)


@pytest.mark.parametrize("follow_up", ["换成运动款", "make it sporty", "sports ones"])
def test_switch_to_sports_style(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("red tshirt for women", session_id=sid, k=5)
    r = engine.search(follow_up, session_id=sid, k=5)
    assert r.hits[0].product_id == "t3", [h.product_id for h in r.hits]  # red, women, sports T-shirt
    assert "usage: Sports" in _chips(r)


@pytest.mark.parametrize("follow_up", ["more like the second one", "和第二个类似的", "similar to the 2nd",
                                       "像第二个那样"])
def test_more_like_an_earlier_result(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    first = engine.search("shoes", session_id=sid, k=6)
    second = first.hits[1]
    r = engine.search(follow_up, session_id=sid, k=6)
    assert f"like {second.product_id}" in _chips(r)
    # the anchor's own photo is the query's photo: it and its look-alikes (same colour) lead
    assert second.product_id in r.ids()[:2]
    assert _attr(r.hits[0], "base_colour") == _attr(second, "base_colour")


def test_a_new_product_kind_starts_a_new_query(engine) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("red dress", session_id=sid, k=5)
    r = engine.search("black shoes", session_id=sid, k=5)
    assert _chips(r) == ["base colour: Black", "article type: Shoes"]
    assert all(_attr(h, "article_type") == "Shoes" for h in r.hits[:2])


def test_start_over_and_chip_removal(engine) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("red dress", session_id=sid, k=5)
    engine.search("不要黑色", session_id=sid, k=5)
    state = engine.ranker.remove_chip(sid, "constraint", 0)  # drop "base colour: Red"
    assert [c["label"] for c in state.chips()] == ["article type: Dress", "base colour: not Black"]
    rerun = engine.search(None, session_id=sid, k=10)  # no words: the session's query again
    assert {_attr(h, "base_colour") for h in rerun.hits if _attr(h, "article_type") == "Dress"} >= {"Red", "Blue"}
    assert not any(_attr(h, "base_colour") == "Black" for h in rerun.hits)
    empty = engine.search("start over", session_id=sid, k=5)
    assert empty.hits == [] and empty.session["chips"] == [] and empty.session["turns"] == ["start over"]
    again = engine.search("重新开始 红色T恤", session_id=sid, k=5)
    assert _chips(again) == ["base colour: Red", "article type: Tshirt"]


def test_without_a_session_nothing_is_remembered(engine) -> None:  # type: ignore[no-untyped-def]
    engine.search("red dress", k=5)
    r = engine.search("cheaper", k=5)
    assert r.session is None
    with pytest.raises(ValueError, match="needs text"):
        engine.search(None, k=5)


def test_sessions_are_shared_through_sqlite(shop_index: Path, tmp_path: Path) -> None:
    """Two engines (as two service workers) over one session database see one conversation."""
    from shopsearch.rank import SessionStore

    a, b = shopsearch.load(shop_index), shopsearch.load(shop_index)
    Ranker(a, sessions=SessionStore(tmp_path / "sessions.sqlite")).attach()
    Ranker(b, sessions=SessionStore(tmp_path / "sessions.sqlite")).attach()
    a.search("red tshirt", session_id="shared", k=5)
    r = b.search("for women", session_id="shared", k=5)
    assert _chips(r) == ["base colour: Red", "article type: Tshirt", "gender: Women"]


def test_a_further_page_is_not_a_new_turn(engine) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("shoes", session_id=sid, k=3)
    first = engine.search("cheaper", session_id=sid, k=3)
    page2 = engine.search("cheaper", session_id=sid, k=3, offset=3)  # same words, next page
    assert _chips(page2) == _chips(first) and page2.session["turns"] == ["shoes", "cheaper"]
    assert not set(page2.ids()) & set(first.ids())


@pytest.mark.parametrize("follow_up", ["in red", "红色的", "换成红色"])
def test_in_red(engine, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    sid = _session()
    engine.search("shoes", session_id=sid, k=5)
    r = engine.search(follow_up, session_id=sid, k=5)
    assert all(_attr(h, "base_colour") == "Red" and _attr(h, "article_type") == "Shoes" for h in r.hits[:2])
    assert _chips(r) == ["article type: Shoes", "base colour: Red"]
