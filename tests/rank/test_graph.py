"""The LightGCN-style graph model: learns from edges, scores unseen products from features."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.rank.events import Event
from shopsearch.rank.graph import GraphModel


def clustered(n_per: int = 12, d: int = 16, seed: int = 0):
    """Two product clusters in feature space; users of group u click cluster A, v cluster B."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, d))
    ids, feats = [], []
    for c, name in enumerate("AB"):
        for i in range(n_per):
            ids.append(f"{name}{i}")
            feats.append(centres[c] + 0.3 * rng.normal(size=d))
    feats = np.array(feats, dtype=np.float32)
    events = []
    for g, name in (("u", "A"), ("v", "B")):
        for j in range(5):
            for i in rng.choice(n_per - 2, 5, replace=False):  # the last two of each cluster stay unseen
                events.append(Event("click", f"{name}{i}", user_id=f"{g}{j}", ts=float(j)))
    return ids, feats, events, centres


def test_learns_preferences_and_scores_cold_products_from_features():
    ids, feats, events, _ = clustered()
    known = [p for p in ids if not p.endswith(("10", "11"))]
    known_feats = feats[[ids.index(p) for p in known]]
    model = GraphModel.fit(events, known, known_feats, dim=8, layers=2, epochs=60, lr=0.05, seed=0)
    # products the model was trained with
    s = model.score("u0", ["A0", "A1", "B0", "B1"])
    assert s[:2].mean() > s[2:].mean()
    # products it has never seen: scored through the learned projection of their features
    cold = ["A10", "A11", "B10", "B11"]
    cold_feats = feats[[ids.index(p) for p in cold]]
    for user, own in (("u1", slice(0, 2)), ("v1", slice(2, 4))):
        sc = model.score(user, cold, cold_feats)
        other = slice(2, 4) if own.start == 0 else slice(0, 2)
        assert sc[own].mean() > sc[other].mean(), (user, sc)
    assert (model.score(user, cold) == 0).all()  # no features, no score
    assert (model.score("stranger", ["A0"], feats[:1]) == 0).all()
    assert model.has_user("u0") and not model.has_user(None)


def test_deterministic_save_load_and_shape_checks(tmp_path):
    ids, feats, events, _ = clustered()
    a = GraphModel.fit(events, ids, feats, dim=8, epochs=5, seed=1)
    b = GraphModel.fit(events, ids, feats, dim=8, epochs=5, seed=1)
    np.testing.assert_allclose(a.user_emb, b.user_emb, rtol=1e-6)
    a.save(tmp_path / "g")
    c = GraphModel.load(tmp_path / "g")
    np.testing.assert_array_equal(a.score("u0", ids), c.score("u0", ids))
    assert c.layers == 2 and c.feature_dim == feats.shape[1]
    with pytest.raises(ValueError, match="product_features"):
        GraphModel.fit(events, ids, feats[:3])
    with pytest.raises(ValueError, match="product_features"):
        c.score("u0", ["new"], np.zeros((1, 3), np.float32))


def test_no_interactions_still_gives_a_model():
    ids, feats, _, _ = clustered()
    model = GraphModel.fit([Event("impression", "A0", user_id="u", ts=0.0)], ids, feats, dim=4, epochs=1)
    assert not model.has_user("u") and model.item_emb.shape == (len(ids), 4)
