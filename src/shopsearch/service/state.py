"""What the app holds while it runs, built once by the lifespan."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request

from shopsearch.rank.events import EventLog
from shopsearch.service.errors import ApiError
from shopsearch.service.metrics import Metrics
from shopsearch.service.settings import API_KEY_ENV, Settings
from shopsearch.types import Product

IMAGE_ROUTE = "/images"


@dataclass
class ServiceState:
    settings: Settings
    engine: Any
    image_dirs: tuple[Path, ...]
    feedback: EventLog  # the interaction log: feedback and impressions
    metrics: Metrics
    transcriber: Any = None  # shopsearch.voice.Transcriber, created on first voice query
    voice_reason: str | None = None  # why voice search is off; None when it can run
    experiment: Any = None  # shopsearch.evaluation.abtest.Experiment when a split-traffic test runs
    ranker: Any = None  # shopsearch.rank.Ranker attached to the engine (None when ranking is off)

    def product(self, product_id: str) -> Product | None:
        """The product as the index holds it now: other workers' and processes' writes
        included (one ``stat`` when there are none), so a product written through one worker
        is found through every other. Blocks on the index write lock while another process
        applies or compacts: call it from a worker thread, not the event loop."""
        self.refresh()
        return self.engine.product(product_id)

    def refresh(self) -> None:
        """Pick up other workers' and processes' writes (see :meth:`product`)."""
        refresh = getattr(self.engine, "refresh", None)
        if refresh is not None:
            refresh()

    def image_url(self, product: Product, index: int) -> str:
        ref = product.images[index]
        if ref.startswith(("http://", "https://")):
            return ref
        return f"{IMAGE_ROUTE}/{quote(product.id, safe='')}/{index}"

    def product_dict(self, product: Product) -> dict[str, Any]:
        d = product.to_dict()
        d.pop("extra", None)
        d["images"] = [self.image_url(product, i) for i in range(len(product.images))]
        return d

    def in_image_dirs(self, path: str | Path) -> Path | None:
        """The resolved path when it lies inside one of the catalog's image folders, else None."""
        try:
            real = Path(path).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        for folder in self.image_dirs:
            if real.is_relative_to(folder):
                return real
        return None


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


def require_api_key(request: Request) -> None:
    """Write endpoints: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in
    constant time."""
    expected = get_state(request).settings.api_key
    if not expected:
        raise ApiError(403, "authorization",
                       f"write endpoints are disabled: set {API_KEY_ENV} when starting the service")
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization")
    if given is None and auth and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if not given:
        raise ApiError(401, "authorization", "missing API key (Authorization: Bearer KEY or X-API-Key)",
                       headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
        raise ApiError(401, "authorization", "wrong API key", headers={"WWW-Authenticate": "Bearer"})
