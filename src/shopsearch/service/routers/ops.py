"""``GET /health`` and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from shopsearch import __version__
from shopsearch.service.schemas import HealthResponse
from shopsearch.service.state import ServiceState, get_state

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=HealthResponse, summary="Liveness and what is loaded")
def health(state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    engine = state.engine
    size = getattr(engine, "size", None)
    signals = sorted(getattr(engine, "dense", {})) + (["lexical"] if getattr(engine, "lexical", None) else [])
    return {"status": "ok", "products": int(size if size is not None else len(engine.products)),
            "signals": signals, "version": __version__, "voice": state.voice_reason or "available"}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(state: ServiceState = Depends(get_state)) -> PlainTextResponse:
    return PlainTextResponse(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
