"""Shopper-worded training texts (issue 15): each variant says its partial text's facet values in
shoppers' words and keeps the text's constraint."""

from __future__ import annotations

import random

from shopsearch.preprocess.query import QueryParser
from shopsearch.preprocess.shopper import default_shopper_lexicon
from shopsearch.training.augment import add_shopper_variants, phrases_by_term, shopper_variant
from shopsearch.training.texts import FIELDS, build_text_bank
from shopsearch.types import Product


def _products() -> list[Product]:
    rows = [("a", "Tshirts", "Men", "Black", "Casual"), ("b", "Casual Shoes", "Women", "White", "Casual"),
            ("c", "Track Pants", "Men", "Grey", "Sports"), ("d", "Handbags", "Women", "Maroon", "Formal")]
    return [Product(id=i, title=f"Brand {g} {c} {t}", images=(f"/x/{i}.png",),
                    attributes={"article_type": t, "gender": g, "base_colour": c, "usage": u, "season": "Summer"})
            for i, t, g, c, u in rows]


def test_variants_keep_their_texts_meaning() -> None:
    """Parsed back with the shopper lexicon, a variant names the same facet values (up to a
    typo, which the parser corrects)."""
    bank = build_text_bank(_products())
    extra, alt = add_shopper_variants(bank, default_shopper_lexicon(), seed=3, share=1.0, offset=len(bank.texts))
    assert len(extra) > 20 and all(alt[j] < 0 or bank.kinds[j] == "partial" for j in range(len(alt)))
    vocab = {"article_type": ["Tshirts", "Casual Shoes", "Track Pants", "Handbags"], "gender": ["Men", "Women"],
             "base_colour": ["Black", "White", "Grey", "Maroon"], "usage": ["Casual", "Sports", "Formal"],
             "season": ["Summer"]}
    parser = QueryParser(vocab)
    decode = {f: {code: value for value, code in bank.vocab[f].items()} for f in FIELDS}
    agree = 0
    checked = [j for j in range(len(alt)) if alt[j] >= 0]
    for j in checked:
        want = {decode[f][int(bank.constraints[j][c])] for c, f in enumerate(FIELDS)
                if bank.constraints[j][c] >= 0 and f in ("article", "gender", "colour", "usage", "season")}
        got = {v for c in parser.parse(extra[alt[j] - len(bank.texts)]).constraints for v in c.values}
        agree += want <= got
    assert agree >= 0.9 * len(checked), (agree, len(checked))


def test_a_variant_is_shoppers_wording() -> None:
    phrases = phrases_by_term(default_shopper_lexicon())
    assert "sneakers" in phrases[("article", "casual shoes")]
    assert "smart casual" not in phrases.get(("usage", "casual"), [])
    rng = random.Random(0)
    texts = {shopper_variant({"article": "Tshirts", "gender": "Men", "colour": "Grey"}, phrases, rng)
             for _ in range(40)}
    assert len(texts) > 20
    assert any(t == t.lower() for t in texts) and any("for" in t.split() for t in texts)
    assert any(w in t for t in texts for w in ("tee", "t shirt", "gray", "guys", "for him"))
