"""Product type first (issue 15): a query that names a product type never ranks a product of
another type that only matches colour, gender or use above a product of the named type; and a
corrected query says what it searched for."""

from __future__ import annotations

from pathlib import Path

import pytest

import shopsearch
from shopsearch.config import SearchConfig
from tests.optional import need_module


@pytest.fixture(scope="module")
def engine(shop_index: Path):  # type: ignore[no-untyped-def]
    return shopsearch.load(shop_index)


TYPE_QUERIES = {
    "red shoes": "Shoes", "red sneakers for women": "Shoes", "black dress": "Dress", "party dresses": "Dress",
    "red tee shirt": "Tshirt", "white tees for her": "Tshirt", "blue t-shirts for men": "Tshirt",
    "sports shoes for men": "Shoes", "red summer dress": "Dress",
}


@pytest.mark.parametrize(("text", "wanted"), TYPE_QUERIES.items())
def test_products_of_the_named_type_come_first(engine, text: str, wanted: str) -> None:  # type: ignore[no-untyped-def]
    result = engine.search(text, k=20, facets=False)
    types = [h.product.attributes["article_type"] for h in result.hits]
    n = types.count(wanted)
    assert n > 0 and types[:n] == [wanted] * n, (text, types)


def test_type_first_holds_with_the_ranker_and_a_session(shop_index: Path) -> None:
    from shopsearch.rank import Ranker

    eng = shopsearch.load(shop_index)
    Ranker(eng).attach()
    for text, wanted in TYPE_QUERIES.items():
        result = eng.search(text, k=20, facets=False, user_id="u-type", session_id=f"s-{text}")
        types = [h.product.attributes["article_type"] for h in result.hits]
        n = types.count(wanted)
        assert types[:n] == [wanted] * n, (text, types)


def test_without_shopper_words_the_old_reading_is_kept(shop_index: Path) -> None:
    old = shopsearch.load(shop_index, config=SearchConfig(shopper_words=False))
    parsed = old.search("red sneakers for women", k=5).parsed
    assert not any(c["kind"] == "type" and "Shoes" in c["values"] for c in parsed["constraints"])


def test_a_corrected_query_says_what_was_searched(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search("whte trainrs", k=5)
    assert result.parsed["corrected"] == "white trainers"
    assert result.hits[0].product.attributes["article_type"] == "Shoes"
    assert engine.search("white trainers", k=5).parsed["corrected"] is None


def test_api_reports_the_correction(shop_index: Path, tmp_path: Path) -> None:
    need_module("serve", "fastapi")
    from fastapi.testclient import TestClient

    from devkit.service import make_settings
    from shopsearch.service import create_app

    with TestClient(create_app(make_settings(shop_index, tmp_path / "data", voice=False),
                               engine=shopsearch.load(shop_index))) as client:
        body = client.post("/v1/search", json={"text": "red dres for women"}).json()
    assert body["parsed"]["corrected"] == "red dress for women", body["parsed"]
    assert body["hits"][0]["product"]["attributes"]["article_type"] == "Dress"


@pytest.fixture(scope="module")
def text_engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """200 text-only products of five types; six kurtas are "Anarkali" (too few titles for the
    learned expansion, so only the nearest-products vote can tell the type)."""
    from devkit.catalogs import write_catalog
    from shopsearch.config import IndexConfig
    from shopsearch.index.builder import build_index

    kinds = {"Kurtas": "Kurta", "Tshirts": "Tee", "Watches": "Watch", "Heels": "Pumps", "Jeans": "Denim Jeans"}
    colours = ["Red", "Blue", "Green", "Black", "White", "Pink", "Grey", "Yellow"]
    rows = []
    for kind, word in kinds.items():
        for i in range(40):
            extra = "Anarkali " if kind == "Kurtas" and i < 6 else ""
            rows.append({"id": f"{kind}-{i}", "title": f"Brand{i % 7} {extra}{colours[i % 8]} {word} {i}",
                         "article_type": kind, "base_colour": colours[i % 8]})
    root = tmp_path_factory.mktemp("types")
    out = root / "index"
    build_index(write_catalog(root, rows), out, IndexConfig(fields=("title", "attributes"), joint_model=None,
                                                            zero_shot=False, cache_path=root / "c.sqlite",
                                                            progress=False))
    return shopsearch.load(out)


def test_a_type_the_lexicons_do_not_know_is_predicted_from_the_nearest_products(text_engine) -> None:  # type: ignore[no-untyped-def]
    result = text_engine.search("anarkali", k=20, facets=False)
    predicted = [c for c in result.parsed["constraints"] if c["kind"] == "type"]
    assert predicted and predicted[0]["values"] == ["Kurtas"] and predicted[0]["confidence"] >= 0.7, predicted
    types = [h.product.attributes["article_type"] for h in result.hits]
    assert types[:types.count("Kurtas")] == ["Kurtas"] * types.count("Kurtas"), types


def test_no_type_is_forced_when_the_neighbours_disagree(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search("something nice", k=20, facets=False)
    assert not [c for c in result.parsed["constraints"] if c["kind"] == "type"]


def test_chosen_signals_with_nothing_to_say_give_no_results_not_an_error(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search("qwzx plumbus", k=5, signals=["attributes"])
    assert result.hits == [] and result.parsed is not None
    with pytest.raises(ValueError, match="unknown signal"):
        engine.search("red", signals=["nope"])


def test_a_text_query_runs_e5_once_in_catalogue_words(engine) -> None:  # type: ignore[no-untyped-def]
    """The joint model's text head reads the text signal's embedding of the rewritten query."""
    assert "joint" in engine.dense
    encoder = engine.encoders.get("text")
    calls: list[list[str]] = []
    real = encoder.embed_queries
    encoder.embed_queries = lambda texts: calls.append(list(texts)) or real(texts)  # type: ignore[method-assign]
    try:
        engine.search("scarlet trainers for the wife", k=5)
    finally:
        encoder.embed_queries = real  # type: ignore[method-assign]
    assert calls == [["Red Sports Shoes for the Women"]], calls


def test_who_the_product_is_for_outranks_a_type_the_shop_does_not_have_for_them(engine) -> None:  # type: ignore[no-untyped-def]
    # every dress in the shop is for women: "red dress for men" asks first of all for men's things
    result = engine.search("red dress for men", k=5, facets=False)
    assert {h.product_id for h in result.hits[:3]} == {"t1", "t7", "s5"}  # the shop's red things for men
    assert not any(c["kind"] == "type" for c in result.parsed["constraints"])
    assert engine.search("red dress for women", k=3, facets=False).hits[0].product.attributes["article_type"] == "Dress"
