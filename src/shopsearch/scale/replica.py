"""Stateless service replicas over PostgreSQL + Milvus.

A replica loads a snapshot of the products (PostgreSQL, one repeatable-read transaction) and
wraps the Milvus collections in :class:`~shopsearch.scale.milvus.MilvusDenseIndex` adapters;
the lexical index is rebuilt from the products. Searching is the :class:`Engine`'s own code:
the replica is an ordinary engine whose write path (:class:`ReplicaUpdates`, the engine's
:class:`~shopsearch.retrieve.live.Updates` component) is the PostgreSQL change log.

A write embeds what changed like any engine (:func:`~shopsearch.retrieve.live.prepare_upsert`),
then locks the version's head row, first applies every change other replicas committed since
this replica's last one (so positions stay identical everywhere), writes the vectors to Milvus,
appends the change and updates the product table in the same transaction, and applies it
locally. Every replica polls the log every ``StoreConfig.sync_interval`` seconds, so a write
through one replica is visible through another within about ``sync_interval`` plus one Milvus
time tick (measured in tests/scale).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.index.dense import VectorIndex
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import IndexFormatError, Manifest
from shopsearch.index.wal import decode_array
from shopsearch.preprocess.text import lexical_text
from shopsearch.retrieve.encoders import EncoderSet
from shopsearch.retrieve.engine import Engine
from shopsearch.retrieve.live import prepare_upsert
from shopsearch.retrieve.loading import dense_roles, manifest_dense_params, read_index_manifest
from shopsearch.retrieve.state import CatalogState, LiveCatalog
from shopsearch.scale.config import StoreConfig
from shopsearch.scale.milvus import MilvusDenseIndex, MilvusVectors
from shopsearch.scale.postgres import PostgresStore
from shopsearch.types import Product

logger = logging.getLogger(__name__)


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


class ReplicaUpdates:
    """The write path of a replica (see the module doc): PostgreSQL orders and keeps the
    changes, Milvus the vectors; a background thread follows the other replicas' changes.

    ``applied_seq``: the last change-log sequence number applied here."""

    def __init__(self, catalog: LiveCatalog, encoders: EncoderSet, store: PostgresStore,
                 vector_stores: dict[str, MilvusVectors], applied_seq: int, sync_interval: float) -> None:
        self.catalog = catalog
        self.encoders = encoders
        self.store = store
        self.vector_stores = vector_stores
        self.applied_seq = applied_seq
        self._stop = threading.Event()
        self._sync_error: BaseException | None = None
        self._syncer = threading.Thread(target=self._sync_loop, args=(sync_interval,), daemon=True,
                                        name="shopsearch-replica-sync")
        self._syncer.start()

    # -- following other replicas -----------------------------------------------------------
    def refresh(self) -> None:
        """Nothing per search: the background thread follows the change log (:meth:`sync`)."""
        return None

    def sync(self) -> int:
        """Apply changes other replicas committed since the last one applied; returns how many."""
        with self.catalog.update_lock:
            pending = self.store.changes_since(self.applied_seq)
            if pending:
                self._apply_pending(pending)
        return len(pending)

    def _apply_pending(self, pending: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Apply committed changes in order (caller holds the update lock)."""
        with self.catalog.writing():
            for seq, record in pending:
                self._apply_change(record)
                self.applied_seq = seq

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
        """Apply one committed change (caller holds the update and write locks). Its vectors are
        in Milvus already; the record carries the Milvus timestamp searches must wait for."""
        ts = int(record.get("milvus_ts", 0))
        if ts:
            for v in self.vector_stores.values():
                v.observe(ts)
        try:
            self.catalog.state.apply(record)
        except ValueError as exc:
            raise ValueError(f"postgresql change log of {self.store.namespace}/{self.store.version}: {exc}") from None

    # -- writing ----------------------------------------------------------------------------
    def upsert(self, products: Sequence[Product]) -> dict[str, int]:
        batch = prepare_upsert(self.catalog.state, self.encoders, products)
        with self.catalog.update_lock:
            for record in batch.records:
                self._commit(record)
        return batch.counts

    def delete(self, ids: Sequence[str]) -> int:
        with self.catalog.update_lock:
            known = [i for i in dict.fromkeys(ids) if i in self.catalog.state.positions]
            if known:
                self._commit({"op": "delete", "ids": known})
        return len(known)

    def _commit(self, record: dict[str, Any]) -> None:
        """Order, persist and apply one change (called with the update lock held)."""
        op = record["op"]
        change = {k: v for k, v in record.items() if k != "vectors"}
        retired: list[int] = []
        with self.store.transaction() as conn:
            next_pos, last_seq = self.store.lock_head(conn)
            pending = self.store.changes_since(self.applied_seq, conn)
            if pending:
                self._apply_pending(pending)
            state = self.catalog.state
            if len(state.products) != next_pos or self.applied_seq != last_seq:
                raise RuntimeError(f"replica out of step with PostgreSQL: {len(state.products)} positions here, "
                                   f"{next_pos} there (seq {self.applied_seq} vs {last_seq}); reload the engine")
            if op == "upsert":
                products = [Product.from_dict(d) for d in record["products"]]
                retired = [state.positions[p.id] for p in products if p.id in state.positions]
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
                retired = [state.positions[i] for i in record["ids"] if i in state.positions]
            seq = self.store.write_change(conn, change, next_pos, last_seq)
        self._apply_pending([(seq, change)])
        if retired:  # after the commit: a crash here leaves vectors that searches filter out
            for v in self.vector_stores.values():
                try:
                    v.delete_positions(retired)
                except Exception:
                    logger.warning("could not delete %d retired positions from Milvus %s", len(retired),
                                   v.collection, exc_info=True)

    def compact(self) -> str:
        raise NotImplementedError(
            "compact() folds a local write-ahead log into a new index version; a PostgreSQL + Milvus index has "
            "no local log (its change log is the product table's history). Rebuild with `shopsearch index` to "
            "reclaim retired positions.")


