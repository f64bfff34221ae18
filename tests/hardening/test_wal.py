"""The write-ahead log on its own: torn tails, damage in the middle, failed appends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shopsearch.index import wal as wal_mod
from shopsearch.index.wal import WalCorruptError, WriteAheadLog, complete_prefix
from shopsearch.storage import StorageError


def _log(tmp_path: Path, n: int) -> WriteAheadLog:
    log = WriteAheadLog(tmp_path / "v.wal")
    for i in range(n):
        log.append({"op": "delete", "ids": [f"x{i}"], "text": "红色 😀 \u2028 \n"})
    return log


def test_records_round_trip_with_any_unicode(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    records, end = log.read_from(0)
    assert end == log.size()
    assert [r["ids"] for r in records] == [["x0"], ["x1"], ["x2"]]
    assert records[0]["text"] == "红色 😀 \u2028 \n"
    assert log.path.read_bytes().count(b"\n") == 3  # one line per record, newlines escaped


@pytest.mark.parametrize("tail", [b'{"op":"del', b'0badf00d {"op":"delete","ids"', b"\x00\x00\x00"])
def test_torn_tail_is_skipped_by_readers_and_cut_only_by_a_writer(tmp_path: Path, tail: bytes) -> None:
    log = _log(tmp_path, 2)
    size = log.path.stat().st_size
    with open(log.path, "ab") as fh:
        fh.write(tail)
    records, end = log.read_from(0)
    assert len(records) == 2 and end == size
    assert log.size() == size + len(tail)  # a reader never cuts: the append may still be going on
    log.cut_torn_tail(end)  # what a writer does under the index write lock
    assert log.size() == size


@pytest.mark.parametrize("tail", [b'{"op":"delete"}garbage\n', b"[1]\n", b"\x00\x00\x00\n",
                                  b'00000000 {"op":"delete","ids":["x"]}\n'])
def test_complete_but_damaged_last_record_is_refused(tmp_path: Path, tail: bytes) -> None:
    log = _log(tmp_path, 2)
    with open(log.path, "ab") as fh:
        fh.write(tail)
    with pytest.raises(WalCorruptError, match="record 3"):
        log.read_from(0)


def test_every_byte_of_a_record_is_checked(tmp_path: Path) -> None:
    """Flipping any single byte of a record (keeping the line) is detected."""
    log = _log(tmp_path, 1)
    data = log.path.read_bytes()
    for i in range(len(data) - 1):
        if data[i:i + 1] == b"\n":
            continue
        for flip in (1, 0x20):
            damaged = bytearray(data)
            damaged[i] ^= flip
            if b"\n" in damaged[:-1]:
                continue
            log.path.write_bytes(bytes(damaged))
            with pytest.raises(WalCorruptError):
                log.read_from(0)


def test_records_without_checksums_from_older_versions_are_read(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "v.wal")
    log.path.write_bytes(b'{"op":"delete","ids":["old"]}\n')
    log.append({"op": "delete", "ids": ["new"]})
    assert [r["ids"] for r in log.read_from(0)[0]] == [["old"], ["new"]]


def test_damage_before_complete_records_is_refused(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    data = log.path.read_bytes()
    first = data.index(b"\n")
    log.path.write_bytes(data[:5] + b"#" + data[6:])  # damage record 1 of 3
    with pytest.raises(WalCorruptError, match="record 1"):
        log.read_from(0)
    assert log.path.read_bytes()[first:] == data[first:]  # nothing was truncated away


def test_failed_append_leaves_no_partial_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log(tmp_path, 1)
    size = log.path.stat().st_size
    real_write = os.write

    def half_write(fd: int, data: bytes | memoryview) -> int:  # disk full after a few bytes
        real_write(fd, bytes(data[:7]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wal_mod.os, "write", half_write)
    with pytest.raises(StorageError, match="update log: not stored, the disk is full"):
        log.append({"op": "delete", "ids": ["lost"]})
    monkeypatch.setattr(wal_mod.os, "write", real_write)
    assert log.path.stat().st_size == size
    log.append({"op": "delete", "ids": ["kept"]})
    assert [r["ids"] for r in log.read_from(0)[0]] == [["x0"], ["kept"]]


def test_complete_prefix_returns_records() -> None:
    assert complete_prefix(b"") == (b"", [])
    assert complete_prefix(b'{"a":1}\n{"b":2}\n{"c"') == (b'{"a":1}\n{"b":2}\n', [{"a": 1}, {"b": 2}])
    assert complete_prefix(b'{"a":1}\n' + b"[" * 100_000) == (b'{"a":1}\n', [{"a": 1}])
    with pytest.raises(WalCorruptError, match="record 2"):
        complete_prefix(b'{"a":1}\n' + b"[" * 100_000 + b"\n")


@pytest.mark.parametrize("pointer", ["..", ".", "/etc", "../idx", "a/../..", "..\\x", "", "v-missing"])
def test_current_pointer_must_name_a_version_folder(tmp_path: Path, pointer: str) -> None:
    from shopsearch.index.manifest import IndexFormatError, resolve_version

    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "CURRENT").write_text(pointer + "\n", encoding="utf-8")
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")  # what ".." would point at
    with pytest.raises(IndexFormatError, match="not a complete index version"):
        resolve_version(idx)
