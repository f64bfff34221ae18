"""Dense vector index over product vectors (FAISS), with multi-vector products.

A product may own several vectors (one per image); ``rows[i]`` is the product position of
vector i, and a product's score is the best of its vectors (max aggregation; the aggregation,
re-scoring and over-fetch rules are :mod:`shopsearch.index.aggregate`, shared with Milvus). Below
``hnsw_threshold`` vectors the search is exact (a FAISS top-k scan over the numpy array, no
copy); above it an HNSW graph is built. The compressed kinds keep codes in memory and re-rank
their top candidates on the full-precision vectors, which stay on disk (memory-mapped):

========  =========================================  ==========================
kind      in memory per vector (d dims)              search
========  =========================================  ==========================
flat      4d bytes (float32)                         exact scan
hnsw      graph (~8M bytes) + 4d (FAISS storage)     graph walk (``ef_search``)
fp16      2d bytes                                   scan of codes + re-rank
sq8       d bytes                                    scan of codes + re-rank
pq        ``pq_m`` bytes (+ a small codebook)        scan of codes + re-rank
========  =========================================  ==========================

For hnsw the numpy copy of the vectors is memory-mapped after loading (FAISS holds the one
in-memory copy).

Filtered searches (an ``allowed`` mask: filters, and retired products until the next compaction)
never return fewer than k hits when k matching products exist. HNSW first keeps the allowed hits
of its plain walk (enough when the query's neighbourhood is mostly allowed), then walks keeping
only allowed vectors (the mask as an ``IDSelectorBitmap``, ``efSearch`` widened by the share
allowed, and more when none was near the query); fp16/sq8 scan their codes with the selector,
then re-rank; a narrow filter, or a walk that finds fewer than k, is scanned exactly over the
allowed vectors. Which is cheaper is :func:`structure_filter_pays`. (Before, every mask was
scanned exactly: at 1M vectors one retired product made every query a scan of them all, 2.6
queries/s on one thread instead of ~2,300; ``benchmarks/results/ann_scale_filtered.md``.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from shopsearch.config import DENSE_KINDS
from shopsearch.index.aggregate import (
    GROWTH,
    ProductHits,
    best_per_product,
    fetch_products,
    mean_per_product,
    no_hits,
    overfetch,
    rescore_products,
)

logger = logging.getLogger(__name__)
_FAISS: Any = faiss  # faiss's stubs omit SearchParametersHNSW


# kinds that keep compressed codes in memory and re-rank on full precision from disk
QUANTISED_KINDS: tuple[str, ...] = ("fp16", "sq8", "pq")
# over-fetch factor of the re-rank when DenseParams.rerank is 0 (coarser codes need more)
_DEFAULT_RERANK = {"fp16": 1, "sq8": 4, "pq": 64}
# Filtered search costs at 1M x 256-d, one thread (benchmarks/results/ann_scale_filtered.md): the
# exact scan gathers and scores each allowed vector (~0.2-0.3 us each); HNSW with a selector walks
# ~2.4-4 us per unit of its widened efSearch (ef_search / share), i.e. about GRAPH_FILTER_COST exact
# scores; a code scan costs the same at any share and beats gathering more than CODES_FILTER_SHARE
# of the vectors. IndexPQ takes no selector, so pq always scans exactly. A walk that found no
# allowed vector near the query widens FAR_WIDEN times more (half-space masks, 50% allowed: recall@10
# 0.87 at ef_search / share, 0.99 with the wider walk); walks above MAX_FILTER_EF cost more than the
# exact scan they would replace (exploration, load ~2: ~54 ms at efSearch 10,240, where the exact
# scan of 10% of 1M vectors takes ~31 ms), so those queries are scanned exactly (10%: 0.76 -> 0.997).
GRAPH_FILTER_COST = 10.0
CODES_FILTER_SHARE = 0.05
FAR_WIDEN = 8
MAX_FILTER_EF = 4096
_SELECTOR_KINDS = ("hnsw", "fp16", "sq8")


@dataclass(frozen=True)
class DenseParams:
    """``kind``: "auto" (exact below ``hnsw_threshold`` vectors, HNSW above), "flat", "hnsw", or a
    compressed kind: "fp16" (half precision), "sq8" (8-bit scalar codes, a quarter of float32) or
    "pq" (product quantisation, ``pq_m`` bytes per vector; 0 = d/8). Compressed kinds re-rank
    ``rerank`` x the wanted candidates on the full-precision vectors (0 = per-kind default:
    fp16 1, sq8 4, pq 64: at 1M clustered vectors PQ needs x64 for recall@10 >= 0.95, see
    benchmarks/results/ann_scale.md)."""

    hnsw_threshold: int = 100_000
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    kind: str = "auto"
    rerank: int = 0
    pq_m: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DENSE_KINDS:
            raise ValueError(f"DenseParams.kind must be one of {', '.join(DENSE_KINDS)}, got {self.kind!r}")
        for name in ("hnsw_threshold", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"DenseParams.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("rerank", "pq_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"DenseParams.{name} must be >= 0 (0 = default), got {getattr(self, name)}")

    def rerank_for(self, kind: str) -> int:
        return self.rerank or _DEFAULT_RERANK.get(kind, 1)


def _kind_of(index: faiss.Index | None) -> str:
    if index is None:
        return "flat"
    if isinstance(index, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(index, faiss.IndexPQ):
        return "pq"
    if isinstance(index, faiss.IndexScalarQuantizer):
        return "fp16" if index.sq.qtype == faiss.ScalarQuantizer.QT_fp16 else "sq8"
    raise TypeError(f"unsupported FAISS index type {type(index).__name__}")


def _pq_m(dim: int, wanted: int) -> int:
    """Sub-quantisers for PQ: ``wanted`` (0 = d/8), lowered to the nearest divisor of ``dim``."""
    m = max(1, min(dim, wanted or dim // 8))
    while dim % m:
        m -= 1
    return m


def structure_filter_pays(kind: str, n_allowed: int, n: int, ef_search: int) -> bool:
    """Whether a search restricted to ``n_allowed`` of ``n`` vectors is cheaper through the FAISS
    structure of ``kind`` with a selector than as an exact scan of the allowed vectors: for HNSW
    when ``n_allowed`` exceeds ``GRAPH_FILTER_COST * ef_search / share`` (the exact scan's vectors
    outnumber the widened walk's cost), for fp16/sq8 codes when the share is at least
    ``CODES_FILTER_SHARE``; never for flat (it is the exact scan) or pq (no selector)."""
    if kind not in _SELECTOR_KINDS or n_allowed == 0 or n == 0:
        return False
    share = n_allowed / n
    if kind == "hnsw":
        return n_allowed * share >= GRAPH_FILTER_COST * ef_search
    return share >= CODES_FILTER_SHARE


class VectorIndex(Protocol):
    """What the engine needs from a dense index of one vector role (:class:`DenseIndex` over
    FAISS here; :class:`shopsearch.scale.milvus.MilvusDenseIndex` over a Milvus collection).
    ``rows[i]`` is the product position of vector i; scores are inner products."""

    dim: int
    n_products: int

    @property
    def kind(self) -> str: ...

    @property
    def vectors(self) -> np.ndarray: ...

    @property
    def rows(self) -> np.ndarray: ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               aggregation: str = "max") -> ProductHits:
        """Top ``k`` (positions int64, scores float32) of products passing ``allowed``."""
        ...

    def rescore(self, query: np.ndarray, positions: np.ndarray, fn: Any) -> ProductHits: ...

    def vectors_of(self, position: int) -> np.ndarray: ...

    def append(self, vectors: np.ndarray, rows: np.ndarray, n_products: int) -> None: ...


class DenseIndex:
    """Vectors float32 (n, d) L2-normalised, their product rows int64 (n,), and a FAISS index
    (None for exact search)."""

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
        self._kind = _kind_of(self.index)
        if isinstance(self.index, faiss.IndexHNSWFlat):
            self.index.hnsw.efSearch = params.ef_search
        # one vector per product (the common case): the top-k vectors are the top-k products
        self._single = self._rows_unique()
        # vector i belongs to product i (the common case): a product mask is a vector mask
        self._identity = bool(np.array_equal(self.rows, np.arange(self.rows.shape[0])))

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def memory_bytes(self) -> int:
        """Bytes this index keeps in memory for search: the FAISS structure (codes, graph, HNSW
        storage) or, for exact search, the float32 vectors; plus the product rows (int64).
        Memory-mapped full-precision vectors (compressed kinds, loaded hnsw) are not counted."""
        n = self.vectors.shape[0]
        rows = n * self.rows.itemsize
        if self.index is None:
            return n * self.dim * 4 + rows
        if isinstance(self.index, faiss.IndexHNSWFlat):
            hnsw: Any = self.index.hnsw  # faiss's stubs omit HNSW's neighbors/offsets arrays
            graph = hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4
            own = 0 if isinstance(self.vectors, np.memmap) else n * self.dim * 4
            return int(self.index.ntotal) * self.dim * 4 + graph + own + rows
        assert isinstance(self.index, (faiss.IndexPQ, faiss.IndexScalarQuantizer))  # the compressed kinds
        codebook = self.index.pq.centroids.size() * 4 if isinstance(self.index, faiss.IndexPQ) else 0
        return int(self.index.ntotal) * int(self.index.code_size) + codebook + rows

    @property
    def bytes_per_vector(self) -> float:
        """:attr:`memory_bytes` divided by the number of vectors."""
        return self.memory_bytes / max(self.vectors.shape[0], 1)

    def _rows_unique(self) -> bool:
        n = self.rows.shape[0]
        return n == 0 or (n <= self.n_products and int(np.bincount(self.rows).max()) <= 1)

    def _build(self) -> faiss.Index | None:
        """The FAISS structure, or None for exact search: a flat FAISS index would only hold a
        second copy of ``self.vectors``, which the exact search scans directly."""
        n = self.vectors.shape[0]
        kind = self.params.kind
        if kind in QUANTISED_KINDS:
            index = self._quantiser(kind, n)
            if n:
                index.train(np.ascontiguousarray(self.vectors))
                index.add(np.ascontiguousarray(self.vectors))
            return index
        if kind == "hnsw" or (kind == "auto" and n >= self.params.hnsw_threshold):
            index = faiss.IndexHNSWFlat(self.dim, self.params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.params.ef_construction
            logger.info("building HNSW over %d vectors (dim %d)", n, self.dim)
            if n:
                index.add(np.ascontiguousarray(self.vectors))
            return index
        return None

    def _quantiser(self, kind: str, n: int) -> faiss.Index:
        if kind == "pq":
            # 8-bit codes need >= 256 training vectors; smaller sets get fewer bits per code
            nbits = int(np.clip(np.floor(np.log2(max(n, 2))), 1, 8))
            return faiss.IndexPQ(self.dim, _pq_m(self.dim, self.params.pq_m), nbits, faiss.METRIC_INNER_PRODUCT)
        qtype = faiss.ScalarQuantizer.QT_fp16 if kind == "fp16" else faiss.ScalarQuantizer.QT_8bit
        return faiss.IndexScalarQuantizer(self.dim, qtype, faiss.METRIC_INNER_PRODUCT)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, aggregation: str = "max",
    ) -> ProductHits:
        """Top-``k`` products for one query vector (d,).

        ``allowed`` is an optional bool mask over products. A product with several vectors
        (photos) scores the best of them (``aggregation="max"``) or their mean (``"mean"``).
        Returns (product positions int64, scores float32), best first, at most k, one entry per
        product.
        """
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ValueError(f"query vector has dim {q.shape[1]}, index has {self.dim}")
        n = self.vectors.shape[0]
        if k <= 0 or n == 0:
            return no_hits()
        if aggregation == "mean":
            return self._search_mean(q[0], k, allowed)
        if aggregation != "max":
            raise ValueError(f"aggregation must be max or mean, got {aggregation!r}")
        if allowed is not None:
            return self._search_allowed(q, k, allowed)
        per_product = self._vectors_per_product()
        want = overfetch(k, per_product, n)
        if self.index is None:
            return fetch_products(lambda w: (self._exact_top(q, w, k), False), k, want, n)
        if self._kind in QUANTISED_KINDS:
            want = min(n, want * self.params.rerank_for(self._kind))
        return fetch_products(lambda w: (self._index_top(q, w, k), False), k, want, n)

    def _vectors_per_product(self) -> int:
        """How many vectors a product has, for over-fetching: 1 with one vector per product,
        else the mean rounded up (at least 2)."""
        return 1 if self._single else max(2, -(-self.vectors.shape[0] // max(self.n_products, 1)))

    def _search_allowed(self, q: np.ndarray, k: int, allowed: np.ndarray) -> ProductHits:
        """Top-``k`` products among ``allowed`` (bool over products): through the FAISS structure
        when that pays (HNSW: :meth:`_graph_allowed`; fp16/sq8: a code scan with a selector), else
        (or when that finds fewer than k) exactly over the allowed vectors."""
        n = self.vectors.shape[0]
        mask = allowed[:n] if self._identity and allowed.shape[0] >= n else allowed[self.rows]
        n_allowed = int(np.count_nonzero(mask))
        hits: ProductHits | None = None
        if self._kind == "hnsw" and n_allowed:
            hits = self._graph_allowed(q, k, mask, n_allowed)
        elif structure_filter_pays(self._kind, n_allowed, n, self.params.ef_search):
            hits = self._selected_top(q, k, mask, n_allowed, faiss.SearchParameters())
        if hits is not None and len(hits.positions) >= k:
            return hits
        sel = np.flatnonzero(mask)
        return best_per_product(self.rows[sel], self.vectors[sel] @ q[0], k)

    def _graph_allowed(self, q: np.ndarray, k: int, mask: np.ndarray, n_allowed: int) -> ProductHits | None:
        """HNSW under a vector ``mask``, in three steps, or None for the exact scan:

        1. the plain walk (``ef_search`` vectors), its allowed hits: enough when the query's
           neighbourhood is mostly allowed (broad filters, a few retired products);
        2. a walk that keeps only allowed vectors (``IDSelectorBitmap``), its ``efSearch`` widened
           by the share allowed, when the plain walk found some allowed vectors near the query;
        3. the same, ``FAR_WIDEN`` times wider, when it found none (the allowed vectors lie beyond
           the query's neighbourhood; a walk widened by the share alone then misses them).

        No walk when the allowed vectors cost less to scan than the plain walk, or when they are so
        few that a plain walk would hold fewer than k / 2 of them at random and no selector walk
        pays; the selector walks only when :func:`structure_filter_pays` for their width and
        their efSearch is at most ``MAX_FILTER_EF``."""
        n = self.vectors.shape[0]
        per_product = self._vectors_per_product()
        walk = min(n, max(self.params.ef_search, overfetch(k, per_product, n)))
        if n_allowed < GRAPH_FILTER_COST * walk:  # scanning them all costs less than one walk
            return None
        pays = structure_filter_pays("hnsw", n_allowed, n, self.params.ef_search)
        if n_allowed * walk < n * k / 2 and not pays:
            return None  # a narrow mask: the plain walk would rarely hold k of them, and no walk pays after it
        near = self._index_top(q, walk, k, vector_mask=mask)
        if len(near.positions) >= k:
            return near
        widen = 1 if len(near.positions) else FAR_WIDEN
        ef = int(np.ceil(self.params.ef_search * widen * n / n_allowed))
        if ef > MAX_FILTER_EF or not (pays if widen == 1 else
                                      structure_filter_pays("hnsw", n_allowed, n, self.params.ef_search * widen)):
            return None
        params = _FAISS.SearchParametersHNSW()
        params.efSearch = ef
        return self._selected_top(q, k, mask, n_allowed, params)

    def _selected_top(self, q: np.ndarray, k: int, mask: np.ndarray, n_allowed: int,
                      params: faiss.SearchParameters) -> ProductHits:
        """The FAISS structure's top products among the vectors ``mask`` selects, as a selector
        in ``params``. At most two wider asks (duplicates of one product): a walk that still finds
        fewer than k has run out of reachable allowed vectors, and the caller scans exactly."""
        n = self.vectors.shape[0]
        bits = np.packbits(mask, bitorder="little")  # kept alive while FAISS reads it
        params.sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        per_product = self._vectors_per_product()
        want = overfetch(k, per_product, n_allowed)
        if self._kind in QUANTISED_KINDS:
            want = min(n_allowed, want * self.params.rerank_for(self._kind))
        limit = min(n_allowed, want * GROWTH * GROWTH)
        return fetch_products(lambda w: (self._index_top(q, w, k, params), False), k, want, limit)

    def _exact_top(self, q: np.ndarray, want: int, k: int) -> ProductHits:
        """Exact: FAISS's top-``want`` scan (a heap, no full sort) over our array, then products."""
        scores, idx = faiss.knn(q, self.vectors, want, metric=faiss.METRIC_INNER_PRODUCT)
        order = np.lexsort((idx[0], -scores[0]))  # ties: lower offset first, as a stable sort
        return best_per_product(self.rows[idx[0][order]], scores[0][order], k, ordered=True)

    def _index_top(self, q: np.ndarray, want: int, k: int, params: faiss.SearchParameters | None = None,
                   vector_mask: np.ndarray | None = None) -> ProductHits:
        """The FAISS structure's top ``want`` vectors (those ``params.sel`` selects, when given;
        of them those ``vector_mask`` allows, when given), then products (compressed kinds re-rank
        their candidates on the full-precision vectors)."""
        assert self.index is not None  # search() scans exactly when there is no FAISS structure
        scores, idx = self.index.search(q, want, params=params)
        found = idx[0]
        if found.size and found[-1] < 0:  # fewer results than asked (HNSW and selectors pad with -1)
            keep = found >= 0
            found, scores = found[keep], scores[:, keep]
        if vector_mask is not None:
            keep = vector_mask[found]
            found, scores = found[keep], scores[:, keep]
        if found.size == 0:
            return no_hits()
        if self._kind in QUANTISED_KINDS:
            found = np.sort(found)  # ascending offsets: sequential reads of the memory map
            return best_per_product(self.rows[found], self.vectors[found] @ q[0], k)
        if self._single:  # HNSW, one vector per product: its result is the answer
            return ProductHits(self.rows[found[:k]], scores[0][:k])
        return best_per_product(self.rows[found], scores[0], k, ordered=True)

    def _search_mean(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> ProductHits:
        if allowed is not None:
            sel = np.flatnonzero(allowed[self.rows])
        elif self._kind == "flat":
            sel = np.arange(self.vectors.shape[0])
        else:  # approximate index: its best products (over-fetched), every vector scored exactly
            candidates, _ = self.search(q, 4 * k)
            sel = np.flatnonzero(np.isin(self.rows, candidates))
        return mean_per_product(self.rows[sel], self.vectors[sel] @ q, k)

    def append(self, vectors: np.ndarray, rows: np.ndarray, n_products: int) -> None:
        """Add vectors (float32 (m, d)) owned by product positions ``rows``; not thread-safe:
        the caller holds the write lock. Storage grows geometrically, so a stream of single
        upserts costs amortised O(m), not a copy of the whole index each time. Memory-mapped
        vectors are copied into memory on the first append (until the next compaction)."""
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
        if self._single and m:
            new = rows.astype(np.int64)
            self._single = np.unique(new).size == m and not np.isin(new, self.rows).any()
        if self._identity and m:
            self._identity = bool(np.array_equal(rows, np.arange(n, n + m)))
        self.vectors = self._buffer[:n + m]
        self.rows = self._row_buffer[:n + m]
        self.n_products = n_products
        if m and self.index is not None:
            if not self.index.is_trained:  # a compressed index built empty: train on what it has now
                fresh = self._quantiser(self._kind, n + m)
                fresh.train(self.vectors)
                self.index = fresh
            self.index.add(vectors)

    def rescore(self, query: np.ndarray, positions: np.ndarray, fn: Any) -> ProductHits:
        """Re-score candidate ``positions`` with ``fn(query, vectors) -> scores`` (a product scores
        the best of its vectors) and re-sort them, best first."""
        if len(positions) == 0:
            return ProductHits(positions, np.empty(0, np.float32))
        want = np.isin(self.rows, positions)
        return rescore_products(positions, self.rows[want], fn(query, self.vectors[want]))

    def vectors_of(self, position: int) -> np.ndarray:
        """All vectors owned by product ``position``, float32 (m, d)."""
        return self.vectors[self.rows == position]

    def save(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{name}.vectors.npy", self.vectors)
        np.save(folder / f"{name}.rows.npy", self.rows.astype(np.int32))
        if self.index is not None:
            faiss.write_index(self.index, str(folder / f"{name}.{self._kind}.faiss"))

    @classmethod
    def load(cls, folder: Path, name: str, n_products: int, params: DenseParams = DenseParams()) -> DenseIndex:
        structure = next((folder / f"{name}.{kind}.faiss" for kind in DENSE_KINDS[2:]
                          if (folder / f"{name}.{kind}.faiss").is_file()), None)
        # With a FAISS structure the float32 vectors stay on disk (memory-mapped): compressed
        # kinds re-rank from them, and HNSW keeps its own copy in FAISS.
        vectors = np.load(folder / f"{name}.vectors.npy", mmap_mode="r" if structure is not None else None)
        rows = np.load(folder / f"{name}.rows.npy")
        index = faiss.read_index(str(structure)) if structure is not None else None
        return cls(vectors, rows, n_products, params, faiss_index=index)

