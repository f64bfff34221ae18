"""The web page: ``/`` and its static files (plain HTML, CSS and JS; nothing from the internet)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from shopsearch.service.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8",
          "i18n.js": "text/javascript; charset=utf-8"}
# The page talks only to this service; images may come from the catalog's own http(s) URLs.
CSP = ("default-src 'self'; img-src 'self' data: blob: http: https:; media-src 'self' blob:; "
       "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    media = _FILES.get(name)
    if media is None:
        raise ApiError(404, "name", f"no static file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media, headers={"Cache-Control": "no-cache"})
