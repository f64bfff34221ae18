"""evaluate() with a fake search function; EvalReport views."""

from __future__ import annotations

import json
import logging

import pytest

from shopsearch.evaluation import EvalQuery, evaluate
from shopsearch.types import Hit, SearchResult

QUERIES = [
    EvalQuery(qid="q1", relevant=("a", "b"), text="t1", meta={"template": "colour"}),
    EvalQuery(qid="q2", relevant=("c",), image="/img/2.jpg", meta={"template": "brand"}),
    EvalQuery(qid="q3", relevant=(), text="t3", image="/img/3.jpg"),
]
RESULTS = {
    "q1": ["a", "x", "b"],  # hits at 1, 3
    "q2": ["x", "c", "y"],  # hit at 2
    "q3": ["a"],  # nothing relevant: every metric 0
}


def fake_search(query: EvalQuery, k: int) -> list[str]:
    return RESULTS[query.qid][:k]


def test_metrics_keys_and_values() -> None:
    report = evaluate(fake_search, QUERIES, k=3)
    assert list(report.metrics) == [
        "ndcg@3",
        "recall@3",
        "precision@3",
        "hit@3",
        "mrr",
        "map",
        "n_queries",
    ]
    m = report.metrics
    assert m["n_queries"] == 3
    # precision@3: q1 2/3, q2 1/3, q3 0 -> mean (2/3 + 1/3 + 0) / 3 = 1/3
    assert m["precision@3"] == pytest.approx(1 / 3)
    # recall@3: q1 2/2, q2 1/1, q3 0 -> 2/3
    assert m["recall@3"] == pytest.approx(2 / 3)
    assert m["hit@3"] == pytest.approx(2 / 3)
    # mrr: q1 1, q2 1/2, q3 0 -> 1.5 / 3 = 0.5
    assert m["mrr"] == pytest.approx(0.5)
    # map: q1 (1/1 + 2/3) / 2 = 5/6, q2 (1/2) / 1 = 1/2, q3 0 -> (5/6 + 1/2) / 3 = 4/9
    assert m["map"] == pytest.approx(4 / 9)
    # ndcg@3: q1 DCG = 1 + 1/log2(4) = 1.5, IDCG = 1 + 1/log2(3)
    #         q2 DCG = 1/log2(3), IDCG = 1
    import math

    q1 = 1.5 / (1 + 1 / math.log2(3))
    q2 = 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx((q1 + q2 + 0) / 3)

    rows = report.per_query
    assert [r["qid"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[0]["retrieved"] == ["a", "x", "b"]
    assert rows[1]["metrics"]["mrr"] == pytest.approx(0.5)
    assert rows[2]["n_relevant"] == 0 and rows[2]["modality"] == "text+image"
    assert report.latency_ms >= 0


def test_default_k_names_and_truncation(caplog: pytest.LogCaptureFixture) -> None:
    def long_search(query: EvalQuery, k: int) -> list[str]:
        return ["a", "b", "c"] + [f"z{i}" for i in range(20)]

    with caplog.at_level(logging.WARNING):
        report = evaluate(long_search, QUERIES[:1])
    assert "ndcg@10" in report.metrics and "precision@10" in report.metrics
    assert len(report.per_query[0]["retrieved"]) == 10
    assert "more than k=10" in caplog.text
    # precision@10 over the cut list: 2 relevant / 10
    assert report.metrics["precision@10"] == pytest.approx(0.2)


def test_by_group_and_table() -> None:
    report = evaluate(fake_search, QUERIES, k=3)
    groups = report.by_group("template")
    assert list(groups) == ["(missing)", "brand", "colour"]
    assert groups["colour"]["n_queries"] == 1
    assert groups["colour"]["recall@3"] == 1.0
    assert groups["(missing)"]["mrr"] == 0.0
    assert set(groups["brand"]) == set(report.metrics)
    by_modality = report.by_group("modality")
    assert {label: g["n_queries"] for label, g in by_modality.items()} == {
        "image": 1,
        "text": 1,
        "text+image": 1,
    }

    table = report.to_table(group_by="template")
    lines = table.splitlines()
    assert lines[0].split() == [
        "group",
        "n_queries",
        "ndcg@3",
        "recall@3",
        "precision@3",
        "hit@3",
        "mrr",
        "map",
    ]
    assert lines[2].split()[:2] == ["all", "3"]
    assert any(line.startswith("template=colour") for line in lines)
    # aligned: every data row has the same length as the header row
    assert len({len(line) for line in lines[:6]}) == 1
    assert lines[-1].startswith("mean latency:")


def test_to_json_round_trips() -> None:
    report = evaluate(fake_search, QUERIES, k=3)
    data = json.loads(report.to_json())
    assert data["k"] == 3
    assert data["metrics"] == report.metrics
    assert data["per_query"][0]["qid"] == "q1"
    assert set(data["latency_ms"]) == {"mean", "p50", "p95"}
    assert "per_query" not in json.loads(report.to_json(per_query=False))


def test_accepts_search_result() -> None:
    def search(query: EvalQuery, k: int) -> SearchResult:
        return SearchResult(hits=[Hit("a", 1.0), Hit("b", 0.5)], took_ms=1.0)

    report = evaluate(search, QUERIES[:1], k=2)
    assert report.metrics["recall@2"] == 1.0


def test_errors() -> None:
    with pytest.raises(ValueError, match="at least one query"):
        evaluate(fake_search, [], k=3)
    with pytest.raises(ValueError, match="k must be"):
        evaluate(fake_search, QUERIES, k=0)
    with pytest.raises(TypeError, match="non-string ids for query 'q1'"):
        evaluate(lambda q, k: [1, 2], QUERIES, k=3)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of product ids"):
        evaluate(lambda q, k: "abc", QUERIES, k=3)

    def broken(query: EvalQuery, k: int) -> list[str]:
        raise KeyError("boom")

    with pytest.raises(KeyError) as info:
        evaluate(broken, QUERIES, k=3)
    assert any("'q1'" in note for note in info.value.__notes__)
