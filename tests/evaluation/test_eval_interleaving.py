"""Team-draft interleaving, click models, credit, simulated and logged replay."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from shopsearch.evaluation.clicks import CascadeModel, PositionBasedModel, create_click_model, relative_gains
from shopsearch.evaluation.interleaving import (
    Interleaved,
    credit,
    read_log,
    replay_log,
    simulate_interleaving,
    team_draft,
)
from shopsearch.evaluation.queries import EvalQuery


def test_team_draft_properties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        pool = [f"d{i}" for i in range(15)]
        a = random.Random(int(rng.integers(1 << 30))).sample(pool, 10)
        b = random.Random(int(rng.integers(1 << 30))).sample(pool, 8)
        inter = team_draft(a, b, 10, rng)
        assert len(inter.ranking) == len(set(inter.ranking)) == 10
        picks_a = [d for d, t in zip(inter.ranking, inter.teams, strict=True) if t == "a"]
        picks_b = [d for d, t in zip(inter.ranking, inter.teams, strict=True) if t == "b"]
        # each team's picks appear in its own ranking's order
        assert picks_a == sorted(picks_a, key=a.index)
        assert picks_b == sorted(picks_b, key=b.index)
        # teams stay balanced while both have results left
        if abs(len(picks_a) - len(picks_b)) > 1:
            fewer = a if len(picks_a) < len(picks_b) else b
            assert set(fewer) <= set(inter.ranking)


def test_team_draft_when_one_list_runs_out() -> None:
    inter = team_draft(["x"], ["y", "z", "w"], 5, np.random.default_rng(1))
    assert sorted(inter.ranking) == ["w", "x", "y", "z"]
    assert inter.teams.count("a") == 1
    assert team_draft([], [], 3, np.random.default_rng(0)).ranking == ()
    with pytest.raises(ValueError, match="k must be"):
        team_draft(["a"], ["b"], 0, np.random.default_rng(0))


def test_credit_by_id_and_position() -> None:
    inter = Interleaved(("p1", "p2", "p3", "p4"), ("a", "b", "b", "a"))
    assert credit(inter, ["p1", "p3"]) == (1, 1)
    assert credit(inter, [1, 2, 2]) == (0, 2)  # repeated click counts once
    assert credit(inter, []) == (0, 0)
    with pytest.raises(ValueError, match="not in the interleaved list"):
        credit(inter, ["nope"])
    with pytest.raises(ValueError, match="outside"):
        credit(inter, [7])


def test_click_models() -> None:
    ranking = [f"d{i}" for i in range(10)]
    gains = {"d0": 1.0, "d5": 1.0}
    rng = np.random.default_rng(0)
    pbm = PositionBasedModel(p_rel=1.0, p_nonrel=0.0, eta=0.0)  # examines all, clicks exactly the relevant
    assert pbm.clicks(ranking, gains, rng) == [0, 5]
    cascade = CascadeModel(p_rel=1.0, p_nonrel=0.0)  # stops at the first click
    assert cascade.clicks(ranking, gains, rng) == [0]
    assert CascadeModel(p_rel=1.0, p_nonrel=0.0, stop_after_click=0.0).clicks(ranking, gains, rng) == [0, 5]
    clicks = [len(PositionBasedModel().clicks(ranking, gains, rng)) for _ in range(2000)]
    assert 0.9 < np.mean(clicks) < 1.4  # 0.9 + 0.9/6 + small noise clicks
    with pytest.raises(ValueError, match="p_rel"):
        PositionBasedModel(p_rel=1.5)
    with pytest.raises(ValueError, match="unknown click model"):
        create_click_model("dbn")


def test_position_based_model_parts_hand_computed() -> None:
    pbm = PositionBasedModel(p_rel=0.9, p_nonrel=0.1, eta=1.0)
    np.testing.assert_allclose(pbm.examination(4), [1, 1 / 2, 1 / 3, 1 / 4])
    # attraction = 0.1 + 0.8 * relevance; relevance is clipped to [0, 1], noise then the sum
    np.testing.assert_allclose(pbm.attraction([0.0, 0.5, 1.0, 2.0]), [0.1, 0.5, 0.9, 0.9])
    np.testing.assert_allclose(pbm.attraction([0.0, 1.0], noise=[-0.5, 0.5]), [0.0, 1.0])
    assert relative_gains(["a", "b", "c"], {"a": 1.0, "b": 3.0}).tolist() == [1 / 3, 1.0, 0.0]
    # browse: examined where u_examine < (1/r)^eta, clicked where also u_click < attraction
    seen = pbm.browse([1.0, 1.0, 0.0, 1.0], u_examine=[0.99, 0.6, 0.2, 0.2], u_click=[0.5, 0.5, 0.05, 0.95])
    assert seen.examined.tolist() == [True, False, True, True]
    assert seen.clicked.tolist() == [True, False, True, False]


def _judged_queries(n: int = 60, seed: int = 0) -> tuple[list[EvalQuery], dict[str, list[str]]]:
    """Queries whose good ranking has relevant items on top; pool of 30 docs per query."""
    rng = random.Random(seed)
    queries, rankings = [], {}
    for i in range(n):
        docs = [f"q{i}d{j}" for j in range(30)]
        relevant = rng.sample(docs[:12], 4)
        rest = [d for d in docs if d not in relevant]
        rankings[f"q{i}"] = relevant + rest  # a strong ranker
        queries.append(EvalQuery(qid=f"q{i}", relevant=tuple(relevant), text=f"query {i}"))
    return queries, rankings


def test_detects_a_worse_ranker_with_p_below_001() -> None:
    queries, rankings = _judged_queries()

    def good(q: EvalQuery, k: int) -> list[str]:
        return rankings[q.qid][:k]

    def shuffled(q: EvalQuery, k: int) -> list[str]:  # random re-order of the top 10
        top = rankings[q.qid][:10]
        random.Random(q.qid).shuffle(top)
        return (top + rankings[q.qid][10:])[:k]

    for model in (PositionBasedModel(), CascadeModel()):
        result = simulate_interleaving(queries, good, shuffled, k=10, click_model=model,
                                       impressions_per_query=5, seed=3)
        assert result.p_value < 0.01, result.to_dict()
        assert result.wins_a > result.wins_b and result.delta < 0
        assert result.preferred() == "a"
        # and the same with the roles swapped
        swapped = simulate_interleaving(queries, shuffled, good, k=10, click_model=model,
                                        impressions_per_query=5, seed=3)
        assert swapped.preferred() == "b"


def test_identical_rankers_are_not_called_different() -> None:
    """Over 20 seeds, identical rankers are called different about as often as alpha allows
    (at most 3 of 20 at 0.05; 1 expected), and the pooled wins are not significant."""
    from shopsearch.evaluation.stats import sign_test

    false_positives, pooled_a, pooled_b = 0, 0, 0
    for seed in range(20):
        queries, rankings = _judged_queries(seed=seed)

        def ranker(q: EvalQuery, k: int, rankings: dict = rankings) -> list[str]:
            return rankings[q.qid][:k]

        result = simulate_interleaving(queries, ranker, ranker, k=10, impressions_per_query=5, seed=seed)
        assert result.impressions == 300 and sum(result.per_query["q0"]) == 5
        false_positives += result.preferred(0.05) != "none"
        pooled_a, pooled_b = pooled_a + result.wins_a, pooled_b + result.wins_b
    assert false_positives <= 3
    assert sign_test(pooled_a, pooled_b) > 0.05
    assert simulate_interleaving(queries, ranker, ranker, seed=0).preferred() == "none"


def test_simulation_is_deterministic() -> None:
    queries, rankings = _judged_queries(20)
    fn = lambda q, k: rankings[q.qid][:k]  # noqa: E731
    rev = lambda q, k: rankings[q.qid][::-1][:k]  # noqa: E731
    one = simulate_interleaving(queries, fn, rev, seed=9)
    two = simulate_interleaving(queries, fn, rev, seed=9)
    assert one == two


def test_replay_logged_impressions(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    rows = [
        {"qid": "q1", "ranking": ["a", "b", "c"], "teams": ["a", "b", "a"], "clicks": ["a"]},
        {"qid": "q1", "ranking": ["a", "b", "c"], "teams": ["b", "a", "b"], "clicks": ["a", "c"]},
        {"qid": "q2", "ranking": ["x", "y"], "teams": ["a", "b"], "clicks": []},
        {"qid": "q3", "ranking": ["x", "y"], "teams": ["a", "b"], "clicks": [0, 1]},
    ]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = replay_log(read_log(log))
    assert (result.wins_a, result.wins_b, result.ties) == (1, 1, 2)
    assert (result.clicks_a, result.clicks_b) == (2, 3)
    assert result.to_dict(per_query=True)["per_query"]["q1"] == {"wins_a": 1, "wins_b": 1, "ties": 0}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ranking": ["a"], "teams": ["c"], "clicks": []}\nnot json\n{"ranking": []}\n')
    with pytest.raises(ValueError) as err:
        read_log(bad)
    text = str(err.value)
    assert "bad.jsonl:1" in text and "bad.jsonl:2" in text and "bad.jsonl:3" in text
