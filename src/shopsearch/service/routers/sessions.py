"""``/v1/sessions/{id}``: a shopper's multi-turn search state (chips), reset and chip removal."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from shopsearch.service.errors import ApiError
from shopsearch.service.schemas import SessionOut
from shopsearch.service.state import ServiceState, get_state

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
SessionId = Path(min_length=1, max_length=128, description="the id the client sends as session_id")


def _ranker(state: ServiceState) -> Any:
    if state.ranker is None:
        raise ApiError(409, "session_id", "ranking is turned off in the service settings, so there are no sessions")
    return state.ranker


@router.get("/{session_id}", response_model=SessionOut, summary="The session's state (chips)")
async def get_session(session_id: str = SessionId, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    ranker = _ranker(state)
    session = await run_in_threadpool(ranker.sessions.get, session_id)
    return session.public()


@router.post("/{session_id}/reset", response_model=SessionOut, summary="Start the session over")
async def reset_session(session_id: str = SessionId, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    ranker = _ranker(state)
    await run_in_threadpool(ranker.reset, session_id)
    session = await run_in_threadpool(ranker.sessions.get, session_id)
    return session.public()


@router.delete("/{session_id}/chips/{kind}/{index}", response_model=SessionOut,
               summary="Remove one chip (a constraint, the anchor product, or the hidden products)")
async def remove_chip(
    kind: Literal["constraint", "required", "anchor", "hidden"], index: int = Path(ge=0, le=1000),
    session_id: str = SessionId, state: ServiceState = Depends(get_state),
) -> dict[str, Any]:
    ranker = _ranker(state)
    try:
        session = await run_in_threadpool(ranker.remove_chip, session_id, kind, index)
    except IndexError as exc:
        raise ApiError(404, "index", str(exc)) from None
    return session.public()


@router.post("/{session_id}/chips/constraint/{index}/require", response_model=SessionOut,
             summary="Turn a preference chip into a filter (matching products only)")
async def require_chip(
    index: int = Path(ge=0, le=1000), session_id: str = SessionId, state: ServiceState = Depends(get_state),
) -> dict[str, Any]:
    ranker = _ranker(state)
    try:
        session = await run_in_threadpool(ranker.sessions.update, session_id, lambda s: s.require(index))
    except IndexError as exc:
        raise ApiError(404, "index", str(exc)) from None
    return session.public()
