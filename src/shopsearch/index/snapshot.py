"""Consistent backups of a live index directory: :func:`snapshot` and :func:`restore`.

A snapshot may be taken while the service is serving and taking writes. The version folders
are immutable, so they are copied as they are (and checked against their own manifest); the
write-ahead log is copied up to its last complete record; SQLite files next to the versions
(the feedback store) are copied with SQLite's online backup API. If a compaction or rebuild
switches ``CURRENT`` while the copy runs, the copy is thrown away and taken again. Layout::

    OUT/SNAPSHOT.json           format, source, version, WAL records, sha256 + size of every file
    OUT/index/CURRENT
    OUT/index/<version>/        the version folder, byte for byte
    OUT/index/<version>.wal     the update log up to its last complete record
    OUT/index/*.sqlite          online-backup copies (feedback events, sessions)
    OUT/index/rejects.jsonl
    OUT/data/*.sqlite           the same for a service ``data_dir`` outside the index, if given

:func:`restore` verifies every checksum first, then installs the snapshot under a fresh
version name and switches ``CURRENT`` atomically: a crash at any point leaves either the old
or the restored index live, never a mix. Restore while the service is stopped (a running
service keeps serving the index it loaded).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shopsearch
from shopsearch.index.manifest import (
    CURRENT_NAME,
    IndexFormatError,
    fsync_tree,
    read_manifest,
    resolve_version,
    sha256_file,
    switch_current,
    verify_checksums,
)
from shopsearch.index.wal import WAL_SUFFIX, complete_prefix

logger = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
SNAPSHOT_MANIFEST = "SNAPSHOT.json"
SNAPSHOT_INDEX = "index"
SNAPSHOT_DATA = "data"
REJECTS_NAME = "rejects.jsonl"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_ATTEMPTS = 5


class SnapshotError(RuntimeError):
    """A snapshot could not be taken, or a snapshot is damaged and was not restored."""


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot holds. ``files``: relative POSIX path -> (sha256, size in bytes)."""

    path: Path
    source: str
    version: str
    created_at: str
    wal_records: int
    wal_bytes: int
    sqlite: tuple[str, ...]
    files: dict[str, tuple[str, int]]
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT, "package_version": shopsearch.__version__,
                "source": self.source, "version": self.version, "created_at": self.created_at,
                "wal_records": self.wal_records, "wal_bytes": self.wal_bytes, "sqlite": list(self.sqlite),
                "files": {k: {"sha256": d, "bytes": n} for k, (d, n) in sorted(self.files.items())}}

    @classmethod
    def read(cls, snapshot_dir: Path) -> SnapshotInfo:
        path = Path(snapshot_dir) / SNAPSHOT_MANIFEST
        if not path.is_file():
            raise SnapshotError(f"{snapshot_dir} is not a shopsearch snapshot (no {SNAPSHOT_MANIFEST})")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["format"] != SNAPSHOT_FORMAT:
                raise SnapshotError(f"{path}: snapshot format {data['format']!r} is not supported "
                                    f"(expects {SNAPSHOT_FORMAT})")
            return cls(path=Path(snapshot_dir), source=str(data["source"]), version=str(data["version"]),
                       created_at=str(data["created_at"]), wal_records=int(data["wal_records"]),
                       wal_bytes=int(data["wal_bytes"]), sqlite=tuple(data["sqlite"]),
                       files={k: (str(v["sha256"]), int(v["bytes"])) for k, v in data["files"].items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{path}: malformed snapshot manifest ({exc!r})") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup_sqlite(src: Path, dest: Path) -> None:
    """A transactionally consistent copy of a live SQLite database (online backup API)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30.0)
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal sidecar
        finally:
            target.close()
    finally:
        source.close()


def _is_sqlite(path: Path) -> bool:
    return path.is_file() and path.suffix in SQLITE_SUFFIXES


def _copy_once(index_dir: Path, staging: Path, data_dir: Path | None) -> tuple[str, int, int, list[str]]:
    """One copy attempt into ``staging/index`` (and ``staging/data``); returns (version, WAL
    records, WAL bytes, sqlite paths relative to ``staging``). Raises :class:`_Moved` when
    ``CURRENT`` changed underneath."""
    version_dir = resolve_version(index_dir)
    version = version_dir.name
    dest = staging / SNAPSHOT_INDEX
    for folder in (dest, staging / SNAPSHOT_DATA):
        if folder.exists():
            shutil.rmtree(folder)
    dest.mkdir(parents=True)
    try:
        shutil.copytree(version_dir, dest / version)
        wal = index_dir / f"{version}{WAL_SUFFIX}"
        data = wal.read_bytes() if wal.is_file() else b""
    except (FileNotFoundError, shutil.Error) as exc:  # a compaction may have removed the version under us
        if resolve_version(index_dir).name != version:
            raise _Moved(str(exc)) from None
        raise
    prefix, logged = complete_prefix(data, str(wal))
    records = len(logged)
    if data:
        (dest / wal.name).write_bytes(prefix)
    names = []
    sources = [(index_dir, dest)]
    if data_dir is not None and data_dir.is_dir() and data_dir.resolve() != index_dir.resolve():
        sources.append((data_dir, staging / SNAPSHOT_DATA))
    for folder, target in sources:
        target.mkdir(exist_ok=True)
        for db in sorted(p for p in folder.iterdir() if _is_sqlite(p)):
            _backup_sqlite(db, target / db.name)
            names.append((target / db.name).relative_to(staging).as_posix())
    if resolve_version(index_dir).name != version:
        raise _Moved(f"CURRENT moved from {version} during the copy")
    if (dest / version / REJECTS_NAME).is_file():
        shutil.copyfile(dest / version / REJECTS_NAME, dest / REJECTS_NAME)
    (dest / CURRENT_NAME).write_text(version + "\n", encoding="utf-8")
    # The version folder must be exactly what its manifest says (immutable, checksummed).
    verify_checksums(dest / version, read_manifest(dest / version))
    return version, records, len(prefix), names


class _Moved(Exception):
    pass


def snapshot(index_dir: str | Path, out: str | Path, data_dir: str | Path | None = None) -> SnapshotInfo:
    """Copy the live state of ``index_dir`` into the new folder ``out`` (must not exist).
    ``data_dir``: the service's data folder when it is not the index directory (its SQLite
    files are backed up too).

    Safe while a service serves the index and takes writes: every update acknowledged before
    the call is in the snapshot, and nothing half-written is. Raises :class:`SnapshotError`
    when ``out`` exists, and ``IndexFormatError`` when ``index_dir`` is not a valid index.
    """
    index_dir, out = Path(index_dir), Path(out)
    data = Path(data_dir) if data_dir is not None else None
    if out.exists():
        raise SnapshotError(f"snapshot target {out} already exists; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{secrets.token_hex(3)}"
    staging.mkdir()
    try:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                version, records, wal_bytes, dbs = _copy_once(index_dir, staging, data)
                break
            except _Moved as exc:
                logger.info("snapshot of %s: %s; copying again", index_dir, exc)
                time.sleep(0.05 * attempt)
        else:
            raise SnapshotError(f"{index_dir} changed version {_ATTEMPTS} times during the snapshot; try again")
        files = {p.relative_to(staging).as_posix(): (sha256_file(p), p.stat().st_size)
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        info = SnapshotInfo(path=out, source=str(index_dir.resolve()), version=version,
                            created_at=datetime.now(UTC).isoformat(timespec="seconds"), wal_records=records,
                            wal_bytes=wal_bytes, sqlite=tuple(dbs), files=files, attempts=attempt)
        (staging / SNAPSHOT_MANIFEST).write_text(json.dumps(info.to_dict(), indent=2, ensure_ascii=False),
                                                 encoding="utf-8")
        fsync_tree(staging)
        staging.rename(out)
        _fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("snapshot of %s (version %s, %d logged updates) written to %s", index_dir, version, records, out)
    return info


def verify_snapshot(snapshot_dir: str | Path) -> SnapshotInfo:
    """Check every file of a snapshot against its manifest; raise :class:`SnapshotError` naming
    each missing, altered or unexpected file."""
    info = SnapshotInfo.read(Path(snapshot_dir))
    root = Path(snapshot_dir)
    problems = []
    for rel, (digest, size) in info.files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != size or sha256_file(path) != digest:
            problems.append(f"{rel}: checksum mismatch")
    extra = [p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and p.name != SNAPSHOT_MANIFEST and p.relative_to(root).as_posix() not in info.files]
    problems += [f"{rel}: not in the snapshot manifest" for rel in extra]
    if problems:
        raise SnapshotError(f"snapshot {snapshot_dir} is damaged: " + "; ".join(problems))
    try:
        verify_checksums(root / SNAPSHOT_INDEX / info.version, read_manifest(root / SNAPSHOT_INDEX / info.version))
    except IndexFormatError as exc:
        raise SnapshotError(f"snapshot {snapshot_dir}: {exc}") from exc
    return info


def restore(snapshot_dir: str | Path, index_dir: str | Path, data_dir: str | Path | None = None) -> str:
    """Install the snapshot ``snapshot_dir`` as the live version of ``index_dir``.
    SQLite files that came from a separate data folder go to ``data_dir`` (default: the index
    directory).

    Verifies all checksums before touching ``index_dir``. The restored version gets a fresh
    name (so it never collides with a version already there); its update log and the SQLite
    files are put in place first, and the final ``CURRENT`` switch is the single atomic step.
    Returns the restored version's name. Superseded versions stay until the next build or
    compaction removes them.
    """
    snap, index_dir = Path(snapshot_dir), Path(index_dir)
    info = verify_snapshot(snap)
    src = snap / SNAPSHOT_INDEX
    name = "v-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    fresh = not index_dir.exists()
    target = index_dir.parent / f".{index_dir.name}.restore-{secrets.token_hex(3)}" if fresh else index_dir
    target.mkdir(parents=True, exist_ok=not fresh)
    staging = target / f".restore-{name}"
    try:
        shutil.copytree(src / info.version, staging)
        fsync_tree(staging)
        wal = src / f"{info.version}{WAL_SUFFIX}"
        if wal.is_file():
            _atomic_copy(wal, target / f"{name}{WAL_SUFFIX}")
        for rel in info.sqlite:
            if rel.startswith(SNAPSHOT_DATA + "/") and data_dir is not None:
                Path(data_dir).mkdir(parents=True, exist_ok=True)
                _atomic_copy(snap / rel, Path(data_dir) / Path(rel).name)
            else:
                _atomic_copy(snap / rel, target / Path(rel).name)
        if (src / REJECTS_NAME).is_file():
            _atomic_copy(src / REJECTS_NAME, target / REJECTS_NAME)
        staging.rename(target / name)
        switch_current(target, name)
        if fresh:
            target.rename(index_dir)
            _fsync_dir(index_dir.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if fresh:
            shutil.rmtree(target, ignore_errors=True)
        raise
    logger.info("restored snapshot %s (version %s, %d logged updates) into %s as %s",
                snap, info.version, info.wal_records, index_dir, name)
    return name


def _atomic_copy(src: Path, dest: Path) -> None:
    tmp = dest.parent / f".{dest.name}.tmp-{secrets.token_hex(3)}"
    shutil.copyfile(src, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    for side in (dest.with_name(dest.name + "-wal"), dest.with_name(dest.name + "-shm")):
        side.unlink(missing_ok=True)  # a stale SQLite WAL would be replayed onto the restored file
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
