"""The natural-wording evaluation sets stay independent of what they evaluate (issue 15): no
query string occurs among the joint model's training texts (made from the fashion catalogue,
code-switched spellings included), none is a phrase of the lexicons, and no test uses one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUERY_FILES = sorted((ROOT / "benchmarks" / "queries").glob("*.jsonl"))


def _squash(text: str) -> str:
    return "".join(text.casefold().split())


def _queries() -> list[str]:
    out = []
    for path in QUERY_FILES:
        out += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def test_the_query_sets_are_there() -> None:
    names = {p.name for p in QUERY_FILES}
    assert {"natural_en.jsonl", "natural_zh.jsonl", "brand_en.jsonl", "brand_zh.jsonl",
            "validation_en.jsonl", "validation_zh.jsonl", "validation3_zh.jsonl"} <= names
    assert len(_queries()) >= 450


def test_no_query_is_a_training_text(data_dir: Path) -> None:
    from shopsearch.catalog import FieldMapping, load_catalog
    from shopsearch.preprocess.lexicon import default_lexicon
    from shopsearch.training.texts import build_text_bank

    mapping = FieldMapping(category_from=("master_category", "sub_category", "article_type"))
    products = load_catalog(data_dir / "fashion" / "products.jsonl", mapping=mapping, check_images=False).products
    texts = build_text_bank(products).texts
    lexicon = default_lexicon()
    training = {_squash(t) for t in texts} | {_squash(lexicon.to_chinese(t)) for t in texts}
    clashes = sorted({q for q in _queries() if _squash(q) in training})
    assert not clashes, f"{len(clashes)}: {clashes}"


def test_no_query_is_a_lexicon_phrase_of_three_words_or_more() -> None:
    """Words and two-word product names ("sneakers", "ankle socks", "运动鞋") are vocabulary
    that a lexicon and a shopper share by nature (the two were written independently, and
    several such names coincide); a longer phrase in both would be a copied query."""
    from shopsearch.preprocess.lexicon import default_lexicon
    from shopsearch.preprocess.shopper import default_shopper_lexicon

    phrases = {_squash(e.phrase) for e in default_shopper_lexicon().entries}
    phrases |= {_squash(e.zh) for e in default_lexicon().entries}
    clashes = sorted({q for q in _queries() if (len(q.split()) >= 3 or (not q.isascii() and len(_squash(q)) >= 5))
                      and _squash(q) in phrases})
    assert not clashes, clashes


def test_no_test_uses_a_query_of_the_sets() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8").casefold()
                        for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name)
    # single English words ("sneakers") are vocabulary, not queries a test could have copied
    found = sorted({q for q in _queries() if len(q.split()) >= 2 or (not q.isascii() and len(q) >= 3)
                    if re.search(r"[\"']" + re.escape(q.casefold()) + r"[\"']", sources)})
    assert not found, f"{len(found)}: {found}"


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_files_are_well_formed(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert row["qid"] and row["query"].strip() and isinstance(row["match"], dict)
