"""Fixtures for the service tests: copies of the tiny index, a shared engine, a TestClient and
a real uvicorn server on 127.0.0.1 (in a thread) for the browser tests."""

from __future__ import annotations

import importlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import shopsearch
from shopsearch.service import Settings, create_app
from tests.optional import need_module, needs
from tests.servers import free_port

API_KEY = "test-key-0123456789"
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


def make_settings(index_dir: Path, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        index_dir=index_dir, data_dir=data_dir, api_key=API_KEY, max_body_bytes=1024 * 1024,
        max_image_bytes=512 * 1024, max_image_pixels=4_000_000, max_k=50, max_page=20,
        max_audio_seconds=8.0, warmup=False,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(read_engine, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    settings = make_settings(read_engine.path, tmp_path_factory.mktemp("data"))
    with TestClient(create_app(settings, engine=read_engine)) as c:
        yield c


class LiveServer:
    def __init__(self, app: object, **config: object) -> None:
        """``config``: more ``uvicorn.Config`` options (``http=`` a protocol factory...)."""
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    **config))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(read_engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    need_module("serve", "uvicorn")
    settings = make_settings(read_engine.path, tmp_path_factory.mktemp("live-data"))
    with LiveServer(create_app(settings, engine=read_engine)) as server:
        yield server
