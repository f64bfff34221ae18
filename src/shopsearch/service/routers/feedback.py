"""``POST /v1/feedback``: shopper events (click, add_to_cart, purchase, like, dislike,
impression), stored in the append-only interaction log and applied to the shopper's session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from shopsearch.service.errors import ApiError
from shopsearch.service.schemas import FeedbackBatch, FeedbackEvent, FeedbackResponse
from shopsearch.service.state import ServiceState, get_state

router = APIRouter(prefix="/v1", tags=["feedback"])


async def _store(state: ServiceState, events: list[FeedbackEvent]) -> dict[str, Any]:
    def unknown() -> list[int]:
        state.refresh()  # a product just written through another worker is known
        return [i for i, e in enumerate(events) if state.engine.product(e.product_id) is None]

    errors = [{"field": f"events[{i}].product_id" if len(events) > 1 else "product_id",
               "reason": f"no product with id {events[i].product_id!r}"}
              for i in await run_in_threadpool(unknown)]
    if errors:
        raise ApiError(422, errors[0]["field"], errors[0]["reason"], errors)
    rows = [e.model_dump() for e in events]
    for row in rows:  # the API counts positions from 1 (as shown); the log from 0
        if row["position"] is not None:
            row["position"] -= 1
    # With a ranker, the event also takes effect at once (a dislike hides the product for the
    # rest of the session; the user's profile is rebuilt on the next search).
    store = state.ranker.record if state.ranker is not None else state.feedback.append
    report = await run_in_threadpool(store, rows)
    if report.rejects:
        first = report.rejects[0]
        raise ApiError(422, first.field, first.reason,
                       [{"field": r.field, "reason": r.reason} for r in report.rejects])
    for e in events:
        state.metrics.feedback.labels(event=e.event).inc()
        if state.experiment is not None and e.user_id:
            state.experiment.record_event(state.experiment.assign(e.user_id), e.event, e.position)
    return {"stored": report.accepted}


@router.post("/feedback", response_model=FeedbackResponse, status_code=202, summary="Record one event")
async def feedback(event: FeedbackEvent, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return await _store(state, [event])


@router.post("/feedback:batch", response_model=FeedbackResponse, status_code=202,
             summary="Record up to 1000 events")
async def feedback_batch(batch: FeedbackBatch, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    return await _store(state, batch.events)
