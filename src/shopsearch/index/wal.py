"""Write-ahead log of live updates to one index version.

Each acknowledged update is one line appended to ``INDEX_DIR/<version>.wal`` and fsynced
before it is applied in memory, so a crash loses nothing that was acknowledged. A line is
``<crc32 of the JSON, 8 hex digits> <JSON>\n``: replay verifies every record, so a damaged
byte anywhere (even one that keeps the JSON valid, a price 835.08 -> 935.08) is found.

Only an *unterminated* last line is a torn append (a writer killed mid-write; it was never
acknowledged): readers skip it and the next writer cuts it off while holding
:func:`index_write_lock`, never a reader, which could cut a record another process is still
appending. A complete line that fails its checksum is damage to an acknowledged update:
replay refuses it (:class:`WalCorruptError`) rather than drop it. An append that fails
part-way (disk full) is cut back off before the error is raised, so a later record is never
glued onto a torn one. Lines written before records carried checksums (they start with
``{``) are still read. Compaction folds the log into a new version and starts an empty log.

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
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.storage import storage_errors

logger = logging.getLogger(__name__)

WAL_SUFFIX = ".wal"  # INDEX_DIR/<version>.wal (same value as shopsearch.index.builder.WAL_SUFFIX)


def encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["data"]), dtype=np.float32).reshape(d["shape"]).copy()


class WalCorruptError(RuntimeError):
    """The log holds a damaged complete record: an acknowledged update cannot be read back."""


_CRC = re.compile(rb"[0-9a-f]{8}")


def encode_record(record: dict[str, Any]) -> bytes:
    """One log line: the record's CRC-32 (8 hex digits), a space, its JSON, a newline."""
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode_record(line: bytes) -> dict[str, Any] | None:
    """The record of one complete line (without its newline), or None when it is damaged."""
    if line[:1] == b"{":  # written before records carried a checksum
        payload = line
    else:
        if len(line) < 10 or line[8:9] != b" " or not _CRC.fullmatch(line[:8]):
            return None
        payload = line[9:]
        if zlib.crc32(payload) != int(line[:8], 16):
            return None
    try:
        record = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def complete_prefix(data: bytes, where: str = "update log") -> tuple[bytes, list[dict[str, Any]]]:
    """The longest prefix of ``data`` made of complete, verified records, and those records.

    An unterminated last line is a torn append and is left out. A complete line that does not
    verify raises :class:`WalCorruptError` naming the record and its byte offset.
    """
    good_end = 0
    records: list[dict[str, Any]] = []
    while True:
        newline = data.find(b"\n", good_end)
        if newline < 0:  # nothing more, or a torn append: only the last line lacks its newline
            break
        record = decode_record(data[good_end:newline])
        if record is None:
            after = data.count(b"\n", newline + 1)
            raise WalCorruptError(
                f"{where}: record {len(records) + 1} (byte {good_end}) is damaged (its checksum or JSON does "
                f"not verify){f' and {after} record(s) follow it' if after else ''}; nothing past it was "
                "applied: restore from a snapshot")
        records.append(record)
        good_end = newline + 1
    return data[:good_end], records


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
        good, records = complete_prefix(data, f"{self.path} (from byte {offset})")
        return records, offset + len(good)

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
        moved to another version, :class:`~shopsearch.storage.StorageError` when the disk is
        full. Across processes, hold :func:`index_write_lock`."""
        line = encode_record(record)
        with self._lock, storage_errors("update log"):
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
