"""Live updates of a loaded index: upsert, delete, compact, all crash-safe.

An update is embedded first (outside any lock), then written to the version's write-ahead
log (fsync), then applied in memory under the engine's write lock: new or re-embedded
products get new positions and the old position is retired, so a concurrent search sees
either the old or the new product. Metadata-only changes (price, stock, any field that is not
indexed text or an image) replace the product object in place with no model call.
``compact()`` folds everything into a fresh index version.

Several processes may serve and update one index directory (service workers, a shell running
``shopsearch upsert`` or ``compact``): writes and compactions take an exclusive file lock
(:func:`~shopsearch.index.wal.index_write_lock`) and first apply what the other processes
appended, and every search first picks up new log records and a new live version
(:meth:`LiveUpdates.refresh`, one ``stat`` when nothing changed), so a write through one process
is visible through every other on its next search.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shopsearch.encode.cache import EmbeddingCache
from shopsearch.index.manifest import CURRENT_NAME, resolve_version
from shopsearch.index.wal import WriteAheadLog, decode_array, encode_array, index_write_lock
from shopsearch.preprocess.text import lexical_text, product_text
from shopsearch.types import Product

if TYPE_CHECKING:
    from shopsearch.retrieve.engine import Engine

logger = logging.getLogger(__name__)


class LiveUpdates:
    """Mixin of :class:`shopsearch.retrieve.engine.Engine` holding the write path."""

    _cache: EmbeddingCache | None = None
    _wal_offset: int = 0  # bytes of this version's log applied in memory (exactly those read)
    _pointer_stamp: tuple[int, int] = (0, 0)  # INDEX_DIR/CURRENT as seen before it was last read

    @property
    def _wal(self: Engine) -> WriteAheadLog:
        from shopsearch.index.builder import WAL_SUFFIX

        if self.path is None or self.version_dir is None:
            raise RuntimeError("this engine was not loaded from an index directory; it cannot take updates")
        return WriteAheadLog(Path(self.path) / f"{self.version_dir.name}{WAL_SUFFIX}")

    def _text_fields(self: Engine) -> tuple[str, ...]:
        return tuple(f for f in self.manifest.fields if f != "image")

    def upsert(self: Engine, products: Sequence[Product]) -> dict[str, int]:
        """Add or replace ``products`` (validated :class:`Product` records); durable on return.

        Returns counts: ``added``, ``replaced`` (re-embedded), ``metadata`` (no re-embedding).
        """
        products = list(products)
        ids = [p.id for p in products]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"upsert: duplicate ids in one batch: {', '.join(dup)}")
        fields = self._text_fields()
        meta_only, embed = [], []
        for p in products:
            old = self.product(p.id)
            same = old is not None and old.images == p.images and (
                not fields or product_text(old, fields) == product_text(p, fields))
            (meta_only if same else embed).append(p)
        record: dict[str, Any] = {"op": "upsert", "products": [p.to_dict() for p in embed]}
        if embed:
            record["vectors"] = {role: {"rows": rows.tolist(), "data": encode_array(vecs)}
                                 for role, (vecs, rows) in self._embed_changed(embed, fields).items()}
        replaced = sum(1 for p in embed if p.id in self._positions)
        with self._update_lock, index_write_lock(Path(self.path)):  # log order == apply order
            self._sync_locked()
            wal = self._wal
            if embed:
                self._wal_offset = wal.append(record)
            if meta_only:
                self._wal_offset = wal.append({"op": "meta", "products": [p.to_dict() for p in meta_only]})
            with self._rw.write():
                if embed:
                    self._apply_upsert(record)
                if meta_only:
                    self._apply_meta(meta_only)
        return {"added": len(embed) - replaced, "replaced": replaced, "metadata": len(meta_only)}

    def _embed_changed(self: Engine, products: list[Product], fields: tuple[str, ...]) -> dict[str, Any]:
        """Vectors by role for ``products`` (batch-local rows). Only what changed is embedded:
        a product whose images are unchanged keeps its stored image and joint vectors."""
        from shopsearch.index.builder import FIELD_ROLE_PREFIX, encode_products

        with_images = "image" in self.manifest.fields
        image_roles = [r for r in ("image", "joint", "zeroshot") if r in self.dense]
        keep: dict[int, int] = {}  # batch row -> old position whose image vectors stay valid
        for i, p in enumerate(products):
            pos = self._positions.get(p.id)
            if with_images and pos is not None and self.products[pos].images == p.images:
                keep[i] = pos
        fresh = [i for i in range(len(products)) if i not in keep]
        roles = {role: self._encoder(role) for role in self.manifest.encoders}
        text_roles = {r: e for r, e in roles.items() if r == "text" or r.startswith(FIELD_ROLE_PREFIX)}
        out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}

        def add(vectors: dict[str, tuple[np.ndarray, np.ndarray]], batch_rows: list[int]) -> None:
            for role, (vecs, rows) in vectors.items():
                parts = out.setdefault(role, ([], []))
                parts[0].append(vecs)
                parts[1].append(np.asarray(batch_rows, dtype=np.int64)[rows] if len(rows) else rows)

        if fresh:
            pv = encode_products([products[i] for i in fresh], fields, with_images, roles, self._cache)
            add(pv.vectors, fresh)
        if keep:
            kept = list(keep)
            pv = encode_products([products[i] for i in kept], fields, False, text_roles, self._cache)
            add(pv.vectors, kept)
            for role in image_roles:
                for i in kept:
                    old = self.dense[role].vectors_of(keep[i])
                    add({role: (old, np.zeros(len(old), dtype=np.int64))}, [i])
        return {role: (np.concatenate(v) if v else np.empty((0, self.dense[role].dim), np.float32),
                       np.concatenate(r) if r else np.empty(0, np.int64))
                for role, (v, r) in out.items()}

    def delete(self: Engine, ids: Sequence[str]) -> int:
        """Delete products by id; unknown ids are ignored. Returns how many were deleted."""
        if self.path is None:
            raise RuntimeError("this engine was not loaded from an index directory; it cannot take updates")
        with self._update_lock, index_write_lock(Path(self.path)):
            self._sync_locked()
            known = [i for i in dict.fromkeys(ids) if i in self._positions]
            if known:
                self._wal_offset = self._wal.append({"op": "delete", "ids": known})
                with self._rw.write():
                    self._apply_delete(known)
        return len(known)

    def _apply_upsert(self: Engine, record: dict[str, Any]) -> None:
        products = [self.with_brand(Product.from_dict(d)) for d in record["products"]]
        base = len(self.products)
        for p in products:
            old = self._positions.get(p.id)
            if old is not None:
                self.alive[old] = False
        self.products.extend(products)
        self.alive = np.concatenate([self.alive, np.ones(len(products), bool)])
        for i, p in enumerate(products):
            self._positions[p.id] = base + i
        for role, data in record.get("vectors", {}).items():
            if role in self.dense:
                rows = np.asarray(data["rows"], dtype=np.int64) + base
                self.dense[role].append(decode_array(data["data"]), rows, len(self.products))
        for role in self.dense:
            self.dense[role].n_products = len(self.products)
        if self.lexical is not None:
            fields = self._text_fields()
            for i, p in enumerate(products):
                self.lexical.add(base + i, lexical_text(p, fields))
        self._invalidate()

    def _apply_meta(self: Engine, products: Sequence[Product]) -> None:
        for p in products:
            pos = self._positions.get(p.id)
            if pos is not None:
                self.products[pos] = self.with_brand(p)
        self._invalidate()

    def _apply_delete(self: Engine, ids: Sequence[str]) -> None:
        for i in ids:
            pos = self._positions.pop(i, None)
            if pos is not None:
                self.alive[pos] = False
        self._invalidate()

    def _apply_record(self: Engine, record: dict[str, Any]) -> None:
        op = record.get("op")
        if op == "upsert":
            self._apply_upsert(record)
        elif op == "meta":
            self._apply_meta([Product.from_dict(d) for d in record["products"]])
        elif op == "delete":
            self._apply_delete(record["ids"])
        else:
            raise ValueError(f"{self._wal.path}: unknown update record {op!r}")

    def _replay(self: Engine, pointer_stamp: tuple[int, int]) -> None:
        """Apply this version's log at load. The position kept is the end of the bytes actually
        read, so a record another process appends meanwhile is picked up by the next catch-up
        (never skipped); a torn tail is left for a writer to cut under the write lock.
        ``pointer_stamp``: ``CURRENT`` as it was *before* the version was resolved, so a switch
        made since is noticed."""
        wal = self._wal
        records, self._wal_offset = wal.read_from(0)
        for record in records:
            self._apply_record(record)
        self._pointer_stamp = pointer_stamp
        if records:
            logger.info("replayed %d updates from %s", len(records), wal.path.name)

    def _catch_up(self: Engine) -> None:
        """Apply the records other processes appended since this one last looked. The caller
        holds ``_update_lock`` and the index write lock."""
        wal = self._wal
        records, end = wal.read_from(self._wal_offset)
        if records:
            with self._rw.write():
                for record in records:
                    self._apply_record(record)
            logger.info("applied %d updates from other processes", len(records))
        wal.cut_torn_tail(end)
        self._wal_offset = end

    def refresh(self: Engine) -> None:
        """See other processes' updates: new log records, or a new live version (after a
        compaction or rebuild elsewhere). Cheap when nothing changed (two ``stat`` calls)."""
        if self.path is None or self.version_dir is None:
            return
        if pointer_stamp(Path(self.path)) != self._pointer_stamp or self._wal.size() != self._wal_offset:
            with self._update_lock, index_write_lock(Path(self.path)):
                self._sync_locked()

    def _sync_locked(self: Engine) -> None:
        """:meth:`refresh` for a caller holding ``_update_lock`` and the index write lock.

        Reads which version ``CURRENT`` names (every switch happens under the same lock), so a
        write or a compaction never builds on a version another process has replaced, however
        the pointer's timestamps look."""
        stamp = pointer_stamp(Path(self.path))
        if resolve_version(Path(self.path)).name != self.version_dir.name:
            self._reload()
        else:
            self._catch_up()
            self._pointer_stamp = stamp

    def _reload(self: Engine) -> None:
        """Switch to the index's live version as it is on disk now (caller holds the locks)."""
        fresh = type(self).load(self.path, self.config, encoders=self._encoders)
        with self._rw.write():
            for name in ("manifest", "products", "dense", "lexical", "version_dir", "alive", "_positions",
                         "_wal_offset", "_pointer_stamp"):
                setattr(self, name, getattr(fresh, name))
            self._invalidate()

    def compact(self: Engine) -> str:
        """Write the live products and their vectors as a new index version (no re-embedding),
        switch to it, and drop the update log. Returns the new version name."""
        if self.path is None:
            raise RuntimeError("this engine was not loaded from an index directory")
        with self._update_lock, index_write_lock(Path(self.path)):
            self._sync_locked()  # what other processes appended is folded in too
            version = self._compact_locked()
        logger.info("compacted %s into %s (%d products)", self.path, version, self.size)
        return version

    def _compact_locked(self: Engine) -> str:
        from shopsearch.index.builder import REJECTS_NAME, publish_version, write_version

        with self._rw.write():
            keep = np.flatnonzero(self.alive)
            new_pos = np.full(len(self.products), -1, dtype=np.int64)
            new_pos[keep] = np.arange(len(keep))
            products = [self.products[i] for i in keep]
            vectors = {}
            for role, d in self.dense.items():
                sel = self.alive[d.rows]
                vectors[role] = (d.vectors[sel], new_pos[d.rows[sel]])
            fields = self._text_fields()
            lexical_fields = fields if self.lexical is not None else ()
            old_rejects = (self.version_dir / REJECTS_NAME) if self.version_dir else None

            def fill(folder: Path) -> tuple[dict[str, Any], dict[str, int]]:
                write_version(folder, products, lexical_fields, vectors, self._dense_params)
                if old_rejects is not None and old_rejects.is_file():
                    (folder / REJECTS_NAME).write_bytes(old_rejects.read_bytes())
                counts = dict(self.manifest.counts, products=len(products),
                              images=int(vectors["image"][0].shape[0]) if "image" in vectors else 0)
                return dict(self.manifest.encoders), counts

            version = publish_version(Path(self.path), fill, fields=self.manifest.fields,
                                      catalog=self.manifest.catalog, settings=self.manifest.settings)
            fresh = type(self).load(self.path, self.config, encoders=self._encoders)
            for name in ("manifest", "products", "dense", "lexical", "version_dir", "alive", "_positions",
                         "_wal_offset", "_pointer_stamp"):
                setattr(self, name, getattr(fresh, name))
            self._invalidate()
        return version


def pointer_stamp(index_dir: Path) -> tuple[int, int]:
    """Identity of ``INDEX_DIR/CURRENT`` (inode, mtime in ns): every switch replaces the file
    by a rename, so a switch changes the stamp; (0, 0) when there is none."""
    try:
        st = os.stat(index_dir / CURRENT_NAME)
    except FileNotFoundError:
        return (0, 0)
    return (st.st_ino, st.st_mtime_ns)
