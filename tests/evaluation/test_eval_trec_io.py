"""TREC qrels/run/topics readers and writers; graded judgements in queries and evaluate()."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from shopsearch.evaluation import EvalQuery, evaluate, load_queries
from shopsearch.evaluation.trec import (
    TrecFormatError,
    apply_qrels,
    read_qrels,
    read_run,
    read_topics,
    topics_to_queries,
    write_run,
)


def test_qrels_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("# comment\nq1 0 p1 2\nq1 0 p2 0\n\nq2 0 p9 1\n")
    assert read_qrels(path) == {"q1": {"p1": 2, "p2": 0}, "q2": {"p9": 1}}
    bad = tmp_path / "bad.txt"
    bad.write_text("q1 0 p1\nq1 0 p2 high\nq1 0 p3 1\n")
    with pytest.raises(TrecFormatError) as err:
        read_qrels(bad)
    assert "bad.txt:1: expected 4 columns" in str(err.value)
    assert "bad.txt:2: relevance must be an integer, got 'high'" in str(err.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(TrecFormatError, match="no judgements"):
        read_qrels(empty)


def test_run_write_read(tmp_path: Path) -> None:
    path = tmp_path / "run.txt"
    n = write_run({"q1": ["a", "b", "c"], "q2": ["z"]}, path, tag="sys1",
                  scores={"q1": [0.9, 0.5, 0.1], "q2": None})
    assert n == 4
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 a 1 0.9 sys1"
    assert all(len(line.split()) == 6 for line in lines)
    assert lines[3] == "q2 Q0 z 1 1.0 sys1"
    assert read_run(path) == {"q1": [("a", 0.9), ("b", 0.5), ("c", 0.1)], "q2": [("z", 1.0)]}
    # tied or increasing scores are replaced so that trec_eval keeps the order
    write_run({"q1": ["a", "b"]}, path, scores={"q1": [0.5, 0.5]})
    assert [line.split()[4] for line in path.read_text().splitlines()] == ["2.0", "1.0"]
    with pytest.raises(ValueError, match="whitespace"):
        write_run({"q 1": ["a"]}, path)
    with pytest.raises(ValueError, match="tag"):
        write_run({"q1": ["a"]}, path, tag="two words")


def test_read_run_orders_like_trec_eval(tmp_path: Path) -> None:
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 b 1 0.5 t\nq1 Q0 a 2 0.9 t\nq1 Q0 c 3 0.5 t\nq1 Q0 a 4 0.1 t\n")
    # score desc, ties by docid desc; a repeated doc keeps its best line
    assert [d for d, _ in read_run(path)["q1"]] == ["a", "c", "b"]
    path.write_text("q1 Q0 a 1 x t\n")
    with pytest.raises(TrecFormatError, match="score must be a number"):
        read_run(path)


def test_topics_and_apply_qrels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tred dress\nq2\tblue shoes\n")
    queries = topics_to_queries(read_topics(topics))
    assert [(q.qid, q.text) for q in queries] == [("q1", "red dress"), ("q2", "blue shoes")]
    with caplog.at_level(logging.WARNING):
        judged = apply_qrels(queries, {"q1": {"p1": 2, "p2": 0, "p3": 1}, "q9": {"p1": 1}})
    assert judged[0].relevant == ("p1", "p3") and judged[0].gains == {"p1": 2.0, "p2": 0.0, "p3": 1.0}
    assert judged[1].relevant == () and judged[1].gains == {}
    assert "no qrels" in caplog.text and "not in the queries" in caplog.text
    topics.write_text("q1 red dress\n")
    with pytest.raises(TrecFormatError, match="qid<TAB>query"):
        read_topics(topics)


def test_graded_relevance_in_jsonl_and_evaluate(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"qid": "q1", "query": "x", "relevant": {"a": 2, "b": 1, "c": 0}}) + "\n"
                    + json.dumps({"qid": "q2", "query": "y", "relevant": {"a": -1, "b": "x"}}) + "\n")
    with pytest.raises(ValueError) as err:
        load_queries(path)
    assert "gain for 'a'" in str(err.value) and "gain for 'b'" in str(err.value)
    path.write_text(json.dumps({"qid": "q1", "query": "x", "relevant": {"a": 2, "b": 1, "c": 0}}) + "\n")
    (q,) = load_queries(path)
    assert q.relevant == ("a", "b") and q.judgements == {"a": 2.0, "b": 1.0, "c": 0.0}
    # b (gain 1) above a (gain 2): DCG = 1 + 2/log2(3); IDCG = 2 + 1/log2(3)
    report = evaluate(lambda _q, _k: ["b", "a", "c"], [q], k=3)
    import math

    assert report.metrics["ndcg@3"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert report.per_query[0]["gains"] == {"a": 2.0, "b": 1.0, "c": 0.0}


def test_evaluate_depth_keeps_more_results_but_scores_top_k() -> None:
    queries = [EvalQuery(qid="q1", relevant=("a", "z"), text="t")]
    ranking = ["x", "a"] + [f"n{i}" for i in range(20)] + ["z"]
    report = evaluate(lambda _q, k: ranking[:k], queries, k=2, depth=30)
    row = report.per_query[0]
    assert len(row["retrieved"]) == 23 and row["relevant"] == ["a", "z"]
    assert report.metrics["recall@2"] == 0.5 and report.metrics["map"] == pytest.approx(0.25)  # map cut at k
    assert "scores" not in row
    with pytest.raises(ValueError, match="depth"):
        evaluate(lambda _q, k: ranking[:k], queries, k=5, depth=3)
