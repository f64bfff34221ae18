"""The ranker: orders the engine's top candidates for this shopper, now.

Attached to an :class:`~shopsearch.retrieve.engine.Engine` (``Ranker(engine, ...).attach()``),
it implements the retrieval/ranking seam of :mod:`shopsearch.retrieve.hooks`:

- before retrieval, a session's follow-up refines the previous query (:mod:`.refine`), the
  session's dislikes are excluded, and a product the shopper pointed at joins the query photos;
- after fusion, the top ``depth`` candidates get features (:data:`FEATURES`): retrieval scores,
  business signals, the user's profile and the session's feedback in the joint space, and
  collaborative / graph model scores, combined by a learned LambdaMART model when one is
  loaded, else by the hand-tuned weights of :class:`~shopsearch.rank.config.RankConfig`.

Shoppers without history (cold start) get exactly the retrieval order adjusted by business
signals (popularity, stock, price fit, rules): the personal features are zero for them and the
trace says ``"cold_start": true``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from cachetools import LRUCache

from shopsearch.preprocess.query import ParsedQuery
from shopsearch.rank.business import CatalogSignals, popularity, rule_boosts
from shopsearch.rank.config import RankConfig
from shopsearch.rank.profile import (
    Profile,
    build_profile,
    price_affinity,
    product_features,
    product_space,
    session_vector,
)
from shopsearch.rank.refine import compose, refine
from shopsearch.rank.session import SessionState, SessionStore
from shopsearch.retrieve.constraints import constraint_mask, constraint_ranking
from shopsearch.retrieve.filters import FilterIndex
from shopsearch.retrieve.hooks import QueryPlan, Reranked, SearchContext
from shopsearch.storage import StorageError

if TYPE_CHECKING:  # loaded on demand (optional extras): only their types here
    from shopsearch.rank.cf import CFModel
    from shopsearch.rank.events import Event
    from shopsearch.rank.graph import GraphModel
    from shopsearch.rank.ltr import LTRModel

logger = logging.getLogger(__name__)

SIGNAL_FEATURES: tuple[str, ...] = ("lexical", "text", "joint", "image", "joint_image", "composed")
FEATURES: tuple[str, ...] = (
    "retrieval", "retrieval_rank", "constraint_match", *(f"sig_{s}" for s in SIGNAL_FEATURES),
    "price_fit", "rating", "popularity", "in_stock", "freshness", "rule_boost",
    "profile_sim", "user_price_fit", "session_sim", "cf", "graph", "cold_start",
)
_PERSONAL = ("profile_sim", "session_sim", "cf", "graph")  # standardised within the list (hand-tuned mode)
_PROFILE_TTL_S = 5.0  # other processes' events reach a cached profile within this bound
_POPULARITY_TTL_S = 60.0
_PROFILES_KEPT = 10_000  # users whose profile stays cached (least recently used go first)


def _apply_feedback(state: SessionState, event: Event) -> None:
    """One feedback event into a session's state (the change :meth:`SessionStore.update` applies)."""
    state.feedback(event.event, event.product_id)


