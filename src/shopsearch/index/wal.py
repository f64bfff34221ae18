"""Write-ahead log of live updates to one index version.

Each acknowledged update is one JSON line appended to ``INDEX_DIR/<version>.wal`` and fsynced
before it is applied in memory, so a crash loses nothing that was acknowledged. A torn last
line (a crash mid-append) is ignored on replay; it was never acknowledged. An append that
fails part-way (disk full) is cut back off before the error is raised, so a later record is
never glued onto a torn one. A damaged record *followed by* complete ones is not a torn tail:
replay refuses it (:class:`WalCorruptError`) rather than drop acknowledged updates. Compaction
folds the log into a new version and starts an empty log.

Records::

    {"op": "upsert", "products": [...], "docs": [...], "vectors": {role: {"rows": [...], "data": b64}}}
    {"op": "meta", "products": [...]}      metadata-only changes (price, stock...), no re-embedding
    {"op": "delete", "ids": [...]}
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

WAL_SUFFIX = ".wal"  # INDEX_DIR/<version>.wal (same value as shopsearch.index.builder.WAL_SUFFIX)


def encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["data"]), dtype=np.float32).reshape(d["shape"]).copy()


class WalCorruptError(RuntimeError):
    """The log has a damaged record before its end: acknowledged updates follow it."""


def complete_prefix(data: bytes, where: str = "update log") -> tuple[bytes, int]:
    """The longest prefix of ``data`` made of complete, parseable records, and their number.

    Only the last line may be torn (no newline, or not JSON): that is an append a crash cut
    short. A bad line with complete records after it raises :class:`WalCorruptError`.
    """
    good_end = n = 0
    lines = data.splitlines(keepends=True)
    for i, raw in enumerate(lines):
        ok = raw.endswith(b"\n")
        if ok:
            try:
                ok = isinstance(json.loads(raw), dict)
            except (ValueError, RecursionError):
                ok = False
        if not ok:
            if i < len(lines) - 1:
                raise WalCorruptError(f"{where}: record {i + 1} (byte {good_end}) is damaged and "
                                      f"{len(lines) - 1 - i} record(s) follow it; restore from a snapshot")
            break
        good_end += len(raw)
        n += 1
    return data[:good_end], n


class StaleVersionError(RuntimeError):
    """The log's version is no longer the live one: another process rebuilt or compacted the
    index, so a write appended here would be lost. Reload the index before writing."""


LOCK_NAME = ".write.lock"


@contextmanager
def index_write_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive across processes: one writer (an append, a compaction) at a time per index
    directory, so a compaction in one process cannot drop a write another process acknowledges,
    and every process appends after reading what the others appended."""
    fd = os.open(Path(index_dir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class WriteAheadLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _check_live(self) -> None:
        """Refuse to log onto a superseded version (``INDEX_DIR/CURRENT`` names another one)."""
        pointer = self.path.parent / "CURRENT"
        if not pointer.is_file():  # a bare log outside an index directory
            return
        live = pointer.read_text(encoding="utf-8").strip()
        mine = self.path.name.removesuffix(WAL_SUFFIX)
        if live != mine:
            raise StaleVersionError(
                f"{self.path.parent}: the live version is now {live!r}, not {mine!r} (another process rebuilt "
                "or compacted the index); this update was not applied; reload the index and retry")

    def size(self) -> int:
        """Bytes in the log (0 when it does not exist yet)."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def read_from(self, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The complete records after byte ``offset`` and the offset after the last of them
        (a torn tail, left by a writer killed mid-append, is not returned)."""
        if not self.path.is_file():
            return [], offset
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        good, _ = complete_prefix(data, str(self.path))
        return [json.loads(raw) for raw in good.splitlines()], offset + len(good)

    def cut_torn_tail(self, offset: int) -> None:
        """Drop bytes after ``offset`` that :meth:`read_from` did not return (a writer killed
        mid-append); call only while holding :func:`index_write_lock`."""
        size = self.size()
        if size > offset:
            logger.warning("%s: cutting %d bytes of an unfinished update (a writer died mid-append)",
                           self.path, size - offset)
            with open(self.path, "r+b") as fh:
                fh.truncate(offset)
                fh.flush()
                os.fsync(fh.fileno())

    def append(self, record: dict[str, Any]) -> int:
        """Durably append one record (returns after fsync of the file and, when the log is
        new, of its folder) and return the log's length after it. On any error the file is cut
        back to its previous length. Raises :class:`StaleVersionError` when the index has
        moved to another version. Across processes, hold :func:`index_write_lock`."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            self._check_live()
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                start = os.fstat(fd).st_size
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except BaseException:
                    os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
            if created:
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        return start + len(line)

    def replay(self) -> Iterator[dict[str, Any]]:
        """Records in order; a torn final line is skipped (and truncated away) with a warning."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            data = fh.read()
        good, _ = complete_prefix(data, str(self.path))
        for raw in good.splitlines():
            yield json.loads(raw)
        if len(good) < len(data):
            logger.warning("%s: ignoring %d bytes of an unfinished update (crash during write)",
                           self.path, len(data) - len(good))
            with open(self.path, "r+b") as fh:
                fh.truncate(len(good))
                fh.flush()
                os.fsync(fh.fileno())
