"""The web page: ``/`` and its static files (plain HTML, CSS and JS; nothing from the internet)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

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


@lru_cache(maxsize=1)
def _chinese_terms() -> dict[str, str]:
    """English catalogue term (lower case) -> its preferred Chinese spelling (the lexicon's first
    row for that term), for the page's Chinese facet names, values and attributes."""
    from shopsearch.preprocess.lexicon import default_lexicon

    out: dict[str, str] = {}
    for entry in default_lexicon().entries:
        if entry.en and entry.kind != "stop":
            out.setdefault(entry.en.lower(), entry.zh)
    return out


@router.get("/ui/terms/zh")
def chinese_terms() -> Response:
    """The lexicon read backwards, for showing catalogue values in the Chinese page."""
    return JSONResponse(_chinese_terms(), headers={"Cache-Control": "max-age=3600"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    media = _FILES.get(name)
    if media is None:
        raise ApiError(404, "name", f"no static file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media, headers={"Cache-Control": "no-cache"})
