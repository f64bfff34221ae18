"""Fixtures for the hardening tests: a private writable index and a TestClient over it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.optional import need_module


@pytest.fixture()
def writable_index(tiny_index: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_index, tmp_path / "idx"))


@pytest.fixture()
def app_client(writable_index: Path, tmp_path: Path) -> Iterator[object]:
    """A TestClient over a private copy of the tiny index, with the service tests' settings."""
    need_module("serve", "fastapi")
    need_module("serve", "httpx")
    from fastapi.testclient import TestClient

    import shopsearch
    from devkit.service import make_settings
    from shopsearch.service import create_app

    engine = shopsearch.load(writable_index)
    settings = make_settings(writable_index, tmp_path / "data")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client
