"""Training texts, positives and the seeded split (the metrics are tested in tests/evaluation)."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.training.config import TrainConfig, split_ids
from shopsearch.training.texts import build_text_bank, partial_texts, product_facets
from shopsearch.types import Product

SHIRT = Product(id="1", title="Nike Men Black Tshirts", category=("Apparel", "Topwear", "Tshirts"),
                attributes={"gender": "Men", "base_colour": "Black", "season": "Summer",
                            "usage": "Sports"})
SHOE = Product(id="2", title="Puma Women White Shoes", category=("Footwear", "Shoes", "Sports Shoes"),
               attributes={"gender": "Women", "base_colour": "White", "season": "Summer",
                           "usage": "Sports"})
SHIRT2 = Product(id="3", title="Nike Men Black Tshirts", category=("Apparel", "Topwear", "Tshirts"),
                 attributes={"gender": "Men", "base_colour": "Black", "season": "Fall",
                             "usage": "Casual"})


def test_facets_from_category_or_attributes() -> None:
    assert product_facets(SHIRT) == {"article": "Tshirts", "sub": "Topwear", "gender": "Men",
                                     "season": "Summer", "usage": "Sports", "colour": "Black"}
    flat = Product(id="x", attributes={"article_type": "Jeans", "color": "Blue"})
    assert product_facets(flat) == {"article": "Jeans", "colour": "Blue"}


def test_partial_texts_cover_subsets_in_shopper_order() -> None:
    texts = dict(partial_texts(product_facets(SHIRT)))
    assert "Black Tshirts" in texts
    assert "Men Summer Sports Black Tshirts" in texts
    assert "Sports Tshirts for Men" in texts
    assert texts["Black Topwear"] == {"sub": "Topwear", "colour": "Black"}
    # 2 types x (16 subsets + 8 with a gender, written both ways)
    assert len(texts) == 48


def test_positives_follow_constraints() -> None:
    bank = build_text_bank([SHIRT, SHOE, SHIRT2])
    idx = {t: i for i, t in enumerate(bank.texts)}
    cols = np.array([idx["Black Tshirts"], idx["Summer Sports Black Tshirts"],
                     idx["Nike Men Black Tshirts"], idx["Sports Shoes for Women"]])
    pos = bank.positives(np.arange(3), cols)
    assert pos.tolist() == [
        [True, True, True, False],
        [False, False, False, True],
        [True, False, True, False],  # shares the title, not the season/usage
    ]
    for i, own in enumerate(bank.product_texts):  # a product's own texts are all positives
        assert bank.positives(np.array([i]), own).all()


def test_split_is_seeded_and_order_free() -> None:
    ids = [str(i) for i in range(1000)]
    keep, held = split_ids(ids, 0.2, seed=0)
    assert 150 < len(held) < 250 and len(keep) + len(held) == 1000
    _, held2 = split_ids(list(reversed(ids)), 0.2, seed=0)
    assert sorted(ids[i] for i in held) == sorted(ids[::-1][i] for i in held2)
    assert split_ids(ids, 0.2, seed=1)[1].tolist() != held.tolist()


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="head"):
        TrainConfig(head="deep")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(val_fraction=1.5)
    assert TrainConfig.from_dict(TrainConfig(epochs=3).to_dict()) == TrainConfig(epochs=3)
