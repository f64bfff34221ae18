"""Shoppers' words (issue 15): the English shopper lexicon, compounds and plurals, learned
expansions, brands learned from titles, Chinese brand names, typo corrections."""

from __future__ import annotations

import pytest

from shopsearch.preprocess.brands import learn_brands
from shopsearch.preprocess.query import QueryParser
from shopsearch.preprocess.shopper import ShopperLexicon, default_shopper_lexicon, learn_expansions, parse_lexicon

VOCAB = {
    "article_type": ["Tshirts", "Shirts", "Casual Shoes", "Sports Shoes", "Heels", "Dresses", "Track Pants",
                     "Briefs", "Trunk", "Sweatshirts", "Flip Flops", "Handbags", "Watches"],
    "base_colour": ["Red", "Grey", "Navy Blue", "Black", "White", "Maroon", "Burgundy", "Teal"],
    "gender": ["Men", "Women", "Boys", "Girls", "Unisex"],
    "usage": ["Casual", "Sports", "Formal"],
    "season": ["Summer", "Winter"],
    "brand": ["Nike", "Puma", "Levis", "United Colors of Benetton"],
}


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser(VOCAB, known_words={"cotton": 5, "shirt": 9, "white": 9, "skirt": 3})


def _by_field(parsed) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[str, set[str]] = {}
    for c in parsed.constraints:
        for f, v in zip(c.fields, c.values):
            out.setdefault(f, set()).add(v)
    return out


@pytest.mark.parametrize("text", ["t shirt", "t-shirt", "tshirt", "t shirts", "T-Shirts", "tee", "tees",
                                  "tee shirt", "TSHIRTS"])
def test_every_spelling_of_t_shirt_is_the_catalogue_type(parser: QueryParser, text: str) -> None:
    parsed = parser.parse(f"teal {text}")
    assert _by_field(parsed) == {"base_colour": {"Teal"}, "article_type": {"Tshirts"}}
    assert [c.kind for c in parsed.types] == ["type"]
    assert "Tshirts" in parsed.normalized


def test_a_shirt_is_not_a_t_shirt(parser: QueryParser) -> None:
    assert _by_field(parser.parse("teal shirt")) == {"base_colour": {"Teal"}, "article_type": {"Shirts"}}


@pytest.mark.parametrize(("text", "expected"), [
    ("sneakers for her please", {"article_type": {"Casual Shoes", "Sports Shoes"}, "gender": {"Women"}}),
    ("gray joggers for guys", {"base_colour": {"Grey"}, "article_type": {"Track Pants"}, "gender": {"Men"}}),
    ("handbag for ladies", {"gender": {"Women"}, "article_type": {"Handbags"}}),
    ("burgundy hoodie", {"base_colour": {"Maroon", "Burgundy"}, "article_type": {"Sweatshirts"}}),
    ("navy office shirt", {"base_colour": {"Navy Blue"}, "usage": {"Formal"}, "article_type": {"Shirts"}}),
    ("men's flip-flops", {"gender": {"Men"}, "article_type": {"Flip Flops"}}),
    ("gym wear", {"usage": {"Sports"}}),
    ("boxers", {"article_type": {"Trunk"}}),
])
def test_shopper_words_map_onto_catalogue_values(parser: QueryParser, text: str, expected: dict) -> None:
    assert _by_field(parser.parse(text)) == expected


def test_negated_words_are_not_searched_for(parser: QueryParser) -> None:
    parsed = parser.parse("heels not black")
    assert {(c.op, c.values) for c in parsed.constraints} >= {("ne", ("Black",))}
    assert "black" not in parsed.normalized.lower()


def test_chinese_brand_names_become_the_brand(parser: QueryParser) -> None:
    for text, brand in (("耐克 跑步运动鞋", "Nike"), ("彪马男款运动鞋", "Puma"), ("李维斯 牛仔裤", "Levis")):
        assert brand in _by_field(parser.parse(text)).get("brand", set()), text


def test_brand_spellings_without_apostrophes_match(parser: QueryParser) -> None:
    assert _by_field(parser.parse("levi's tees"))["brand"] == {"Levis"}
    assert _by_field(parser.parse("united colors of benetton polo"))["brand"] == {"United Colors of Benetton"}


def test_typos_are_corrected_and_reported(parser: QueryParser) -> None:
    parsed = parser.parse("whte tshrit")
    assert parsed.corrected == "white tshirt"
    assert _by_field(parsed)["article_type"] == {"Tshirts"}
    assert parser.parse("red tshirt").corrected is None


@pytest.mark.parametrize("text", ["make it sporty", "something for the weekend", "show me more", "blu jeans"])
def test_common_english_words_are_not_corrected_into_catalogue_words(parser: QueryParser, text: str) -> None:
    corrections = dict(parser.parse(text).corrections)
    assert "make" not in corrections and "show" not in corrections and "something" not in corrections


