"""LambdaMART learning to rank, search grouping, propensity estimation and IPW weights."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.rank.events import Event
from shopsearch.rank.ltr import (
    LTRModel,
    SearchGroup,
    estimate_propensities,
    group_searches,
    ipw_weights,
)

NAMES = ["signal", "noise", "price"]


def synthetic(n_groups: int = 120, per: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_groups * per, 3))
    y = np.clip(np.round(X[:, 0] + 0.3 * rng.normal(size=len(X))), 0, 3).astype(int)
    return X, y, [per] * n_groups


def ndcg10(scores, y, sizes):
    out, start = [], 0
    for s in sizes:
        sc, lab = scores[start:start + s], y[start:start + s]
        order = np.argsort(-sc)[:10]
        disc = 1 / np.log2(np.arange(2, 12))
        dcg = (lab[order] * disc[:len(order)]).sum()
        ideal = (np.sort(lab)[::-1][:10] * disc[:min(10, s)]).sum()
        out.append(dcg / ideal if ideal > 0 else 0.0)
        start += s
    return float(np.mean(out))


def test_learns_the_informative_feature_and_round_trips(tmp_path):
    X, y, sizes = synthetic()
    model = LTRModel.fit(X, y, sizes, NAMES, num_boost_round=50)
    Xt, yt, st = synthetic(seed=1)
    learned = ndcg10(model.predict(Xt), yt, st)
    assert learned > ndcg10(Xt[:, 1], yt, st) + 0.2
    assert model.meta["importance_gain"]["signal"] > model.meta["importance_gain"]["noise"]
    model.save(tmp_path / "ltr")
    again = LTRModel.load(tmp_path / "ltr", feature_names=NAMES)
    np.testing.assert_allclose(again.predict(Xt), model.predict(Xt))
    with pytest.raises(ValueError, match="mismatch"):
        LTRModel.load(tmp_path / "ltr", feature_names=["signal", "price", "noise"])
    with pytest.raises(ValueError, match="mismatch"):
        model.predict(Xt, feature_names=NAMES[:2])
    with pytest.raises(ValueError, match="shape"):
        model.predict(Xt[:, :2])
    assert model.predict(np.zeros((0, 3))).shape == (0,)


def test_deterministic_and_input_checks():
    X, y, sizes = synthetic(40)
    a = LTRModel.fit(X, y, sizes, NAMES, num_boost_round=20, seed=0).predict(X)
    b = LTRModel.fit(X, y, sizes, NAMES, num_boost_round=20, seed=0).predict(X)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="group_sizes"):
        LTRModel.fit(X, y, [5], NAMES)
    with pytest.raises(ValueError, match="feature names"):
        LTRModel.fit(X, y, sizes, ["a", "b"])
    with pytest.raises(ValueError, match="weights"):
        LTRModel.fit(X, y, sizes, NAMES, weights=np.ones(3))


def test_group_searches_labels_feedback():
    base = {"user_id": "u", "session_id": "s", "query": "red shirt"}
    events = [Event("impression", p, position=i, ts=10.0, **base) for i, p in enumerate(["a", "b", "c", "d"])]
    events += [Event("click", "b", ts=11.0, **base), Event("purchase", "b", ts=12.0, **base),
               Event("click", "c", ts=13.0, **base), Event("like", "c", ts=14.0, **base),
               Event("dislike", "d", ts=15.0, **base), Event("click", "zz", ts=16.0, **base)]
    events += [Event("impression", p, position=i, ts=20.0, **base) for i, p in enumerate(["c", "a"])]
    events += [Event("click", "a", ts=21.0, **base), Event("impression", "x", ts=5.0)]  # no session: skipped
    groups = group_searches(events)
    assert [(g.product_ids, g.labels, g.positions) for g in groups] == [
        (["a", "b", "c", "d"], [0, 3, 2, 0], [0, 1, 2, 3]), (["c", "a"], [0, 1], [0, 1])]


def test_propensity_em_recovers_position_bias_from_randomised_logs():
    rng = np.random.default_rng(0)
    true_theta = 1.0 / np.arange(1, 11) ** 1.0
    attraction = rng.uniform(0.05, 0.9, size=(30, 20))  # 30 queries x 20 products
    groups = []
    for i in range(6000):
        q = i % 30
        shown = rng.permutation(20)[:10]  # randomised top 10
        clicks = rng.random(10) < true_theta * attraction[q, shown]
        groups.append(SearchGroup("u", f"s{i}", f"q{q}", float(i), [f"p{j}" for j in shown], list(range(10)),
                                  [int(c) for c in clicks]))
    est = estimate_propensities(groups)
    assert est.method.startswith("EM")
    np.testing.assert_allclose(est.theta, true_theta, atol=0.06)
    w = ipw_weights(groups[:1], est)
    labels = np.array(groups[0].labels)
    assert (w[labels == 0] == 1.0).all() and (w[labels > 0] >= 1.0).all()


def test_propensities_fall_back_without_variation():
    g = SearchGroup("u", "s", "q", 0.0, ["a", "b", "c"], [0, 1, 2], [1, 0, 0])
    est = estimate_propensities([g] * 50)
    assert est.method.startswith("assumed") and est.theta[1] == pytest.approx(0.5)


def test_list_normalized_features_are_scale_free(tmp_path):
    X, y, sizes = synthetic(80)
    model = LTRModel.fit(X, y, sizes, NAMES, num_boost_round=30, list_normalized=["signal"])
    one = X[:10]
    np.testing.assert_allclose(model.predict(one), model.predict(one * np.array([5.0, 1.0, 1.0]) + [3.0, 0, 0]))
    model.save(tmp_path / "m")
    assert LTRModel.load(tmp_path / "m").list_normalized == ["signal"]
    with pytest.raises(ValueError, match="list_normalized"):
        LTRModel.fit(X, y, sizes, NAMES, list_normalized=["nope"])


def test_early_stopping_on_the_newest_searches():
    X, y, sizes = synthetic(100)
    model = LTRModel.fit(X, y, sizes, NAMES, num_boost_round=300, valid_fraction=0.2, early_stopping_rounds=5)
    assert model.meta["valid_groups"] == 20 and 1 <= model.meta["best_iteration"] < 300
    assert 0.0 < model.meta["valid_ndcg@10"] <= 1.0
    with pytest.raises(ValueError, match="valid_fraction"):
        LTRModel.fit(X, y, sizes, NAMES, valid_fraction=1.0)
