"""Live updates of a loaded index: upsert, delete, compact, all crash-safe.

The engine takes its write path as a component, :class:`Updates` (a protocol): this module's
:class:`LocalUpdates` keeps changes in the version's write-ahead log file;
:class:`shopsearch.scale.replica.ReplicaUpdates` keeps them in PostgreSQL's change log and
Milvus. Both share the steps here: :func:`prepare_upsert` embeds only what changed (outside any
lock), and the change records apply to the catalogue through
:meth:`~shopsearch.retrieve.state.CatalogState.apply` under the
:class:`~shopsearch.retrieve.state.LiveCatalog`'s write lock.

With :class:`LocalUpdates` an update is embedded first, then written to the version's log
(fsync), then applied in memory under the write lock: new or re-embedded products get new
positions and the old position is retired, so a concurrent search sees either the old or the new
product. Metadata-only changes (price, stock, any field that is not indexed text or an image)
replace the product object in place with no model call. ``compact()`` folds everything into a
fresh index version.

Several processes may serve and update one index directory (service workers, a shell running
``shopsearch upsert`` or ``compact``): writes and compactions take an exclusive file lock
(:func:`~shopsearch.index.wal.index_write_lock`) and first apply what the other processes
appended, and every search first picks up new log records and a new live version
(:meth:`LocalUpdates.refresh`, one ``stat`` when nothing changed), so a write through one process
is visible through every other on its next search.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.encode.cache import EmbeddingCache
from shopsearch.index.builder import (
    FIELD_ROLE_PREFIX,
    REJECTS_NAME,
    WAL_SUFFIX,
    encode_products,
    publish_version,
    write_version,
)
from shopsearch.index.manifest import CURRENT_NAME, resolve_version
from shopsearch.index.wal import WriteAheadLog, encode_array, index_write_lock
from shopsearch.preprocess.text import product_text
from shopsearch.retrieve.encoders import EncoderSet
from shopsearch.retrieve.loading import manifest_dense_params, open_version, read_index_manifest
from shopsearch.retrieve.state import CatalogState, LiveCatalog
from shopsearch.types import Product

logger = logging.getLogger(__name__)

NOT_FROM_A_DIRECTORY = "this engine was not loaded from an index directory; it cannot take updates"


class Updates(Protocol):
    """An engine's write path: durable changes, and other writers' changes seen."""

    def upsert(self, products: Sequence[Product]) -> dict[str, int]:
        """Add or replace products; durable on return. Counts: added, replaced, metadata."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Delete products by id (unknown ids ignored); returns how many were deleted."""
        ...

    def refresh(self) -> None:
        """Apply what other writers changed (called before every search; cheap when nothing did)."""
        ...

    def compact(self) -> str:
        """Fold the changes into a new index version; returns its name."""
        ...

    def close(self) -> None:
        """Release background threads and connections."""
        ...


class NoUpdates:
    """The write path of an engine built in memory: reading only."""

    def upsert(self, products: Sequence[Product]) -> dict[str, int]:
        raise RuntimeError(NOT_FROM_A_DIRECTORY)

    def delete(self, ids: Sequence[str]) -> int:
        raise RuntimeError(NOT_FROM_A_DIRECTORY)

    def refresh(self) -> None:
        return None

    def compact(self) -> str:
        raise RuntimeError("this engine was not loaded from an index directory")

    def close(self) -> None:
        return None


# -- shared by every write path ------------------------------------------------------------------
@dataclass(frozen=True)
class UpsertBatch:
    """One upsert call, ready to make durable: ``records`` (an ``upsert`` record with the new
    vectors when some product is new or re-embedded, then a ``meta`` record when some product
    only changed metadata) and the counts to return."""

    records: tuple[dict[str, Any], ...]
    counts: dict[str, int]


