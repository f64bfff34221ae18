"""``POST /v1/search`` (JSON or multipart, text / image / audio) and ``GET /v1/suggest``."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import re
import time
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from PIL import Image
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shopsearch.preprocess.image import ImageError, load_image
from shopsearch.rank.events import EventLog
from shopsearch.retrieve.filters import FilterError
from shopsearch.retrieve.paging import SORT_ORDERS
from shopsearch.service import turns
from shopsearch.service.errors import ApiError, from_validation
from shopsearch.service.schemas import SearchRequest, SearchResponse, SuggestResponse
from shopsearch.service.state import ServiceState, get_state
from shopsearch.service.turns import TurnRequest
from shopsearch.storage import StorageError

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["search"])

_BYTESIO = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")
_FORM_FIELDS = ("text", "image", "filters", "k", "page", "user_id", "session_id", "explain", "language",
                "constraints", "sort", "loose", "same_turn")

_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SearchRequest.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"}, "image": {"type": "string", "format": "binary"},
                    "audio": {"type": "string", "format": "binary",
                              "description": "WAV, MP3, OGG or WebM speech"},
                    "filters": {"type": "string", "description": "JSON object or list"},
                    "filter": {"type": "array", "items": {"type": "string"},
                               "description": "key=value filters (repeatable)"},
                    "k": {"type": "integer"}, "page": {"type": "integer"},
                    "user_id": {"type": "string"}, "session_id": {"type": "string"},
                    "explain": {"type": "boolean"},
                    "language": {"type": "string", "enum": ["auto", "zh", "en"]},
                    "constraints": {"type": "string", "enum": ["boost", "filter", "off"]},
                    "sort": {"type": "string", "enum": list(SORT_ORDERS)},
                    "loose": {"type": "boolean"}, "same_turn": {"type": "boolean"},
                },
            }},
        },
    }
}


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ApiError(400, "body", "empty body; send a JSON object such as {\"text\": \"red dress\"}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "body", f"not valid UTF-8 (byte {exc.start})") from None
    data = parse_json(text, "body", 400)
    if not isinstance(data, dict):
        raise ApiError(422, "body", f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_json(text: str, field: str, status: int) -> Any:
    """``json.loads`` with every way it can fail answered as ``status`` naming ``field``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(status, field, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ApiError(status, field, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer literal over Python's digit limit
        raise ApiError(status, field, f"invalid JSON: {exc}") from None


async def _read_upload(upload: UploadFile, field: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, field, f"upload exceeds the {limit}-byte limit")
    if not data:
        raise ApiError(422, field, "the uploaded file is empty")
    return data


async def _form(request: Request, state: ServiceState) -> tuple[dict[str, Any], bytes | None, bytes | None]:
    """Fields, image bytes and audio bytes of a multipart search."""
    s = state.settings
    data: dict[str, Any] = {}
    image: bytes | None = None
    audio: bytes | None = None
    async with request.form(max_files=2, max_fields=40, max_part_size=s.max_body_bytes) as form:
        filter_strings: list[str] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "image":
                    image = await _read_upload(value, "image", s.max_image_bytes)
                elif key == "audio":
                    audio = await _read_upload(value, "audio", s.max_audio_bytes)
                else:
                    raise ApiError(422, key, "unexpected file; upload 'image' or 'audio'")
            elif key == "filter":
                filter_strings.append(value)
            elif key == "filters":
                data["filters"] = parse_json(value, "filters", 422) if value.strip() else None
            elif key in _FORM_FIELDS:
                if key in data:
                    raise ApiError(422, key, "given more than once")
                data[key] = value
            else:
                raise ApiError(422, key, "unknown field")
        if filter_strings:
            if "filters" in data:
                raise ApiError(422, "filters", "give either 'filters' (JSON) or 'filter' (key=value), not both")
            data["filters"] = filter_strings
    for key in ("text", "image", "user_id", "session_id"):
        if data.get(key) == "":
            data[key] = None
    return data, image, audio


def _decode_base64_image(value: str, limit: int) -> bytes:
    s = value.strip()
    if s.startswith("data:"):
        head, _, s = s.partition(",")
        if ";base64" not in head:
            raise ApiError(422, "image", "a data: URL must be base64-encoded")
    s = "".join(s.split())
    if len(s) * 3 // 4 > limit:
        raise ApiError(413, "image", f"image exceeds the {limit}-byte limit")
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "image", "not valid base64") from None


def _decode_image(data: bytes, state: ServiceState) -> Image.Image:
    s = state.settings
    try:
        return load_image(data, max_pixels=s.max_image_pixels, max_bytes=s.max_image_bytes)
    except ImageError as exc:
        raise ApiError(422, "image", _BYTESIO.sub("the upload", str(exc))) from None
    except Image.DecompressionBombError as exc:  # Pillow's own guard, before ours can look
        raise ApiError(422, "image", f"image is too large to decode ({exc})") from None


async def _transcribe(audio: bytes, language: str, state: ServiceState) -> Any:
    from shopsearch.voice import AudioError, Transcriber, VoiceConfig, VoiceUnavailableError

    if state.voice_reason:
        raise ApiError(503, "audio", state.voice_reason)
    if state.transcriber is None:
        s = state.settings
        state.transcriber = Transcriber(VoiceConfig(max_seconds=s.max_audio_seconds, threads=s.voice_threads))
    try:
        return await run_in_threadpool(state.transcriber.transcribe, audio, language)
    except AudioError as exc:
        raise ApiError(422, "audio", str(exc)) from None
    except VoiceUnavailableError as exc:
        state.voice_reason = str(exc)
        raise ApiError(503, "audio", str(exc)) from None


def _check_limits(req: SearchRequest, state: ServiceState) -> None:
    s = state.settings
    if req.k > s.max_k:
        raise ApiError(422, "k", f"must be at most {s.max_k}, got {req.k}")
    if req.page > s.max_page:
        raise ApiError(422, "page", f"must be at most {s.max_page}, got {req.page}")
    if req.text is not None and len(req.text) > s.max_text_chars:
        raise ApiError(422, "text", f"longer than {s.max_text_chars} characters ({len(req.text)})")
    if req.text is not None and "\x00" in req.text:
        raise ApiError(422, "text", "contains a NUL character")


def hits_payload(result: Any, state: ServiceState, offset: int, explain: bool) -> list[dict[str, Any]]:
    out = []
    for i, hit in enumerate(result.hits):
        product = hit.product or state.engine.product(hit.product_id)
        item: dict[str, Any] = {"rank": offset + i + 1, "product_id": hit.product_id,
                                "score": float(hit.score), "product": state.product_dict(product)}
        if explain:
            item["signals"] = {k: {"score": float(sc), "rank": int(r)} for k, (sc, r) in hit.signals.items()}
            item["explain"] = getattr(hit, "explain", None)
        out.append(item)
    return out


def page_payload(result: Any, state: ServiceState, k: int, page: int, explain: bool) -> dict[str, Any]:
    total = int(result.total if hasattr(result, "total") else result.total_candidates)
    facets = getattr(result, "facets", None) or {}
    return {
        "hits": hits_payload(result, state, (page - 1) * k, explain),
        "total": total, "page": page, "k": k, "pages": math.ceil(total / k) if total else 0,
        "facets": {f: [{"value": str(v), "count": int(c)} for v, c in vals] for f, vals in facets.items()},
        "parsed": getattr(result, "parsed", None),
        "took_ms": float(result.took_ms), "signals_used": list(result.signals_used),
        "session": getattr(result, "session", None),
    }


def engine_error(exc: ValueError) -> ApiError:
    """The field a library error is about: filters, image or the query itself."""
    if isinstance(exc, FilterError):
        return ApiError(422, "filters", str(exc))
    if isinstance(exc, ImageError):
        return ApiError(422, "image", str(exc))
    msg = str(exc)
    field = "k" if msg.startswith("k ") else "page" if msg.startswith("offset") else "query"
    return ApiError(422, field, msg)


@router.post("/search", response_model=SearchResponse, openapi_extra=_OPENAPI_BODY,
             summary="Search by text, photo, voice or a mix")
async def search(request: Request, background: BackgroundTasks) -> dict[str, Any]:
    t0 = time.perf_counter()
    state = get_state(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    image_bytes = audio = None
    if ctype in ("application/json", ""):
        data = _json_object(await request.body())
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        data, image_bytes, audio = await _form(request, state)
    else:
        raise ApiError(415, "content-type",
                       f"unsupported content type {ctype!r}; send application/json, multipart/form-data "
                       "or application/x-www-form-urlencoded")
    try:
        req = SearchRequest.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None
    _check_limits(req, state)
    if req.image is not None:
        if image_bytes is not None:
            raise ApiError(422, "image", "give the image once: as a file or as base64, not both")
        image_bytes = _decode_base64_image(req.image, state.settings.max_image_bytes)
    text = (req.text or "").strip()
    rerun = bool(req.session_id) and state.ranker is not None  # an empty search re-runs the session's query
    if not text and image_bytes is None and audio is None and not rerun:
        raise ApiError(422, "text", "empty query: give text, an image or an audio recording")
    image = await run_in_threadpool(_decode_image, image_bytes, state) if image_bytes is not None else None
    transcript = None
    if audio is not None:
        transcript = await _transcribe(audio, req.language, state)
        if not transcript.text and not text and image is None:
            raise ApiError(422, "audio", "no speech was recognised in the recording")
        text = f"{text} {transcript.text}".strip()
    offset = (req.page - 1) * req.k
    options: dict[str, Any] = {}
    if req.constraints is not None:
        options["constraints"] = req.constraints
    exp, arm = state.experiment, None
    user_id = req.user_id or request.headers.get("x-user-id")
    if exp is not None and user_id:
        arm = exp.assign(user_id)
        options.update(exp.search_options(arm))  # the arm's settings win
    if state.ranker is not None:
        options.update(user_id=user_id, session_id=req.session_id, explain=req.explain)
    sessions = state.ranker.sessions if state.ranker is not None and req.session_id else None
    turn = TurnRequest(text or None, image, req.k, req.page, req.filters, req.sort, req.loose, req.same_turn,
                       req.session_id, options)
    try:
        result = await run_in_threadpool(turns.search, state.engine, sessions, turn)
    except ValueError as exc:
        raise engine_error(exc) from None
    if arm is not None:
        exp.record_search(arm, len(result.hits), result.took_ms)
        logger.info("experiment %s: user %s in arm %s", exp.config.name, user_id, arm)
    modality = "+".join(m for m, on in (("text", bool(req.text and req.text.strip())),
                                        ("image", image is not None), ("voice", audio is not None)) if on)
    state.metrics.searches.labels(modality=modality).inc()
    body = page_payload(result, state, req.k, req.page, req.explain)
    body["weak"], body["sorts"] = result.weak, result.sorts
    body["suggestions"] = _suggestions(state, text) if not result.hits and text else []
    body["transcript"] = transcript.to_dict() if transcript is not None else None
    body["server_ms"] = (time.perf_counter() - t0) * 1000
    body["experiment"] = {"name": exp.config.name, "arm": arm} if arm is not None else None
    if state.settings.log_impressions and (user_id or req.session_id) and result.hits:
        impressions = [{"event": "impression", "product_id": h.product_id, "user_id": user_id,
                        "session_id": req.session_id, "query": text[:500] or None, "position": offset + i}
                       for i, h in enumerate(result.hits)]
        background.add_task(_log_impressions, state.feedback, impressions)  # after the response is sent
    return body


def _suggestions(state: ServiceState, text: str, k: int = 6) -> list[str]:
    """Queries to try after no hits: completions of the query's words (longest first), or of
    their first letters (a typo further in)."""
    if not hasattr(state.engine, "suggest"):
        return []
    out: list[str] = []
    words = sorted(set(text.split()), key=len, reverse=True)
    for prefix in [*words, *(w[:3] for w in words if len(w) > 3)]:
        for s in state.engine.suggest(prefix, k):
            if s.casefold() != text.casefold() and s not in out:
                out.append(s)
        if len(out) >= k:
            break
    return out[:k]


def _log_impressions(log: EventLog, impressions: list[dict[str, Any]]) -> None:
    """On a full disk these impressions are lost (noted for ``/health``); the search is not."""
    with contextlib.suppress(StorageError):
        log.append(impressions)


@router.get("/suggest", response_model=SuggestResponse, summary="Autocomplete a query prefix")
def suggest(
    q: str = Query("", max_length=100, description="what the shopper typed so far"),
    k: int = Query(8, ge=1, le=50),
    state: ServiceState = Depends(get_state),
) -> dict[str, Any]:
    prefix = q.strip()
    if not prefix:
        return {"q": q, "suggestions": []}
    if not hasattr(state.engine, "suggest"):
        raise ApiError(501, "q", "this engine version has no autocomplete")
    return {"q": q, "suggestions": state.engine.suggest(prefix, k)}
