from __future__ import annotations

import pytest

from shopsearch.preprocess.query import QueryParser

VOCAB = {
    "gender": ["Men", "Women", "Boys", "Girls", "Unisex"],
    "base_colour": ["Black", "Navy Blue", "Blue", "Red", "Pink", "White", "Grey"],
    "article_type": ["Tshirts", "Formal Shoes", "Sports Shoes", "Handbags", "Jeans", "Dresses", "Watches"],
    "sub_category": ["Dress", "Watches", "Shoes"],
    "season": ["Summer", "Winter"],
    "usage": ["Casual", "Formal", "Sports"],
}


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(VOCAB, cheap_price=25.0, expensive_price=300.0)


def _c(parser: QueryParser, text: str) -> list[tuple[str, object, str]]:
    return [(c.fields[0], c.value, c.op) for c in parser.parse(text).constraints]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("black formal shoes for men", [("base_colour", "Black", "eq"), ("article_type", "Formal Shoes", "eq"),
                                        ("gender", "Men", "eq")]),
        ("Summer Casual Tshirts", [("season", "Summer", "eq"), ("usage", "Casual", "eq"),
                                   ("article_type", "Tshirts", "eq")]),
        ("red t-shirts for ladies", [("base_colour", "Red", "eq"), ("article_type", "Tshirts", "eq"),
                                     ("gender", "Women", "eq")]),
        ("mens navy blue jeans", [("gender", "Men", "eq"), ("base_colour", "Navy Blue", "eq"),
                                  ("article_type", "Jeans", "eq")]),
        ("gray watch", [("base_colour", "Grey", "eq"), ("article_type", "Watches", "eq")]),
        ("dresses under 200", [("price", 200.0, "le"), ("article_type", "Dresses", "eq")]),
        ("sports shoes between 50 and 80", [("price", (50.0, 80.0), "range"), ("article_type", "Sports Shoes", "eq")]),
        ("handbags over $100", [("price", 100.0, "ge"), ("article_type", "Handbags", "eq")]),
        ("cheap jeans", [("price", 25.0, "le"), ("article_type", "Jeans", "eq")]),
        ("luxury watches", [("price", 300.0, "ge"), ("article_type", "Watches", "eq")]),
        ("tshirts not black", [("article_type", "Tshirts", "eq"), ("base_colour", "Black", "ne")]),
        ("vintage lamp", []),  # unknown words pass through untouched
        # Chinese, through the bilingual lexicon
        ("男士黑色T恤", [("gender", "Men", "eq"), ("base_colour", "Black", "eq"), ("article_type", "Tshirts", "eq")]),
        ("粉色连衣裙", [("base_colour", "Pink", "eq"), ("article_type", "Dresses", "eq")]),
        ("女士手提包 200元以下", [("price", 200.0, "le"), ("gender", "Women", "eq"),
                             ("article_type", "Handbags", "eq")]),
        ("蓝色牛仔裤 100-300元", [("price", (100.0, 300.0), "range"), ("base_colour", "Blue", "eq"),
                                ("article_type", "Jeans", "eq")]),
        ("便宜的运动鞋", [("price", 25.0, "le"), ("article_type", "Sports Shoes", "eq")]),
        ("不要黑色的T恤", [("base_colour", "Black", "ne"), ("article_type", "Tshirts", "eq")]),
    ],
)
def test_parse_table(parser: QueryParser, query: str, expected: list[tuple[str, object, str]]) -> None:
    assert _c(parser, query) == expected


def test_ambiguous_value_lists_every_field(parser: QueryParser) -> None:
    (c,) = parser.parse("dresses").constraints
    assert c.fields == ("article_type", "sub_category") and c.values == ("Dresses", "Dress")
    assert c.to_dict()["field"] == "article_type"


def test_parse_keeps_normalized_text(parser: QueryParser) -> None:
    p = parser.parse("男士黑色T恤")
    assert p.original == "男士黑色T恤" and "black" in p.normalized.lower()
    assert parser.parse("Blue Jeans").normalized == "Blue Jeans"
