"""Milvus vector store, and an adapter that gives it the :class:`DenseIndex` interface.

One collection per (namespace, vector role) holds the vectors with filterable scalar fields
(``pos``, ``product_id``, ``brand``, ``category``, ``price``, ``stock``), an HNSW index (inner
product), and one partition per index version, so a rebuild fills a new partition while the old
one serves, and dropping a version drops its partition. The primary key is
``pos * MAX_VECTORS_PER_PRODUCT + j`` (vector j of the product at position ``pos``).

Visibility: a write returns a Milvus timestamp; the change log carries it, and a replica that
applies the change searches with ``guarantee_timestamp`` at least that, so it never misses a
vector the log already promised (Milvus waits at most one time tick, ~0.2-0.4 s, and only right
after a write; otherwise searches run at once).

Code is written against the current ``pymilvus.MilvusClient`` API (tested with pymilvus 2.6
against a Milvus 2.3.5 standalone server).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from shopsearch.index.aggregate import (
    ProductHits,
    best_per_product,
    fetch_products,
    mean_per_product,
    no_hits,
    overfetch,
    rescore_products,
)
from shopsearch.index.dense import DenseParams
from shopsearch.types import Product

logger = logging.getLogger(__name__)

MAX_VECTORS_PER_PRODUCT = 1024
MAX_TOPK = 16384  # Milvus' largest search limit
_EXPR_LIST_LIMIT = 200_000  # positions listed in one filter expression
POST_FILTER_SHARE = 0.05  # filters allowing at least this share of products are applied after the search


def _require_pymilvus() -> Any:
    try:
        import pymilvus  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Milvus vector store needs pymilvus: pip install 'shopsearch[scale]'") from exc
    return pymilvus


def collection_name(namespace: str, role: str) -> str:
    return f"{namespace}_{re.sub(r'[^0-9a-zA-Z_]', '_', role)}"


def partition_name(version: str) -> str:
    return "p_" + re.sub(r"[^0-9a-zA-Z_]", "_", version)


class MilvusVectors:
    """The vectors of one role of one index version in Milvus. Thread-safe."""

    def __init__(self, uri: str, namespace: str, role: str, dim: int, version: str, *, hnsw_m: int = 32,
                 ef_construction: int = 200, ef_search: int = 128, client: Any = None) -> None:
        pymilvus = _require_pymilvus()
        self.uri, self.role, self.dim, self.version = uri, role, dim, version
        self.collection = collection_name(namespace, role)
        self.partition = partition_name(version)
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.client = client or pymilvus.MilvusClient(uri=uri)
        self._lock = threading.Lock()
        self.guarantee_ts = 0  # newest write this process has made or been told about

    # -- schema ------------------------------------------------------------------------------
    def ensure(self, kind: str | None = None) -> None:
        """Create the collection (schema, vector index) and this version's partition if missing,
        and load them. ``kind``: "flat" (exact, Milvus FLAT) or "hnsw"; an existing collection
        whose index differs is re-indexed; None keeps whatever index the collection has."""
        pymilvus = _require_pymilvus()
        DataType = pymilvus.DataType
        c = self.client
        if not c.has_collection(self.collection):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("pk", DataType.INT64, is_primary=True)
            schema.add_field("pos", DataType.INT64)
            schema.add_field("product_id", DataType.VARCHAR, max_length=512)
            schema.add_field("brand", DataType.VARCHAR, max_length=512)
            schema.add_field("category", DataType.VARCHAR, max_length=1024)
            schema.add_field("price", DataType.DOUBLE)  # -1 when unknown
            schema.add_field("stock", DataType.INT64)  # -1 when unknown
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
            c.create_collection(self.collection, schema=schema, index_params=self._index_params(kind or "hnsw"),
                                consistency_level="Bounded")
            logger.info("created Milvus collection %s (dim %d, %s index)", self.collection, self.dim, kind or "hnsw")
        else:
            dim = _vector_dim(c.describe_collection(self.collection))
            if dim is not None and dim != self.dim:
                raise ValueError(f"Milvus collection {self.collection} has dim {dim}, this index needs {self.dim}; "
                                 "use another StoreConfig.namespace")
            want = {"flat": "FLAT", "hnsw": "HNSW"}.get(kind or "")
            if want and c.describe_index(self.collection, "vector").get("index_type") != want:
                logger.info("re-indexing Milvus collection %s as %s", self.collection, want)
                c.release_collection(self.collection)
                c.drop_index(self.collection, "vector")
                c.create_index(self.collection, self._index_params(kind or "hnsw"))
        if not c.has_partition(self.collection, self.partition):
            c.create_partition(self.collection, self.partition)
        c.load_collection(self.collection)

    def _index_params(self, kind: str) -> Any:
        index = self.client.prepare_index_params()
        if kind == "flat":
            index.add_index(field_name="vector", index_name="vector", index_type="FLAT", metric_type="IP")
        else:
            index.add_index(field_name="vector", index_name="vector", index_type="HNSW", metric_type="IP",
                            params={"M": self.hnsw_m, "efConstruction": self.ef_construction})
        return index

    def seal(self) -> None:
        """Flush the written vectors into sealed segments, where the collection's own index
        serves them (growing segments are searched through a coarse interim index)."""
        self.client.flush(self.collection)

    def drop(self) -> None:
        """Drop this version's partition."""
        c = self.client
        if c.has_collection(self.collection) and c.has_partition(self.collection, self.partition):
            c.release_partitions(self.collection, [self.partition])
            c.drop_partition(self.collection, self.partition)

    # -- writes ------------------------------------------------------------------------------
    def write(self, vectors: np.ndarray, positions: np.ndarray, product_at: Callable[[int], Product],
              batch: int = 2000) -> None:
        """Upsert vectors (float32 (m, d)) owned by product ``positions`` (m,)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or positions.shape != (vectors.shape[0],):
            raise ValueError(f"write needs float32 (m, {self.dim}) vectors and (m,) positions")
        if not len(positions):
            return
        # j = index of the vector within its product, in order of appearance
        order = np.argsort(positions, kind="stable")
        sorted_pos = positions[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_pos)) + 1]
        j_sorted = np.arange(len(sorted_pos)) - np.repeat(starts, np.diff(np.r_[starts, len(sorted_pos)]))
        j = np.empty_like(j_sorted)
        j[order] = j_sorted
        if j.max() >= MAX_VECTORS_PER_PRODUCT:
            raise ValueError(f"a product has more than {MAX_VECTORS_PER_PRODUCT} vectors of role {self.role}")
        rows: list[dict[str, Any]] = []
        for k in range(len(positions)):
            pos = int(positions[k])
            p = product_at(pos)
            rows.append({"pk": pos * MAX_VECTORS_PER_PRODUCT + int(j[k]), "pos": pos, "product_id": p.id[:512],
                         "brand": (p.brand or "")[:512], "category": "/".join(p.category)[:1024],
                         "price": -1.0 if p.price is None else float(p.price),
                         "stock": -1 if p.stock is None else int(p.stock), "vector": vectors[k].tolist()})
        for start in range(0, len(rows), batch):
            self.client.upsert(self.collection, rows[start:start + batch], partition_name=self.partition)
        self._note_write()

    def delete_positions(self, positions: Sequence[int]) -> None:
        if len(positions):
            self.client.delete(self.collection, filter=f"pos in {[int(p) for p in positions]}",
                               partition_name=self.partition)
            self._note_write()

    def delete_from(self, first: int) -> None:
        """Delete every vector at positions >= ``first`` (left by a writer that crashed before its
        change was committed)."""
        self.client.delete(self.collection, filter=f"pos >= {int(first)}", partition_name=self.partition)
        self._note_write()

    def _note_write(self) -> None:
        from pymilvus.client import ts_utils  # type: ignore[import-untyped]

        try:
            conn = self.client._get_connection()
            ts = ts_utils.get_collection_ts(self.collection, conn.server_address, "") or 0
        except Exception:  # internal API; fall back to strong reads
            logger.debug("no Milvus write timestamp available; reads after this write are strong")
            ts = -1
        self.observe(ts)

    def observe(self, ts: int) -> None:
        """Make later searches see every write up to Milvus timestamp ``ts`` (-1: strong)."""
        with self._lock:
            if ts < 0 or self.guarantee_ts < 0:
                self.guarantee_ts = -1
            else:
                self.guarantee_ts = max(self.guarantee_ts, int(ts))

    # -- reads -------------------------------------------------------------------------------
    def _consistency(self) -> dict[str, Any]:
        ts = self.guarantee_ts
        if ts < 0:
            return {"consistency_level": "Strong"}
        if ts == 0:
            return {"consistency_level": "Eventually"}
        return {"consistency_level": "Customized", "guarantee_timestamp": ts}

    def search(self, query: np.ndarray, limit: int, expr: str = "", ef: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Nearest vectors to ``query`` (d,) among those matching the Milvus filter ``expr``:
        (positions int64, scores float32), best first. ``ef``: HNSW search breadth (at least
        ``ef_search`` and ``limit``)."""
        limit = min(int(limit), MAX_TOPK)
        ef = min(MAX_TOPK, max(self.ef_search, limit, int(ef)))
        res = self.client.search(
            self.collection, data=[np.asarray(query, dtype=np.float32).tolist()], limit=limit, filter=expr,
            partition_names=[self.partition], output_fields=["pos"], anns_field="vector",
            search_params={"metric_type": "IP", "params": {"ef": ef}}, **self._consistency())
        hits = res[0] if res else []
        pos = np.fromiter((h["entity"]["pos"] for h in hits), dtype=np.int64, count=len(hits))
        scores = np.fromiter((h["distance"] for h in hits), dtype=np.float32, count=len(hits))
        # equal scores (duplicate products have identical vectors) in position order, as FAISS
        # and the exact scan order them, so both backends rank ties alike
        order = np.lexsort((pos, -scores))
        return pos[order], scores[order]

    def vectors_at(self, positions: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(positions (m,), vectors float32 (m, d)) of every vector owned by ``positions``."""
        want = [int(p) for p in positions]
        if not want:
            return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
        contiguous = want == list(range(want[0], want[0] + len(want)))
        expr = f"pos >= {want[0]} and pos < {want[-1] + 1}" if contiguous else f"pos in {want}"
        rows = self.client.query(self.collection, filter=expr, output_fields=["pk", "pos", "vector"],
                                 partition_names=[self.partition], **self._consistency())
        rows = sorted(rows, key=lambda r: r["pk"])
        if not rows:
            return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
        return (np.asarray([r["pos"] for r in rows], dtype=np.int64),
                np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), self.dim))

    def all_vectors(self, n_positions: int, step: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Every vector of positions < ``n_positions``, read in position ranges (each within
        Milvus' query result window): (positions (m,), vectors float32 (m, d))."""
        rows: list[np.ndarray] = []
        vecs: list[np.ndarray] = []
        for start in range(0, n_positions, step):
            r, v = self.vectors_at(range(start, min(start + step, n_positions)))
            rows.append(r)
            vecs.append(v)
        if not rows:
            return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
        return np.concatenate(rows), np.concatenate(vecs)

    def count(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"],
                                 partition_names=[self.partition], consistency_level="Strong")
        return int(rows[0]["count(*)"]) if rows else 0


def _vector_dim(description: dict[str, Any]) -> int | None:
    for f in description.get("fields", []):
        if f.get("name") == "vector":
            dim = f.get("params", {}).get("dim")
            return int(dim) if dim is not None else None
    return None


class MilvusDenseIndex:
    """A Milvus collection behind the :class:`~shopsearch.index.dense.DenseIndex` interface
    (``search``, ``rescore``, ``vectors_of``, ``append``), so the Engine searches it unchanged.

    ``allowed`` masks become Milvus filter expressions on ``pos`` (the shorter of the allowed
    or the excluded live positions), so a filtered search is exact about the filter and never
    returns fewer than k hits when k matching products exist. ``product_at`` and ``alive`` are
    bound to the engine that owns the adapter (:func:`bind`). Vector hits become product scores
    by the rules FAISS uses (:mod:`shopsearch.index.aggregate`).
    """

    kind = "hnsw"

    def __init__(self, store: MilvusVectors, n_products: int, params: DenseParams = DenseParams(),
                 vectors_per_product: float = 1.0) -> None:
        self.store = store
        self.n_products = n_products
        self.params = params
        self.dim = store.dim
        self.per_product = max(1.0, float(vectors_per_product))
        self._product_at: Callable[[int], Product] | None = None
        self._alive: Callable[[], np.ndarray] | None = None
        self._cache: tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None

    def bind(self, product_at: Callable[[int], Product], alive: Callable[[], np.ndarray]) -> None:
        self._product_at, self._alive = product_at, alive

    @property
    def vectors(self) -> np.ndarray:
        """All vectors, float32 (m, d), read from Milvus and cached until the next change: for
        callers that need every product's vector in memory (personalisation profiles, stats).
        ``rows`` are their positions."""
        return self._materialised()[1]

    @property
    def rows(self) -> np.ndarray:
        return self._materialised()[0]

    def _materialised(self) -> tuple[np.ndarray, np.ndarray]:
        key = (self.n_products, self.store.guarantee_ts)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.store.all_vectors(self.n_products))
        return self._cache[1]

    @property
    def memory_bytes(self) -> int:
        return 0  # held by Milvus, not by this process

    def _expr(self, allowed: np.ndarray | None) -> str | None:
        """Milvus filter for ``allowed`` (None: nothing is allowed)."""
        n = self.n_products
        if allowed is None:
            return f"pos < {n}"
        ok = np.flatnonzero(allowed[:n])
        if not len(ok):
            return None
        alive = self._alive() if self._alive is not None else np.ones(n, bool)
        bad = np.flatnonzero(~allowed[:n] & alive[:n])
        if not len(bad):
            return f"pos < {n}"
        if len(ok) <= len(bad) or len(bad) > _EXPR_LIST_LIMIT:
            return f"pos in {ok.tolist()}"
        return f"pos < {n} and pos not in {bad.tolist()}"

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               aggregation: str = "max") -> ProductHits:
        """Top-``k`` products for one query vector (d,): (positions int64, scores float32)."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise ValueError(f"query vector has dim {q.shape[0]}, index has {self.dim}")
        if k <= 0 or self.n_products == 0:
            return no_hits()
        if aggregation == "mean":
            return self._search_mean(q, k, allowed)
        if aggregation != "max":
            raise ValueError(f"aggregation must be max or mean, got {aggregation!r}")
        alive = self._alive() if self._alive is not None else None
        want = overfetch(k, self.per_product, MAX_TOPK)
        share = 1.0
        if allowed is not None:
            share = float(np.count_nonzero(allowed[:self.n_products])) / max(self.n_products, 1)
            if share == 0:
                return no_hits()
            if share >= POST_FILTER_SHARE:
                # A broad filter: over-fetch without a filter and drop what it excludes (a long
                # position list costs Milvus more to parse than the extra candidates); when too few
                # survive, fall back to the exact filtered search below.
                over = min(MAX_TOPK, int(np.ceil(want / share * 1.5)) + k)
                pos, scores = self.store.search(q, over, f"pos < {self.n_products}")
                keep = (pos < len(allowed)) & allowed[np.minimum(pos, len(allowed) - 1)]
                hits = best_per_product(pos[keep], scores[keep], k)
                if len(hits.positions) >= k:
                    return hits
        expr = self._expr(allowed)
        if expr is None:
            return no_hits()
        # HNSW under a selective filter walks many excluded nodes: widen the search by the share
        # of products the filter excludes (measured in benchmarks/scale_vectors.py)
        ef = int(self.store.ef_search / max(share, 1e-3))

        def fetch(wanted: int) -> tuple[ProductHits, bool]:
            pos, scores = self.store.search(q, wanted, expr, ef)
            keep = pos < self.n_products
            if allowed is not None:
                keep &= allowed[np.minimum(pos, len(allowed) - 1)] & (pos < len(allowed))
            elif alive is not None:
                keep &= alive[np.minimum(pos, len(alive) - 1)] & (pos < len(alive))
            return best_per_product(pos[keep], scores[keep], k), len(pos) < wanted  # fewer: nothing more

        return fetch_products(fetch, k, want, MAX_TOPK)

    def _search_mean(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> ProductHits:
        candidates, _ = self.search(q, 4 * k, allowed)
        rows, vecs = self.store.vectors_at(candidates)
        return mean_per_product(rows, vecs @ q, k)

    def rescore(self, query: np.ndarray, positions: np.ndarray, fn: Any) -> ProductHits:
        if len(positions) == 0:
            return ProductHits(positions, np.empty(0, np.float32))
        rows, vecs = self.store.vectors_at(positions)
        return rescore_products(positions, rows, fn(query, vecs) if len(rows) else np.empty(0))

    def vectors_of(self, position: int) -> np.ndarray:
        return self.store.vectors_at([position])[1]

    def append(self, vectors: np.ndarray, rows: np.ndarray, n_products: int) -> None:
        """Write-through: upsert vectors owned by positions ``rows`` into Milvus."""
        if self._product_at is None:
            raise RuntimeError("MilvusDenseIndex.append needs bind() to an engine first")
        self.store.write(vectors, np.asarray(rows, dtype=np.int64), self._product_at)
        self.n_products = n_products
