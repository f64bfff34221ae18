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
    assert set(result.signals_used) == {"lexical", "text"}
    top = result.hits[0]
    assert set(top.signals) == {"lexical", "text"} and top.product.title.startswith("Red")
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_image_search_finds_the_same_picture(engine, tiny_index: Path) -> None:  # type: ignore[no-untyped-def]
    photo = tiny_index.parent / "shop" / "images" / "p3.png"
    result = engine.search(image=str(photo), k=2)
    assert result.hits[0].product_id == "p3"
    assert result.signals_used == ("image",)
    both = engine.search(text="black shoes", image=photo.read_bytes(), k=2)
    assert both.hits[0].product_id == "p3"
    assert set(both.signals_used) == {"lexical", "text", "image"}


def test_filters_apply_to_every_signal(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search(text="tshirt", k=10, filters=["gender=Men", "price<21"])
    assert result.ids() == ["p1"]
    # a filter that leaves k products returns all k, even those no signal would rank
    result = engine.search(text="tshirt", k=8, filters={"gender": "Women"})
    assert sorted(result.ids()) == ["p2", "p4", "p5", "p6", "p8"]
    with pytest.raises(FilterError, match="unknown filter field 'colour'"):
        engine.search(text="tshirt", filters=["colour=Red"])


def test_bad_queries(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="needs text, an image"):
        engine.search(text="   ")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        engine.search(text="shirt", k=0)
    from shopsearch.preprocess.image import ImageError

    with pytest.raises(ImageError, match="not a decodable image"):
        engine.search(image=b"garbage")
