"""MilvusDenseIndex without a server: an in-memory stand-in for MilvusVectors (exact inner
product, Milvus' filter expressions on ``pos``) shows that the adapter ranks products exactly as
the FAISS DenseIndex does (both go through shopsearch.index.aggregate). The real server is
exercised in test_backends.py / test_replicas.py."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.index.dense import DenseIndex, DenseParams
from shopsearch.scale.milvus import MilvusDenseIndex


class MemoryVectors:
    """What MilvusDenseIndex reads from MilvusVectors: ``search``, ``vectors_at``, ``all_vectors``."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self.vectors, self.rows = vectors, rows
        self.dim = vectors.shape[1]
        self.ef_search = 128
        self.guarantee_ts = 0
        self.limits: list[int] = []

    def search(self, query: np.ndarray, limit: int, expr: str = "", ef: int = 0) -> tuple[np.ndarray, np.ndarray]:
        self.limits.append(limit)
        # the adapter's filters ("pos < n", "pos in [...]", "pos < n and pos not in [...]") are Python too
        ok = np.array([eval(expr, {"pos": int(p)}) if expr else True for p in self.rows], dtype=bool)
        pos, scores = self.rows[ok], (self.vectors[ok] @ query).astype(np.float32)
        order = np.lexsort((pos, -scores))[:limit]  # as MilvusVectors orders equal scores
        return pos[order], scores[order]

    def vectors_at(self, positions) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        keep = np.isin(self.rows, np.asarray(list(positions), dtype=np.int64))
        return self.rows[keep], self.vectors[keep]

    def all_vectors(self, n_positions: int) -> tuple[np.ndarray, np.ndarray]:
        return self.vectors_at(range(n_positions))


def _catalogue(n_products: int, per_product: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_products), per_product)  # vector order = product order, as Milvus pks
    vectors = rng.standard_normal((len(rows), 16)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), rows


@pytest.mark.parametrize("per_product", [1, 3])
def test_milvus_adapter_ranks_products_as_the_faiss_index(per_product: int) -> None:
    vectors, rows = _catalogue(120, per_product)
    faiss_index = DenseIndex(vectors, rows, 120, DenseParams(kind="flat"))
    store = MemoryVectors(vectors, rows)
    milvus = MilvusDenseIndex(store, 120, vectors_per_product=per_product)  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    for _ in range(10):
        q = rng.standard_normal(16).astype(np.float32)
        q /= np.linalg.norm(q)
        broad, narrow = rng.random(120) < 0.6, rng.random(120) < 0.03  # post-filter vs filter expression
        for k in (1, 10, 40):
            for allowed in (None, broad, narrow):
                want, got = faiss_index.search(q, k, allowed), milvus.search(q, k, allowed)
                assert got.positions.tolist() == want.positions.tolist()
                np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)
        candidates = rng.choice(120, 15, replace=False)
        fn = lambda query, vecs: vecs @ query  # noqa: E731
        want_r, got_r = faiss_index.rescore(q, candidates, fn), milvus.rescore(q, candidates, fn)
        assert got_r[0].tolist() == want_r[0].tolist()
        np.testing.assert_allclose(got_r[1], want_r[1], rtol=1e-6)
        # mean: the adapter averages the vectors of its best 4k products (by max), exactly
        top = milvus.search(q, 40).positions
        mean = milvus.search(q, 10, aggregation="mean")
        naive = sorted(top.tolist(), key=lambda p: (-float((vectors[rows == p] @ q).mean()), p))[:10]
        assert mean.positions.tolist() == naive


def test_milvus_adapter_overfetches_for_multi_vector_products() -> None:
    vectors, rows = _catalogue(50, 4)
    store = MemoryVectors(vectors, rows)
    milvus = MilvusDenseIndex(store, 50, vectors_per_product=4.0)  # type: ignore[arg-type]
    q = vectors[0]
    assert len(milvus.search(q, 10).positions) == 10
    assert store.limits[0] == 50  # overfetch: 10 x 4 + 10
