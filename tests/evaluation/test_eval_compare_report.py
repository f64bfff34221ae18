"""Paired comparisons of reports, results files, recall curves and HTML/Markdown reports."""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from shopsearch.evaluation import EvalQuery, evaluate
from shopsearch.evaluation.compare import compare_reports, comparison_markdown, comparison_table
from shopsearch.evaluation.report import build_report, write_report
from shopsearch.evaluation.results import RunResults, load_results, recall_curve, save_results

from ._optional import require

require("matplotlib")


def _queries(n: int = 40) -> list[EvalQuery]:
    rng = random.Random(0)
    return [EvalQuery(qid=f"q{i}", relevant=tuple(rng.sample([f"p{j}" for j in range(12)], 3)), text=f"query {i}",
                      meta={"template": ["colour", "brand"][i % 2]}) for i in range(n)]


def _good(q: EvalQuery, k: int) -> list[str]:
    rest = [f"p{j}" for j in range(12) if f"p{j}" not in q.relevant]
    return (list(q.relevant) + rest)[:k]


def _bad(q: EvalQuery, k: int) -> list[str]:
    return list(reversed(_good(q, 12)))[:k]


def _noisy(q: EvalQuery, k: int) -> list[str]:
    ranked = _good(q, 12)
    if int(q.qid[1:]) % 3 == 0:  # swap the first two on a third of the queries
        ranked[0], ranked[3] = ranked[3], ranked[0]
    return ranked[:k]


def test_compare_reports_finds_real_differences_only() -> None:
    qs = _queries()
    reports = {"good": evaluate(_good, qs, k=5), "bad": evaluate(_bad, qs, k=5), "same": evaluate(_good, qs, k=5)}
    comps = compare_reports(reports, n_samples=2000, seed=1)
    by = {(c.system, c.metric): c for c in comps}
    bad = by[("bad", "ndcg@5")]
    assert bad.diff < 0 and bad.significant() and bad.ci_t[1] < 0 and bad.ci_bootstrap[1] < 0
    same = by[("same", "ndcg@5")]
    assert same.diff == 0 and not same.significant() and same.p_t == 1.0
    assert {c.baseline for c in comps} == {"good"} and len(comps) == 2 * 6
    text = comparison_table(comps)
    assert "ndcg@5" in text and "*" in text
    assert comparison_markdown(comps).startswith("| metric | system |")
    # Holm: with two systems each raw p is at most doubled
    assert bad.p_holm <= min(1.0, 2 * bad.p_t) + 1e-15


def test_compare_reports_errors() -> None:
    qs = _queries()
    a = evaluate(_good, qs, k=5)
    with pytest.raises(ValueError, match="at least two"):
        compare_reports({"a": a})
    with pytest.raises(ValueError, match="different queries"):
        compare_reports({"a": a, "b": evaluate(_good, qs[:-1], k=5)})
    with pytest.raises(ValueError, match="baseline 'x'"):
        compare_reports({"a": a, "b": a}, baseline="x")
    with pytest.raises(ValueError, match="metric 'ndcg@99'"):
        compare_reports({"a": a, "b": a}, metrics=["ndcg@99"])


def _draw(path: Path, colour: tuple[int, int, int]) -> str:
    Image.new("RGB", (64, 64), colour).save(path)
    return str(path)


def _runs(tmp_path: Path) -> list[RunResults]:
    qs = _queries(12)
    products = {f"p{j}": {"title": f"Product {j}", "image": _draw(tmp_path / f"p{j}.png", (20 * j, 100, 50))}
                for j in range(12)}
    products["p11"]["image"] = str(tmp_path / "missing.png")  # a missing image must not break the report
    return [RunResults(name, evaluate(fn, qs, k=5, depth=12), products, {"system": {}})
            for name, fn in (("good", _good), ("noisy", _noisy))]


def test_results_round_trip_and_recall_curve(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    path = tmp_path / "results.json"
    save_results(path, runs, compare_reports({r.name: r.report for r in runs}, n_samples=200))
    data = json.loads(path.read_text())
    assert data["format"] == "shopsearch-eval/1" and len(data["comparisons"]) == 6
    back = load_results([path, path])  # the same file twice: names made unique
    assert [r.name for r in back] == ["good", "noisy", "good#2", "noisy#2"]
    assert back[0].report.metrics == runs[0].report.metrics
    assert back[0].products["p1"]["title"] == "Product 1"
    ks, curve = recall_curve(back[0].report)
    assert ks[0] == 1 and len(ks) == 12
    assert curve[2] == pytest.approx(1.0)  # the good system has all 3 relevant on top
    assert curve[0] == pytest.approx(1 / 3)
    # a bare EvalReport.to_json() file is a results file too
    bare = tmp_path / "bare.json"
    bare.write_text(runs[0].report.to_json())
    assert load_results([bare])[0].name == "bare"
    bad = tmp_path / "bad.json"
    bad.write_text('{"k": 10}')
    with pytest.raises(ValueError, match=r"bad\.json: evaluation results need the key 'metrics'"):
        load_results([bad])


def test_html_report_is_self_contained(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    out = write_report(runs, tmp_path / "out" / "report.html", n_examples=3, n_samples=200)
    page = out.read_text()
    for heading in ("Metrics", "Comparison with good", "Recall@k", "By query type (template)", "Latency",
                    "Example queries", "Per query"):
        assert f"<h2>{heading}</h2>" in page
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(pngs) == 4  # metrics, recall curve, by-type, latency
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    thumbs = re.findall(r"data:image/jpeg;base64,", page)
    assert len(thumbs) >= 3 * 2 * 4  # 3 examples x 2 systems x top 5 (a few lack images)
    assert "class='card rel'" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened
    assert "colour" in page and "brand" in page


def test_markdown_report_writes_assets(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    out = write_report(runs, tmp_path / "report.md", n_examples=2, n_samples=200)
    text = out.read_text()
    assert text.startswith("# shopsearch evaluation")
    assets = tmp_path / "report_files"
    for name in ("metrics.png", "recall_curve.png", "by_group.png", "latency.png"):
        assert (assets / name).is_file() and f"report_files/{name}" in text
    assert list(assets.glob("thumb_*.jpg"))
    assert "| good | 12 |" in text
    with pytest.raises(ValueError, match=r"\.html or \.md"):
        write_report(runs, tmp_path / "report.pdf")


def test_single_run_report_has_no_comparison(tmp_path: Path) -> None:
    runs = _runs(tmp_path)[:1]
    kinds = [(b.kind, b.text) for b in build_report(runs, n_examples=2)]
    assert ("h2", "Metrics") in kinds and not any("Comparison" in t for _, t in kinds)
    with pytest.raises(ValueError, match="at least one"):
        build_report([])
