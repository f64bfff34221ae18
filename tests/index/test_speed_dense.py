"""Dense index fast paths (top-k partition, FAISS exact scan, compressed kinds) against naive references."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.index.aggregate import best_per_product
from shopsearch.index.dense import DenseIndex, DenseParams


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _naive(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    best: dict[int, tuple[float, int]] = {}
    for i, (r, s) in enumerate(zip(rows.tolist(), scores.tolist())):
        if r not in best or s > best[r][0]:
            best[r] = (s, i)
    top = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:k]
    return [r for r, _ in top], [s for _, (s, _) in top]


@pytest.mark.parametrize("n_products,k", [(50, 5), (400, 10), (7, 10), (1000, 1)])
def testbest_per_product_matches_naive(n_products: int, k: int) -> None:
    rng = np.random.default_rng(n_products)
    rows = rng.integers(0, n_products, 3000)
    scores = rng.standard_normal(3000).astype(np.float32)
    got, got_scores = best_per_product(rows, scores, k)
    want, want_scores = _naive(rows, scores, k)
    assert got.tolist() == want
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-6)


def testbest_per_product_ties_prefer_lower_offset() -> None:
    rows = np.array([5, 3, 9, 1, 7])
    scores = np.array([0.5, 0.9, 0.9, 0.9, 0.1], dtype=np.float32)
    assert best_per_product(rows, scores, 2)[0].tolist() == [3, 9]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "fp16", "sq8", "pq"])
def test_multi_vector_products_match_exact_max(kind: str) -> None:
    vecs = _unit(2400, 32, 0)
    rows = np.random.default_rng(1).integers(0, 300, 2400)  # ~8 photos per product, uneven
    index = DenseIndex(vecs, rows, 300, DenseParams(kind=kind))
    hits = []
    for q in _unit(20, 32, 2):
        want, _ = _naive(rows, vecs @ q, 10)
        got, scores = index.search(q, 10)
        assert len(got) == 10 and len(set(got.tolist())) == 10
        if kind == "flat":
            assert got.tolist() == want
        hits.append(len(set(got.tolist()) & set(want)) / 10)
        for p, s in zip(got, scores):  # reported score is the product's best exact score
            assert s == pytest.approx(float((vecs[rows == p] @ q).max()), abs=1e-5)
    assert np.mean(hits) >= 0.9


def test_exact_search_ties_and_k_larger_than_products() -> None:
    vecs = np.repeat(_unit(1, 16, 3), 6, axis=0)  # six identical vectors
    index = DenseIndex(vecs, np.arange(6), 6, DenseParams(kind="flat"))
    assert index.search(vecs[0], 3)[0].tolist() == [0, 1, 2]
    assert index.search(vecs[0], 50)[0].tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("kind", ["fp16", "sq8", "pq"])
def test_compressed_index_built_empty_trains_on_first_append(kind: str) -> None:
    index = DenseIndex(np.zeros((0, 16), np.float32), np.zeros(0, np.int64), 0, DenseParams(kind=kind))
    vecs = _unit(300, 16, 4)
    index.append(vecs, np.arange(300), 300)
    got, scores = index.search(vecs[17], 1)
    assert got.tolist() == [17] and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_bytes_per_vector_order() -> None:
    vecs = _unit(2000, 64, 5)
    per = {kind: DenseIndex(vecs, np.arange(2000), 2000, DenseParams(kind=kind)).bytes_per_vector
           for kind in ("flat", "hnsw", "fp16", "sq8", "pq")}
    assert per["pq"] < per["sq8"] < per["fp16"] < per["flat"] < per["hnsw"]
    assert per["flat"] == 64 * 4 + 8


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="rerank must be >= 0"):
        DenseParams(rerank=-1)
    assert DenseParams().rerank_for("pq") == 64 and DenseParams(rerank=3).rerank_for("sq8") == 3
