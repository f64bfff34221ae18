"""The service for tests and benchmarks: its settings with small limits and a fixed API key, and a
real uvicorn server on 127.0.0.1 in a thread (needs the serve extra)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from devkit.servers import free_port
from shopsearch.service import Settings

__all__ = ["API_KEY", "LiveServer", "make_settings"]

API_KEY = "test-key-0123456789"


def make_settings(index_dir: Path, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        index_dir=index_dir, data_dir=data_dir, api_key=API_KEY, max_body_bytes=1024 * 1024,
        max_image_bytes=512 * 1024, max_image_pixels=4_000_000, max_k=50, max_page=20,
        max_audio_seconds=8.0, warmup=False,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


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
