"""Multi-vector products: per-field text vectors and several photos, max or weighted-mean aggregation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shopsearch
from devkit.catalogs import tiny_rows, write_catalog
from shopsearch.config import IndexConfig, SearchConfig
from shopsearch.index.builder import build_index
from shopsearch.index.dense import DenseIndex
from shopsearch.types import Product


def test_dense_max_and_mean_aggregation_hand_computed() -> None:
    # product 0 has two vectors (scores 0.9 and 0.1 for the query), product 1 one vector (0.6)
    q = np.array([1.0, 0.0], np.float32)
    vecs = np.array([[0.9, np.sqrt(1 - 0.81)], [0.1, np.sqrt(0.99)], [0.6, 0.8]], np.float32)
    index = DenseIndex(vecs, np.array([0, 0, 1]), 2)
    ids, scores = index.search(q, 2)
    assert ids.tolist() == [0, 1] and scores.tolist() == pytest.approx([0.9, 0.6])
    ids, scores = index.search(q, 2, aggregation="mean")
    assert ids.tolist() == [1, 0] and scores.tolist() == pytest.approx([0.6, 0.5])
    ids, _ = index.search(q, 2, np.array([True, False]), aggregation="mean")
    assert ids.tolist() == [0]


@pytest.fixture(scope="module")
def fields_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fields")
    rows = tiny_rows(root / "shop")
    rows[0]["description"] = "soft breathable cotton for hot days"
    catalog = write_catalog(root / "shop", rows)
    config = IndexConfig(text_vectors="fields", joint_model=None, zero_shot=False,
                         cache_path=root / "c.sqlite", progress=False)
    build_index(catalog, root / "idx", config)
    return root / "idx"


def test_field_vectors_are_indexed_and_searched(fields_index: Path) -> None:
    engine = shopsearch.load(fields_index)
    roles = set(engine.manifest.encoders)
    assert {"text.title", "text.attributes", "text.description"} <= roles and "text" not in roles
    assert engine.dense["text.title"].vectors.shape[0] == 8
    assert engine.dense["text.description"].vectors.shape[0] == 1  # only p1 has a description
    for aggregation in ("max", "mean"):
        e = shopsearch.load(fields_index, config=SearchConfig(aggregation=aggregation))
        result = e.search(text="black leather formal shoes", k=3, signals=["text"])
        assert result.ids()[0] == "p3"
    weighted = shopsearch.load(fields_index, config=SearchConfig(aggregation="mean",
                                                                 field_weights={"description": 5.0}))
    assert weighted.search(text="breathable cotton for hot days", k=1, signals=["text"]).ids() == ["p1"]


def test_field_vectors_follow_live_updates(fields_index: Path, tmp_path: Path) -> None:
    import shutil

    idx = Path(shutil.copytree(fields_index, tmp_path / "idx"))
    engine = shopsearch.load(idx)
    engine.upsert([Product(id="n1", title="Purple Silk Scarf", description="light summer silk")])
    assert engine.search(text="purple silk scarf", k=1, signals=["text"]).ids() == ["n1"]
    engine.compact()
    assert shopsearch.load(idx).search(text="purple silk scarf", k=1, signals=["text"]).ids() == ["n1"]
