"""The manifest of an index version: what built it, what it holds, and file checksums.

An index directory holds immutable versions and a ``CURRENT`` pointer::

    INDEX_DIR/CURRENT            name of the live version (replaced atomically)
    INDEX_DIR/v-<time>-<rand>/   manifest.json, products.sqlite, dense/, lexical/, rejects.jsonl
    INDEX_DIR/rejects.jsonl      the live version's rejected catalog rows

A build writes a new version folder, fsyncs it, then swaps ``CURRENT`` with ``os.replace``;
a crash at any point leaves the previous version live.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shopsearch.storage import atomic_path

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CURRENT_NAME = "CURRENT"


class IndexFormatError(RuntimeError):
    """The index directory is missing, corrupt, or was built by something incompatible."""


@dataclass(frozen=True)
class EncoderRef:
    """Which encoder produced a vector set: registry name (or model dir name), version, dim."""

    name: str
    dim: int
    version: str = ""


@dataclass(frozen=True)
class Manifest:
    format_version: int
    package_version: str
    created_at: str
    fields: tuple[str, ...]
    encoders: dict[str, EncoderRef]
    counts: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)
    catalog: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["fields"] = list(self.fields)
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
            version = data["format_version"]
            if version != FORMAT_VERSION:
                raise IndexFormatError(
                    f"{where}: index format version {version} is not supported by this shopsearch "
                    f"(expects {FORMAT_VERSION}); rebuild the index with `shopsearch index`"
                )
            return cls(
                format_version=version,
                package_version=data["package_version"],
                created_at=data["created_at"],
                fields=tuple(data["fields"]),
                encoders={k: EncoderRef(**v) for k, v in data["encoders"].items()},
                counts={k: int(v) for k, v in data["counts"].items()},
                files=dict(data.get("files", {})),
                catalog=dict(data.get("catalog", {})),
                settings=dict(data.get("settings", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"{where}: malformed manifest ({exc!r})") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the manifest, keyed by relative POSIX path."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            out[path.relative_to(root).as_posix()] = sha256_file(path)
    return out


def verify_checksums(root: Path, manifest: Manifest) -> None:
    """Raise :class:`IndexFormatError` naming every missing or altered file."""
    problems = []
    for rel, digest in manifest.files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: checksum mismatch")
    if problems:
        raise IndexFormatError(f"index {root} is damaged: " + "; ".join(problems))


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` to disk."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def resolve_version(index_dir: Path) -> Path:
    """The live version folder of ``index_dir``, via its ``CURRENT`` pointer."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise IndexFormatError(f"index directory {index_dir} does not exist; build it with `shopsearch index`")
    pointer = index_dir / CURRENT_NAME
    if not pointer.is_file():
        raise IndexFormatError(
            f"{index_dir} is not a shopsearch index (no {CURRENT_NAME} file); build it with `shopsearch index`"
        )
    name = pointer.read_text(encoding="utf-8").strip()
    version = index_dir / name
    if not name or name != Path(name).name or name in (".", "..") or "\\" in name \
            or not (version / MANIFEST_NAME).is_file():
        raise IndexFormatError(f"{pointer} points to {name!r}, which is not a complete index version")
    return version


def read_manifest(version_dir: Path) -> Manifest:
    path = version_dir / MANIFEST_NAME
    return Manifest.from_json(path.read_text(encoding="utf-8"), where=str(path))


def switch_current(index_dir: Path, version_name: str) -> None:
    """Atomically point ``index_dir/CURRENT`` at ``version_name`` (write temp, fsync, rename)."""
    with atomic_path(index_dir / CURRENT_NAME, durable=True) as tmp:
        tmp.write_text(version_name + "\n", encoding="utf-8")
