"""Real-time feedback, personal profiles, cold start and business signals in the ranker."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import shopsearch
from shopsearch.rank import BoostRule, RankConfig, Ranker
from shopsearch.rank.events import EventLog


@pytest.fixture()
def engine(shop_index: Path):  # type: ignore[no-untyped-def]
    return shopsearch.load(shop_index)


def _cos_to(engine, pid: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    space = engine.ranker.facts().space[1]
    anchor = space[engine.positions[pid]]
    return {p.id: float(space[i] @ anchor) for i, p in enumerate(engine.products)}


def test_dislike_hides_the_product_and_shifts_the_rest(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ranker = Ranker(engine, log=EventLog(tmp_path / "events.sqlite")).attach()
    before = engine.search("tshirt", session_id="s1", k=8).ids()
    disliked = before[0]
    report = ranker.record([{"event": "dislike", "product_id": disliked, "session_id": "s1", "user_id": "u1"}])
    assert report.accepted == 1 and not report.rejects
    # the same session without the feedback vector: the product is hidden, nothing else moves
    Ranker(engine, sessions=ranker.sessions, config=RankConfig(components=("business",))).attach()
    hidden_only = engine.search("tshirt", session_id="s1", k=8).ids()
    ranker.attach()
    after = engine.search("tshirt", session_id="s1", k=8, explain=True)
    assert disliked not in after.ids() and disliked not in hidden_only
    assert after.session["disliked"] == [disliked]
    # look-alikes of the disliked product move down: the session vector points away from it
    cos = _cos_to(engine, disliked)
    look_alike = max((p for p in before if p != disliked), key=lambda p: cos[p])
    assert cos[look_alike] > 0.9
    assert look_alike not in after.ids() or after.ids().index(look_alike) > hidden_only.index(look_alike)
    assert all("session_sim" in h.explain["features"] for h in after.hits)
    # never again in this session, whatever the query; other sessions still see it
    assert disliked not in engine.search("red", session_id="s1", k=20).ids()
    assert disliked in engine.search("tshirt", session_id="s2", k=8).ids()
    assert ranker.log.count()["dislike"] == 1


def test_like_pulls_look_alikes_up(engine) -> None:  # type: ignore[no-untyped-def]
    ranker = Ranker(engine).attach()
    plain = engine.search("for men", session_id="a", k=10).ids()
    liked = next(p for p in plain[3:] if p.startswith("s"))  # a pair of shoes below the top 3
    ranker.record([{"event": "like", "product_id": liked, "session_id": "a"}])
    after = engine.search("for men", session_id="a", k=10).ids()
    assert after.index(liked) < plain.index(liked)


def test_history_personalises_and_new_users_get_the_plain_order(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = EventLog(tmp_path / "events.sqlite")
    now = time.time()
    # u-sport bought and liked sports things for weeks
    log.append([{"event": e, "product_id": p, "user_id": "u-sport", "ts": now - 86400 * d}
                for d, (e, p) in enumerate([("purchase", "s2"), ("like", "t5"), ("click", "s6"),
                                            ("purchase", "t4"), ("like", "s5")])])
    # ...while the crowd buys casual T-shirts
    log.append([{"event": "purchase", "product_id": p, "user_id": f"crowd{i}", "ts": now - 3600}
                for i in range(5) for p in ("t1", "t6", "t8")])
    Ranker(engine, log=log, config=RankConfig(components=("business",))).attach()
    plain = engine.search("tshirt", k=8).ids()  # retrieval + business signals, nothing personal
    ranker = Ranker(engine, log=log).attach()
    cold = engine.search("tshirt", user_id="newcomer", k=8, explain=True)
    assert cold.ids() == plain  # a new user falls back to the query and popularity, stock, rating...
    assert all(h.explain["cold_start"] for h in cold.hits)
    warm = engine.search("tshirt", user_id="u-sport", k=8, explain=True)
    sports = {p.id for p in engine.products if p.attributes.get("usage") == "Sports"}
    top_plain = sum(p in sports for p in plain[:3])
    top_warm = sum(p in sports for p in warm.ids()[:3])
    assert top_warm > top_plain, (plain, warm.ids())
    assert not warm.hits[0].explain["cold_start"] and "profile_sim" in warm.hits[0].explain["features"]
    assert ranker.profile("u-sport").price is not None  # their usual price band is known


def test_out_of_stock_and_boost_rules(engine) -> None:  # type: ignore[no-untyped-def]
    info = {"t1": {"stock": 0}}
    plain = engine.search("red tshirt", k=6, rerank=False).ids()
    assert plain[0] == "t1"
    Ranker(engine, product_info=info).attach()
    demoted = engine.search("red tshirt", k=20).ids()
    assert demoted.index("t1") > plain.index("t1")
    Ranker(engine, product_info=info, config=RankConfig(out_of_stock="filter")).attach()
    assert "t1" not in engine.search("red tshirt", k=20).ids()
    rule = BoostRule("women sportswear", match={"gender": "Women", "usage": "Sports"}, weight=1.0,
                     when={"article_type": "Tshirt"})
    Ranker(engine, config=RankConfig(rules=(rule,))).attach()
    boosted = engine.search("red tshirt", k=6, explain=True)
    assert boosted.hits[0].product_id == "t3" and boosted.hits[0].explain["rules"] == ["women sportswear"]
    other = engine.search("red dress", k=6, explain=True)  # the rule only fires for T-shirt queries
    assert not any("rules" in h.explain for h in other.hits)


def test_popularity_and_price_fit(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = EventLog(tmp_path / "events.sqlite")
    log.append([{"event": "purchase", "product_id": "d4", "user_id": f"u{i}"} for i in range(30)])
    ranker = Ranker(engine, log=log, config=RankConfig(weights={"popularity": 2.0})).attach()
    r = engine.search("dress", k=6, explain=True)
    assert r.hits[0].product_id == "d4" and r.hits[0].explain["features"]["popularity"] == pytest.approx(1.0)
    names, X = ranker.features("dress under 50", ["d1", "d2", "d4"])
    fit = X[:, names.index("price_fit")]
    assert fit[0] == 1.0 and fit[2] == 1.0 and fit[1] < 0.5  # 89 is far over a 50 budget
    assert X.dtype == np.float32 and X.shape == (3, len(names))


def test_bad_feedback_is_reported_and_good_events_kept(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ranker = Ranker(engine, log=EventLog(tmp_path / "events.sqlite")).attach()
    report = ranker.record([{"event": "like", "product_id": "t1", "session_id": "x"},
                            {"event": "teleport", "product_id": "t2"},
                            {"event": "click", "product_id": "t3", "position": -1}])
    assert report.accepted == 1
    assert [r.field for r in report.rejects] == ["event", "position"]
    assert ranker.sessions.get("x").liked == ["t1"]


def test_rank_config_validation_and_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown ranking component"):
        RankConfig(components=("magic",))
    with pytest.raises(ValueError, match="out_of_stock"):
        RankConfig(out_of_stock="hide")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight must be a finite number"):
        BoostRule("x", match={"brand": "A"}, weight=float("nan"))
    path = tmp_path / "rank.toml"
    path.write_text('out_of_stock = "filter"\ncomponents = ["business", "session"]\n'
                    '[[rules]]\nname = "promo"\nmatch = {brand = "Acme"}\nweight = 0.5\n', encoding="utf-8")
    config = RankConfig.load(path)
    assert config.out_of_stock == "filter" and config.rules[0].name == "promo" and not config.uses("cf")


@pytest.mark.parametrize("shared", [False, True])
def test_session_writes_are_not_lost_between_plan_and_observe(engine, tmp_path: Path, shared: bool) -> None:  # type: ignore[no-untyped-def]
    from shopsearch.rank import SessionStore
    from shopsearch.retrieve.hooks import SearchContext

    store = SessionStore(tmp_path / "sessions.sqlite" if shared else None)
    ranker = Ranker(engine, sessions=store).attach()
    ctx = SearchContext(None, "race", time.time())
    plan = ranker.plan("red dress", None, ctx)  # a search reads the session...
    ranker.record([{"event": "dislike", "product_id": "d3", "session_id": "race"}])  # ...feedback lands...
    state = ranker.observe(["d1", "d2"], ctx, plan)  # ...and the search stores its turn
    assert state["disliked"] == ["d3"] and state["turns"] == ["red dress"]
    plan = ranker.plan("cheaper", None, ctx)
    ranker.reset("race")  # "start over" while that search runs: the reset wins
    assert ranker.observe(["d1"], ctx, plan)["turns"] == []
    assert store.get("race").turns == [] and store.get("race").disliked == []
