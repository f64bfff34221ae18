"""Candidate generation: each signal's ranked list of products for one query.

A :class:`CandidateGenerator` is made per search, under the catalogue's read lock, over one
:class:`~shopsearch.retrieve.state.CatalogState` and its :class:`~shopsearch.retrieve.views.CatalogViews`.
It turns filters, a reranker's plan and parsed constraints into an ``allowed`` mask (bool over
positions; None when every live product passes), and answers each dense signal with a
:data:`~shopsearch.retrieve.fusion.Ranking` (positions int64, scores float32, best first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.index.builder import FIELD_ROLE_PREFIX
from shopsearch.preprocess.query import Constraint, ParsedQuery
from shopsearch.retrieve.constraints import constraint_mask
from shopsearch.retrieve.filters import Filter, normalize_filters
from shopsearch.retrieve.fusion import Ranking
from shopsearch.retrieve.hooks import QueryPlan
from shopsearch.retrieve.state import CatalogState
from shopsearch.retrieve.views import CatalogViews

Filters = Sequence[str] | Mapping[str, Any] | Sequence[Filter] | None
TYPE_FIRST_CONFIDENCE = 0.7  # a named product type at least this sure ranks its products first
TYPE_NEIGHBOURS = 30  # nearest products (e5 text signal) that vote for a query's type when its words name none
PREDICTED_TYPE_MIN_SHARE = 0.7  # a predicted type with less of the vote is not added at all
# the dense signal that orders constraint-only candidates: the query's strongest one present
_CONSTRAINT_ORDER = ("composed", "joint_image", "image", "joint", "text", "zeroshot")


class CandidateGenerator:
    """Signals over one catalogue state; ``similarities``: signal -> ``fn(query, vectors)``
    re-scoring that signal's candidates (see :mod:`shopsearch.retrieve.similarity`)."""

    def __init__(self, state: CatalogState, views: CatalogViews, config: SearchConfig,
                 similarities: Mapping[str, Any]) -> None:
        self.state = state
        self.views = views
        self.config = config
        self.similarities = similarities

    # -- which products may appear -------------------------------------------------------------
    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Live products passing ``filters``; None when every live product passes and none is retired."""
        mask = self.views.filters.mask(normalize_filters(filters))
        alive = self.state.alive
        if mask is None:
            return None if alive.all() else alive
        return mask & alive

    def apply_plan(self, plan: QueryPlan, allowed: np.ndarray | None) -> np.ndarray | None:
        """A reranker's hard constraints and exclusions, folded into the allowed mask."""
        if not plan.required and not plan.exclude:
            return allowed
        mask = self.state.alive.copy() if allowed is None else allowed.copy()
        for c in plan.required:
            mask &= constraint_mask(c, self.views.filters)
        for pid in plan.exclude:
            pos = self.state.positions.get(pid)
            if pos is not None:
                mask[pos] = False
        return mask

    def type_mask(self, parsed: ParsedQuery) -> np.ndarray | None:
        """Products of the type(s) the query names with confidence, or None when it names none."""
        types = [c for c in parsed.types if c.confidence >= TYPE_FIRST_CONFIDENCE]
        if not types:
            return None
        mask = np.zeros(len(self.state.products), dtype=bool)
        for c in types:
            mask |= constraint_mask(c, self.views.filters)
        return mask if mask.any() else None

    def without_conflicting_types(self, parsed: ParsedQuery) -> ParsedQuery:
        """``parsed`` without its product-type constraints when no live product of those types
        is for the shopper the query names ("上衣 男": the shop's Tops are all women's): who the
        product is for outranks the type word, which then neither boosts nor goes first. Unisex
        products are for anyone ("backpack for guys" finds unisex backpacks)."""
        types = parsed.types
        parser = self.views.parser
        who = [c for c in parsed.constraints
               if c.op == "eq" and c.kind != "type" and set(c.fields) <= parser.who_fields]
        if not types or not who:
            return parsed
        alive = self.state.alive
        who_mask = alive.copy()
        for c in who:
            extra = tuple(pair for pair in parser.for_everyone if pair[0] in c.fields)
            if extra:
                c = replace(c, fields=(*c.fields, *(f for f, _ in extra)), values=(*c.values, *(v for _, v in extra)))
            who_mask &= constraint_mask(c, self.views.filters)
        type_mask = np.zeros(len(alive), dtype=bool)
        for c in types:
            type_mask |= constraint_mask(c, self.views.filters)
        if not who_mask.any() or (type_mask & who_mask).any():
            return parsed
        return replace(parsed, constraints=tuple(c for c in parsed.constraints if c.kind != "type"))

    def with_predicted_type(self, parsed: ParsedQuery, text_vec: np.ndarray) -> ParsedQuery:
        """When the words name no product type the lexicons know ("anarkali"), the type most of
        the query's nearest products share (e5 text signal, rank-weighted votes of the top
        ``TYPE_NEIGHBOURS``, fewer in a small catalogue), added as a constraint of kind "type"
        whose confidence is that share, when it reaches ``PREDICTED_TYPE_MIN_SHARE``."""
        field = self.views.parser.type_field
        if field is None:
            return parsed
        # a small catalogue has few products of a type: fewer neighbours vote
        neighbours = int(np.clip(self.state.size // 50, 5, TYPE_NEIGHBOURS))
        positions, _ = self.dense("text", text_vec, neighbours, self.state.alive)
        votes: dict[str, float] = {}
        for rank, pos in enumerate(positions):
            value = self.state.products[pos].attributes.get(field)
            if isinstance(value, str):
                votes[value] = votes.get(value, 0.0) + 1.0 / (rank + 5)
        if not votes:
            return parsed
        value, weight = max(votes.items(), key=lambda kv: kv[1])
        share = weight / sum(votes.values())
        if share < PREDICTED_TYPE_MIN_SHARE:
            return parsed
        predicted = Constraint((field,), value, "eq", value, round(share, 3), (value,), "type")
        return replace(parsed, constraints=(*parsed.constraints, predicted))

    # -- signals -----------------------------------------------------------------------------------
    def dense(self, signal: str, q: np.ndarray, n: int, allowed: np.ndarray | None) -> Ranking:
        """Top-``n`` products of one dense signal: role lookup, per-field aggregation, the
        configured multi-vector aggregation and similarity function."""
        role = "joint" if signal in ("joint_image", "composed") else signal
        if role == "text" and "text" not in self.state.dense:
            return self.fields(q, n, allowed)
        index = self.state.dense[role]
        ranking = index.search(q, n, allowed, aggregation=self.config.aggregation)
        if signal in self.similarities:
            ranking = index.rescore(q, ranking[0], self.similarities[signal])
        return ranking

    def fields(self, q: np.ndarray, n: int, allowed: np.ndarray | None) -> Ranking:
        """Text signal over per-field vectors (title, attributes, description): a product
        scores the max or the field-weighted mean of its field similarities."""
        size = len(self.state.products)
        total = np.zeros(size)
        weight = np.zeros(size)
        best = np.full(size, -np.inf)
        for role, index in self.state.dense.items():
            if not role.startswith(FIELD_ROLE_PREFIX):
                continue
            w = float(self.config.field_weights.get(role[len(FIELD_ROLE_PREFIX):], 1.0))
            if index.kind == "flat":
                rows, scores = index.rows, index.vectors @ q  # exact over every product
            else:  # approximate index: its candidates, scored exactly
                rows, scores = index.search(q, 4 * n, allowed)
            total[rows] += w * scores
            weight[rows] += w
            np.maximum.at(best, rows, scores)
        if self.config.aggregation == "mean":
            agg = np.divide(total, weight, out=np.full_like(total, -np.inf), where=weight > 0)
        else:
            agg = best
        ok = np.isfinite(agg) & (self.state.alive if allowed is None else allowed)
        cand = np.flatnonzero(ok)
        top = cand[np.argsort(-agg[cand], kind="stable")[:n]]
        return top.astype(np.int64), agg[top].astype(np.float32)

    def by_constraints(self, boost: np.ndarray, queries: Mapping[str, np.ndarray], n: int) -> Ranking:
        """The products that match the most parsed constraints, ordered by the query's strongest
        dense signal (a constrained vector search), or by position when there is none."""
        best = boost >= boost.max() - 1e-9
        for signal in _CONSTRAINT_ORDER:
            if signal in queries:
                return self.dense(signal, queries[signal], n, best)
        top = np.flatnonzero(best)[:n]
        return top.astype(np.int64), boost[top].astype(np.float32)
