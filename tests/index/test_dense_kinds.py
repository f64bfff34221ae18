from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopsearch.index.dense import DenseIndex, DenseParams


def _vectors(n: int = 3000, d: int = 64, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "fp16", "sq8", "pq"])
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
        # reported scores are exact inner products (compressed kinds re-rank on full precision)
        np.testing.assert_allclose(scores, vecs[got] @ q, rtol=1e-5, atol=1e-6)
    assert np.mean(recall) >= (1.0 if kind == "flat" else 0.9)
    index.save(tmp_path, "v")
    again = DenseIndex.load(tmp_path, "v", len(vecs), DenseParams(kind=kind))
    assert again.kind == kind
    # only exact search keeps the float32 vectors in memory; the others memory-map them
    assert isinstance(again.vectors, np.memmap) == (kind != "flat")
    np.testing.assert_array_equal(again.search(queries[0], 10)[0], index.search(queries[0], 10)[0])
    code_bytes = {"flat": 64 * 4, "fp16": 64 * 2, "sq8": 64, "pq": 8}
    if kind in code_bytes:  # codes (or float32) + int64 product rows per vector (+ pq codebook)
        codebook = 8 * 256 * 8 * 4 if kind == "pq" else 0
        assert index.memory_bytes == len(vecs) * (code_bytes[kind] + 8) + codebook
    else:  # hnsw: FAISS's float32 copy + graph, and no second numpy copy once loaded
        assert again.memory_bytes < index.memory_bytes - len(vecs) * 64 * 4 + 1


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        DenseParams(kind="ivf")


@pytest.mark.parametrize("kind", ["flat", "hnsw", "fp16", "sq8", "pq"])
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
