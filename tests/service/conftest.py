"""Fixtures for the service tests: copies of the tiny index, a shared engine, a TestClient and
a real uvicorn server on 127.0.0.1 (in a thread) for the browser tests."""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import shopsearch
from devkit.service import LiveServer, make_settings
from shopsearch.service import create_app
from tests.optional import need_module, needs

HERE = Path(__file__).parent


def _missing(*modules: str) -> list[str]:
    out = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            out.append(name)
    return out


SERVE_MISSING = _missing("fastapi", "httpx", "python_multipart")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the serve extra every service test is skipped with the reason (or fails, when
    ``SHOPSEARCH_REQUIRE`` names ``serve``)."""
    if not SERVE_MISSING:
        return
    mark = needs("serve", f'the service tests need the serve extra ({", ".join(SERVE_MISSING)} '
                          'missing): pip install "shopsearch[serve]"')
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(mark)


def copy_index(src: Path, dest: Path) -> Path:
    """A private copy of an index directory (tests that write must not change the shared one)."""
    shutil.copytree(src, dest)
    return dest


@pytest.fixture(scope="session")
def shop_images(tiny_index: Path) -> Path:
    return tiny_index.parent / "shop" / "images"


@pytest.fixture(scope="session")
def read_engine(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An engine over a copy of the tiny index that no test writes to."""
    return shopsearch.load(copy_index(tiny_index, tmp_path_factory.mktemp("svc") / "index"))


@pytest.fixture(scope="module")
def client(read_engine, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    settings = make_settings(read_engine.path, tmp_path_factory.mktemp("data"))
    with TestClient(create_app(settings, engine=read_engine)) as c:
        yield c


@pytest.fixture(scope="module")
def live_server(read_engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    need_module("serve", "uvicorn")
    settings = make_settings(read_engine.path, tmp_path_factory.mktemp("live-data"))
    with LiveServer(create_app(settings, engine=read_engine)) as server:
        yield server
