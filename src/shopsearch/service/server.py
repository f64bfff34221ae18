"""Run the service with uvicorn: one process, or ``workers`` processes via the app factory."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from typing import Any

from shopsearch.service.metrics import MULTIPROC_ENV
from shopsearch.service.settings import Settings

logger = logging.getLogger(__name__)


MAX_DEFAULT_WORKERS = 4  # each worker holds its own copy of the index in memory
# Thread pools of the numeric libraries (FAISS's OpenMP, NumPy's OpenBLAS, MKL): sized when a
# worker process loads them, so set in the environment the workers start with.
POOL_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_workers() -> int:
    """Worker processes when none are asked for: one per CPU, at most :data:`MAX_DEFAULT_WORKERS`.

    One process answers one search at a time in Python (the GIL); on 2 cores, 4 concurrent
    shoppers over distinct queries got p50 39 / p99 83 ms from 1 worker and 23 / 41 ms from 2,
    and the peak rate at p99 <= 100 ms went from ~42 to ~75 searches/s
    (benchmarks/results/http_load.md)."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def run(index_dir: Any, host: str = "127.0.0.1", port: int = 8000, workers: int | None = None,
        log_level: str = "info", **settings: Any) -> None:
    """Serve ``index_dir`` at http://host:port/ until interrupted; ``workers``: processes
    (default :func:`default_workers`).

    With ``workers > 1`` each worker process loads the index itself (uvicorn needs an import
    string then); settings travel to the workers as ``SHOPSEARCH_*`` environment variables.
    The workers share the CPUs, so each one's numeric thread pools get ``cpus // workers``
    threads (at least 1) unless the variables in :data:`POOL_THREAD_VARS` are set: otherwise
    every worker starts one pool thread per CPU, and the pools' idle threads spin on cores
    the other workers need.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError('the HTTP service needs uvicorn; run: pip install "shopsearch[serve]"') from exc
    if workers is None:
        workers = default_workers()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    config = Settings(index_dir=index_dir, **settings)
    from shopsearch.service.protocol import head_timeout_protocol

    http = head_timeout_protocol(config.header_timeout_s)
    print(f"shopsearch serving {config.index_dir} at http://{host}:{port}/", flush=True)
    if workers == 1:
        from shopsearch.service.app import create_app

        uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, http=http)
        return
    if importlib.util.find_spec("uvloop") is None:
        # uvicorn's own socket for several workers is created without IPPROTO_TCP, so asyncio
        # leaves Nagle's algorithm on and small responses wait ~40 ms for delayed ACKs.
        logger.warning("uvloop is not installed: with %d workers responses may be delayed ~40 ms; "
                       'run: pip install "uvicorn[standard]"', workers)
    os.environ.update(config.to_env())
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    pool_vars = [v for v in POOL_THREAD_VARS if not os.environ.get(v)]
    os.environ.update(dict.fromkeys(pool_vars, threads))
    # every worker counts into files here, so a scrape of any worker reports all of them
    own_dir = None if os.environ.get(MULTIPROC_ENV) else tempfile.mkdtemp(prefix="shopsearch-metrics-")
    if own_dir is not None:
        os.environ[MULTIPROC_ENV] = own_dir
    try:
        uvicorn.run("shopsearch.service.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, http=http)
    finally:
        for var in pool_vars:
            os.environ.pop(var, None)
        if own_dir is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(own_dir, ignore_errors=True)
