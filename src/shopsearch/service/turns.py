"""A search request as a turn: ranked once, then paged, filtered and sorted over that ranking.

The glue between the HTTP search and the library (no ranking of its own): a new turn asks the
engine for the top :data:`~shopsearch.retrieve.paging.FREEZE_DEPTH` products, the relevance
floor (:func:`~shopsearch.retrieve.paging.weak_match`) may empty that list, and
:func:`~shopsearch.retrieve.paging.view` cuts the page. In a session the ranking is stored
with the session (:class:`~shopsearch.rank.session.FrozenTurn`): a further page, a facet
click or a sort of the same query (``page > 1`` or ``same_turn``) is answered from it, so what
was shown keeps its order and the total stays put. Without a session nothing is stored; the
same request ranks the same way again (the engine is deterministic), so its pages are stable too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shopsearch.rank.session import FrozenTurn, SessionState
from shopsearch.retrieve.paging import FREEZE_DEPTH, sort_orders, view, weak_match
from shopsearch.storage import StorageError
from shopsearch.types import Hit, Product


@dataclass(frozen=True)
class TurnRequest:
    """What one search asks, after the HTTP edge validated it."""

    text: str | None
    image: Any
    k: int
    page: int
    filters: Mapping[str, Any] | Sequence[str] | None = None
    sort: str = "relevance"
    loose: bool = False  # show loose matches even when the relevance floor finds no good one
    same_turn: bool = False  # a facet click or sort of the turn already shown
    session_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # engine options (constraints, user...)


@dataclass
class TurnPage:
    """One page of a turn, with what the response reports about the whole turn."""

    hits: list[Hit]
    total: int
    facets: dict[str, list[tuple[str, int]]]
    parsed: dict[str, Any] | None
    signals_used: tuple[str, ...]
    took_ms: float
    session: dict[str, Any] | None
    weak: bool
    sorts: list[str]
    frozen: bool  # answered from the stored ranking


def search(engine: Any, sessions: Any, req: TurnRequest) -> TurnPage:
    """Answer ``req``; ``sessions`` is the ranker's session store (None without ranking or
    session)."""
    t0 = time.perf_counter()
    sid = req.session_id if sessions is not None else None
    in_session = sid is not None
    options_key = json.dumps({"constraints": req.options.get("constraints"), "loose": req.loose}, sort_keys=True)
    if in_session and (req.page > 1 or req.same_turn):
        try:
            state = sessions.get(sid)
        except StorageError:
            state = None
        turn = state.frozen_turn() if state is not None else None
        if (turn is not None and turn.generation == engine.generation and turn.key == state.query_key()
                and turn.options == options_key):
            return _from_frozen(engine, sessions, req, state, turn, t0)
    # facets are counted by view() over the frozen list, not by the engine over every candidate
    options = dict(req.options, offset=0, facets=False)
    fields, edges = engine.facet_layout()
    result = engine.search(req.text, req.image, FREEZE_DEPTH, None if in_session else req.filters, **options)
    hits = list(result.hits)
    weak = not req.loose and weak_match(hits, result.parsed, req.image is not None)
    if weak:
        hits = []
    session = result.session
    by_id = {h.product_id: h for h in hits}
    page = view([_product(engine, h) for h in hits], req.k, req.page, filters=req.filters if in_session else None,
                sort=req.sort, facet_fields=fields, price_edges=edges)
    page_hits = [by_id[p.id] for p in page.products]
    if sid is not None:
        # scores rounded: they are only reported, and a session holds up to 300 of them
        turn = FrozenTurn("", tuple(h.product_id for h in hits), tuple(round(float(h.score), 5) for h in hits),
                          engine.generation, options_key, weak, result.parsed, tuple(result.signals_used),
                          fields, tuple(edges))
        session = _remember(sessions, sid, turn, page_hits) or session
    return TurnPage(page_hits, page.total, page.facets, result.parsed, tuple(result.signals_used),
                    (time.perf_counter() - t0) * 1000, session, weak, sort_orders([h.product for h in hits
                                                                                  if h.product is not None]),
                    False)


def _from_frozen(engine: Any, sessions: Any, req: TurnRequest, state: SessionState, turn: FrozenTurn,
                 t0: float) -> TurnPage:
    hidden = set(state.disliked)
    rows = [(pid, score, engine.product(pid)) for pid, score in zip(turn.ids, turn.scores) if pid not in hidden]
    alive = [(pid, score, p) for pid, score, p in rows if p is not None]  # deleted since: gone
    score_of = {pid: score for pid, score, _ in alive}
    page = view([p for _, _, p in alive], req.k, req.page, filters=req.filters, sort=req.sort,
                facet_fields=turn.facet_fields, price_edges=turn.price_edges)
    hits = [Hit(p.id, score_of[p.id], p) for p in page.products]
    session = _remember(sessions, state.session_id, None, hits) or state.public()
    return TurnPage(hits, page.total, page.facets, turn.parsed, turn.signals, (time.perf_counter() - t0) * 1000,
                    session, turn.weak, sort_orders([p for _, _, p in alive]), True)


def _remember(sessions: Any, session_id: str, turn: FrozenTurn | None, shown: Sequence[Hit]) -> dict[str, Any] | None:
    """Store the page shown ("the second one" means one of these) and, for a new turn, its
    ranking under the session's current query key. None when the store cannot be written."""

    def change(state: SessionState) -> None:
        state.shown = [h.product_id for h in shown]
        if turn is not None:
            state.frozen = replace(turn, key=state.query_key()).to_dict()

    try:
        return sessions.update(session_id, change).public()
    except StorageError:  # the answer stands; paging this turn ranks it again
        return None


def _product(engine: Any, hit: Hit) -> Product:
    return hit.product if hit.product is not None else engine.product(hit.product_id)
