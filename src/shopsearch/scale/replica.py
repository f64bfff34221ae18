"""Stateless service replicas over PostgreSQL + Milvus.

A replica loads a snapshot of the products (PostgreSQL, one repeatable-read transaction) and
wraps the Milvus collections in :class:`~shopsearch.scale.milvus.MilvusDenseIndex` adapters;
the lexical index is rebuilt from the products. Searching is the :class:`Engine`'s own code.

Writes go through the Engine's own ``upsert``/``delete`` (embedding, validation, counts), but
its write-ahead log is the PostgreSQL change log: a write locks the version's head row, first
applies every change other replicas committed since this replica's last one (so positions stay
identical everywhere), writes the vectors to Milvus, appends the change and updates the product
table in the same transaction, and applies it locally. Every replica polls the log every
``StoreConfig.sync_interval`` seconds, so a write through one replica is visible through another
within about ``sync_interval`` plus one Milvus time tick (measured in tests/scale).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.index.builder import FIELD_ROLE_PREFIX
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import IndexFormatError, Manifest
from shopsearch.index.wal import decode_array
from shopsearch.preprocess.text import lexical_text
from shopsearch.retrieve.engine import Engine, _dense_params
from shopsearch.retrieve.live import LiveUpdates
from shopsearch.scale.config import StoreConfig
from shopsearch.scale.milvus import MilvusDenseIndex, MilvusVectors
from shopsearch.scale.postgres import PostgresStore
from shopsearch.types import Product

logger = logging.getLogger(__name__)

DENSE_ROLES = ("text", "image", "joint", "zeroshot")


def dense_roles(manifest: Manifest) -> list[str]:
    return [r for r in manifest.encoders if r in DENSE_ROLES or r.startswith(FIELD_ROLE_PREFIX)]


def vectors_per_product(manifest: Manifest, role: str) -> float:
    """Average vectors per product of ``role`` (photos per product for image roles)."""
    n = max(int(manifest.counts.get("products", 0)), 1)
    if role in ("image", "joint", "zeroshot"):
        return max(1.0, int(manifest.counts.get("images", n)) / n)
    return 1.0


def open_vectors(stores: StoreConfig, manifest: Manifest, version: str) -> dict[str, MilvusVectors]:
    out = {}
    for role in dense_roles(manifest):
        out[role] = MilvusVectors(stores.uri(), stores.namespace, role, manifest.encoders[role].dim, version,
                                  hnsw_m=stores.hnsw_m, ef_construction=stores.ef_construction,
                                  ef_search=stores.ef_search)
    return out


class _ChangeLog:
    """The Engine's write-ahead log, replaced by the PostgreSQL change log."""

    def __init__(self, engine: ReplicaEngine) -> None:
        self.engine = engine
        self.path = f"postgresql change log of {engine.store.namespace}/{engine.store.version}"

    def append(self, record: dict[str, Any]) -> None:
        self.engine._commit_change(record)


