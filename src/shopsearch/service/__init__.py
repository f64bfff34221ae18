"""HTTP service (extra ``serve``): JSON API, product images, metrics and the web page.

``create_app(Settings(index_dir))`` builds the FastAPI app; :func:`run` serves it with uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopsearch.service.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Settings", "create_app", "run"]

INSTALL_HINT = 'pip install "shopsearch[serve]"'


def create_app(settings: Settings, engine: Any = None) -> FastAPI:
    """See :func:`shopsearch.service.app.create_app`."""
    try:
        from shopsearch.service.app import create_app as _create
    except ImportError as exc:
        raise ImportError(f"the HTTP service needs {exc.name}; run: {INSTALL_HINT}") from exc
    return _create(settings, engine)


def run(index_dir: Any, host: str = "127.0.0.1", port: int = 8000, workers: int | None = None,
        **settings: Any) -> None:
    """Serve ``index_dir`` until interrupted; ``workers`` default: one per CPU (at most 4). See
    :func:`shopsearch.service.server.run`."""
    from shopsearch.service.server import run as _run

    _run(index_dir, host=host, port=port, workers=workers, **settings)
