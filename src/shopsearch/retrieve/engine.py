"""The search engine over one index: loads once, answers text, image and mixed queries.

Signals (each a ranked candidate list, fused with reciprocal rank fusion):

- ``lexical``: BM25 over the indexed text fields (text queries);
- ``text``: e5 query vector vs product document vectors (text queries);
- ``joint``: the trained joint model, query text vs product images (text queries);
- ``image`` and ``joint_image``: query image vs product images, in EfficientNet feature space
  and in the joint space (image queries).

The engine is composed of small parts, each in its own module:

- :class:`~shopsearch.retrieve.state.LiveCatalog`: the catalogue (products at fixed positions,
  the vector and lexical indexes) and the locks around it;
- :class:`~shopsearch.retrieve.encoders.EncoderSet`: the index's models, loaded on first use,
  and the query-vector LRU; :class:`~shopsearch.retrieve.queries.QueryEncoder` turns a query
  into each signal's vector;
- :class:`~shopsearch.retrieve.views.CatalogViews`: filters, facets, autocomplete and the query
  parser, derived from the catalogue;
- :class:`~shopsearch.retrieve.candidates.CandidateGenerator`: each signal's ranked list;
  :func:`~shopsearch.retrieve.assemble.assemble`: fusion, reranking and the page;
- an :class:`~shopsearch.retrieve.live.Updates` write path (constructor argument): a local
  write-ahead log (:class:`~shopsearch.retrieve.live.LocalUpdates`, what :meth:`Engine.load`
  gives) or PostgreSQL + Milvus (:mod:`shopsearch.scale.replica`, chosen by
  :func:`shopsearch.load` from the manifest; this package never imports it).

Products live at fixed positions; live updates append new positions and retire old ones, so a
search sees either the old or the new product.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from shopsearch.config import CONSTRAINT_MODES, ConstraintMode, SearchConfig
from shopsearch.index.dense import VectorIndex
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import Manifest
from shopsearch.preprocess.brands import Brands
from shopsearch.preprocess.image import ImageInput
from shopsearch.preprocess.query import ParsedQuery
from shopsearch.retrieve.assemble import Shaping, assemble
from shopsearch.retrieve.candidates import CandidateGenerator, Filters
from shopsearch.retrieve.constraints import constraint_ranking
from shopsearch.retrieve.encoders import EncoderSet, is_model_dir_setting
from shopsearch.retrieve.fusion import Ranking
from shopsearch.retrieve.hooks import QueryPlan, Reranker, SearchContext
from shopsearch.retrieve.live import LocalUpdates, NoUpdates, Updates
from shopsearch.retrieve.queries import QueryEncoder, image_list
from shopsearch.retrieve.similarity import parse_similarity
from shopsearch.retrieve.state import LiveCatalog
from shopsearch.retrieve.views import CatalogViews
from shopsearch.types import Product, SearchResult

logger = logging.getLogger(__name__)

Signal = Literal["lexical", "text", "joint", "zeroshot", "image", "joint_image", "composed", "attributes"]
SIGNALS: tuple[str, ...] = get_args(Signal)


class Engine:
    """Search over a loaded index. Thread-safe: concurrent searches, exclusive updates.

    ``catalog``: the products and indexes; ``encoders``: the index's models (created from the
    manifest when not given); ``updates``: the write path (none: the engine only reads);
    ``path``: the index directory it came from, if any. :meth:`load` builds all of them for a
    local index directory.
    """

    def __init__(
        self, catalog: LiveCatalog, config: SearchConfig = SearchConfig(), encoders: EncoderSet | None = None,
        updates: Updates | None = None, path: Path | None = None,
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.encoders = encoders or EncoderSet(catalog.state.manifest, None, config.query_cache_size,
                                                   config.text_threads)
        self.updates: Updates = updates if updates is not None else NoUpdates()
        self.path = path
        self.queries = QueryEncoder(self.encoders, config)
        self._similarities = {sig: parse_similarity(spec) for sig, spec in config.similarity.items()}
        self._views: CatalogViews | None = None
        self.ranker: Reranker | None = None  # attached by shopsearch.rank.Ranker.attach()

    @classmethod
    def load(
        cls, index_dir: str | Path, config: SearchConfig = SearchConfig(), *, verify: bool = True,
        encoders: Mapping[str, Any] | None = None,
    ) -> Engine:
        """Open the live version of a local ``index_dir`` and replay its update log.

        Refuses (``IndexFormatError``) an index whose format, files or encoders do not match
        what this installation provides, and one kept in external stores (open that with
        :func:`shopsearch.load`). ``encoders`` may pass ready encoder objects by role
        (``text``, ``image``, ``joint``); they must match the manifest's names and dims.
        """
        updates = LocalUpdates.open(index_dir, config, verify=verify, encoders=encoders)
        engine = cls(updates.catalog, config, updates.encoders, updates, Path(index_dir))
        logger.info("loaded index %s (%d products, signals: %s)", index_dir, engine.size,
                    ", ".join(sorted(engine.dense)) + (", lexical" if engine.lexical else ""))
        return engine

    # -- the catalogue, read-only views of the current state ----------------------------------
    @property
    def manifest(self) -> Manifest:
        return self.catalog.state.manifest

    @property
    def products(self) -> list[Product]:
        """Products by position, retired ones included (see :attr:`alive`)."""
        return self.catalog.state.products

    @property
    def alive(self) -> np.ndarray:
        """bool (n_positions,): which positions hold a live product."""
        return self.catalog.state.alive

    @property
    def positions(self) -> Mapping[str, int]:
        """Position of each live product by id."""
        return self.catalog.state.positions

    @property
    def dense(self) -> dict[str, VectorIndex]:
        return self.catalog.state.dense

    @property
    def lexical(self) -> LexicalIndex | None:
        return self.catalog.state.lexical

    @property
    def brands(self) -> Brands:
        return self.catalog.state.brands

    @property
    def version_dir(self) -> Path | None:
        return self.catalog.state.version_dir

    @property
    def generation(self) -> int:
        """Bumped by every catalogue change, for caches kept outside the engine."""
        return self.catalog.generation

    @property
    def size(self) -> int:
        """Number of live products."""
        return self.catalog.state.size

    @property
    def image_dirs(self) -> tuple[Path, ...]:
        """Folders holding the catalog's local product images (what a service may serve)."""
        return self.views().image_dirs

    def views(self) -> CatalogViews:
        """Filters, facets, autocomplete and the parser of the current catalogue (built lazily)."""
        views = self._views
        catalog = self.catalog
        if views is None or views.generation != catalog.generation or views.state is not catalog.state:
            views = self._views = CatalogViews(catalog.state, catalog.generation, self.config.shopper_words,
                                               previous=views)
        return views

    def facet_layout(self) -> tuple[tuple[str, ...], list[float]]:
        """The current catalogue's facet fields and price bucket edges (what a result list's
        facets are counted with, e.g. by :func:`shopsearch.retrieve.paging.view`)."""
        with self.catalog.rw.read():
            views = self.views()
            return views.facet_fields, views.price_edges

    def _candidates(self) -> CandidateGenerator:
        """Candidate generation over the current state (caller holds the read lock)."""
        return CandidateGenerator(self.catalog.state, self.views(), self.config, self._similarities)

    def warmup(self) -> None:
        """Load every encoder and derived structure now rather than on the first query."""
        for role in self.manifest.encoders:
            self.encoders.get(role)
        with self.catalog.rw.read():
            views = self.views()
            for _ in (views.filters, views.facet_fields, views.price_edges, views.suggester):
                pass
            # the columns the query parser's constraints and the facets filter on
            views.filters.prepare(("category", "brand", "price", *views.facet_fields))
            views.parser.parse("预热 warmup")  # jieba, the pinyin index, the spelling lists
        if self.lexical is not None:
            self.lexical.search("warmup 预热", 1)
        # one query of each kind end to end: the first runs of the ONNX sessions allocate their
        # buffers and the joint heads are built on first use (~1 s that a first shopper would wait)
        if self.lexical is not None or {"text", "joint"} & set(self.dense):
            self.search("warmup 预热", k=1, facets=False, rerank=False)
        if {"image", "joint"} & set(self.dense):
            from PIL import Image

            self.search(image=Image.new("RGB", (224, 224), (128, 128, 128)), k=1, facets=False, rerank=False)

    # -- writing: the Updates component ----------------------------------------------------------
    def upsert(self, products: Sequence[Product]) -> dict[str, int]:
        """Add or replace ``products`` (validated :class:`Product` records); durable on return.

        Returns counts: ``added``, ``replaced`` (re-embedded), ``metadata`` (no re-embedding).
        """
        return self.updates.upsert(products)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete products by id; unknown ids are ignored. Returns how many were deleted."""
        return self.updates.delete(ids)

    def refresh(self) -> None:
        """See other writers' updates (cheap when there are none)."""
        self.updates.refresh()

    def compact(self) -> str:
        """Fold the updates into a new index version and switch to it; returns its name."""
        return self.updates.compact()

    def close(self) -> None:
        """Stop background work of the write path (a replica's change-log follower)."""
        self.updates.close()

    # -- reading ----------------------------------------------------------------------------
    def product(self, product_id: str) -> Product | None:
        return self.catalog.state.product(product_id)

    def parse(self, text: str) -> ParsedQuery:
        """The constraints this engine's query parser reads in ``text``."""
        with self.catalog.rw.read():
            return self.views().parser.parse(text)

    def suggest(self, prefix: str, k: int = 10) -> list[str]:
        """Autocomplete ``prefix`` from product titles, attribute values and brands."""
        with self.catalog.rw.read():
            return self.views().suggester.suggest(prefix, k)

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: live products, vectors per signal, bytes on disk."""
        disk = 0
        if self.path is not None:
            disk = sum(f.stat().st_size for f in Path(self.path).rglob("*") if f.is_file())
        return {
            "products": self.size,
            "positions": len(self.products),
            "vectors": {role: int(d.vectors.shape[0]) for role, d in self.dense.items()},
            "bytes_on_disk": disk,
            "version": self.version_dir.name if self.version_dir else None,
        }

    def filter_mask(self, filters: Filters) -> np.ndarray | None:
        """Bool mask over positions of live products passing ``filters``; None when all pass."""
        with self.catalog.rw.read():
            return self._candidates().allowed(filters)

    def search(
        self, text: str | None = None, image: ImageInput | Sequence[ImageInput] | None = None, k: int = 10,
        filters: Filters = None, weights: Mapping[str, float] | None = None, *,
        offset: int = 0, facets: bool = True, constraints: ConstraintMode | None = None,
        signals: Sequence[str] | None = None, fusion: str | None = None,
        user_id: str | None = None, session_id: str | None = None, explain: bool = False,
        rerank: bool = True,
    ) -> SearchResult:
        """Rank products for a text query, an image query (one photo or a list of them), or both.

        ``filters``: "key=value"-style strings or a JSON-style mapping (see
        :mod:`shopsearch.retrieve.filters`). ``weights`` override per-signal RRF weights.
        ``offset`` pages through the results. Each hit carries its per-signal (score, rank);
        ``facets`` counts values over every matching candidate. The text is parsed into
        constraints (colour, gender, category, price...; returned in ``result.parsed``) that
        rank matching products up (``constraints="boost"``, the default), act as hard filters
        (``"filter"``) or are ignored (``"off"``). ``signals`` restricts retrieval to some of
        lexical, text, joint, zeroshot, image, joint_image, composed, attributes (for evaluation and
        debugging); ``fusion`` overrides the configured fusion method (rrf, minmax, zscore, dbsf).

        With a ranker attached (:meth:`shopsearch.rank.Ranker.attach`), ``user_id`` and
        ``session_id`` personalise the order, a follow-up in the same session refines the previous
        query ("cheaper", "in red", "不要黑色"), and ``explain`` adds the ranker's trace to each hit;
        ``rerank=False`` returns the fused retrieval order (what the ranker starts from).
        """
        t0 = time.perf_counter()
        self.refresh()  # other processes' updates (one stat call when there are none)
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        for name, value in (("user_id", user_id), ("session_id", session_id)):
            if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
                raise ValueError(f"{name} must be a non-empty string of at most 200 characters, got {value!r}")
        text = text.strip() if text else None
        if not text and image is None and not (session_id and self.ranker is not None and rerank):
            raise ValueError("a search needs text, an image, or both")  # (in a session: re-run its query)
        ctx = SearchContext(user_id, session_id, time.time(), offset if isinstance(offset, int) else 0)
        plan: QueryPlan | None = None
        ranker = self.ranker if rerank else None
        if ranker is not None:
            plan = ranker.plan(text, image, ctx)
            if plan is not None:
                text = plan.text if plan.text is not None else text
                if plan.images:
                    image = image_list(image) + list(plan.images)
            if not text and image is None:  # e.g. "start over" on its own: nothing to search yet
                return SearchResult([], (time.perf_counter() - t0) * 1000,
                                    session=ranker.observe([], ctx, plan))
        check_page(k, offset)
        mode = constraints or self.config.constraints
        if mode not in CONSTRAINT_MODES:
            raise ValueError(f"constraints must be one of {', '.join(CONSTRAINT_MODES)}, got {mode!r}")
        use = set(SIGNALS if signals is None else signals)
        if not use <= set(SIGNALS):
            raise ValueError(f"unknown signal(s) {sorted(use - set(SIGNALS))}; valid: {', '.join(SIGNALS)}")
        if signals is None and not text and is_model_dir_setting(self.manifest.settings.get("image_model")):
            # A photo alone, and the index has an image model trained on the shop's own photos: its
            # vectors answer "which product is this"; the joint model's image side reads the
            # frozen ImageNet features and only pulls a fused ranking back (grocery val top-1
            # 87.5% image alone vs 66.2% fused, benchmarks/results/photo_model.md).
            use.discard("joint_image")
        parsed: ParsedQuery | None = None
        queries: dict[str, np.ndarray] = {}
        roles = set(self.dense)
        if text:
            parsed = plan.parsed if plan is not None and plan.parsed is not None else self.parse(text)
            want_types = self.config.shopper_words and mode != "off" and "attributes" in use
            queries, parsed = self.queries.text(roles, text, parsed, use, want_types, self._with_predicted_type)
        if image is not None:
            self.queries.images(roles, image, text, parsed, use, queries, self.path)
        with self.catalog.rw.read():
            cands = self._candidates()
            state = cands.state
            allowed = cands.allowed(filters)
            if plan is not None:
                allowed = cands.apply_plan(plan, allowed)
            boost = type_first = None
            if parsed is not None and parsed.constraints and mode != "off" and "attributes" in use:
                if self.config.shopper_words:
                    parsed = cands.without_conflicting_types(parsed)
                fraction = constraint_ranking(parsed.constraints, cands.views.filters, state.alive)
                type_first = cands.type_mask(parsed) if self.config.shopper_words else None
                if mode == "filter":
                    full = fraction >= 1.0 - 1e-9
                    allowed = full if allowed is None else allowed & full
                else:
                    boost = fraction if allowed is None else np.where(allowed, fraction, 0.0)
            n_cand = max(self.config.candidates, k + offset)
            rankings: dict[str, Ranking] = {}
            if parsed is not None and state.lexical is not None and "lexical" in use:
                lexical_text = text if parsed.normalized == text else f"{text} {parsed.normalized}"
                rankings["lexical"] = state.lexical.search(lexical_text, n_cand, allowed)
            for signal, q in queries.items():
                rankings[signal] = cands.dense(signal, q, n_cand, allowed)
            if boost is not None and boost.any():
                rankings["attributes"] = cands.by_constraints(boost, queries, n_cand)
            if not rankings:
                if signals is not None:  # the chosen signals have nothing for this query (e.g.
                    # "attributes" when no part of it was understood): no results, not an error
                    return SearchResult([], (time.perf_counter() - t0) * 1000,
                                        parsed=parsed.to_dict() if parsed is not None else None)
                raise ValueError(f"index {self.path} has no signal that can answer a text query")
            shaping = Shaping(weights=weights, fusion=fusion, boost=boost, type_first=type_first, parsed=parsed,
                              ranker=ranker, ctx=ctx, plan=plan, explain=explain)
            return assemble(state, cands.views, self.config, rankings, k, offset, facets, t0, shaping)

    def _with_predicted_type(self, parsed: ParsedQuery, text_vec: np.ndarray) -> ParsedQuery:
        with self.catalog.rw.read():
            return self._candidates().with_predicted_type(parsed, text_vec)

    def similar(
        self, product_id: str, k: int = 10, filters: Filters = None, *, offset: int = 0,
        facets: bool = False,
    ) -> SearchResult:
        """Products like ``product_id``, from its own stored vectors (no model call); itself excluded.

        Raises ``KeyError`` for an unknown id.
        """
        t0 = time.perf_counter()
        check_page(k, offset)
        self.refresh()
        with self.catalog.rw.read():
            cands = self._candidates()
            state = cands.state
            pos = state.positions.get(product_id)
            if pos is None:
                raise KeyError(product_id)
            allowed = cands.allowed(filters)
            allowed = state.alive.copy() if allowed is None else allowed
            allowed[pos] = False
            n_cand = max(self.config.candidates, k + offset)
            rankings: dict[str, Ranking] = {}
            for role in ("joint", "image", "text"):
                if role in state.dense:
                    vecs = state.dense[role].vectors_of(pos)
                    if len(vecs):
                        rankings[role] = state.dense[role].search(vecs.mean(axis=0), n_cand, allowed)
            if not rankings:
                raise ValueError(f"product {product_id!r} has no stored vectors to compare")
            return assemble(state, cands.views, self.config, rankings, k, offset, facets, t0)


def check_page(k: int, offset: int) -> None:
    """``ValueError`` unless ``k`` is a positive and ``offset`` a non-negative integer."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
