"""Vector hits -> product scores (shopsearch.index.aggregate), shared by the FAISS and Milvus indexes."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.index.aggregate import (
    ProductHits,
    best_per_product,
    fetch_products,
    mean_per_product,
    no_hits,
    overfetch,
    rescore_products,
)


def test_best_per_product_hand_computed() -> None:
    # vectors of products 4, 2, 4, 7 scoring 0.3, 0.8, 0.9, 0.1: product 4 scores its best, 0.9
    hits = best_per_product(np.array([4, 2, 4, 7]), np.array([0.3, 0.8, 0.9, 0.1], np.float32), 2)
    assert isinstance(hits, ProductHits)
    assert hits.positions.tolist() == [4, 2] and hits.positions.dtype == np.int64
    np.testing.assert_allclose(hits.scores, [0.9, 0.8])
    assert hits.scores.dtype == np.float32
    empty = best_per_product(np.empty(0, np.int64), np.empty(0, np.float32), 3)
    assert len(empty.positions) == 0 and empty.positions.dtype == np.int64 and empty.scores.dtype == np.float32


def test_mean_per_product_hand_computed() -> None:
    # product 4: (0.3 + 0.9) / 2 = 0.6; product 2: 0.8; product 7: 0.1
    hits = mean_per_product(np.array([4, 2, 4, 7]), np.array([0.3, 0.8, 0.9, 0.1], np.float32), 3)
    assert hits.positions.tolist() == [2, 4, 7]
    np.testing.assert_allclose(hits.scores, [0.8, 0.6, 0.1], rtol=1e-6)
    # equal means: the lower position first
    assert mean_per_product(np.array([9, 3]), np.array([0.5, 0.5]), 2).positions.tolist() == [3, 9]
    assert len(mean_per_product(np.empty(0, np.int64), np.empty(0), 3).positions) == 0


def test_rescore_products_hand_computed() -> None:
    # candidates 5, 1, 8; vectors of 5 score 0.2 and 0.7, of 1 score 0.9, 8 has no vector (-inf)
    hits = rescore_products(np.array([5, 1, 8]), np.array([5, 1, 5]), np.array([0.2, 0.9, 0.7]))
    assert hits.positions.tolist() == [1, 5, 8]
    np.testing.assert_allclose(hits.scores, [0.9, 0.7, -np.inf])
    # ties keep the candidates' order
    assert rescore_products(np.array([3, 2]), np.array([2, 3]), np.array([0.5, 0.5])).positions.tolist() == [3, 2]
    empty = rescore_products(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    assert len(empty.positions) == 0 and empty.scores.dtype == np.float32


@pytest.mark.parametrize(("k", "per_product", "limit", "want"), [
    (10, 1, 1000, 10),       # one vector per product: the top k vectors are the top k products
    (10, 3, 1000, 40),       # 3 x 10 + 10
    (10, 2.5, 1000, 35),     # ceil(25) + 10
    (10, 0.5, 1000, 10),     # below one vector per product counts as one
    (10, 8, 50, 50),         # capped at the limit
])
def test_overfetch(k: int, per_product: float, limit: int, want: int) -> None:
    assert overfetch(k, per_product, limit) == want


def test_fetch_products_grows_until_k_products_or_exhausted_or_limit() -> None:
    asked: list[int] = []
    # each product owns 10 vectors: w vectors cover w // 10 products
    def fetch(w: int) -> tuple[ProductHits, bool]:
        asked.append(w)
        n = w // 10
        return ProductHits(np.arange(n, dtype=np.int64), np.zeros(n, np.float32)), False

    assert len(fetch_products(fetch, 5, 10, 10_000).positions) >= 5
    assert asked == [10, 40, 160]  # x4 until 5 products came back (4 after 40 vectors)
    asked.clear()
    assert len(fetch_products(fetch, 50, 10, 100).positions) == 10  # the limit stops it
    assert asked == [10, 40, 100]
    asked.clear()

    def exhausted(w: int) -> tuple[ProductHits, bool]:
        asked.append(w)
        return no_hits(), True

    fetch_products(exhausted, 5, 10, 10_000)
    assert asked == [10]  # the index said it has nothing more
