"""A full disk: searches keep answering 200 (also with a user or session), writes answer a named
507 with Retry-After, ``/health`` says degraded, nothing acknowledged is lost, and once space
is freed everything works again.

On a real, small tmpfs when this machine lets the tests mount one (root, as in CI); the same
checks also run with ``ENOSPC`` simulated at the system calls, which needs no privileges.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import crashkit
from tests.optional import need_module

# ruff: noqa: E402
# (the imports below the check need the serve extra: a missing one skips the module, or fails it
# when SHOPSEARCH_REQUIRE names the part; tests/optional.py)
need_module("serve", "fastapi", module_level=True)
need_module("serve", "httpx", module_level=True)

from devkit.service import API_KEY, make_settings

KEY = {"X-API-Key": API_KEY}


def _mount_tmpfs(where: Path, size_mb: int) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


def _fill(folder: Path) -> Path:
    """Write zeros until the file system is full, down to its last bytes; returns the filler."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        size = 1 << 20
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                size //= 2
    finally:
        os.close(fd)
    return filler


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    if not _mount_tmpfs(where, 64):
        pytest.skip("cannot mount a tmpfs here (needs root); test_disk_full_simulated covers the same paths")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _client(index: Path, data: Path, **settings: object):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    import shopsearch
    from shopsearch.service import create_app

    return TestClient(create_app(make_settings(index, data, voice=False, **settings), engine=shopsearch.load(index)))


def _check_full_disk_behaviour(client, acked: dict[str, float | None]) -> None:  # type: ignore[no-untyped-def]
    """While the disk is full. ``acked``: product id -> acknowledged price (None: deleted)."""
    for body in ({"text": "red shirt"}, {"text": "red shirt", "user_id": "u1"},
                 {"text": "blue jeans", "session_id": "s1"}, {"text": "cheaper", "session_id": "s1"},
                 {"text": "red", "user_id": "u1", "session_id": "s2", "page": 2, "k": 2}):
        r = client.post("/v1/search", json=body)
        assert r.status_code == 200, (body, r.text)
    r = client.put("/v1/products/p1", headers=KEY, json={"title": "Red Cotton Tshirt for Men", "price": 999.0})
    assert r.status_code == 507, r.text
    assert r.json()["field"] == "storage" and "disk is full" in r.json()["reason"]
    assert r.headers["retry-after"]
    r = client.post("/v1/feedback", json={"event": "click", "product_id": "p2", "user_id": "u1"})
    assert r.status_code == 507, r.text
    r = client.delete("/v1/products/p3", headers=KEY)  # a small record may still fit in a last page
    assert r.status_code in (200, 507), r.text
    if r.status_code == 200:
        acked["p3"] = None
    health = client.get("/health").json()
    assert health["status"] == "degraded" and health["problems"], health
    _check_served(client, acked)


def _check_served(client, acked: dict[str, float | None]) -> None:  # type: ignore[no-untyped-def]
    for pid, price in acked.items():
        r = client.get(f"/v1/products/{pid}")
        assert (r.status_code == 404) if price is None else (r.json()["price"] == price), (pid, r.text)


def _check_recovered(client, index: Path, acked: dict[str, float | None]) -> None:  # type: ignore[no-untyped-def]
    import shopsearch

    r = client.put("/v1/products/p1", headers=KEY, json={"title": "Red Cotton Tshirt for Men", "price": 7.5})
    assert r.status_code == 200, r.text
    acked["p1"] = 7.5
    r = client.post("/v1/feedback", json={"event": "click", "product_id": "p2", "user_id": "u1"})
    assert r.status_code == 202, r.text
    # each part that failed is healthy again once it stores something (or after RECENT_S)
    assert client.post("/v1/search", json={"text": "red", "session_id": "s1"}).status_code == 200
    assert client.get("/health").json()["status"] == "ok"
    _check_served(client, acked)
    fresh = shopsearch.load(index)  # and after a restart
    for pid, price in acked.items():
        product = fresh.product(pid)
        assert (product is None) if price is None else (product.price == price), pid
    if "p3" not in acked:
        assert fresh.product("p3") is not None  # the refused delete did not happen


def test_disk_full_on_a_real_small_file_system(small_disk: Path, tiny_index: Path) -> None:
    from shopsearch.storage import clear_failures

    clear_failures()
    index = Path(shutil.copytree(tiny_index, small_disk / "idx"))
    data = small_disk / "data"
    with _client(index, data, min_free_bytes=1 << 20) as client:
        acked: dict[str, float | None] = {}
        r = client.put("/v1/products/p2", headers=KEY, json={"title": "Blue Denim Jeans for Women", "price": 41.0})
        assert r.status_code == 200, r.text
        acked["p2"] = 41.0
        assert client.post("/v1/search", json={"text": "red shirt", "session_id": "s1"}).status_code == 200
        filler = _fill(small_disk)
        _check_full_disk_behaviour(client, acked)
        filler.unlink()
        _check_recovered(client, index, acked)


def test_service_started_on_a_full_disk_answers_searches(small_disk: Path, tiny_index: Path) -> None:
    """The interaction log and session store are created on first use: on a full disk they
    cannot be, and searches still answer (the finding: every search was a 500)."""
    from shopsearch.storage import clear_failures

    clear_failures()
    index = Path(shutil.copytree(tiny_index, small_disk / "idx"))
    filler = _fill(small_disk)
    with _client(index, small_disk / "data", min_free_bytes=1 << 20) as client:
        _check_full_disk_behaviour(client, {})
        filler.unlink()
        _check_recovered(client, index, {})


def test_disk_full_simulated(tiny_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same with ENOSPC raised by the update log's writes and SQLite's "database or disk is
    full" (its page limit reached) for the interaction log and the sessions."""
    from shopsearch.index import wal as wal_mod
    from shopsearch.rank import events as events_mod
    from shopsearch.rank import session as session_mod
    from shopsearch.storage import clear_failures

    clear_failures()
    index = Path(shutil.copytree(tiny_index, tmp_path / "idx"))
    real_write, real_connect = os.write, sqlite3.connect
    full = {"on": False}

    def write(fd: int, data: bytes) -> int:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = real_connect(*args, **kwargs)
        if full["on"]:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return conn

    class FullSqlite:  # sqlite3 as the modules see it, with connections that cannot grow
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return connect if name == "connect" else getattr(sqlite3, name)

    monkeypatch.setattr(wal_mod.os, "write", write)
    monkeypatch.setattr(events_mod, "sqlite3", FullSqlite())
    monkeypatch.setattr(session_mod, "sqlite3", FullSqlite())
    with _client(index, tmp_path / "data") as client:
        acked: dict[str, float | None] = {}
        r = client.put("/v1/products/p2", headers=KEY, json={"title": "Blue Denim Jeans for Women", "price": 41.0})
        assert r.status_code == 200, r.text
        acked["p2"] = 41.0
        full["on"] = True
        _check_full_disk_behaviour(client, acked)
        full["on"] = False
        _check_recovered(client, index, acked)


def test_compact_on_a_full_disk_is_a_one_line_error(small_disk: Path, tiny_index: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shopsearch
    from shopsearch.cli import main

    index = Path(shutil.copytree(tiny_index, small_disk / "idx"))
    shopsearch.load(index).upsert([crashkit._product({"id": "k1", "title": "kept", "price": 1.0})])
    filler = _fill(small_disk)
    assert main(["compact", str(index)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "disk is full" in err and "Traceback" not in err, err
    filler.unlink()
    assert main(["compact", str(index)]) == 0
    assert shopsearch.load(index).product("k1") is not None