def prepare_upsert(state: CatalogState, encoders: EncoderSet, products: Sequence[Product],
                   cache: EmbeddingCache | None = None) -> UpsertBatch:
    """Split ``products`` into metadata-only changes and ones to embed, and embed those (no
    lock needed: reads ``state`` only). ``ValueError`` on duplicate ids in one batch."""
    products = list(products)
    ids = [p.id for p in products]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"upsert: duplicate ids in one batch: {', '.join(dup)}")
    fields = state.text_fields
    meta_only: list[Product] = []
    embed: list[Product] = []
    for p in products:
        old = state.product(p.id)
        same = old is not None and old.images == p.images and (
            not fields or product_text(old, fields) == product_text(p, fields))
        (meta_only if same else embed).append(p)
    records: list[dict[str, Any]] = []
    if embed:
        record: dict[str, Any] = {"op": "upsert", "products": [p.to_dict() for p in embed]}
        record["vectors"] = {role: {"rows": rows.tolist(), "data": encode_array(vecs)}
                             for role, (vecs, rows) in embed_changed(state, encoders, embed, cache).items()}
        records.append(record)
    if meta_only:
        records.append({"op": "meta", "products": [p.to_dict() for p in meta_only]})
    replaced = len([p for p in embed if p.id in state.positions])
    return UpsertBatch(tuple(records), {"added": len(embed) - replaced, "replaced": replaced,
                                        "metadata": len(meta_only)})


