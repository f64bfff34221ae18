"""``eval``/``compare``/``report``/``interleave`` commands on a real tiny index."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from shopsearch.evaluation.cli import add_eval_parsers, main

from ._optional import require

QUERIES = [
    {"qid": "a", "query": "Red Cotton Tshirt for Men", "relevant": ["p1"], "template": "title"},
    {"qid": "b", "query": "Black Leather Formal Shoes", "relevant": ["p3", "gone"], "template": "title"},
    {"qid": "c", "query": "red", "relevant": ["p1", "p8"], "template": "colour"},
    {"qid": "d", "query": "tshirt", "relevant": ["p1", "p6", "p7"], "template": "article"},
]


@pytest.fixture()
def queries(tmp_path: Path) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    return path


def test_json_output_is_backward_compatible(
    tiny_index: Path, queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(tiny_index), str(queries), "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert list(ours) == ["ndcg@10", "recall@10", "precision@10", "hit@10", "mrr", "map", "n_queries"]
    from shopsearch.cli import main as shopsearch_main

    assert shopsearch_main(["eval", str(tiny_index), str(queries), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ours


def test_eval_systems_runs_results_and_report(
    tiny_index: Path, queries: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("matplotlib")
    results, run = tmp_path / "results.json", tmp_path / "run.txt"
    args = ["eval", str(tiny_index), str(queries), "--system", "fusion",
            "--system", 'bm25={"signals": ["lexical"], "constraints": "off"}',
            "--system", 'shuffled={"shuffle_top": 5, "seed": 1}',
            "--out", str(results), "--run-out", str(run), "--samples", "200", "--group-by", "template"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "== fusion" in text and "== bm25" in text and "template=colour" in text and "p(rand)" in text
    data = json.loads(results.read_text())
    assert [r["name"] for r in data["runs"]] == ["fusion", "bm25", "shuffled"]
    assert data["runs"][1]["system"] == {"signals": ["lexical"], "constraints": "off"}
    assert data["runs"][0]["depth"] == 100 and data["runs"][0]["products"]["p1"]["image"].endswith("p1.png")
    assert len(data["comparisons"]) == 2 * 6
    for name in ("fusion", "bm25", "shuffled"):
        lines = (tmp_path / f"run.{name}.txt").read_text().splitlines()
        assert lines and all(len(line.split()) == 6 and line.endswith(f" {name}") for line in lines)

    # compare: saved results, and TREC runs scored against the queries
    assert main(["compare", str(results), "--metric", "ndcg@10", "--samples", "200", "--json"]) == 0
    comps = json.loads(capsys.readouterr().out)["comparisons"]
    assert [c["system"] for c in comps] == ["bm25", "shuffled"]
    runs = [str(tmp_path / f"run.{n}.txt") for n in ("fusion", "bm25")]
    assert main(["compare", *runs, "--queries", str(queries), "--samples", "200"]) == 0
    assert "run.bm25" in capsys.readouterr().out
    assert main(["compare", *runs]) == 2
    assert "give --queries" in capsys.readouterr().err

    html, md = tmp_path / "report.html", tmp_path / "r" / "report.md"
    assert main(["report", str(results), "--out", str(html), "--out", str(md), "--samples", "200"]) == 0
    page = html.read_text()
    assert page.count("data:image/png;base64,") == 4 and "data:image/jpeg;base64," in page
    assert (tmp_path / "r" / "report_files" / "recall_curve.png").is_file()


def test_eval_with_topics_and_qrels(tiny_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topics, qrels = tmp_path / "topics.tsv", tmp_path / "qrels.txt"
    topics.write_text("t1\tBlack Leather Formal Shoes\nt2\tGreen Canvas Tote Bag\n")
    qrels.write_text("t1 0 p3 2\nt1 0 p4 1\nt2 0 p5 1\n")
    assert main(["eval", str(tiny_index), str(topics), "--qrels", str(qrels), "--json", "--per-query"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["systems"]["default"]["per_query"]
    assert rows[0]["gains"] == {"p3": 2.0, "p4": 1.0} and rows[0]["retrieved"][0] == "p3"
    assert main(["eval", str(tiny_index), str(topics), "--json"]) == 2  # topics need qrels
    assert "needs --qrels" in capsys.readouterr().err


def test_interleave_simulated_and_replayed(
    tiny_index: Path, queries: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["interleave", str(tiny_index), str(queries), "--a", "fusion", "--b", "fusion2",
                 "--impressions", "20", "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["impressions"] == 80 and same["preferred"] == "none"
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"qid": "a", "ranking": ["p1", "p2"], "teams": ["b", "a"], "clicks": ["p1"]}) + "\n")
    assert main(["interleave", "--replay", str(log)]) == 0
    assert "B wins 1" in capsys.readouterr().out
    assert main(["interleave"]) == 2


def test_add_eval_parsers_registers_commands() -> None:
    parser = argparse.ArgumentParser()
    add_eval_parsers(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["eval", "idx", "q.jsonl", "--k", "5", "--filter", "gender=Men", "--json"])
    assert ns.k == 5 and ns.filter == ["gender=Men"] and ns.json and ns.func.__name__ == "cmd_eval"
    assert parser.parse_args(["report", "r.json", "--out", "x.html"]).func.__name__ == "cmd_report"
    assert parser.parse_args(["compare", "a.json", "b.json"]).func.__name__ == "cmd_compare"
    assert parser.parse_args(["interleave", "--replay", "l.jsonl"]).func.__name__ == "cmd_interleave"


def test_bad_system_spec_is_named(tiny_index: Path, queries: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tiny_index), str(queries), "--system", 'x={"colour": 1}']) == 2
    assert "system 'x': unknown key(s) ['colour']" in capsys.readouterr().err
    assert main(["eval", str(tiny_index), str(queries), "--system", "x={oops"]) == 2
    assert "invalid JSON" in capsys.readouterr().err


def test_eval_reads_the_settings_file(
    tiny_index: Path, queries: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "shopsearch.toml"
    settings.write_text('[search]\nsignals_default = 1\n', encoding="utf-8")
    assert main(["eval", str(tiny_index), str(queries), "--config", str(settings)]) == 2
    assert "signals_default" in capsys.readouterr().err  # an unknown setting is named
    settings.write_text('[search]\nconstraints = "off"\n', encoding="utf-8")
    assert main(["eval", str(tiny_index), str(queries), "--config", str(settings), "--json", "--per-query"]) == 0
    from_file = json.loads(capsys.readouterr().out)["systems"]["default"]
    args = ["eval", str(tiny_index), str(queries), "--system", 'off={"constraints": "off"}', "--json", "--per-query"]
    assert main(args) == 0
    from_flag = json.loads(capsys.readouterr().out)["systems"]["off"]
    assert [r["retrieved"] for r in from_file["per_query"]] == [r["retrieved"] for r in from_flag["per_query"]]
    assert main(["eval", str(tiny_index), str(queries), "--system", "plain", "--json", "--per-query"]) == 0
    plain = json.loads(capsys.readouterr().out)["systems"]["plain"]  # the file did change the search
    assert [r["retrieved"] for r in plain["per_query"]] != [r["retrieved"] for r in from_file["per_query"]]
