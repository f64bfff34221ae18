"""Dense vector index over product vectors (FAISS), with multi-vector products.

A product may own several vectors (one per image); ``rows[i]`` is the product position of
vector i, and a product's score is the best of its vectors (max aggregation). Below
``hnsw_threshold`` vectors the search is exact (a numpy scan); above it an HNSW graph is
built; ``sq8`` keeps 8-bit codes in memory and re-ranks on full precision. Filtered searches
run exactly over the allowed vectors, so a filter never returns fewer than k hits when k
matching products exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

logger = logging.getLogger(__name__)


DENSE_KINDS: tuple[str, ...] = ("auto", "flat", "hnsw", "sq8")


@dataclass(frozen=True)
class DenseParams:
    """``kind``: "auto" (exact below ``hnsw_threshold`` vectors, HNSW above), "flat", "hnsw", or
    "sq8" — 8-bit scalar-quantised codes in memory (a quarter of float32), candidates re-ranked
    on full-precision vectors that stay on disk (memory-mapped); ``rerank`` is its over-fetch."""

    hnsw_threshold: int = 100_000
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    kind: str = "auto"
    rerank: int = 4

    def __post_init__(self) -> None:
        if self.kind not in DENSE_KINDS:
            raise ValueError(f"DenseParams.kind must be one of {', '.join(DENSE_KINDS)}, got {self.kind!r}")
        for name in ("hnsw_threshold", "hnsw_m", "ef_construction", "ef_search", "rerank"):
            if getattr(self, name) < 1:
                raise ValueError(f"DenseParams.{name} must be >= 1, got {getattr(self, name)}")


class DenseIndex:
    """Vectors float32 (n, d) L2-normalised, their product rows int32 (n,), and a FAISS index."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray, n_products: int,
                 params: DenseParams = DenseParams(), faiss_index: faiss.Index | None = None) -> None:
        if vectors.ndim != 2 or vectors.dtype != np.float32:
            raise ValueError(f"vectors must be float32 (n, d), got {vectors.dtype} {vectors.shape}")
        if rows.shape != (vectors.shape[0],):
            raise ValueError(f"rows must have shape ({vectors.shape[0]},), got {rows.shape}")
        self.vectors = vectors
        self.rows = rows.astype(np.int64, copy=False)
        self.n_products = n_products
        self.params = params
        self.dim = vectors.shape[1]
        self._buffer: np.ndarray | None = None  # spare capacity for live appends
        self._row_buffer: np.ndarray | None = None
        self.index = faiss_index if faiss_index is not None else self._build()
        if isinstance(self.index, faiss.IndexHNSWFlat):
            self.index.hnsw.efSearch = params.ef_search

    @property
    def kind(self) -> str:
        if isinstance(self.index, faiss.IndexScalarQuantizer):
            return "sq8"
        return "hnsw" if isinstance(self.index, faiss.IndexHNSWFlat) else "flat"

    @property
    def memory_bytes(self) -> int:
        """Bytes the search structure keeps in memory per this index (codes or vectors)."""
        n = self.vectors.shape[0]
        return n * self.dim * (1 if self.kind == "sq8" else 4)

    def _build(self) -> faiss.Index | None:
        """The FAISS structure, or None for exact search: a flat FAISS index would only hold a
        second copy of ``self.vectors``, which numpy scans directly."""
        n = self.vectors.shape[0]
        kind = self.params.kind
        if kind == "sq8":
            index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            if n:
                index.train(self.vectors)
                index.add(self.vectors)
            return index
        if kind == "hnsw" or (kind == "auto" and n >= self.params.hnsw_threshold):
            index = faiss.IndexHNSWFlat(self.dim, self.params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.params.ef_construction
            logger.info("building HNSW over %d vectors (dim %d)", n, self.dim)
            if n:
                index.add(self.vectors)
            return index
        return None

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, aggregation: str = "max",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` products for one query vector (d,).

        ``allowed`` is an optional bool mask over products. A product with several vectors
        (photos) scores the best of them (``aggregation="max"``) or their mean (``"mean"``).
        Returns (product positions int64, scores float32), best first, at most k, one entry per
        product.
        """
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ValueError(f"query vector has dim {q.shape[1]}, index has {self.dim}")
        if k <= 0 or self.vectors.shape[0] == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if aggregation == "mean":
            return self._search_mean(q[0], k, allowed)
        if aggregation != "max":
            raise ValueError(f"aggregation must be max or mean, got {aggregation!r}")
        if allowed is not None:
            sel = np.flatnonzero(allowed[self.rows])
            return _best_per_product(self.rows[sel], self.vectors[sel] @ q[0], k)
        if self.index is None:  # exact
            return _best_per_product(self.rows, self.vectors @ q[0], k)
        per_product = max(1, self.vectors.shape[0] // max(self.n_products, 1))
        want = min(self.vectors.shape[0], k * per_product + (k if per_product > 1 else 0))
        if self.kind == "sq8":
            want = min(self.vectors.shape[0], want * self.params.rerank)
        while True:
            scores, idx = self.index.search(q, want)
            keep = idx[0] >= 0
            found, found_scores = idx[0][keep], scores[0][keep]
            if self.kind == "sq8":  # re-rank the quantised candidates on full precision
                found = np.sort(found)  # ascending offsets: sequential reads of the memory map
                found_scores = np.asarray(self.vectors[found] @ q[0], dtype=np.float32)
            prod, best = _best_per_product(self.rows[found], found_scores, k)
            if len(prod) >= k or want >= self.vectors.shape[0]:
                return prod, best
            want = min(self.vectors.shape[0], want * 4)

    def _search_mean(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None:
            sel = np.flatnonzero(allowed[self.rows])
        elif self.kind == "flat":
            sel = np.arange(self.vectors.shape[0])
        else:  # approximate index: its best products (over-fetched), every vector scored exactly
            candidates, _ = self.search(q, 4 * k)
            sel = np.flatnonzero(np.isin(self.rows, candidates))
        rows = self.rows[sel]
        if rows.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        scores = np.asarray(self.vectors[sel] @ q, dtype=np.float64)
        sums = np.bincount(rows, weights=scores)
        counts = np.bincount(rows)
        present = np.flatnonzero(counts)
        means = sums[present] / counts[present]
        order = np.argsort(-means, kind="stable")[:k]
        return present[order].astype(np.int64), means[order].astype(np.float32)

    def append(self, vectors: np.ndarray, rows: np.ndarray, n_products: int) -> None:
        """Add vectors (float32 (m, d)) owned by product positions ``rows``; not thread-safe:
        the caller holds the write lock. Storage grows geometrically, so a stream of single
        upserts costs amortised O(m), not a copy of the whole index each time."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or rows.shape != (vectors.shape[0],):
            raise ValueError(f"append needs float32 (m, {self.dim}) vectors and (m,) rows")
        n, m = self.vectors.shape[0], vectors.shape[0]
        if self._buffer is None or n + m > self._buffer.shape[0]:
            capacity = max(n + m, int(n * 1.5) + 64)
            buffer = np.empty((capacity, self.dim), dtype=np.float32)
            buffer[:n] = self.vectors
            row_buffer = np.empty(capacity, dtype=np.int64)
            row_buffer[:n] = self.rows
            self._buffer, self._row_buffer = buffer, row_buffer
        assert self._row_buffer is not None
        self._buffer[n:n + m] = vectors
        self._row_buffer[n:n + m] = rows
        self.vectors = self._buffer[:n + m]
        self.rows = self._row_buffer[:n + m]
        self.n_products = n_products
        if m and self.index is not None:
            self.index.add(vectors)

    def rescore(self, query: np.ndarray, positions: np.ndarray, fn: Any) -> tuple[np.ndarray, np.ndarray]:
        """Re-score candidate ``positions`` with ``fn(query, vectors) -> scores`` (a product scores
        the best of its vectors) and re-sort them, best first."""
        if len(positions) == 0:
            return positions, np.empty(0, np.float32)
        want = np.isin(self.rows, positions)
        rows, scores = self.rows[want], np.asarray(fn(query, self.vectors[want]), dtype=np.float64)
        best = np.full(int(positions.max()) + 1, -np.inf)
        np.maximum.at(best, rows, scores)
        out = best[positions]
        order = np.argsort(-out, kind="stable")
        return positions[order], out[order].astype(np.float32)

    def vectors_of(self, position: int) -> np.ndarray:
        """All vectors owned by product ``position``, float32 (m, d)."""
        return self.vectors[self.rows == position]

    def save(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{name}.vectors.npy", self.vectors)
        np.save(folder / f"{name}.rows.npy", self.rows.astype(np.int32))
        if self.kind in ("hnsw", "sq8"):
            faiss.write_index(self.index, str(folder / f"{name}.{self.kind}.faiss"))

    @classmethod
    def load(cls, folder: Path, name: str, n_products: int, params: DenseParams = DenseParams()) -> DenseIndex:
        quantised = folder / f"{name}.sq8.faiss"
        # With sq8 the full-precision vectors stay on disk (memory-mapped) for re-ranking.
        vectors = np.load(folder / f"{name}.vectors.npy", mmap_mode="r" if quantised.is_file() else None)
        rows = np.load(folder / f"{name}.rows.npy")
        structure = quantised if quantised.is_file() else folder / f"{name}.hnsw.faiss"
        index = faiss.read_index(str(structure)) if structure.is_file() else None
        return cls(vectors, rows, n_products, params, faiss_index=index)


def _best_per_product(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-aggregate vector scores per product; top k products, best first."""
    if rows.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    order = np.argsort(-scores, kind="stable")
    rows, scores = rows[order], scores[order]
    _, first = np.unique(rows, return_index=True)
    first.sort()
    first = first[:k]
    return rows[first].astype(np.int64), scores[first].astype(np.float32)
