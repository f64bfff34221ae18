"""Collaborative filtering (implicit ALS) on a tiny interaction log with two taste groups."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.rank.cf import CFModel, interaction_weights
from shopsearch.rank.events import Event

PRODUCTS = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]


def two_groups() -> list[Event]:
    """Users u0-u5 like the a-products, v0-v5 the b-products; each misses one of its group."""
    rng = np.random.default_rng(0)
    events = []
    for group, items in (("u", [p for p in PRODUCTS if p[0] == "a"]), ("v", [p for p in PRODUCTS if p[0] == "b"])):
        for j in range(6):
            user = f"{group}{j}"
            for p in items:
                if p.endswith(str(j)):
                    continue  # held out
                kind = ("click", "purchase", "add_to_cart")[int(rng.integers(0, 3))]
                events.append(Event(kind, p, user_id=user, ts=1000.0 + j))
    events.append(Event("click", "zz-not-in-catalog", user_id="u0", ts=1.0))
    events.append(Event("impression", "b3", user_id="u0", ts=1.0))  # impressions carry no preference
    return events


def test_held_out_items_of_the_own_group_score_higher():
    model = CFModel.fit(two_groups(), PRODUCTS, factors=4, iterations=10, seed=0)
    for j in range(6):
        u = model.score(f"u{j}", [f"a{j}", f"b{j}"])
        v = model.score(f"v{j}", [f"a{j}", f"b{j}"])
        assert u[0] > u[1] and v[1] > v[0]
    assert model.has_user("u0") and not model.has_user("stranger") and not model.has_user(None)


def test_unknown_user_or_product_scores_zero_and_dtype():
    model = CFModel.fit(two_groups(), PRODUCTS, factors=4, iterations=5)
    s = model.score("u1", ["a2", "missing"])
    assert s.dtype == np.float32 and s.shape == (2,) and s[1] == 0.0 and s[0] != 0.0
    assert (model.score("nobody", PRODUCTS) == 0.0).all()
    assert model.score(None, ["a1"]).tolist() == [0.0]


def test_deterministic_and_save_load(tmp_path):
    a = CFModel.fit(two_groups(), PRODUCTS, factors=4, iterations=5, seed=3)
    b = CFModel.fit(two_groups(), PRODUCTS, factors=4, iterations=5, seed=3)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    a.save(tmp_path / "cf")
    c = CFModel.load(tmp_path / "cf")
    np.testing.assert_array_equal(a.score("v2", PRODUCTS), c.score("v2", PRODUCTS))
    assert c.params["factors"] == 4
    with pytest.raises(FileNotFoundError):
        CFModel.load(tmp_path / "nothing")


def test_weights_decay_and_dislikes():
    day = 86400.0
    w = interaction_weights([Event("purchase", "p", user_id="u", ts=0.0), Event("click", "p", user_id="u", ts=30 * day),
                             Event("dislike", "q", user_id="u", ts=30 * day), Event("click", "q", ts=0.0)],
                            half_life_days=30.0)
    assert w[("u", "p")] == pytest.approx(5.0 * 0.5 + 1.0)
    assert w[("u", "q")] == pytest.approx(-4.0)
    assert len(w) == 2  # the event without a user is skipped


def test_empty_log_gives_a_model_that_scores_zero():
    model = CFModel.fit([], PRODUCTS)
    assert not model.has_user("u0") and (model.score("u0", PRODUCTS) == 0).all()
