"""Content-hash embedding cache: re-indexing unchanged products costs no model time.

Keys are SHA-256 digests of (model name, input kind, content) — the text itself, or the
image file's bytes — so a renamed file or a re-ordered catalog still hits, and a changed
image misses. Values are float32 vectors in one SQLite file (WAL mode, safe across processes).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.storage import StorageError, storage_errors

logger = logging.getLogger(__name__)


def text_key(model: str, kind: str, text: str) -> str:
    """Cache key for a text embedded as ``kind`` ("doc" or "query") by ``model``."""
    return hashlib.sha256(f"{model}\x1f{kind}\x1f{text}".encode()).hexdigest()


def content_digest(source: str | bytes) -> str:
    """SHA-256 of an image's content: raw bytes, a local file's bytes, or a URL's text."""
    h = hashlib.sha256()
    if isinstance(source, bytes):
        h.update(source)
    elif source.startswith(("http://", "https://")):
        h.update(source.encode())
    else:
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def image_key(model: str, source: str | bytes, digest: str | None = None) -> str:
    """Cache key for an image (a local path is keyed by content, a URL by its text). Pass
    ``digest`` (:func:`content_digest`) to key one file for several models with one read."""
    digest = digest or content_digest(source)
    return hashlib.sha256(f"{model}\x1fimage\x1f{digest}".encode()).hexdigest()


def embed_with_cache(
    cache: EmbeddingCache | None, keys: Callable[[], Sequence[str]], inputs: Sequence[Any], dim: int,
    fn: Callable[[list[Any]], np.ndarray],
) -> np.ndarray:
    """``fn(inputs)`` as float32 (n, dim), through ``cache`` when there is one. ``keys`` is called
    only then, so no file is hashed for nothing."""
    if not len(inputs):
        return np.zeros((0, dim), np.float32)
    if cache is None:
        return np.asarray(fn(list(inputs)), dtype=np.float32)
    return cache.embed(list(keys()), inputs, dim, fn)


class EmbeddingCache:
    """SQLite-backed map from content key to float32 vector."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with storage_errors(f"embedding cache {self.path}"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, dim INTEGER NOT NULL, vec BLOB NOT NULL)"
            )
            self._db.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Vectors found for ``keys`` (wrong-dimension entries are ignored)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, dim, vec FROM emb WHERE key IN ({marks})", chunk
            ).fetchall()
            for key, d, blob in rows:
                if d == dim:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        """Store vectors. A cache is an optimisation: when the disk is full nothing is stored,
        a warning is logged, and the caller goes on with the vectors it computed."""
        rows = [(k, int(v.shape[-1]), np.asarray(v, np.float32).tobytes()) for k, v in items.items()]
        with contextlib.suppress(StorageError), storage_errors("embedding cache"), self._db:  # noted and logged
            self._db.executemany("INSERT OR REPLACE INTO emb (key, dim, vec) VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def embed(
        self, keys: Sequence[str], inputs: Sequence[object], dim: int,
        fn: Callable[[list[object]], np.ndarray],
    ) -> np.ndarray:
        """Embed ``inputs`` through ``fn`` except those whose key is cached; float32 (n, dim)."""
        found = self.get_many(keys, dim)
        out = np.empty((len(keys), dim), dtype=np.float32)
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            vec = found.get(key)
            if vec is not None:
                out[i] = vec
            elif key not in todo:
                todo[key] = i
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = fn([inputs[i] for i in todo.values()])
            by_key = dict(zip(todo, fresh))
            self.put_many(by_key)
            for i, key in enumerate(keys):
                if key in by_key:
                    out[i] = by_key[key]
        logger.info("embedding cache: %d hits, %d computed", len(keys) - len(todo), len(todo))
        return out

