from __future__ import annotations

import numpy as np
import pytest

from shopsearch.retrieve.filters import (
    Filter,
    FilterError,
    FilterIndex,
    normalize_filters,
    parse_filter,
)
from shopsearch.types import Product

PRODUCTS = [
    Product(id="a", title="A", attributes={"gender": "Men", "base_colour": "Black", "year": 2011},
            price=150.0, category=("Apparel", "Topwear")),
    Product(id="b", title="B", attributes={"gender": "Women", "base_colour": "Navy Blue"}, price=250.0),
    Product(id="c", title="C", attributes={"gender": "men", "base_colour": "Blue", "year": 2012}),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gender=Men", Filter("gender", "eq", "Men")),
        ("price<200", Filter("price", "lt", 200.0)),
        ("price <= 200", Filter("price", "le", 200.0)),
        ("rating>=4", Filter("rating", "ge", 4.0)),
        ("gender!=Women", Filter("gender", "ne", "Women")),
        ("base_colour=Black|Navy Blue", Filter("base_colour", "in", ("Black", "Navy Blue"))),
    ],
)
def test_parse(text: str, expected: Filter) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", ["gender", "=Men", "price<cheap", "gender="])
def test_parse_errors(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def _mask(filters: object) -> list[str]:
    m = FilterIndex(PRODUCTS).mask(normalize_filters(filters))  # type: ignore[arg-type]
    assert m is not None
    return [p.id for p, ok in zip(PRODUCTS, m) if ok]


def test_masks() -> None:
    assert _mask(["gender=Men"]) == ["a", "c"]  # case-insensitive
    assert _mask(["gender!=men"]) == ["b"]
    assert _mask(["price<200"]) == ["a"]  # c has no price: excluded from a range
    assert _mask(["price>=150", "gender=women"]) == ["b"]
    assert _mask(["base_colour=black|navy blue"]) == ["a", "b"]
    assert _mask(["year=2011"]) == ["a"]
    assert _mask(["category=Topwear"]) == ["a"]
    assert _mask({"price": {"gte": 100, "lt": 300}, "gender": ["Men", "Women"]}) == ["a", "b"]
    assert FilterIndex(PRODUCTS).mask([]) is None


def test_unknown_field_is_named() -> None:
    with pytest.raises(FilterError, match=r"unknown filter field 'colour'.*base_colour"):
        FilterIndex(PRODUCTS).mask([parse_filter("colour=Red")])


def test_mapping_bad_operator() -> None:
    with pytest.raises(FilterError, match="unknown operator"):
        normalize_filters({"price": {"below": 3}})
    assert isinstance(FilterIndex(PRODUCTS).mask(normalize_filters({"gender": "Men"})), np.ndarray)
