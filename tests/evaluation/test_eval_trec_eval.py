"""Ranking metrics against trec_eval (pytrec_eval, the ``dev`` extra) on random runs, to 1e-9."""

from __future__ import annotations

import random

import pytest

from shopsearch.evaluation import metrics as M
from shopsearch.evaluation.trec import read_qrels, read_run, write_qrels, write_run

from ._optional import require

pytrec_eval = require("pytrec_eval")

CUTOFFS = (1, 3, 5, 10, 20)
MEASURES = {"P", "recall", "ndcg_cut", "recip_rank", "map", "Rprec", "success"}


def _random_case(seed: int, graded: bool, n_queries: int = 60) -> tuple[dict, dict]:
    """Runs of 1..30 distinct docs from a pool of 40; qrels with grades 0..3 (or 0/1).

    Every query has at least one relevant doc (trec_eval skips the others; those edge cases
    are tested by hand in test_eval_metrics.py)."""
    rng = random.Random(seed)
    pool = [f"d{i:02d}" for i in range(40)]
    runs, qrels = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        ranked = rng.sample(pool, rng.randint(1, 30))
        runs[qid] = ranked
        judged = rng.sample(pool, rng.randint(1, 15))
        grades = {d: (rng.randint(0, 3) if graded else rng.randint(0, 1)) for d in judged}
        if not any(grades.values()):
            grades[judged[0]] = 1
        qrels[qid] = grades
    return runs, qrels


def _trec(runs: dict, qrels: dict) -> dict:
    # Strictly decreasing scores so trec_eval keeps our order.
    run_scores = {q: {d: float(len(ids) - i) for i, d in enumerate(ids)} for q, ids in runs.items()}
    measures = {m if m in ("recip_rank", "map", "Rprec") else f"{m}.{','.join(map(str, CUTOFFS))}" for m in MEASURES}
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run_scores)


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_agree_with_trec_eval(seed: int, graded: bool) -> None:
    runs, qrels = _random_case(seed, graded)
    expected = _trec(runs, qrels)
    qids = list(runs)
    rankings = [runs[q] for q in qids]
    relevants = [{d: float(g) for d, g in qrels[q].items()} for q in qids]
    whole = M.ranking_metrics(rankings, relevants, 1)
    for k in CUTOFFS:
        ours = M.ranking_metrics(rankings, relevants, k)
        for i, q in enumerate(qids):
            assert ours[f"precision@{k}"][i] == pytest.approx(expected[q][f"P_{k}"], abs=1e-9)
            assert ours[f"recall@{k}"][i] == pytest.approx(expected[q][f"recall_{k}"], abs=1e-9)
            assert ours[f"ndcg@{k}"][i] == pytest.approx(expected[q][f"ndcg_cut_{k}"], abs=1e-9)
            assert ours[f"hit@{k}"][i] == pytest.approx(expected[q][f"success_{k}"], abs=1e-9)
    for i, q in enumerate(qids):
        assert whole["mrr"][i] == pytest.approx(expected[q]["recip_rank"], abs=1e-9)
        assert whole["map"][i] == pytest.approx(expected[q]["map"], abs=1e-9)
        assert whole["r_precision"][i] == pytest.approx(expected[q]["Rprec"], abs=1e-9)


def test_per_query_functions_agree_with_trec_eval() -> None:
    runs, qrels = _random_case(7, graded=True, n_queries=25)
    expected = _trec(runs, qrels)
    for q, ranked in runs.items():
        gains = {d: float(g) for d, g in qrels[q].items()}
        assert M.ndcg_at_k(ranked, gains, 10) == pytest.approx(expected[q]["ndcg_cut_10"], abs=1e-9)
        assert M.precision_at_k(ranked, gains, 5) == pytest.approx(expected[q]["P_5"], abs=1e-9)
        assert M.recall_at_k(ranked, gains, 20) == pytest.approx(expected[q]["recall_20"], abs=1e-9)
        assert M.reciprocal_rank(ranked, gains) == pytest.approx(expected[q]["recip_rank"], abs=1e-9)
        assert M.average_precision(ranked, gains) == pytest.approx(expected[q]["map"], abs=1e-9)
        assert M.r_precision(ranked, gains) == pytest.approx(expected[q]["Rprec"], abs=1e-9)
        assert M.hit_at_k(ranked, gains, 3) == pytest.approx(expected[q]["success_3"], abs=1e-9)


def test_trec_files_round_trip_through_trec_eval(tmp_path) -> None:
    """Runs and qrels written by shopsearch score the same in trec_eval as in shopsearch."""
    from shopsearch.evaluation.queries import EvalQuery

    runs, qrels = _random_case(3, graded=True, n_queries=20)
    queries = [EvalQuery(qid=q, relevant=tuple(d for d, g in j.items() if g > 0), text="x",
                         gains={d: float(g) for d, g in j.items()}) for q, j in qrels.items()]
    write_qrels(queries, tmp_path / "qrels.txt")
    # tied scores: write_run must fall back to rank-based scores that keep the order
    write_run(runs, tmp_path / "run.txt", tag="t", scores={q: [1.0] * len(ids) for q, ids in runs.items()})
    back_qrels = read_qrels(tmp_path / "qrels.txt")
    back_run = read_run(tmp_path / "run.txt")
    assert back_qrels == qrels
    assert {q: [d for d, _ in docs] for q, docs in back_run.items()} == runs
    expected = pytrec_eval.RelevanceEvaluator(back_qrels, {"ndcg_cut.10", "map"}).evaluate(
        {q: dict(docs) for q, docs in back_run.items()})
    ours = M.ranking_metrics([runs[q] for q in runs], [q.judgements for q in queries], 10)
    for i, q in enumerate(runs):
        assert ours["ndcg@10"][i] == pytest.approx(expected[q]["ndcg_cut_10"], abs=1e-9)
        assert ours["map"][i] == pytest.approx(expected[q]["map"], abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_classification_metrics_agree_with_trec_eval_set_measures(seed: int) -> None:
    """precision/recall/F1 of "retrieved = predicted relevant" over a pool = trec_eval set_P,
    set_recall, set_F (beta 1); accuracy against a direct count."""
    runs, qrels = _random_case(seed, graded=False, n_queries=40)
    pool = [f"d{i:02d}" for i in range(40)]
    expected = pytrec_eval.RelevanceEvaluator(qrels, {"set_P", "set_recall", "set_F"}).evaluate(
        {q: {d: float(len(ids) - i) for i, d in enumerate(ids)} for q, ids in runs.items()})
    for q, ids in runs.items():
        y_true = [qrels[q].get(d, 0) > 0 for d in pool]
        y_pred = [d in ids for d in pool]
        got = M.classification_metrics(y_true, y_pred)
        assert got["precision"] == pytest.approx(expected[q]["set_P"], abs=1e-9)
        assert got["recall"] == pytest.approx(expected[q]["set_recall"], abs=1e-9)
        assert got["f1"] == pytest.approx(expected[q]["set_F"], abs=1e-9)
        assert got["accuracy"] == pytest.approx(sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / 40)