def test_learned_expansion_from_titles() -> None:
    titles = [f"Acme Men Polo {c} T-Shirt" for c in ("Red", "Blue", "Black", "Grey", "White", "Green", "Navy", "Pink",
                                                     "Teal", "Olive")]
    titles += ["Acme Men Blue Shirt", "Acme Women Kurta Set"] * 3
    facets = {"article_type": ["Tshirts"] * 10 + ["Shirts", "Kurtas"] * 3}
    learned = {e.phrase: e for e in learn_expansions(titles, facets, known=["tshirts", "shirts"])}
    assert learned["polo"].terms == ("Tshirts",) and learned["polo"].kind == "learned"
    assert "acme" not in learned  # spread over several types


def test_learned_brands_from_titles() -> None:
    titles = (["Nike Men Running Shoes", "Nike Women Tee", "Nike Men Shorts", "Nike Unisex Cap", "Nike Men Socks"]
              + [f"United Colors of Benetton {g} Shirt {i}" for i, g in enumerate(["Men", "Women"] * 4)]
              + [f"Peter England Men Shirt {i}" for i in range(6)]
              + [f"Men {c} Shirt" for c in ("Red", "Blue")])
    brands = learn_brands(titles)
    assert set(brands.names.values()) == {"Nike", "United Colors of Benetton", "Peter England"}
    assert brands.of_title("Nike Men Track Pants") == "Nike"
    assert brands.of_title("united colors of benetton Kids Tee") == "United Colors of Benetton"
    assert brands.of_title("Men Red Shirt") is None


def test_lexicon_file_problems_are_named_by_line() -> None:
    with pytest.raises(ValueError) as err:
        parse_lexicon("tee\tTshirts\tproduct\nbad row\nteee\t\tproduct\ntees\tTshirts\tproduct\nx\ty\tweird\n", "f.tsv")
    text = str(err.value)
    for expected in ("f.tsv:2: expected 3", "f.tsv:3: empty terms", "f.tsv:4: phrase 'tees' repeats line 1",
                     "f.tsv:5: kind 'weird'"):
        assert expected in text


def test_packaged_lexicon_loads_and_covers_compounds() -> None:
    lex = default_shopper_lexicon()
    assert len(lex) > 400
    for words in (("t", "shirt"), ("tshirt",), ("flip", "flop"), ("flipflop",), ("sweatshirt",), ("sweat", "shirt")):
        assert lex.get(words) is not None, words
    assert isinstance(ShopperLexicon([]).max_words, int)


@pytest.mark.parametrize(("typed", "meant"), [("黑色高根鞋", "黑色高跟鞋"), ("托鞋 男款", "拖鞋 男款"),
                                              ("白色短秀", "白色短袖")])
def test_chinese_homophone_typos_are_corrected_and_reported(parser: QueryParser, typed: str, meant: str) -> None:
    parsed = parser.parse(typed)
    assert parsed.corrected == meant
    assert parsed.types, parsed.constraints


@pytest.mark.parametrize("text", ["上一页", "时尚连衣裙", "男士卫衣", "运动孩"])
def test_real_chinese_words_are_not_corrected(parser: QueryParser, text: str) -> None:
    assert parser.parse(text).corrections == ()


@pytest.mark.parametrize(("typed", "meant"), [("皮代 女士", "皮带 女士"), ("牛仔库 直筒", "牛仔裤 直筒")])
def test_a_chinese_typo_may_begin_with_a_shorter_term(parser: QueryParser, typed: str, meant: str) -> None:
    # 皮 (leather) and 牛仔 (denim) are terms themselves; the longer piece sounds like 皮带 / 牛仔裤
    assert parser.parse(typed).corrected == meant


def test_chinese_the_lexicons_do_not_know_stays_in_the_searched_query(parser: QueryParser) -> None:
    parsed = parser.parse("绝版男士卫衣")
    assert "绝版" in parsed.normalized.split()  # e5 reads it; the catalogue words do not lose it
    assert _by_field(parsed) == {"gender": {"Men"}, "article_type": {"Sweatshirts"}}
    assert all("绝版" not in c.text for c in parsed.constraints)  # not swallowed into a constraint


def test_a_value_typed_as_two_words_matches_the_joined_value() -> None:
    parser = QueryParser({"brand": ["Redtape", "Nike"], "base_colour": ["Red"], "article_type": ["Casual Shoes"]})
    parsed = parser.parse("red tape sandals")
    assert _by_field(parsed).get("brand") == {"Redtape"}
    assert "base_colour" not in _by_field(parsed)
    assert _by_field(parser.parse("red shoes")).get("base_colour") == {"Red"}


def test_who_a_product_is_for_comes_from_the_gender_words(parser: QueryParser) -> None:
    assert parser.who_fields == {"gender"}
    assert parser.for_everyone == (("gender", "Unisex"),)  # unisex products are for whoever is named
