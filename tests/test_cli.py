"""CLI smoke tests: index, search, eval, models, and errors a person can read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from devkit.catalogs import tiny_rows, write_catalog
from shopsearch.cli import main


def test_index_search_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))
    out = tmp_path / "idx"
    assert main(["index", str(catalog), "--out", str(out), "--no-model", "--no-zero-shot", "--no-progress",
                 "--cache", str(tmp_path / "c.sqlite"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["products"] == 8 and report["rejects"] == 0 and report["images"] == 8

    assert main(["search", str(out), "black formal shoes", "--k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hits"][0]["product_id"] == "p3"
    assert set(result["hits"][0]["signals"]) == {"lexical", "text", "attributes"}
    assert result["parsed"]["constraints"][0]["value"] == "Black"

    assert main(["search", str(out), "tshirt", "--filter", "gender=Women", "--k", "5"]) == 0
    text = capsys.readouterr().out
    assert "p6" in text and "p1 " not in text

    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"qid": "a", "query": "Red Cotton Tshirt for Men", "relevant": ["p1"]}) + "\n"
        + json.dumps({"qid": "b", "query": "Black Leather Formal Shoes", "relevant": ["p3", "gone"]}) + "\n"
    )
    assert main(["eval", str(out), str(queries), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    # q a: p1 at rank 1 of 1 relevant -> recall 1, AP 1, nDCG 1.
    # q b: p3 at rank 1, "gone" never retrieved -> recall 1/2, AP (1/1)/2, nDCG 1/(1 + 1/log2(3)).
    assert m["n_queries"] == 2
    assert m["hit@10"] == 1.0 and m["mrr"] == 1.0
    assert m["recall@10"] == pytest.approx(0.75)
    assert m["precision@10"] == pytest.approx((1 / 10 + 1 / 10) / 2)
    assert m["map"] == pytest.approx(0.75)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / (1 + 1 / math.log2(3))) / 2)


def test_image_only_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))
    out = tmp_path / "idx"
    assert main(["index", str(catalog), "--out", str(out), "--fields", "image", "--no-model", "--no-zero-shot",
                 "--no-progress", "--no-cache"]) == 0
    capsys.readouterr()
    photo = tmp_path / "shop" / "images" / "p5.png"
    assert main(["search", str(out), "--image", str(photo), "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["product_id"] == "p5"


def test_errors_are_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(tmp_path / "missing"), "shoes"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "i"), "--no-model"]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    assert main(["index", "x.jsonl", "--out", "y", "--fields", "title,colour"]) == 2
    assert "unknown field(s) 'colour'; valid: title" in capsys.readouterr().err
    assert main(["models"]) == 0
    assert "e5-small" in capsys.readouterr().out


def test_upsert_delete_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = tmp_path / "shop"
    catalog = write_catalog(shop, tiny_rows(shop))
    out = tmp_path / "idx"
    assert main(["index", str(catalog), "--out", str(out), "--no-model", "--no-zero-shot", "--no-progress",
                 "--no-cache"]) == 0
    updates = write_catalog(shop, [
        {"id": "p1", "title": "Red Cotton Tshirt for Men", "gender": "Men", "base_colour": "Red",
         "article_type": "shirt", "price": 9.0, "image": "images/p1.png"},
        {"id": "p9", "title": "Pink Wool Scarf", "price": -1},
    ], name="updates.jsonl")
    assert main(["upsert", str(out), str(updates)]) == 0
    captured = capsys.readouterr()
    assert "1 metadata-only" in captured.out and "field 'price'" in captured.err
    assert main(["delete", str(out), "p2", "p404"]) == 0
    assert "deleted 1 of 2" in capsys.readouterr().out
    assert main(["compact", str(out)]) == 0
    assert "(7 products)" in capsys.readouterr().out
    assert main(["search", str(out), "tshirt", "--filter", "price<10", "--json"]) == 0
    assert [h["product_id"] for h in json.loads(capsys.readouterr().out)["hits"]] == ["p1"]


def test_sq8_index_searches_updates_and_compacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))
    out = tmp_path / "idx"
    assert main(["index", str(catalog), "--out", str(out), "--no-model", "--no-zero-shot", "--no-progress",
                 "--no-cache", "--dense-index", "sq8"]) == 0
    assert list(out.glob("v-*/dense/image.sq8.faiss"))
    capsys.readouterr()
    photo = tmp_path / "shop" / "images" / "p4.png"
    assert main(["search", str(out), "--image", str(photo), "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["product_id"] == "p4"
    assert main(["delete", str(out), "p4"]) == 0
    assert main(["compact", str(out)]) == 0
    assert list(out.glob("v-*/dense/image.sq8.faiss"))
    capsys.readouterr()
    assert main(["search", str(out), "--image", str(photo), "--k", "7", "--json"]) == 0
    assert "p4" not in [h["product_id"] for h in json.loads(capsys.readouterr().out)["hits"]]
