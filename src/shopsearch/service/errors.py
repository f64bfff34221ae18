"""One JSON shape for every error: ``{"status", "field", "reason", "errors": [{field, reason}]}``.

Handlers turn request-validation failures, HTTP errors and the library's ``ValueError``
subclasses raised at the edge into 4xx responses; anything unforeseen is logged and becomes a
500 with the same shape (and no internals).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shopsearch.storage import StorageError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as JSON: HTTP ``status``, the ``field`` at fault and the ``reason``."""

    def __init__(self, status: int, field: str | None, reason: str,
                 errors: Sequence[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.status = status
        self.field = field
        self.reason = reason
        self.errors = list(errors) if errors else [{"field": field, "reason": reason}]
        self.headers = headers


def error_body(status: int, field: str | None, reason: str,
               errors: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"status": status, "field": field, "reason": reason,
            "errors": list(errors) if errors else [{"field": field, "reason": reason}]}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.status, exc.field, exc.reason, exc.errors), exc.status,
                        headers=exc.headers)


_LOCATIONS = ("body", "query", "path", "header", "cookie", "form")


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _reason(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    if err.get("type") == "missing":
        return "field required"
    return msg


def validation_errors(errors: Sequence[Any], prefix: str = "") -> list[dict[str, Any]]:
    out = []
    for err in errors:
        name = _field_name(err.get("loc", ()))
        out.append({"field": f"{prefix}{name}" if prefix else name, "reason": _reason(err)})
    return out


def from_validation(exc: ValidationError | RequestValidationError, prefix: str = "") -> ApiError:
    errs = validation_errors(exc.errors(), prefix)
    if not errs:
        errs = [{"field": "body", "reason": "invalid request"}]
    # FastAPI reports undecodable JSON as a json_invalid error at ("body", pos).
    first = errs[0]
    return ApiError(422, first["field"], first["reason"], errs)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return error_response(ApiError(400, "body", f"invalid JSON: {err.get('msg', '')}"))
        return error_response(from_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and reason == "Not Found":
            reason = "no such endpoint"
        field = "body" if exc.status_code in (400, 413) else None
        return JSONResponse(error_body(exc.status_code, field, reason), exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(StorageError)
    async def _storage(_: Request, exc: StorageError) -> JSONResponse:
        """Nothing was stored: 507 when the disk is full, 503 for another storage failure;
        either way retryable, and the client is told when to try again."""
        status = 507 if exc.disk_full else 503
        return JSONResponse(error_body(status, "storage", str(exc)), status, headers={"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, None, "internal error; the server log has details"), 500)
