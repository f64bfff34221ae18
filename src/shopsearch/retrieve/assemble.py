"""From signal rankings to a page of results: fusion, constraint boost, reranking, type-first
order, the page, facet counts.

:func:`assemble` is the last step of every engine search (text, photo, more-like-this). It runs
under the catalogue's read lock, over the :class:`~shopsearch.retrieve.state.CatalogState` the
rankings were computed on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.preprocess.query import ParsedQuery
from shopsearch.retrieve.facets import facet_counts
from shopsearch.retrieve.fusion import FusedArrays, Ranking, fuse_arrays
from shopsearch.retrieve.hooks import QueryPlan, Reranker, SearchContext
from shopsearch.retrieve.state import CatalogState
from shopsearch.retrieve.views import CatalogViews
from shopsearch.types import Hit, SearchResult


@dataclass(frozen=True)
class Shaping:
    """What, besides the rankings, decides a search's order: ``weights`` (per-signal overrides of
    the configured fusion weights), ``fusion`` (a method overriding the configured one),
    ``boost`` (float (n_positions,) share of the parsed constraints each product meets; None when
    not boosting), ``type_first`` (bool (n_positions,) products of the named type; None when
    none), the reranker and its ``plan``, the search context, and whether to ``explain``."""

    weights: Mapping[str, float] | None = None
    fusion: str | None = None
    boost: np.ndarray | None = None
    type_first: np.ndarray | None = None
    parsed: ParsedQuery | None = None
    ranker: Reranker | None = None
    ctx: SearchContext | None = None
    plan: QueryPlan | None = None
    explain: bool = False


def assemble(
    state: CatalogState, views: CatalogViews, config: SearchConfig, rankings: dict[str, Ranking],
    k: int, offset: int, facets: bool, t0: float, shaping: Shaping = Shaping(),
) -> SearchResult:
    """Fuse ``rankings``, shape the order (see :class:`Shaping`) and cut the page
    ``[offset, offset + k)``; ``facets`` counts values over every fused candidate."""
    w = dict(config.weights)
    w.update(shaping.weights or {})
    method = shaping.fusion or config.fusion
    fused = fuse_arrays(rankings, method, w, config.rrf_k)
    boost = shaping.boost
    if boost is not None:
        # Constraint boost: products matching more of the parsed constraints move up; on the
        # RRF scale (a first rank is worth 1/(rrf_k + 1)) or, for linear fusion, one signal's
        # full normalised score per matched constraint share.
        b = config.constraint_boost if method == "rrf" else 1.0
        fused = fused.sorted(fused.scores + b * boost[fused.positions].astype(np.float64))
    traces: dict[int, dict[str, Any]] = {}
    ranker, ctx = shaping.ranker, shaping.ctx
    if ranker is not None and len(fused):
        fused, traces = rerank(ranker, fused, shaping.parsed, ctx or SearchContext(), shaping.plan, boost,
                               shaping.explain)
    if shaping.type_first is not None:
        # Product type first: every product of the type the query names ranks above products
        # of other types that only share a colour, a season or a word (order kept within each).
        first = shaping.type_first[fused.positions]
        fused = fused.reorder(np.concatenate([np.flatnonzero(first), np.flatnonzero(~first)]))
    page = fused.candidates(offset, offset + k)
    products = state.products
    hits = [Hit(products[c.position].id, c.score, products[c.position], c.signals,
                traces.get(c.position) if shaping.explain else None) for c in page]
    session = None
    if ranker is not None and ctx is not None:
        session = ranker.observe([h.product_id for h in hits], ctx, shaping.plan)
    counts = {}
    if facets:
        counts = facet_counts(products, fused.positions.tolist(), views.facet_fields, views.price_edges)
    parsed = shaping.parsed
    return SearchResult(
        hits=hits, took_ms=(time.perf_counter() - t0) * 1000, signals_used=tuple(rankings),
        total_candidates=len(fused), offset=offset, facets=counts,
        parsed=parsed.to_dict() if parsed is not None else None, session=session,
    )


def rerank(
    ranker: Reranker, fused: FusedArrays, parsed: ParsedQuery | None, ctx: SearchContext,
    plan: QueryPlan | None, boost: np.ndarray | None, explain: bool,
) -> tuple[FusedArrays, dict[int, dict[str, Any]]]:
    """The attached ranker reorders the top ``ranker.depth`` candidates; the rest keep their
    fused order below them. Returns the new list and the ranker's trace by position."""
    depth = min(ranker.depth, len(fused))
    positions = fused.positions[:depth]
    matched = boost[positions] if boost is not None else None
    out = ranker.rerank(positions, fused.scores[:depth].copy(), fused.signal_rows(0, depth), parsed,
                        ctx, plan, matched=matched, explain=explain)
    order = np.asarray(out.order, dtype=np.int64)
    head_scores = np.asarray(out.scores, dtype=np.float64)
    floor = float(np.min(head_scores)) if len(head_scores) else 0.0
    # candidates below the reranked head stay below it, in fused order
    tail_scores = np.minimum(floor, fused.scores[depth:]) - 1e-9 * np.arange(1, len(fused) - depth + 1)
    rows = np.concatenate([order, np.arange(depth, len(fused))])
    traces = {int(positions[i]): e for i, e in zip(order, out.explain)}
    return fused.reorder(rows, np.concatenate([head_scores, tail_scores])), traces