class ReplicaEngine(Engine):
    """An :class:`Engine` whose products live in PostgreSQL and vectors in Milvus."""

    store: PostgresStore
    vector_stores: dict[str, MilvusVectors]

    def _attach(self, store: PostgresStore, vector_stores: dict[str, MilvusVectors], alive: list[bool],
                applied_seq: int, sync_interval: float) -> None:
        self.store, self.vector_stores = store, vector_stores
        self.alive = np.asarray(alive, dtype=bool)
        self._positions = {p.id: i for i, p in enumerate(self.products) if self.alive[i]}
        self.applied_seq = applied_seq
        self._log = _ChangeLog(self)
        for index in self.dense.values():
            if isinstance(index, MilvusDenseIndex):
                index.bind(lambda pos: self.products[pos], lambda: self.alive)
        self._stop = threading.Event()
        self._sync_error: BaseException | None = None
        self._syncer = threading.Thread(target=self._sync_loop, args=(sync_interval,), daemon=True,
                                        name="shopsearch-replica-sync")
        self._syncer.start()

    @property
    def _wal(self) -> Any:  # type: ignore[override]
        return self._log

    # The embedded engine's multi-process machinery (a local log file, the CURRENT pointer) does
    # not apply: replicas follow PostgreSQL in their background thread (``sync``), and a write
    # applies the pending changes itself under PostgreSQL's lock (``_commit_change``).
    def refresh(self) -> None:
        return None

    def _sync_locked(self) -> None:
        return None

    # -- following other replicas -----------------------------------------------------------
    def sync(self) -> int:
        """Apply changes other replicas committed since the last one applied; returns how many."""
        with self._update_lock:
            pending = self.store.changes_since(self.applied_seq)
            if pending:
                with self._rw.write():
                    for seq, record in pending:
                        self._apply_change(record)
                        self.applied_seq = seq
        return len(pending)

    def _sync_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sync()
                self._sync_error = None
            except Exception as exc:  # keep serving; log once per failure streak
                if self._sync_error is None:
                    logger.exception("replica sync failed (will retry every %.1fs)", interval)
                self._sync_error = exc

    def close(self) -> None:
        """Stop following the change log and close the connection pool."""
        self._stop.set()
        self._syncer.join(timeout=10)
        self.store.close()

    def _apply_change(self, record: dict[str, Any]) -> None:
        """Apply one committed change (caller holds the update and write locks)."""
        ts = int(record.get("milvus_ts", 0))
        if ts:
            for v in self.vector_stores.values():
                v.observe(ts)
        op = record.get("op")
        if op == "upsert":
            LiveUpdates._apply_upsert(self, record)
        elif op == "meta":
            LiveUpdates._apply_meta(self, [Product.from_dict(d) for d in record["products"]])
        elif op == "delete":
            LiveUpdates._apply_delete(self, record["ids"])
        else:
            raise ValueError(f"{self._log.path}: unknown change record {op!r}")

    # -- writing ----------------------------------------------------------------------------
    def _commit_change(self, record: dict[str, Any]) -> None:
        """Order, persist and apply one change (called with the update lock held)."""
        op = record["op"]
        change = {k: v for k, v in record.items() if k != "vectors"}
        retired: list[int] = []
        with self.store.transaction() as conn:
            next_pos, last_seq = self.store.lock_head(conn)
            pending = self.store.changes_since(self.applied_seq, conn)
            if pending:
                with self._rw.write():
                    for seq, rec in pending:
                        self._apply_change(rec)
                        self.applied_seq = seq
            if len(self.products) != next_pos or self.applied_seq != last_seq:
                raise RuntimeError(f"replica out of step with PostgreSQL: {len(self.products)} positions here, "
                                   f"{next_pos} there (seq {self.applied_seq} vs {last_seq}); reload the engine")
            if op == "upsert":
                products = [Product.from_dict(d) for d in record["products"]]
                retired = [self._positions[p.id] for p in products if p.id in self._positions]
                for v in self.vector_stores.values():
                    v.delete_from(next_pos)  # vectors of a writer that crashed before committing
                def product_at(pos: int, base: int = next_pos, batch: list[Product] = products) -> Product:
                    return batch[pos - base]

                for role, data in record.get("vectors", {}).items():
                    if role in self.vector_stores:
                        rows = np.asarray(data["rows"], dtype=np.int64) + next_pos
                        self.vector_stores[role].write(decode_array(data["data"]), rows, product_at)
                change["milvus_ts"] = max([v.guarantee_ts for v in self.vector_stores.values()] + [0])
            elif op == "delete":
                retired = [self._positions[i] for i in record["ids"] if i in self._positions]
            seq = self.store.write_change(conn, change, next_pos, last_seq)
        with self._rw.write():
            self._apply_change(change)
            self.applied_seq = seq
        if retired:  # after the commit: a crash here leaves vectors that searches filter out
            for v in self.vector_stores.values():
                try:
                    v.delete_positions(retired)
                except Exception:
                    logger.warning("could not delete %d retired positions from Milvus %s", len(retired),
                                   v.collection, exc_info=True)

    # The Engine's write path (``upsert``/``delete``) appends a change to the log and then applies
    # it. Here appending already applied it, in log order (``_commit_change``), and changes from
    # other replicas are applied by ``_apply_change``, not through these methods: so the Engine's
    # own apply step has nothing left to do.
    def _apply_upsert(self, record: dict[str, Any]) -> None:
        pass

    def _apply_meta(self, products: Any) -> None:
        pass

    def _apply_delete(self, ids: Any) -> None:
        pass

    def compact(self) -> str:
        raise NotImplementedError(
            "compact() folds a local write-ahead log into a new index version; a PostgreSQL + Milvus index has "
            "no local log (its change log is the product table's history). Rebuild with `shopsearch index` to "
            "reclaim retired positions.")


def load_replica(
    index_dir: Path, version_dir: Path, manifest: Manifest, config: SearchConfig = SearchConfig(),
    encoders: Mapping[str, Any] | None = None, stores: StoreConfig | None = None,
) -> ReplicaEngine:
    """Open an index whose products are in PostgreSQL and vectors in Milvus (see the module doc).

    ``stores`` overrides the connection settings recorded in the manifest (which
    ``$SHOPSEARCH_POSTGRES_DSN`` and ``$SHOPSEARCH_MILVUS_URI`` also override).
    """
    recorded = manifest.settings.get("stores") or {}
    stores = stores or StoreConfig.from_manifest(recorded)
    version = version_dir.name
    store = PostgresStore(stores.dsn(), stores.namespace, version, stores.pool_size)
    try:
        products, alive, seq = store.snapshot()
    except LookupError as exc:
        store.close()
        raise IndexFormatError(f"index {index_dir}: {exc}") from None
    vector_stores = open_vectors(stores, manifest, version)
    written = store.vector_write_ts()
    for v in vector_stores.values():
        v.ensure()
        v.observe(written)
    params = _dense_params(manifest)
    dense: dict[str, Any] = {
        role: MilvusDenseIndex(v, len(products), params, vectors_per_product(manifest, role))
        for role, v in vector_stores.items()
    }
    text_fields = tuple(f for f in manifest.fields if f != "image")
    lexical = LexicalIndex.build([lexical_text(p, text_fields) for p in products]) if text_fields else None
    engine = ReplicaEngine(manifest, products, dense, lexical, config, encoders, Path(index_dir), version_dir)
    engine._attach(store, vector_stores, alive, seq, stores.sync_interval)
    logger.info("loaded replica of %s/%s (%d products, change seq %d, signals: %s)", stores.namespace, version,
                engine.size, seq, ", ".join(sorted(dense)) + (", lexical" if lexical else ""))
    return engine