def embed_changed(state: CatalogState, encoders: EncoderSet, products: list[Product],
                  cache: EmbeddingCache | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Vectors by role (float32 (m, d), batch-local rows int64 (m,)) for ``products``. Only what
    changed is embedded: a product whose images are unchanged keeps its stored image and joint
    vectors."""
    fields = state.text_fields
    with_images = "image" in state.manifest.fields
    image_roles = [r for r in ("image", "joint", "zeroshot") if r in state.dense]
    keep: dict[int, int] = {}  # batch row -> old position whose image vectors stay valid
    for i, p in enumerate(products):
        pos = state.positions.get(p.id)
        if with_images and pos is not None and state.products[pos].images == p.images:
            keep[i] = pos
    fresh = [i for i in range(len(products)) if i not in keep]
    roles = {role: encoders.get(role) for role in state.manifest.encoders}
    text_roles = {r: e for r, e in roles.items() if r == "text" or r.startswith(FIELD_ROLE_PREFIX)}
    out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def add(vectors: Mapping[str, tuple[np.ndarray, np.ndarray]], batch_rows: list[int]) -> None:
        for role, (vecs, rows) in vectors.items():
            parts = out.setdefault(role, ([], []))
            parts[0].append(vecs)
            parts[1].append(np.asarray(batch_rows, dtype=np.int64)[rows] if len(rows) else rows)

    if fresh:
        pv = encode_products([products[i] for i in fresh], fields, with_images, roles, cache)
        add(pv.vectors, fresh)
    if keep:
        kept = list(keep)
        pv = encode_products([products[i] for i in kept], fields, False, text_roles, cache)
        add(pv.vectors, kept)
        for role in image_roles:
            for i in kept:
                old = state.dense[role].vectors_of(keep[i])
                add({role: (old, np.zeros(len(old), dtype=np.int64))}, [i])
    return {role: (np.concatenate(v) if v else np.empty((0, state.dense[role].dim), np.float32),
                   np.concatenate(r) if r else np.empty(0, np.int64))
            for role, (v, r) in out.items()}


# -- the local write-ahead log ---------------------------------------------------------------------
class LocalUpdates:
    """Updates of a local index directory through its versions' write-ahead logs (see the
    module docstring). ``catalog`` and ``encoders`` are the engine's own."""

    def __init__(self, catalog: LiveCatalog, encoders: EncoderSet, index_dir: Path,
                 config: SearchConfig = SearchConfig(), cache: EmbeddingCache | None = None) -> None:
        self.catalog = catalog
        self.encoders = encoders
        self.index_dir = Path(index_dir)
        self.config = config
        self.cache = cache
        self._wal_offset = 0  # bytes of this version's log applied in memory (exactly those read)
        self._pointer_stamp: tuple[int, int] = (0, 0)  # INDEX_DIR/CURRENT as seen before it was last read

    @classmethod
    def open(cls, index_dir: str | Path, config: SearchConfig = SearchConfig(), *, verify: bool = True,
             encoders: Mapping[str, Any] | None = None) -> LocalUpdates:
        """Read the live version of ``index_dir`` and replay its log: the catalogue, the encoders
        and this write path, ready for an engine (:meth:`shopsearch.retrieve.engine.Engine.load`)."""
        index_dir = Path(index_dir)
        stamp = pointer_stamp(index_dir)  # before CURRENT is read: a later switch is noticed
        version = resolve_version(index_dir)
        manifest = read_index_manifest(index_dir, version, verify=verify, encoders=encoders)
        state = open_version(index_dir, version, manifest, config)
        encoder_set = EncoderSet(manifest, encoders, config.query_cache_size, config.text_threads)
        updates = cls(LiveCatalog(state), encoder_set, index_dir, config)
        updates._wal_offset = updates._replay(state)
        updates._pointer_stamp = stamp
        return updates

    def _wal_of(self, state: CatalogState) -> WriteAheadLog:
        assert state.version_dir is not None
        return WriteAheadLog(self.index_dir / f"{state.version_dir.name}{WAL_SUFFIX}")

    @property
    def _wal(self) -> WriteAheadLog:
        return self._wal_of(self.catalog.state)

    def _apply_record(self, state: CatalogState, record: dict[str, Any]) -> None:
        """Apply one log record to ``state`` (the caller holds the write lock, or ``state`` is
        not shared yet)."""
        try:
            state.apply(record)
        except ValueError as exc:
            raise ValueError(f"{self._wal_of(state).path}: {exc}") from None

    def _replay(self, state: CatalogState) -> int:
        """Apply ``state``'s version log to it (not shared yet); returns the end of the bytes
        actually read, so a record another process appends meanwhile is picked up by the next
        catch-up (never skipped); a torn tail is left for a writer to cut under the write lock."""
        wal = self._wal_of(state)
        records, end = wal.read_from(0)
        for record in records:
            self._apply_record(state, record)
        if records:
            logger.info("replayed %d updates from %s", len(records), wal.path.name)
        return end

    # -- writing ------------------------------------------------------------------------------------
    def upsert(self, products: Sequence[Product]) -> dict[str, int]:
        products = list(products)
        state = self.catalog.state
        seen = [state.product(p.id) for p in products]
        batch = prepare_upsert(state, self.encoders, products, self.cache)
        with self.catalog.update_lock, index_write_lock(self.index_dir):  # log order == apply order
            self._sync_locked()
            now = self.catalog.state
            if now is not state or any(now.product(p.id) is not old for p, old in zip(products, seen)):
                # another writer changed one of these products (or compacted) since they were
                # read: decide "metadata only or re-embed", and which stored vectors stay valid,
                # against what is there now, or the product's text and vectors could disagree
                batch = prepare_upsert(now, self.encoders, products, self.cache)
            wal = self._wal
            for record in batch.records:
                self._wal_offset = wal.append(record)
            with self.catalog.writing():
                for record in batch.records:
                    self.catalog.state.apply(record)
        return batch.counts

    def delete(self, ids: Sequence[str]) -> int:
        with self.catalog.update_lock, index_write_lock(self.index_dir):
            self._sync_locked()
            known = [i for i in dict.fromkeys(ids) if i in self.catalog.state.positions]
            if known:
                record = {"op": "delete", "ids": known}
                self._wal_offset = self._wal.append(record)
                self.catalog.apply([record])
        return len(known)

    def close(self) -> None:
        return None

    # -- following other processes ----------------------------------------------------------------------
    def refresh(self) -> None:
        """See other processes' updates: new log records, or a new live version (after a
        compaction or rebuild elsewhere). Cheap when nothing changed (two ``stat`` calls)."""
        if pointer_stamp(self.index_dir) != self._pointer_stamp or self._wal.size() != self._wal_offset:
            with self.catalog.update_lock, index_write_lock(self.index_dir):
                self._sync_locked()

    def _sync_locked(self) -> None:
        """:meth:`refresh` for a caller holding ``update_lock`` and the index write lock.

        Reads which version ``CURRENT`` names (every switch happens under the same lock), so a
        write or a compaction never builds on a version another process has replaced, however
        the pointer's timestamps look."""
        stamp = pointer_stamp(self.index_dir)
        version_dir = self.catalog.state.version_dir
        assert version_dir is not None
        if resolve_version(self.index_dir).name != version_dir.name:
            fresh, offset, stamp = self._read_live()
            with self.catalog.writing():
                self._switch(fresh, offset, stamp)
        else:
            self._catch_up()
            self._pointer_stamp = stamp

    def _catch_up(self) -> None:
        """Apply the records other processes appended since this one last looked. The caller
        holds ``update_lock`` and the index write lock."""
        wal = self._wal
        records, end = wal.read_from(self._wal_offset)
        if records:
            with self.catalog.writing() as catalog:
                for record in records:
                    self._apply_record(catalog.state, record)
            logger.info("applied %d updates from other processes", len(records))
        wal.cut_torn_tail(end)
        self._wal_offset = end

    def _read_live(self) -> tuple[CatalogState, int, tuple[int, int]]:
        """The index's live version as it is on disk now, its log replayed (caller holds the
        locks): the state, the log offset read, and the pointer stamp taken before."""
        stamp = pointer_stamp(self.index_dir)
        version = resolve_version(self.index_dir)
        manifest = read_index_manifest(self.index_dir, version, encoders=self.encoders.loaded())
        self.encoders.rebind(manifest)
        state = open_version(self.index_dir, version, manifest, self.config)
        return state, self._replay(state), stamp

    def _switch(self, state: CatalogState, offset: int, stamp: tuple[int, int]) -> None:
        """Make ``state`` the engine's catalogue (caller holds the write lock)."""
        self.catalog.state = state
        self._wal_offset, self._pointer_stamp = offset, stamp

    # -- compaction ----------------------------------------------------------------------------------
    def compact(self) -> str:
        """Write the live products and their vectors as a new index version (no re-embedding),
        switch to it, and drop the update log. Returns the new version name."""
        with self.catalog.update_lock, index_write_lock(self.index_dir):
            self._sync_locked()  # what other processes appended is folded in too
            version = self._compact_locked()
        logger.info("compacted %s into %s (%d products)", self.index_dir, version, self.catalog.state.size)
        return version

    def _compact_locked(self) -> str:
        with self.catalog.writing():
            state = self.catalog.state
            keep = np.flatnonzero(state.alive)
            new_pos = np.full(len(state.products), -1, dtype=np.int64)
            new_pos[keep] = np.arange(len(keep))
            products = [state.products[i] for i in keep]
            vectors = {}
            for role, d in state.dense.items():
                sel = state.alive[d.rows]
                vectors[role] = (d.vectors[sel], new_pos[d.rows[sel]])
            fields = state.text_fields
            lexical_fields = fields if state.lexical is not None else ()
            old_rejects = (state.version_dir / REJECTS_NAME) if state.version_dir else None
            manifest = state.manifest

            def fill(folder: Path) -> tuple[dict[str, Any], dict[str, int]]:
                write_version(folder, products, lexical_fields, vectors, manifest_dense_params(manifest))
                if old_rejects is not None and old_rejects.is_file():
                    (folder / REJECTS_NAME).write_bytes(old_rejects.read_bytes())
                counts = dict(manifest.counts, products=len(products),
                              images=int(vectors["image"][0].shape[0]) if "image" in vectors else 0)
                return dict(manifest.encoders), counts

            version = publish_version(self.index_dir, fill, fields=manifest.fields,
                                      catalog=manifest.catalog, settings=manifest.settings)
            self._switch(*self._read_live())
        return version


def pointer_stamp(index_dir: Path) -> tuple[int, int]:
    """Identity of ``INDEX_DIR/CURRENT`` (inode, mtime in ns): every switch replaces the file
    by a rename, so a switch changes the stamp; (0, 0) when there is none."""
    try:
        st = os.stat(index_dir / CURRENT_NAME)
    except FileNotFoundError:
        return (0, 0)
    return (st.st_ino, st.st_mtime_ns)
