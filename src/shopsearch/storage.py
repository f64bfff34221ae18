"""Storage failures (a full disk, an I/O error) as one named, retryable error, and a record of
the recent ones for health checks.

Every write path (the update log, the interaction log, sessions, the embedding cache) turns
an ``OSError`` such as ``ENOSPC`` or SQLite's "database or disk is full" into
:class:`StorageError`, so callers can tell "nothing was stored, retry once there is room" from
a bug. Paths that only *help* an answer (logging an impression, saving a session turn, caching
an embedding) catch it, log a warning and note it with :func:`note_failure`; a search never
fails because a log could not be written. :func:`recent_failures` tells ``/health`` which parts
are degraded.

This module sits below every stage (it imports nothing of shopsearch).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

# ENOSPC: no space; EDQUOT: quota; EIO: the device failed; EROFS: remounted read-only after errors;
# EFBIG: over the file size limit.
_STORAGE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG})
# SQLite primary result codes: SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14, SQLITE_READONLY 8.
_SQLITE_CODES: Final = frozenset({8, 10, 13, 14})
RECENT_S: Final = 300.0  # a failure older than this no longer marks the service degraded


class StorageError(RuntimeError):
    """``what`` could not be stored (disk full or an I/O error); nothing of it was kept.

    Retryable: the same request succeeds once there is room again.
    """

    def __init__(self, what: str, cause: BaseException) -> None:
        self.what = what
        self.disk_full = _is_full(cause)
        kind = "the disk is full" if self.disk_full else f"a storage error ({cause})"
        super().__init__(f"{what}: not stored, {kind}; retry once there is room")


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == 13


def is_storage_failure(exc: BaseException) -> bool:
    """True for errors that mean "the storage could not take a write", not a program error."""
    if isinstance(exc, StorageError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _STORAGE_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return (code & 0xFF) in _SQLITE_CODES
        text = str(exc).lower()
        return "disk" in text or "unable to open" in text or "readonly" in text
    return False


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Re-raise storage failures inside the block as :class:`StorageError` naming ``what``."""
    try:
        yield
    except StorageError:
        raise
    except (OSError, sqlite3.Error) as exc:
        if not is_storage_failure(exc):
            raise
        note_failure(what, exc)
        raise StorageError(what, exc) from exc
    if _failures:  # a write went through again: this part is no longer degraded
        with _failures_lock:
            _failures.pop(what, None)


_failures: dict[str, tuple[float, str]] = {}
_failures_lock = threading.Lock()
_last_warning: dict[str, float] = {}


def note_failure(what: str, exc: BaseException) -> None:
    """Remember that ``what`` failed now; log a warning at most once a minute per ``what``."""
    now = time.monotonic()
    with _failures_lock:
        _failures[what] = (now, str(exc))
        warn = now - _last_warning.get(what, -1e9) >= 60.0
        if warn:
            _last_warning[what] = now
    if warn:
        logger.warning("%s: storage failure (%s); nothing of it was stored", what, exc)


def recent_failures(window_s: float = RECENT_S) -> dict[str, str]:
    """``what -> message`` for the storage failures of the last ``window_s`` seconds."""
    now = time.monotonic()
    with _failures_lock:
        return {what: msg for what, (t, msg) in _failures.items() if now - t <= window_s}


def clear_failures() -> None:
    """Forget recorded failures (after space was freed and a write succeeded; tests)."""
    with _failures_lock:
        _failures.clear()
        _last_warning.clear()


@contextmanager
def atomic_path(target: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` for the caller to write; when the block ends without
    an error it is renamed onto ``target``, so readers (other processes included) see the old
    file or the whole new one, never a part; on an error it is removed and ``target`` is left as
    it was. ``durable``: also fsync the file and its folder, so the new file survives a power
    cut once the block has ended. The temporary name keeps ``target``'s suffix (writers such as
    ``numpy.savez`` add one when it is missing)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}-{threading.get_ident()}{target.suffix}")
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)
        if durable:
            fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        tmp.unlink(missing_ok=True)