def load_replica(
    index_dir: Path, version_dir: Path, manifest: Manifest, config: SearchConfig = SearchConfig(),
    encoders: Mapping[str, Any] | None = None, stores: StoreConfig | None = None,
) -> Engine:
    """Open an index whose products are in PostgreSQL and vectors in Milvus (see the module doc):
    an :class:`Engine` whose ``updates`` is a :class:`ReplicaUpdates`.

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
    params = manifest_dense_params(manifest)
    milvus = {role: MilvusDenseIndex(v, len(products), params, vectors_per_product(manifest, role))
              for role, v in vector_stores.items()}
    dense: dict[str, VectorIndex] = dict(milvus)
    text_fields = tuple(f for f in manifest.fields if f != "image")
    lexical = LexicalIndex.build([lexical_text(p, text_fields) for p in products]) if text_fields else None
    state = CatalogState.create(manifest, products, dense, lexical, shopper_words=config.shopper_words,
                                alive=alive, version_dir=version_dir)
    catalog = LiveCatalog(state)
    for index in milvus.values():
        index.bind(lambda pos: catalog.state.products[pos], lambda: catalog.state.alive)
    encoder_set = EncoderSet(manifest, encoders, config.query_cache_size, config.text_threads)
    updates = ReplicaUpdates(catalog, encoder_set, store, vector_stores, seq, stores.sync_interval)
    engine = Engine(catalog, config, encoder_set, updates, Path(index_dir))
    logger.info("loaded replica of %s/%s (%d products, change seq %d, signals: %s)", stores.namespace, version,
                engine.size, seq, ", ".join(sorted(dense)) + (", lexical" if lexical else ""))
    return engine


def open_replica(index_dir: str | Path, config: SearchConfig = SearchConfig(), *, verify: bool = True,
                 encoders: Mapping[str, Any] | None = None) -> Engine:
    """:func:`load_replica` for the live version of ``index_dir``, its manifest verified and its
    registry encoders checked first (what :func:`shopsearch.load` calls)."""
    from shopsearch.index.manifest import resolve_version

    index_dir = Path(index_dir)
    version = resolve_version(index_dir)
    manifest = read_index_manifest(index_dir, version, verify=verify, encoders=encoders)
    return load_replica(index_dir, version, manifest, config, encoders)