class CatalogFacts:
    """What ranking derives from a catalogue (``products`` by position, ``dense`` indexes by
    role) at one engine ``generation``; each part is built on first use."""

    def __init__(self, products: Sequence[Any], dense: Mapping[str, Any],
                 product_info: Mapping[str, Mapping[str, Any]] | None, generation: int,
                 previous: CatalogFacts | None = None) -> None:
        """``previous``: the facts of an earlier generation; its catalogue signals, if built,
        are updated at the products that changed rather than read again for every product, and
        its product space and features are kept while no vector was added."""
        self.products = products
        self.dense = dense
        self.product_info = product_info
        self.generation = generation
        self._previous = previous
        if previous is not None:
            previous._previous = None  # nothing older is kept alive
        # positions and, per dense index, which index and how many vectors, taken now (the lists
        # grow in place): live writes only append vectors, so an equal stamp means the same
        # per-position vectors
        self.vectors_stamp = (len(products), tuple((role, id(ix), len(ix.vectors)) for role, ix in dense.items()))
        self._indexes = tuple(dense.values())  # alive while this is, so their ids are not reused

    @cached_property
    def catalog(self) -> CatalogSignals:
        """Per-position price, rating, stock, freshness."""
        previous = self._previous
        kept = previous.__dict__.get("catalog") if previous is not None else None
        return CatalogSignals(self.products, self.product_info, previous=kept)

    def _kept(self, name: str) -> Any:
        """The previous generation's ``name`` when it was built over the same vectors, else None."""
        previous = self._previous
        if previous is None or previous.vectors_stamp != self.vectors_stamp or name not in previous.__dict__:
            return None
        return previous.__dict__[name]

    @cached_property
    def space(self) -> tuple[str, np.ndarray] | None:
        """(role, (n_positions, d) vectors) of the space profiles live in (kept from the previous
        generation after a write that added no vectors, e.g. a price change: 4-40 ms to build on the
        sample catalogue)."""
        kept = self._kept("space")
        if kept is not None:
            return cast(tuple[str, np.ndarray], kept)
        return product_space(self.dense, len(self.products))

    @cached_property
    def features(self) -> np.ndarray:
        """(n_positions, d) float32 multimodal product features, as the graph model sees them."""
        kept = self._kept("features")
        return cast(np.ndarray, kept) if kept is not None else product_features(self.dense, len(self.products))

    @cached_property
    def out_of_stock(self) -> frozenset[str]:
        """Ids of the products known to be out of stock."""
        gone = np.flatnonzero(self.catalog.in_stock == 0.0)
        return frozenset(self.products[int(i)].id for i in gone)


