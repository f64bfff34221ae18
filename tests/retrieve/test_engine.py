from __future__ import annotations

from pathlib import Path

import pytest

import shopsearch
from shopsearch.retrieve.filters import FilterError


@pytest.fixture(scope="module")
def engine(tiny_index: Path):  # type: ignore[no-untyped-def]
    return shopsearch.load(tiny_index)


def test_text_search_fuses_lexical_and_dense(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search(text="red tshirt", k=3)
    assert result.hits[0].product_id == "p1"
    assert set(result.signals_used) == {"lexical", "text", "attributes"}
    top = result.hits[0]
    assert set(top.signals) == {"lexical", "text", "attributes"} and top.product.title.startswith("Red")
    assert [c["value"] for c in result.parsed["constraints"]] == ["Red"]
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_image_search_finds_the_same_picture(engine, tiny_index: Path) -> None:  # type: ignore[no-untyped-def]
    photo = tiny_index.parent / "shop" / "images" / "p3.png"
    result = engine.search(image=str(photo), k=2)
    assert result.hits[0].product_id == "p3"
    assert result.signals_used == ("image",)
    both = engine.search(text="black shoes", image=photo.read_bytes(), k=2)
    assert both.hits[0].product_id == "p3"
    assert set(both.signals_used) == {"lexical", "text", "image", "attributes"}


def test_filters_apply_to_every_signal(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search(text="tshirt", k=10, filters=["gender=Men", "price<21"])
    assert result.ids() == ["p1"]
    # a filter that leaves k products returns all k, even those no signal would rank
    result = engine.search(text="tshirt", k=8, filters={"gender": "Women"})
    assert sorted(result.ids()) == ["p2", "p4", "p5", "p6", "p8"]
    with pytest.raises(FilterError, match="unknown filter field 'colour'"):
        engine.search(text="tshirt", filters=["colour=Red"])


def test_parsed_constraints_boost_filter_off(engine) -> None:  # type: ignore[no-untyped-def]
    # "women" and "black" parse into gender and colour constraints; price into a range
    boosted = engine.search(text="black for women", k=8)
    parsed = {c["field"]: c["value"] for c in boosted.parsed["constraints"]}
    assert parsed == {"base_colour": "Black", "gender": "Women"}
    # nothing is both black and for women: boost keeps everything, filter leaves nothing
    assert len(boosted.hits) == 8
    assert engine.search(text="black for women", k=8, constraints="filter").hits == []
    men = engine.search(text="tshirt for men under 20", k=8, constraints="filter")
    assert men.ids() == ["p1"]  # Men and price <= 20 ("tshirt" is no catalog value here)
    off = engine.search(text="tshirt for men under 20", k=8, constraints="off")
    assert len(off.ids()) > 1 and "attributes" not in off.signals_used
    zh = engine.search(text="男士 黑色", k=2, constraints="filter")
    assert zh.ids() == ["p7", "p3"] or sorted(zh.ids()) == ["p3", "p7"]
    with pytest.raises(ValueError, match="constraints must be one of"):
        engine.search(text="x", constraints="maybe")


def test_bad_queries(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="needs text, an image"):
        engine.search(text="   ")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        engine.search(text="shirt", k=0)
    from shopsearch.preprocess.image import ImageError

    with pytest.raises(ImageError, match="not a decodable image"):
        engine.search(image=b"garbage")


def test_typos_are_tolerated_by_lexical_search(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search(text="leathr formall shoes", k=1, signals=["lexical"])
    assert result.ids() == ["p3"]


def test_several_query_images(engine, tiny_index: Path) -> None:  # type: ignore[no-untyped-def]
    shop = tiny_index.parent / "shop" / "images"
    result = engine.search(image=[str(shop / "p3.png"), str(shop / "p4.png")], k=2)
    assert set(result.ids()) == {"p3", "p4"}  # the two shoes
    with pytest.raises(ValueError, match="empty list"):
        engine.search(image=[])
