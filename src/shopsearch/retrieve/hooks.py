"""The seam between retrieval and ranking: what a reranker may change about a search.

Retrieval must not import ranking (data flows one way), so the engine talks to an attached
reranker through this small protocol; :class:`shopsearch.rank.Ranker` implements it.

A search with a reranker runs in three steps:

1. ``plan``: before retrieval, the reranker may rewrite the query (multi-turn refinement:
   "cheaper", "in red", "不要黑色", "more like the second one"), add hard constraints, add
   photos (a product the shopper pointed at) and exclude products (disliked in this session);
2. retrieval and fusion as usual, over the planned query;
3. ``rerank``: the reranker reorders the top fused candidates with its own features
   (business signals, personal profile, session feedback, learned models) and explains each;
   ``observe`` then sees the page that was shown (for "the second one" on the next turn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from shopsearch.preprocess.image import ImageInput
from shopsearch.preprocess.query import Constraint, ParsedQuery


@dataclass(frozen=True)
class SearchContext:
    """Who is searching: ``user_id`` (across sessions) and ``session_id`` (this visit);
    ``offset`` > 0 means a further page of the same query, not a new turn."""

    user_id: str | None = None
    session_id: str | None = None
    now: float = 0.0
    offset: int = 0


@dataclass
class QueryPlan:
    """A reranker's rewrite of one search.

    ``text``: the query to retrieve with (None keeps the shopper's own words); ``parsed``: its
    constraints, when the reranker built them itself; ``required``: constraints applied as hard
    filters (session negations, a budget); ``images``: extra query photos; ``exclude``: product
    ids never to show; ``data``: the reranker's own state for this search (e.g. the session).
    """

    text: str | None = None
    parsed: ParsedQuery | None = None
    required: tuple[Constraint, ...] = ()
    images: tuple[ImageInput, ...] = ()
    exclude: frozenset[str] = frozenset()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reranked:
    """A new order of the candidates: ``order`` indexes into the candidate list; ``scores``
    are the reranker's scores in that order; ``explain`` one dict per reordered candidate."""

    order: np.ndarray
    scores: np.ndarray
    explain: list[dict[str, Any]]


class Reranker(Protocol):
    """What the engine needs from an attached reranker."""

    @property
    def depth(self) -> int:
        """How many top fused candidates to rerank."""
        ...

    def plan(self, text: str | None, image: Any, ctx: SearchContext) -> QueryPlan | None:
        """The rewrite for this search, or None to search as asked."""
        ...

    def rerank(
        self, positions: np.ndarray, scores: np.ndarray, signals: Sequence[dict[str, tuple[float, int]]],
        parsed: ParsedQuery | None, ctx: SearchContext, plan: QueryPlan | None, *,
        matched: np.ndarray | None = None, explain: bool = False,
    ) -> Reranked:
        """Reorder candidates at catalog ``positions`` with fused ``scores`` (best first);
        ``matched`` is the fraction of the parsed constraints each candidate meets (None when
        not computed); traces are only built when ``explain`` is set (else ``explain=[]``)."""
        ...

    def observe(self, shown: Sequence[str], ctx: SearchContext, plan: QueryPlan | None) -> dict[str, Any] | None:
        """Called with the ids of the page shown; returns the session state to send back."""
        ...