class Ranker:
    """Reranks an engine's candidates; see the module docstring.

    ``log``: the :class:`~shopsearch.rank.events.EventLog` with the shoppers' history (profiles,
    popularity); ``models_dir``: a folder written by ``shopsearch train-ranker`` (``cf/``,
    ``graph/``, ``ltr/``); ``product_info``: per product id overrides of price, rating, stock,
    created (e.g. a simulation's); ``sessions``: where session state lives (in memory by default).
    """

    def __init__(
        self, engine: Any, log: Any = None, models_dir: str | Path | None = None,
        config: RankConfig = RankConfig(), product_info: Mapping[str, Mapping[str, Any]] | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        self.engine = engine
        self.log = log
        self.config = config
        self.product_info = product_info
        self.sessions = sessions if sessions is not None else SessionStore(ttl_s=config.session_ttl_s)
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.cf: CFModel | None = None
        self.graph: GraphModel | None = None
        self.ltr: LTRModel | None = None
        if self.models_dir is not None:
            self._load_models(self.models_dir)
        self._lock = threading.Lock()
        self._facts: CatalogFacts | None = None
        self._profiles: LRUCache[str, tuple[float, Profile]] = LRUCache(maxsize=_PROFILES_KEPT)
        self._popularity: tuple[float, np.ndarray] | None = None

    @property
    def depth(self) -> int:
        return self.config.depth

    def attach(self) -> Ranker:
        """Make the engine's searches go through this ranker; returns self."""
        self.engine.ranker = self
        return self

    def _load_models(self, folder: Path) -> None:
        if not folder.is_dir():
            raise FileNotFoundError(f"ranker models folder {folder} does not exist")
        if (folder / "cf").is_dir() and self.config.uses("cf"):
            from shopsearch.rank.cf import CFModel

            self.cf = CFModel.load(folder / "cf")
        if (folder / "graph").is_dir() and self.config.uses("graph"):
            from shopsearch.rank.graph import GraphModel

            self.graph = GraphModel.load(folder / "graph")
        if (folder / "ltr").is_dir() and self.config.uses("ltr"):
            from shopsearch.rank.ltr import LTRModel

            ltr = self.ltr = LTRModel.load(folder / "ltr")
            missing = set(ltr.feature_names) - set(FEATURES)
            if missing:
                raise ValueError(f"learned ranker in {folder} uses unknown features {sorted(missing)}; retrain it")
        logger.info("ranker models from %s: cf=%s graph=%s ltr=%s", folder, self.cf is not None,
                    self.graph is not None, self.ltr is not None)

    # -- catalog-derived state, rebuilt when the engine's catalog changes -------------------
    def facts(self) -> CatalogFacts:
        """What the ranker derives from the engine's catalogue, for its current generation."""
        with self._lock:
            facts = self._facts
            if facts is None or facts.generation != self.engine.generation:
                facts = self._facts = CatalogFacts(self.engine.products, self.engine.dense, self.product_info,
                                                   self.engine.generation, previous=facts)
            return facts

    def product_features(self) -> np.ndarray:
        """(n_positions, d) float32 multimodal product features, as the graph model sees them."""
        return self.facts().features

    def _popularity_now(self, now: float) -> np.ndarray:
        n = len(self.engine.products)
        cached = self._popularity
        if cached is not None and 0 <= now - cached[0] < _POPULARITY_TTL_S and len(cached[1]) == n:
            return cached[1]
        pop = np.zeros(n)
        if self.log is not None:
            # only what had happened by ``now``: features for a past search (training) must not
            # see the clicks that followed it
            since = now - 8 * self.config.popularity_half_life_days * 86400.0
            try:
                events = self.log.read(since=since, until=now,
                                       event_types=("click", "add_to_cart", "purchase", "like"))
            except StorageError:  # noted for /health; rank without popularity meanwhile
                return pop
            pop = popularity(events, self.engine.positions, n, now, self.config.popularity_half_life_days)
        self._popularity = (now, pop)
        return pop

    def profile(self, user_id: str | None, now: float | None = None) -> Profile:
        """The user's profile in the product space (cold when unknown or without history)."""
        now = time.time() if now is None else now
        space = self.facts().space
        if user_id is None or self.log is None or space is None:
            return Profile(None, None, 0)
        with self._lock:  # an LRU lookup reorders the cache
            cached = self._profiles.get(user_id)
        if cached is not None and 0 <= now - cached[0] < _PROFILE_TTL_S:
            return cached[1]
        try:
            events = self.log.read(user_id=user_id, until=now,  # impressions say nothing about taste
                                   event_types=("click", "add_to_cart", "purchase", "like", "dislike"))
        except StorageError:  # noted for /health; a cold profile meanwhile
            return Profile(None, None, 0)
        prof = build_profile(events, self.engine.positions, space[1], self.facts().catalog.price, now,
                             self.config.half_life_days, self.config.profile_history)
        with self._lock:
            self._profiles[user_id] = (now, prof)
        return prof

    # -- the retrieval/ranking seam ----------------------------------------------------------
    def plan(self, text: str | None, image: Any, ctx: SearchContext) -> QueryPlan | None:
        exclude = self.facts().out_of_stock if self.config.out_of_stock == "filter" else frozenset()
        if ctx.session_id is None:
            return QueryPlan(exclude=exclude) if exclude else None
        state = self._session(ctx.session_id, ctx.now)
        if image is not None:  # a photo starts a new visual query; feedback stays
            refine(state, None, self.engine.parse, self._price_of, self._matches)
            if text:
                state.turns[-1] = f"[photo] {text}"
            plan = QueryPlan(text=text)
        else:
            # a further page, or no words at all: the session's current query again (e.g. after a
            # chip was removed); anything else is the shopper's next turn
            rerun = ctx.offset > 0 or not text
            parse = self.engine.parse
            turn = compose(state, parse) if rerun else refine(state, text, parse, self._price_of, self._matches)
            photos: tuple[Any, ...] = ()
            if turn.anchor is not None:
                product = self.engine.product(turn.anchor)
                local = [img for img in (product.images if product else ()) if Path(img).is_file()]
                photos = tuple(local[:1])
            # a bare "start over" leaves nothing to search: an empty text says so to the engine
            text_out = "" if turn.kind == "reset" and turn.text is None else turn.text
            plan = QueryPlan(text=text_out, parsed=turn.parsed, required=turn.required, images=photos)
        plan.exclude = exclude | frozenset(state.disliked)
        plan.data["state"] = state
        return plan

    def observe(self, shown: Sequence[str], ctx: SearchContext, plan: QueryPlan | None) -> dict[str, Any] | None:
        if plan is None or "state" not in plan.data:
            return None
        mine = plan.data["state"]
        if shown:
            mine.shown = list(shown)

        def merge(latest: Any) -> bool:
            # Feedback or a reset may have landed since this search read the session: keep the
            # latest feedback, and drop this turn when the session was started over meanwhile.
            if latest.resets > mine.resets:
                return False
            if mine.resets > latest.resets:  # this turn started over ("start over, red dress")
                latest.clear()
                latest.resets = mine.resets
            latest.take_query(mine)
            return True

        try:
            return self.sessions.update(mine.session_id, merge, ctx.now).public()  # type: ignore[no-any-return]
        except StorageError:  # the answer stands; this turn is not remembered (noted for /health)
            return mine.public()  # type: ignore[no-any-return]

    def _session(self, session_id: str, now: float) -> Any:
        """The stored session, or a fresh one when the session store cannot be read (a search
        never fails because its session could not be loaded)."""
        try:
            return self.sessions.get(session_id, now)
        except StorageError:
            return SessionState(session_id, updated=now)

    def rerank(
        self, positions: np.ndarray, scores: np.ndarray, signals: Sequence[dict[str, tuple[float, int]]],
        parsed: ParsedQuery | None, ctx: SearchContext, plan: QueryPlan | None, *,
        matched: np.ndarray | None = None, explain: bool = False,
    ) -> Reranked:
        X, extra = self._feature_matrix(positions, scores, signals, parsed, ctx, plan, matched=matched)
        if self.ltr is not None:
            final = np.asarray(self.ltr.predict(X[:, [FEATURES.index(f) for f in self.ltr.feature_names]]),
                               dtype=np.float64)
            parts = None
        else:
            final, parts = self._linear(X)
        if self.config.out_of_stock == "demote":
            final = final - 10.0 * (X[:, FEATURES.index("in_stock")] == 0.0)
        order = np.lexsort((np.arange(len(final)), -final))
        traces = [self._trace(i, X, parts, extra, final) for i in order] if explain else []
        return Reranked(order, final[order], traces)

    # -- features ----------------------------------------------------------------------------
    def features(
        self, query_text: str, product_ids: Sequence[str], user_id: str | None = None,
        session_id: str | None = None, now: float | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """Features of ``product_ids`` for a query, as the ranker computes them when serving
        (the retrieval features from the engine's fused top ``depth``; 0 for products outside
        it). Returns the feature names and an (n, f) float32 matrix, for training a ranker."""
        now = time.time() if now is None else now
        result = self.engine.search(query_text, k=self.depth, facets=False, rerank=False)
        pos_of = self.engine.positions
        positions = np.array([pos_of.get(pid, -1) for pid in product_ids], dtype=np.int64)
        if (positions < 0).any():
            raise KeyError(f"unknown product id(s): {[p for p, x in zip(product_ids, positions) if x < 0][:5]}")
        found = {h.product_id: (rank, h.score, h.signals) for rank, h in enumerate(result.hits)}
        rows = [found.get(pid, (self.depth, 0.0, {})) for pid in product_ids]
        scores = np.array([score for _, score, _ in rows], dtype=np.float64)
        sigs = [signals for _, _, signals in rows]
        parsed = self.engine.parse(query_text)
        top = max((h.score for h in result.hits), default=0.0)
        ctx = SearchContext(user_id, session_id, now)
        plan = None
        if session_id is not None:
            plan = QueryPlan()
            plan.data["state"] = self._session(session_id, now)
        X, _ = self._feature_matrix(positions, scores, sigs, parsed, ctx, plan, top_score=top,
                                    ranks=[rank for rank, _, _ in rows])
        return list(FEATURES), X.astype(np.float32)

    def _feature_matrix(
        self, positions: np.ndarray, scores: np.ndarray, signals: Sequence[dict[str, tuple[float, int]]],
        parsed: ParsedQuery | None, ctx: SearchContext, plan: QueryPlan | None, *,
        top_score: float | None = None, ranks: Sequence[int] | None = None, matched: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        n = len(positions)
        X = np.zeros((n, len(FEATURES)), dtype=np.float64)
        col = {f: i for i, f in enumerate(FEATURES)}
        top = top_score if top_score is not None else (float(scores.max()) if n else 0.0)
        X[:, col["retrieval"]] = scores / top if top > 0 else 0.0
        rank = np.arange(n) if ranks is None else np.asarray(ranks)
        X[:, col["retrieval_rank"]] = 1.0 / np.log2(rank + 2.0)
        for j, sig in enumerate(signals):
            for s in SIGNAL_FEATURES:
                if s in sig:
                    X[j, col[f"sig_{s}"]] = sig[s][0]
        products = [self.engine.products[p] for p in positions]
        if matched is not None:
            X[:, col["constraint_match"]] = matched
        elif parsed is not None and parsed.constraints:
            X[:, col["constraint_match"]] = constraint_ranking(parsed.constraints, FilterIndex(products),
                                                               np.ones(n, dtype=bool))
        extra: dict[str, Any] = {"rules": [[] for _ in range(n)], "cold_start": True}
        catalog = self.facts().catalog
        if self.config.uses("business"):
            X[:, col["price_fit"]] = catalog.price_fit(positions, parsed)
            X[:, col["rating"]] = catalog.rating[positions]
            X[:, col["popularity"]] = self._popularity_now(ctx.now)[positions]
            X[:, col["in_stock"]] = catalog.in_stock[positions]
            X[:, col["freshness"]] = catalog.freshness[positions]
            boost, extra["rules"] = rule_boosts(self.config.rules, products, parsed)
            X[:, col["rule_boost"]] = boost
        else:
            X[:, col["price_fit"]] = X[:, col["rating"]] = X[:, col["in_stock"]] = X[:, col["freshness"]] = 0.5
        space = self.facts().space
        warm = False
        if self.config.uses("profile") and space is not None and ctx.user_id is not None:
            prof = self.profile(ctx.user_id, ctx.now)
            if not prof.cold:
                X[:, col["profile_sim"]] = space[1][positions] @ prof.vector
                warm = True
            X[:, col["user_price_fit"]] = price_affinity(catalog.price[positions], prof.price)
        else:
            X[:, col["user_price_fit"]] = 1.0
        state = plan.data.get("state") if plan is not None else None
        if self.config.uses("session") and space is not None and state is not None:
            vec = self._session_vector(state, space[1])
            if vec is not None:
                X[:, col["session_sim"]] = space[1][positions] @ vec
                warm = True
        ids = [p.id for p in products]
        if self.cf is not None and self.cf.has_user(ctx.user_id):
            X[:, col["cf"]] = self.cf.score(ctx.user_id, ids)
            warm = True
        if self.graph is not None and self.graph.has_user(ctx.user_id):
            X[:, col["graph"]] = self.graph.score(ctx.user_id, ids, self.product_features()[positions])
            warm = True
        X[:, col["cold_start"]] = 0.0 if warm else 1.0
        extra["cold_start"] = not warm
        return X, extra

    def _session_vector(self, state: Any, space: np.ndarray) -> np.ndarray | None:
        pos_of = self.engine.positions
        _, beta, gamma = self.config.rocchio
        positive = [space[pos_of[p]] for p in [*state.liked, *state.clicked[-10:]] if p in pos_of]
        if state.anchor in pos_of:
            positive.append(space[pos_of[state.anchor]])
        negative = [space[pos_of[p]] for p in state.disliked if p in pos_of]
        return session_vector(positive, negative, beta, gamma)

    def _linear(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Hand-tuned combination: business features as they are (0..1), personal features
        standardised within the candidate list (so a weight means "per standard deviation")."""
        parts: dict[str, np.ndarray] = {}
        for name in ("retrieval", "retrieval_rank", "constraint_match", "price_fit", "rating", "popularity", "in_stock",
                     "freshness", "rule_boost", "user_price_fit", *_PERSONAL):
            w = self.config.weight(name)
            if w == 0.0:
                continue
            x = X[:, FEATURES.index(name)]
            if name in _PERSONAL:
                sd = x.std()
                x = np.clip((x - x.mean()) / sd, -3, 3) * 0.1 if sd > 1e-9 else np.zeros_like(x)
            parts[name] = w * x
        return np.sum(list(parts.values()), axis=0), parts

    def _trace(
        self, i: int, X: np.ndarray, parts: dict[str, np.ndarray] | None, extra: dict[str, Any], final: np.ndarray,
    ) -> dict[str, Any]:
        trace: dict[str, Any] = {
            "score": round(float(final[i]), 6),
            "model": "ltr" if parts is None else "linear",
            "features": {f: round(float(X[i, j]), 4) for j, f in enumerate(FEATURES) if X[i, j] != 0.0},
            "cold_start": extra["cold_start"],
        }
        if parts is not None:
            trace["contributions"] = {k: round(float(v[i]), 4) for k, v in parts.items() if v[i] != 0.0}
        if extra["rules"][i]:
            trace["rules"] = extra["rules"][i]
        return trace

    # -- feedback ----------------------------------------------------------------------------
    def record(self, events: Sequence[Mapping[str, Any]]) -> Any:
        """Store feedback events and apply them at once: the session's likes/dislikes (a dislike
        hides the product for the rest of the session) and the user's cached profile.

        Returns the log's append report (accepted count and per-event rejects); without a log
        the events only change session state."""
        from shopsearch.rank.events import AppendReport, Event, EventError, EventReject

        accepted: list[Event] = []
        rejects: list[Any] = []
        for i, raw in enumerate(events):
            try:
                accepted.append(Event.from_mapping(raw))
            except EventError as exc:
                rejects.append(EventReject(i, exc.field, str(exc), raw))
        report = self.log.append(accepted) if self.log is not None else AppendReport(len(accepted), [])
        report.rejects[:0] = rejects
        now = time.time()
        for e in accepted:
            if e.session_id is not None and e.event != "impression":
                self.sessions.update(e.session_id, partial(_apply_feedback, event=e), now)
            if e.user_id is not None:
                self._profiles.pop(e.user_id, None)
        # popularity catches up within its 60 s TTL: recomputing it per event would re-read the
        # recent log on every search after each click
        return report

    def remove_chip(self, session_id: str, kind: str, index: int = 0) -> Any:
        """Remove one chip of a session (see :meth:`SessionState.chips`): a constraint or a
        required constraint by its index, the anchor product, or every hidden (disliked) product.
        Returns the new state; raises ``IndexError`` for a chip that is not there."""

        def remove(state: Any) -> None:
            if kind in ("constraint", "required"):
                items = state.constraints if kind == "constraint" else state.required
                if not 0 <= index < len(items):
                    raise IndexError(f"session {session_id!r} has no {kind} chip {index} (it has {len(items)})")
                del items[index]
            elif kind == "anchor" and state.anchor is not None:
                state.anchor = None
            elif kind == "hidden" and state.disliked:
                state.disliked.clear()
            else:
                raise IndexError(f"session {session_id!r} has no {kind} chip")

        return self.sessions.update(session_id, remove)

    def reset(self, session_id: str) -> None:
        """Forget a session's state (the "start over" button)."""
        self.sessions.reset(session_id)

    def _matches(self, product_id: str, constraints: Sequence[Any]) -> bool:
        product = self.engine.product(product_id)
        if product is None:
            return False
        index = FilterIndex([product])
        return all(bool(constraint_mask(c, index)[0]) for c in constraints)

    def _price_of(self, product_id: str) -> float | None:
        pos = self.engine.positions.get(product_id)
        if pos is None:
            return None
        price = float(self.facts().catalog.price[pos])
        return price if price == price else None
