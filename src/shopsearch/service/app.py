"""The FastAPI application: ``create_app(settings)``; the engine is loaded once by the lifespan."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from shopsearch import __version__
from shopsearch.index.wal import StaleVersionError
from shopsearch.rank.events import EventLog
from shopsearch.service.errors import ApiError, error_response, install_handlers
from shopsearch.service.metrics import Gauge, Metrics
from shopsearch.service.middleware import (
    BodyLimitMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
    UnhandledErrorMiddleware,
)
from shopsearch.service.routers import feedback, images, ops, products, search, sessions, ui
from shopsearch.service.settings import Settings
from shopsearch.service.state import ServiceState

logger = logging.getLogger(__name__)


def _image_dirs(engine: Any) -> tuple[Path, ...]:
    """The catalog's image folders at start-up; later writes may not add new ones."""
    dirs = getattr(engine, "image_dirs", None)
    if dirs is None:  # engines without the property: the folders of the local images
        dirs = {Path(img).parent for p in engine.products for img in p.images
                if not img.startswith(("http://", "https://"))}
    return tuple(sorted({Path(d).resolve() for d in dirs}))


def _voice_reason(settings: Settings) -> str | None:
    if not settings.voice:
        return "voice search is turned off in the service settings"
    from shopsearch.voice import available

    return available()


def _register_gauges(metrics: Metrics, state: ServiceState) -> None:
    def stats() -> dict[str, Any]:
        engine = state.engine
        if hasattr(engine, "stats"):
            return engine.stats()
        return {"products": len(engine.products), "vectors": {}, "bytes_on_disk": 0}

    metrics.gauges = [
        Gauge("shopsearch_index_products", "Live products in the index.",
              lambda: [({}, stats()["products"])]),
        Gauge("shopsearch_index_vectors", "Stored vectors per signal.",
              lambda: [({"signal": k}, v) for k, v in stats().get("vectors", {}).items()]),
        Gauge("shopsearch_index_bytes", "Index size on disk in bytes.",
              lambda: [({}, stats().get("bytes_on_disk", 0))]),
    ]


def _experiment(path: Path, metrics: Metrics) -> Any:
    """The split-traffic experiment in ``path``, counting into a Prometheus counter (summed over
    the worker processes, where a gauge would show only the worker that answers the scrape)."""
    from shopsearch.evaluation.abtest import Experiment, ExperimentConfig

    config = ExperimentConfig.from_file(path)
    counter = metrics.experiment
    for arm in config.arms:  # every arm shows from the start, at 0
        for name in ("searches", "zero_results", "latency_ms_sum"):
            counter.labels(arm=arm, counter=name, experiment=config.name)

    def count(arm: str, name: str, amount: float) -> None:
        counter.labels(arm=arm, counter=name, experiment=config.name).inc(amount)

    return Experiment(config, on_count=count)


def _warm_voice(transcriber: Any) -> None:
    """Warm Whisper up; when it cannot load, the first voice request answers 503 with the reason."""
    from shopsearch.voice import VoiceUnavailableError

    try:
        transcriber.warm_up()
    except VoiceUnavailableError as exc:
        logger.warning("voice warm-up: %s", exc)


def _ranker(settings: Settings, engine: Any, log: EventLog) -> Any:
    """The ranker over ``engine``, sharing session state between worker processes via SQLite."""
    from shopsearch.rank import RankConfig, Ranker, SessionStore

    config = RankConfig.load(settings.rank_config) if settings.rank_config else RankConfig()
    sessions = SessionStore(settings.sessions_path, ttl_s=config.session_ttl_s)
    return Ranker(engine, log=log, models_dir=settings.ranker_dir, config=config, sessions=sessions).attach()


async def _stale_version(_: Request, exc: Exception) -> JSONResponse:
    """Another process rebuilt or compacted the index under this service: writes are refused
    (409) until the service is restarted on the new version; searches go on."""
    logger.error("%s", exc)
    return error_response(ApiError(409, "index", str(exc)))


def create_app(settings: Settings, engine: Any = None) -> FastAPI:
    """The service for ``settings.index_dir``. ``engine``: an already loaded
    :class:`~shopsearch.retrieve.engine.Engine` to serve instead (tests share one)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        eng = engine
        if eng is None:
            import shopsearch
            from shopsearch.config import SearchConfig

            config = SearchConfig.load(settings.search_config) if settings.search_config else SearchConfig()
            eng = shopsearch.load(settings.index_dir, config=config)
        if settings.warmup and hasattr(eng, "warmup"):
            eng.warmup()
        state = ServiceState(
            settings=settings, engine=eng, image_dirs=_image_dirs(eng),
            feedback=EventLog(settings.feedback_path), metrics=metrics,
            voice_reason=_voice_reason(settings),
        )
        voice_warm_up: threading.Thread | None = None
        if settings.warmup and state.voice_reason is None:
            # load Whisper and run it once beside the first searches, not inside the first spoken
            # query (model load ~0.5 s and a first run; benchmarks/results/voice_speed.md)
            from shopsearch.voice import Transcriber, VoiceConfig

            state.transcriber = Transcriber(VoiceConfig(max_seconds=settings.max_audio_seconds,
                                                        threads=settings.voice_threads))
            voice_warm_up = threading.Thread(target=_warm_voice, args=(state.transcriber,), name="voice-warm-up",
                                             daemon=True)
            voice_warm_up.start()
        if settings.rank:
            state.ranker = _ranker(settings, eng, state.feedback)
            if settings.warmup and hasattr(eng, "search"):
                # the ranker reads every product's price, rating, stock and date on first use
                # (~70 ms on the sample catalogue): now, not in the first shopper's search
                eng.search("warmup 预热", k=1, facets=False)
        if settings.experiment is not None:
            state.experiment = _experiment(settings.experiment, metrics)
        _register_gauges(metrics, state)
        app.state.service = state
        if settings.warmup:
            # Everything loaded so far (index, models, vocabularies: ~370k objects on the fashion
            # index) lives as long as the service: leave it out of the cyclic garbage collector,
            # whose full passes over it paused a request for ~175 ms (about once per 300 searches)
            gc.collect()
            gc.freeze()
        logger.info("serving %s (%d products); voice: %s", settings.index_dir, len(eng.products),
                    state.voice_reason or "available")
        try:
            yield
        finally:
            if voice_warm_up is not None:  # a native run cut off at exit aborts the process
                voice_warm_up.join(timeout=60)
            state.feedback.close()
            if state.ranker is not None:
                state.ranker.sessions.close()

    app = FastAPI(
        title="shopsearch", version=__version__, lifespan=lifespan,
        description="Cross-modal product search: text (Chinese, English), photo and voice queries.",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; /openapi.json stays
    )
    install_handlers(app)
    app.add_exception_handler(StaleVersionError, _stale_version)
    for module in (search, products, feedback, sessions, images, ops, ui):
        app.include_router(module.router)
    app.add_middleware(UnhandledErrorMiddleware)  # innermost: inside the body limit and the metrics
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.cors_origins:  # closed by default: no CORS headers at all, so browsers allow same-origin only
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (each worker process builds its own app)."""
    return create_app(Settings.from_env())
