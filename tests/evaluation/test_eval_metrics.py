"""Ranking and classification metrics: hand-computed cases, edge cases, naive reference."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from shopsearch.evaluation import metrics as M

# A ranking used by several hand-computed cases. Relevant = {a, c, f, z}: R = 4, and "z" is
# never retrieved. Positions (1-based): a=1 (rel), b=2, c=3 (rel), d=4, e=5, f=6 (rel).
RANKED = ["a", "b", "c", "d", "e", "f"]
RELEVANT = {"a", "c", "f", "z"}


# --------------------------------------------------------------------------- hand-computed


def test_precision_at_k_hand_computed() -> None:
    # top 3 = a, b, c -> 2 relevant / 3
    assert M.precision_at_k(RANKED, RELEVANT, 3) == pytest.approx(2 / 3)
    # top 1 = a -> 1 / 1
    assert M.precision_at_k(RANKED, RELEVANT, 1) == 1.0
    # top 6 -> 3 relevant / 6
    assert M.precision_at_k(RANKED, RELEVANT, 6) == pytest.approx(0.5)


def test_recall_at_k_hand_computed() -> None:
    # top 3 holds a, c -> 2 of R = 4
    assert M.recall_at_k(RANKED, RELEVANT, 3) == pytest.approx(0.5)
    # top 6 holds a, c, f -> 3 / 4 ("z" never retrieved)
    assert M.recall_at_k(RANKED, RELEVANT, 6) == pytest.approx(0.75)


def test_hit_at_k_hand_computed() -> None:
    assert M.hit_at_k(["x", "y", "c"], RELEVANT, 2) == 0.0  # x, y: no relevant
    assert M.hit_at_k(["x", "y", "c"], RELEVANT, 3) == 1.0  # c at rank 3


def test_reciprocal_rank_hand_computed() -> None:
    assert M.reciprocal_rank(RANKED, RELEVANT) == 1.0  # a at rank 1
    assert M.reciprocal_rank(["x", "y", "c"], RELEVANT) == pytest.approx(1 / 3)  # c at rank 3
    # with a cut-off of 2 the first relevant (rank 3) is out of reach -> 0
    assert M.reciprocal_rank(["x", "y", "c"], RELEVANT, k=2) == 0.0
    assert M.reciprocal_rank(["x", "y"], RELEVANT) == 0.0


def test_average_precision_hand_computed() -> None:
    # hits at ranks 1, 3, 6: P@1 = 1, P@3 = 2/3, P@6 = 3/6
    # AP = (1 + 2/3 + 1/2) / R(=4) = (13/6) / 4 = 13/24
    assert M.average_precision(RANKED, RELEVANT) == pytest.approx(13 / 24)
    # cut at 3: (1 + 2/3) / 4 = 5/12 (still divided by all 4 relevant, TREC style)
    assert M.average_precision(RANKED, RELEVANT, k=3) == pytest.approx(5 / 12)


def test_ndcg_binary_hand_computed() -> None:
    # k = 3: gains 1, 0, 1 -> DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5
    # ideal: R = 4 capped at 3 -> 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert M.ndcg_at_k(RANKED, RELEVANT, 3) == pytest.approx(1.5 / idcg)


def test_ndcg_graded_hand_computed() -> None:
    gains = {"a": 1.0, "b": 3.0, "c": 2.0, "q": 0.0}  # "q" has gain 0 = not relevant
    ranked = ["a", "q", "b"]
    # DCG@3 = 1/log2(2) + 0/log2(3) + 3/log2(4) = 1 + 0 + 1.5 = 2.5
    # IDCG@3 = gains sorted 3, 2, 1 -> 3/1 + 2/log2(3) + 1/2 = 3.5 + 1.26186
    idcg = 3.5 + 2 / math.log2(3)
    assert M.ndcg_at_k(ranked, gains, 3) == pytest.approx(2.5 / idcg)
    # k = 1: DCG = 1 (a), IDCG = 3 (b) -> 1/3
    assert M.ndcg_at_k(ranked, gains, 1) == pytest.approx(1 / 3)
    # binary metrics ignore gain values but treat gain 0 as not relevant: hits a, b of R = 3
    assert M.recall_at_k(ranked, gains, 3) == pytest.approx(2 / 3)


def test_ndcg_perfect_ranking_is_one() -> None:
    assert M.ndcg_at_k(["c", "a", "f", "z"], RELEVANT, 4) == pytest.approx(1.0)


def test_r_precision_hand_computed() -> None:
    # R = 4: top 4 = a, b, c, d -> 2 relevant / 4
    assert M.r_precision(RANKED, RELEVANT) == pytest.approx(0.5)
    # R = 4 but only 2 items returned, one relevant -> 1 / 4 (missing slots are misses)
    assert M.r_precision(["a", "x"], RELEVANT) == pytest.approx(0.25)


# --------------------------------------------------------------------------- edge cases


def test_no_relevant_items_score_zero_and_are_counted() -> None:
    empties: list[M.Relevance] = [set(), {}, {"a": 0.0}]
    for relevant in empties:
        assert M.precision_at_k(RANKED, relevant, 3) == 0.0
        assert M.recall_at_k(RANKED, relevant, 3) == 0.0
        assert M.hit_at_k(RANKED, relevant, 3) == 0.0
        assert M.reciprocal_rank(RANKED, relevant) == 0.0
        assert M.average_precision(RANKED, relevant) == 0.0
        assert M.ndcg_at_k(RANKED, relevant, 3) == 0.0
        assert M.r_precision(RANKED, relevant) == 0.0
    # counted in the mean: query 1 has recall 1, query 2 has nothing relevant -> (1 + 0) / 2
    means = M.mean_ranking_metrics([["a"], ["a"]], [{"a"}, set()], k=1)
    assert means["recall@1"] == pytest.approx(0.5)


def test_duplicates_count_first_occurrence_only() -> None:
    ranked = ["a", "a", "b", "a"]  # relevant {a, b}
    # top 2 = a, a(repeat) -> 1 hit: P@2 = 1/2, R@2 = 1/2
    assert M.precision_at_k(ranked, {"a", "b"}, 2) == pytest.approx(0.5)
    assert M.recall_at_k(ranked, {"a", "b"}, 2) == pytest.approx(0.5)
    # hits at ranks 1, 3 -> AP = (1/1 + 2/3) / 2 = 5/6 (repeat keeps its slot)
    assert M.average_precision(ranked, {"a", "b"}) == pytest.approx(5 / 6)
    # recall can never exceed 1 and precision never counts "a" twice
    assert M.recall_at_k(ranked, {"a", "b"}, 4) == 1.0
    assert M.precision_at_k(ranked, {"a", "b"}, 4) == pytest.approx(0.5)
    # nDCG: gains 1, 0, 1 -> DCG = 1 + 1/log2(4) = 1.5; IDCG@3 = 1 + 1/log2(3)
    assert M.ndcg_at_k(ranked, {"a", "b"}, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_k_larger_than_ranking() -> None:
    ranked = ["a", "x"]  # relevant {a, c, f, z}
    assert M.precision_at_k(ranked, RELEVANT, 10) == pytest.approx(1 / 10)  # divides by k
    assert M.recall_at_k(ranked, RELEVANT, 10) == pytest.approx(1 / 4)
    assert M.hit_at_k(ranked, RELEVANT, 10) == 1.0
    # DCG = 1; IDCG@10 over R = 4 gains = 1 + 1/log2(3) + 1/2 + 1/log2(5)
    idcg = 1 + 1 / math.log2(3) + 0.5 + 1 / math.log2(5)
    assert M.ndcg_at_k(ranked, RELEVANT, 10) == pytest.approx(1 / idcg)
    assert M.precision_at_k([], RELEVANT, 5) == 0.0
    assert M.reciprocal_rank([], RELEVANT) == 0.0


def test_aggregate_names_use_k_and_handle_ragged_lists() -> None:
    out = M.ranking_metrics([RANKED, ["x"], []], [RELEVANT, {"x"}, {"y"}], k=5)
    assert set(out) == {
        "precision@5",
        "recall@5",
        "hit@5",
        "ndcg@5",
        "mrr",
        "map",
        "r_precision",
    }
    for values in out.values():
        assert values.shape == (3,) and values.dtype == np.float64
    assert out["mrr"].tolist() == [1.0, 1.0, 0.0]


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="k must be"):
        M.precision_at_k(RANKED, RELEVANT, 0)
    with pytest.raises(ValueError, match="same length"):
        M.ranking_metrics([RANKED], [], k=3)
    with pytest.raises(ValueError, match="gain"):
        M.ndcg_at_k(RANKED, {"a": -1.0}, 3)
    with pytest.raises(TypeError, match="single string"):
        M.recall_at_k(RANKED, "abc", 3)
    with pytest.raises(TypeError, match="single string"):
        M.recall_at_k("abc", RELEVANT, 3)
    with pytest.raises(ValueError, match="zero queries"):
        M.mean_ranking_metrics([], [], k=3)


# --------------------------------------------------------------------------- naive reference
# An independent implementation: plain loops over de-duplicated positions, no numpy.


def _ref_gains(relevant):
    if isinstance(relevant, dict):
        return {pid: g for pid, g in relevant.items() if g > 0}
    return {pid: 1.0 for pid in relevant}


def _ref_rel_flags(ranked, gains):
    """Per position: the gain earned (first occurrence only)."""
    seen = []
    flags = []
    for pid in ranked:
        if pid in seen:
            flags.append(0.0)
        else:
            seen.append(pid)
            flags.append(gains.get(pid, 0.0))
    return flags


def _ref_all(ranked, relevant, k):
    gains = _ref_gains(relevant)
    n_rel = len(gains)
    earned = _ref_rel_flags(ranked, gains)
    hits_at_k = 0
    for i in range(min(k, len(earned))):
        if earned[i] > 0:
            hits_at_k += 1
    rr = 0.0
    for i in range(len(earned)):
        if earned[i] > 0:
            rr = 1.0 / (i + 1)
            break
    ap_sum = 0.0
    found = 0
    for i in range(len(earned)):
        if earned[i] > 0:
            found += 1
            ap_sum += found / (i + 1)
    dcg = 0.0
    for i in range(min(k, len(earned))):
        dcg += earned[i] / math.log2(i + 2)
    idcg = 0.0
    for i, g in enumerate(sorted(gains.values(), reverse=True)[:k]):
        idcg += g / math.log2(i + 2)
    in_top_r = 0
    for i in range(min(n_rel, len(earned))):
        if earned[i] > 0:
            in_top_r += 1
    return {
        f"precision@{k}": hits_at_k / k,
        f"recall@{k}": hits_at_k / n_rel if n_rel else 0.0,
        f"hit@{k}": 1.0 if hits_at_k else 0.0,
        f"ndcg@{k}": dcg / idcg if idcg else 0.0,
        "mrr": rr,
        "map": ap_sum / n_rel if n_rel else 0.0,
        "r_precision": in_top_r / n_rel if n_rel else 0.0,
    }


@pytest.mark.parametrize("seed", range(5))
def test_matches_naive_reference(seed: int) -> None:
    rng = random.Random(seed)
    universe = [f"p{i}" for i in range(30)]
    rankings: list[list[str]] = []
    relevants: list[M.Relevance] = []
    for _ in range(60):
        # rankings with duplicates, varying lengths (including empty and longer than k)
        ranked = [rng.choice(universe) for _ in range(rng.randint(0, 25))]
        n_rel = rng.randint(0, 8)
        chosen = rng.sample(universe, n_rel)
        # half binary, half graded (some zero gains)
        relevant: M.Relevance = (
            set(chosen) if rng.random() < 0.5 else {pid: float(rng.randint(0, 3)) for pid in chosen}
        )
        rankings.append(ranked)
        relevants.append(relevant)
    for k in (1, 3, 10, 40):
        got = M.ranking_metrics(rankings, relevants, k)
        for i, (ranked, relevant) in enumerate(zip(rankings, relevants)):
            want = _ref_all(ranked, relevant, k)
            for name, value in want.items():
                assert got[name][i] == pytest.approx(value, abs=1e-12), (name, k, i)
            # per-query functions agree too
            assert M.precision_at_k(ranked, relevant, k) == pytest.approx(want[f"precision@{k}"])
            assert M.recall_at_k(ranked, relevant, k) == pytest.approx(want[f"recall@{k}"])
            assert M.hit_at_k(ranked, relevant, k) == want[f"hit@{k}"]
            assert M.ndcg_at_k(ranked, relevant, k) == pytest.approx(want[f"ndcg@{k}"])
            assert M.reciprocal_rank(ranked, relevant) == pytest.approx(want["mrr"])
            assert M.average_precision(ranked, relevant) == pytest.approx(want["map"])
            assert M.r_precision(ranked, relevant) == pytest.approx(want["r_precision"])
            # the k cut-off for RR/AP equals scoring the truncated list
            cut = _ref_all(ranked[:k], relevant, k)
            assert M.reciprocal_rank(ranked, relevant, k=k) == pytest.approx(cut["mrr"])
            assert M.average_precision(ranked, relevant, k=k) == pytest.approx(cut["map"])
        means = M.mean_ranking_metrics(rankings, relevants, k)
        assert means["mrr"] == pytest.approx(float(np.mean(got["mrr"])))


# --------------------------------------------------------------------------- score matrices


def test_score_metrics_hand_computed() -> None:
    # one query, five documents scored 0.9 0.1 0.5 0.7 0.3 -> ranked d0 d3 d2 d4 d1;
    # relevant d2 and d4 -> hits at ranks 3 and 4 (R = 2)
    scores = np.array([[0.9, 0.1, 0.5, 0.7, 0.3]])
    relevant = np.array([[False, False, True, False, True]])
    m = M.score_metrics(scores, relevant, 3)
    assert m["precision@3"][0] == pytest.approx(1 / 3)
    assert m["recall@3"][0] == pytest.approx(1 / 2)
    assert m["hit@3"][0] == 1.0
    # DCG@3 = 1/log2(4) = 0.5; IDCG@3 = 1 + 1/log2(3)
    assert m["ndcg@3"][0] == pytest.approx(0.5 / (1 + 1 / math.log2(3)))
    assert m["mrr"][0] == pytest.approx(1 / 3)
    # AP = (1/3 + 2/4) / 2 over the full ranking; R-precision: 0 hits in the top 2
    assert m["map"][0] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert m["r_precision"][0] == 0.0


def test_score_metrics_ties_by_document_order_and_k_beyond_the_documents() -> None:
    # equal scores: the lower document index ranks first (a stable sort)
    scores = np.array([[0.5, 0.5, 0.5], [0.2, 0.2, 0.1]])
    relevant = np.array([[False, True, False], [False, False, False]])
    m = M.score_metrics(scores, relevant, 10)
    assert m["mrr"].tolist() == [0.5, 0.0]  # rank 2; a query without relevant documents scores 0
    assert m["precision@10"][0] == pytest.approx(1 / 10)  # k counts, as for ids
    assert m["ndcg@10"][0] == pytest.approx(1 / math.log2(3))
    assert M.ranked_relevance(scores, relevant)[0].tolist() == [False, True, False]


def test_ranking_summary_is_the_mean_of_score_metrics() -> None:
    rng = np.random.default_rng(3)
    scores, relevant = rng.random((12, 20)), rng.random((12, 20)) < 0.25
    per_query = M.score_metrics(scores, relevant, 5)
    summary = M.ranking_summary(scores, relevant, 5)
    assert summary.keys() == {"ndcg@5", "recall@5", "recall@1", "mrr", "map"}
    for key in ("ndcg@5", "recall@5", "mrr", "map"):
        assert summary[key] == pytest.approx(per_query[key].mean())
    assert summary["recall@1"] == pytest.approx(M.score_metrics(scores, relevant, 1)["recall@1"].mean())
    with pytest.raises(ValueError, match="same shape"):
        M.score_metrics(scores, relevant[:, :3], 5)


def _naive_scores(scores: np.ndarray, rel: np.ndarray, k: int) -> dict[str, float]:
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
    return {f"ndcg@{k}": dcg / idcg, f"recall@{k}": sum(r[:k]) / n, f"precision@{k}": sum(r[:k]) / k,
            "mrr": 0.0 if first is None else 1 / (first + 1), "map": ap / n}


def test_score_metrics_match_naive_reference_and_the_id_functions() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((20, 30))
    rel = rng.random((20, 30)) < 0.2
    rel[:, 0] = True
    got = M.score_metrics(scores, rel, 5)
    ids = [[str(i) for i in np.argsort(-row, kind="stable")] for row in scores]
    by_id = M.ranking_metrics(ids, [{str(i) for i in np.flatnonzero(row)} for row in rel], 5)
    for key, values in got.items():
        np.testing.assert_allclose(values, by_id[key], rtol=0, atol=1e-12, err_msg=key)
    for q in range(20):
        for key, value in _naive_scores(scores[q], rel[q], 5).items():
            assert got[key][q] == pytest.approx(value, abs=1e-12), (key, q)


# --------------------------------------------------------------------------- classification


def test_classification_hand_computed() -> None:
    y_true = [1, 1, 1, 0, 0, 0, 0, 1]
    y_pred = [1, 1, 0, 1, 0, 0, 0, 0]
    # TP = 2 (pos 0, 1), FN = 2 (pos 2, 7), FP = 1 (pos 3), TN = 3 (pos 4, 5, 6)
    assert M.accuracy(y_true, y_pred) == pytest.approx(5 / 8)  # (2 + 3) / 8
    assert M.precision(y_true, y_pred) == pytest.approx(2 / 3)  # 2 / (2 + 1)
    assert M.recall(y_true, y_pred) == pytest.approx(2 / 4)  # 2 / (2 + 2)
    # F1 = 2 * 2 / (2 * 2 + 1 + 2) = 4 / 7 = harmonic mean of 2/3 and 1/2
    assert M.f1(y_true, y_pred) == pytest.approx(4 / 7)
    out = M.classification_metrics(np.array(y_true, dtype=bool), np.array(y_pred))
    assert (out["tp"], out["fp"], out["fn"], out["tn"]) == (2, 1, 2, 3)
    assert out["f1"] == pytest.approx(4 / 7)


def test_classification_zero_division_and_validation() -> None:
    # nothing predicted positive and nothing truly positive: P = R = F1 = 0, accuracy = 1
    assert M.classification_metrics([0, 0], [0, 0]) == {
        "accuracy": 1.0,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0.0,
        "fp": 0.0,
        "fn": 0.0,
        "tn": 2.0,
    }
    with pytest.raises(ValueError, match="differ in length"):
        M.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="only 0/1"):
        M.accuracy([0, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        M.f1([], [])
    with pytest.raises(ValueError, match="1-D"):
        M.f1([[0, 1]], [[0, 1]])


def test_classification_matches_naive_reference() -> None:
    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(1, 30)
        t = [rng.randint(0, 1) for _ in range(n)]
        p = [rng.randint(0, 1) for _ in range(n)]
        tp = sum(1 for a, b in zip(t, p) if a and b)
        fp = sum(1 for a, b in zip(t, p) if not a and b)
        fn = sum(1 for a, b in zip(t, p) if a and not b)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        assert M.accuracy(t, p) == pytest.approx(sum(a == b for a, b in zip(t, p)) / n)
        assert M.precision(t, p) == pytest.approx(prec)
        assert M.recall(t, p) == pytest.approx(rec)
        assert M.f1(t, p) == pytest.approx(f)
