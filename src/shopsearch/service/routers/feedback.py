"""``POST /v1/feedback``: shopper events (click, add_to_cart, purchase, like, dislike,
impression), stored append-only for ranking work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from shopsearch.service.errors import ApiError
from shopsearch.service.schemas import FeedbackBatch, FeedbackEvent, FeedbackResponse
from shopsearch.service.state import ServiceState, get_state

router = APIRouter(prefix="/v1", tags=["feedback"])


async def _store(state: ServiceState, events: list[FeedbackEvent]) -> dict[str, Any]:
    errors = [{"field": f"events[{i}].product_id" if len(events) > 1 else "product_id",
               "reason": f"no product with id {e.product_id!r}"}
              for i, e in enumerate(events) if state.engine.product(e.product_id) is None]
    if errors:
        raise ApiError(422, errors[0]["field"], errors[0]["reason"], errors)
    rows = [e.model_dump() for e in events]
    stored = await run_in_threadpool(state.feedback.append, rows)
    for e in events:
        state.metrics.feedback.inc(event=e.event)
        if state.experiment is not None and e.user_id:
            state.experiment.record_event(state.experiment.assign(e.user_id), e.event, e.position)
    return {"stored": stored}


@router.post("/feedback", response_model=FeedbackResponse, status_code=202, summary="Record one event")
async def feedback(event: FeedbackEvent, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return await _store(state, [event])


@router.post("/feedback:batch", response_model=FeedbackResponse, status_code=202,
             summary="Record up to 1000 events")
async def feedback_batch(batch: FeedbackBatch, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return await _store(state, batch.events)
