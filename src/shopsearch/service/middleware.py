"""ASGI middleware: request-body size limit, security headers, request metrics, and a last
resort for unforeseen errors."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopsearch.service.errors import error_body
from shopsearch.service.metrics import Metrics

logger = logging.getLogger(__name__)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (an HTTPException so
    that FastAPI's body parsing passes it on as a 413 instead of a generic 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the {limit}-byte limit")


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _tracking(send: Send) -> tuple[Send, Callable[[], bool]]:
    """``send`` wrapped to remember whether the response has started, and how to ask."""
    state = {"started": False}

    async def tracking_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            state["started"] = True
        await send(message)

    return tracking_send, lambda: state["started"]


class BodyLimitMiddleware:
    """Refuses bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = f"request body exceeds the {self.limit}-byte limit"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    await _send_json(send, 400, error_body(400, "content-length", "not a number"))
                    return
                if too_big:
                    await _send_json(send, 413, error_body(413, "body", reason))
                    return
        seen = 0
        tracking_send, started = _tracking(send)

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started():
                await _send_json(send, 413, error_body(413, "body", reason))


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),  # a served file is never sniffed into HTML or script
    (b"x-frame-options", b"DENY"),  # no framing of the page (the page's CSP says the same)
    (b"referrer-policy", b"no-referrer"),  # shoppers' queries in URLs never leak to image hosts
)


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)


class MetricsMiddleware:
    """Counts requests and observes latency per route template (not per raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("unmatched" if status == 404 else "other")
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=path, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=path).observe(time.perf_counter() - t0)


class UnhandledErrorMiddleware:
    """Answers an exception that no handler took with the JSON 500 (and logs it) instead of
    letting it reach the server: uncaught, the server closes the connection and the client's
    next request on it is reset. HTTP errors (a body over the limit) pass on to their handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking_send, started = _tracking(send)
        try:
            await self.app(scope, receive, tracking_send)
        except HTTPException:
            raise
        except Exception:
            if started():  # too late for another answer; the server closes this connection
                raise
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await _send_json(send, 500, error_body(500, None, "internal error; the server log has details"))
