from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopsearch.index.dense import DenseIndex, DenseParams


def _vectors(n: int = 3000, d: int = 64, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "sq8"])
def test_kinds_recall_against_exact_and_round_trip(kind: str, tmp_path: Path) -> None:
    vecs = _vectors()
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind=kind))
    assert index.kind == kind
    queries = _vectors(50, seed=1)
    recall = []
    for q in queries:
        truth = set(np.argsort(-(vecs @ q))[:10].tolist())
        got, scores = index.search(q, 10)
        recall.append(len(truth & set(got.tolist())) / 10)
        # reported scores are exact inner products (sq8 re-ranks on full precision)
        np.testing.assert_allclose(scores, vecs[got] @ q, rtol=1e-5, atol=1e-6)
    assert np.mean(recall) >= (1.0 if kind == "flat" else 0.9)
    index.save(tmp_path, "v")
    again = DenseIndex.load(tmp_path, "v", len(vecs), DenseParams(kind=kind))
    assert again.kind == kind
    assert isinstance(again.vectors, np.memmap) == (kind == "sq8")  # sq8 keeps float32 on disk
    np.testing.assert_array_equal(again.search(queries[0], 10)[0], index.search(queries[0], 10)[0])
    assert index.memory_bytes == len(vecs) * 64 * (1 if kind == "sq8" else 4)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        DenseParams(kind="ivf")


@pytest.mark.parametrize("kind", ["flat", "hnsw", "sq8"])
def test_filtered_search_returns_k_at_half_a_percent_selectivity(kind: str) -> None:
    vecs = _vectors(4000)
    index = DenseIndex(vecs, np.arange(len(vecs)), len(vecs), DenseParams(kind=kind))
    allowed = np.zeros(len(vecs), dtype=bool)
    allowed[np.random.default_rng(3).choice(len(vecs), 20, replace=False)] = True  # 0.5%
    q = _vectors(1, seed=9)[0]
    got, _ = index.search(q, 10, allowed)
    assert len(got) == 10 and allowed[got].all()
    exact = np.flatnonzero(allowed)[np.argsort(-(vecs[allowed] @ q))[:10]]
    assert got.tolist() == exact.tolist()
