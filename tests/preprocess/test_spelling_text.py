from __future__ import annotations

import pytest

from shopsearch.preprocess.spelling import SpellCorrector, edit_distance
from shopsearch.preprocess.text import lexical_text, tokenize
from shopsearch.types import Product


@pytest.mark.parametrize(("a", "b", "d"), [("shirt", "shirt", 0), ("shrit", "shirt", 1), ("sandls", "sandals", 1),
                                           ("kitten", "sitting", 3), ("", "abc", 3)])
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b) == d


def test_spell_corrector() -> None:
    sc = SpellCorrector({"sandal": 40, "scandal": 1, "tshirt": 300, "sweater": 80, "sweatshirt": 50, "bag": 9})
    assert sc.correct("sandel") == "sandal"  # distance 1, the more frequent of the candidates
    assert sc.correct("sweter") == "sweater"
    assert sc.correct("sweatshrit") == "sweatshirt"  # transposition
    assert sc.correct("tshirt") is None  # known
    assert sc.correct("bga") is None  # too short to correct
    assert sc.correct("laptop") is None  # nothing close
    assert sc.correct("连衣裙") is None


def test_synonyms_and_field_weights() -> None:
    assert tokenize("Mens Tees for Ladies") == ["men", "tshirt", "women"]
    p = Product(id="1", title="Blue Shirt", description="soft cotton", attributes={"gender": "Men"})
    doc = lexical_text(p, ("title", "attributes", "description"))
    toks = tokenize(doc)
    assert toks.count("blue") == 3 and toks.count("men") == 2 and toks.count("cotton") == 1


def test_chinese_segmentation_keeps_lexicon_terms_whole() -> None:
    tokens = tokenize("藏青色人字拖")
    assert "藏青色" in tokens and "人字拖" in tokens
