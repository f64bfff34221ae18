"""``GET /health`` and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from shopsearch import __version__
from shopsearch.service.metrics import CONTENT_TYPE
from shopsearch.service.schemas import HealthResponse
from shopsearch.service.settings import Settings
from shopsearch.service.state import ServiceState, get_state
from shopsearch.storage import recent_failures

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=HealthResponse, summary="Liveness and what is loaded")
def health(state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    engine = state.engine
    size = getattr(engine, "size", None)
    signals = sorted(getattr(engine, "dense", {})) + (["lexical"] if getattr(engine, "lexical", None) else [])
    problems = storage_problems(state.settings)
    return {"status": "degraded" if problems else "ok", "problems": problems,
            "products": int(size if size is not None else len(engine.products)),
            "signals": signals, "version": __version__, "voice": state.voice_reason or "available"}


def storage_problems(settings: Settings) -> list[str]:
    """Folders short of free space and storage failures of the last minutes, in words."""
    problems = []
    for folder in dict.fromkeys(p for p in (settings.index_dir, settings.data_dir) if p is not None):
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            problems.append(f"{folder}: cannot read free space ({exc.strerror})")
            continue
        if free < settings.min_free_bytes:
            problems.append(f"{folder}: {free // (1024 * 1024)} MiB free, below "
                            f"{settings.min_free_bytes // (1024 * 1024)} MiB; writes may fail")
    problems += [f"{what}: {message}" for what, message in sorted(recent_failures().items())]
    return problems


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(state: ServiceState = Depends(get_state)) -> PlainTextResponse:
    return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE)
