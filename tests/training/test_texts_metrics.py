"""Training texts, positives, the seeded split and the vectorised metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shopsearch.training.config import TrainConfig, split_ids
from shopsearch.training.metrics import (
    average_precision,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)
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


def _naive(scores: np.ndarray, rel: np.ndarray, k: int) -> dict[str, float]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    r = [bool(rel[i]) for i in order]
    n = sum(r)
    dcg = sum(1 / math.log2(i + 2) for i in range(k) if r[i])
    idcg = sum(1 / math.log2(i + 2) for i in range(min(n, k)))
    hits, ap = 0, 0.0
    for i, x in enumerate(r):
        if x:
            hits += 1
            ap += hits / (i + 1)
    first = next((i for i, x in enumerate(r) if x), None)
    return {"ndcg": dcg / idcg, "recall": sum(r[:k]) / n, "p": sum(r[:k]) / k,
            "rr": 0.0 if first is None else 1 / (first + 1), "ap": ap / n}


def test_metrics_match_naive_reference() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((20, 30))
    rel = rng.random((20, 30)) < 0.2
    rel[:, 0] = True
    got = {
        "ndcg": ndcg_at_k(scores, rel, 5), "recall": recall_at_k(scores, rel, 5),
        "p": precision_at_k(scores, rel, 5), "rr": reciprocal_rank(scores, rel),
        "ap": average_precision(scores, rel),
    }
    for q in range(20):
        ref = _naive(scores[q], rel[q], 5)
        for key, value in ref.items():
            assert got[key][q] == pytest.approx(value, abs=1e-12), (key, q)
