"""Write-ahead log of live updates to one index version.

Each acknowledged update is one JSON line appended to ``INDEX_DIR/<version>.wal`` and fsynced
before it is applied in memory, so a crash loses nothing that was acknowledged. A torn last
line (a crash mid-append) is ignored on replay; it was never acknowledged. Compaction folds
the log into a new version and starts an empty log.

Records::

    {"op": "upsert", "products": [...], "docs": [...], "vectors": {role: {"rows": [...], "data": b64}}}
    {"op": "meta", "products": [...]}      metadata-only changes (price, stock...), no re-embedding
    {"op": "delete", "ids": [...]}
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["data"]), dtype=np.float32).reshape(d["shape"]).copy()


class WriteAheadLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Durably append one record (returns after fsync)."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def replay(self) -> Iterator[dict[str, Any]]:
        """Records in order; a torn final line is skipped (and truncated away) with a warning."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            data = fh.read()
        good_end = 0
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                break
            good_end += len(raw)
            yield record
        if good_end < len(data):
            logger.warning("%s: ignoring %d bytes of an unfinished update (crash during write)",
                           self.path, len(data) - good_end)
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
