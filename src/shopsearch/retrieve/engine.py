"""The search engine over one index: loads once, answers text, image and mixed queries.

Signals (each a ranked candidate list, fused with reciprocal rank fusion):

- ``lexical``: BM25 over the indexed text fields (text queries);
- ``text``: e5 query vector vs product document vectors (text queries);
- ``joint``: the trained joint model, query text vs product images (text queries);
- ``image`` and ``joint_image``: query image vs product images, in EfficientNet feature space
  and in the joint space (image queries).

Products live at fixed positions; live updates (:mod:`shopsearch.retrieve.live`) append new
positions and retire old ones, so a search sees either the old or the new product.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.config import CONSTRAINT_MODES, ConstraintMode, SearchConfig
from shopsearch.encode import create_encoder, l2_normalize, model_info
from shopsearch.encode.registry import feature_space
from shopsearch.index.builder import FIELD_ROLE_PREFIX
from shopsearch.index.dense import DenseIndex, DenseParams
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import (
    IndexFormatError,
    Manifest,
    read_manifest,
    resolve_version,
    verify_checksums,
)
from shopsearch.index.store import STORE_NAME, read_products
from shopsearch.preprocess.brands import Brands, learn_brands
from shopsearch.preprocess.image import ImageInput, load_image
from shopsearch.preprocess.query import Constraint, ParsedQuery, QueryParser
from shopsearch.preprocess.shopper import ShopperLexicon, default_shopper_lexicon, learn_expansions, word_keys
from shopsearch.retrieve.constraints import constraint_mask, constraint_ranking
from shopsearch.retrieve.facets import choose_facet_fields, facet_counts, price_buckets
from shopsearch.retrieve.filters import Filter, FilterIndex, normalize_filters
from shopsearch.retrieve.fusion import Ranking, fuse
from shopsearch.retrieve.hooks import QueryPlan, Reranker, SearchContext
from shopsearch.retrieve.live import LiveUpdates, pointer_stamp
from shopsearch.retrieve.rwlock import RWLock
from shopsearch.retrieve.similarity import parse_similarity
from shopsearch.retrieve.suggest import Suggester
from shopsearch.types import Hit, Product, SearchResult

logger = logging.getLogger(__name__)

Filters = Sequence[str] | Mapping[str, Any] | Sequence[Filter] | None
Fused = list[tuple[int, float, dict[str, tuple[float, int]]]]  # (position, score, per-signal (score, rank))
SIGNALS: tuple[str, ...] = (
    "lexical", "text", "joint", "zeroshot", "image", "joint_image", "composed", "attributes",
)
_UNREGISTERED_ROLES = ("joint", "zeroshot")
TYPE_FIRST_CONFIDENCE = 0.7  # a named product type at least this sure ranks its products first
TYPE_NEIGHBOURS = 30  # nearest products (e5 text signal) that vote for a query's type when its words name none
PREDICTED_TYPE_MIN_SHARE = 0.7  # a predicted type with less of the vote is not added at all
_DENSE_ROLES = ("text", "image", "joint", "zeroshot")  # model files or fallbacks, not registry encoders


class Engine(LiveUpdates):
    """Search over a loaded index. Thread-safe: concurrent searches, exclusive updates."""

    def __init__(
        self, manifest: Manifest, products: list[Product], dense: dict[str, DenseIndex],
        lexical: LexicalIndex | None, config: SearchConfig = SearchConfig(),
        encoders: Mapping[str, Any] | None = None, path: Path | None = None,
        version_dir: Path | None = None,
    ) -> None:
        self.manifest = manifest
        # Brands learned from the titles fill in products without a brand field, so brand is a
        # facet, a filter and part of the query vocabulary (shopsearch.preprocess.brands).
        self.brands: Brands = learn_brands(p.title for p in products) if config.shopper_words else Brands({})
        self.products = [self.with_brand(p) for p in products]
        self.dense = dense
        self.lexical = lexical
        self.config = config
        self.path = path
        self.version_dir = version_dir
        self.alive = np.ones(len(products), dtype=bool)
        self._positions = {p.id: i for i, p in enumerate(self.products)}
        self._encoders: dict[str, Any] = dict(encoders or {})
        self._encoder_lock = threading.RLock()  # re-entrant: the joint model needs the image encoder
        self._query_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._query_cache_lock = threading.Lock()
        self._rw = RWLock()
        self._has_text_vectors = "text" in dense or any(r.startswith(FIELD_ROLE_PREFIX) for r in dense)
        self._dense_params = _dense_params(manifest)
        self._similarities = {sig: parse_similarity(spec) for sig, spec in config.similarity.items()}
        self._update_lock = threading.Lock()
        self._derived: dict[str, Any] = {}
        self.ranker: Reranker | None = None  # attached by shopsearch.rank.Ranker.attach()
        self.generation = 0  # bumped by every catalog change, for caches kept outside the engine
        for role, enc in self._encoders.items():
            _check_encoder(manifest, _ref_role(manifest, role), enc)

    @classmethod
    def load(
        cls, index_dir: str | Path, config: SearchConfig = SearchConfig(), *, verify: bool = True,
        encoders: Mapping[str, Any] | None = None,
    ) -> Engine:
        """Open the live version of ``index_dir`` and replay its update log.

        Refuses (``IndexFormatError``) an index whose format, files or encoders do not match
        what this installation provides. ``encoders`` may pass ready encoder objects by role
        (``text``, ``image``, ``joint``); they must match the manifest's names and dims.
        """
        stamp = pointer_stamp(Path(index_dir))  # before CURRENT is read: a later switch is noticed
        version = resolve_version(Path(index_dir))
        manifest = read_manifest(version)
        if verify:
            verify_checksums(version, manifest)
        for role, ref in manifest.encoders.items():
            if role in _UNREGISTERED_ROLES or (encoders and role in encoders):
                continue
            if role == "image" and _is_model_dir_setting(manifest.settings.get("image_model")):
                continue  # a shop image model directory: checked when first used (_load_image_for)
            try:
                info = model_info(ref.name)
            except ValueError as exc:
                raise IndexFormatError(f"index {index_dir} was built with {role} encoder {ref.name!r}: {exc}") from None
            if info.dim != ref.dim:
                raise IndexFormatError(
                    f"index {index_dir}: {role} encoder {ref.name!r} has dim {info.dim} here "
                    f"but the index was built with dim {ref.dim}; rebuild the index"
                )
        if manifest.settings.get("stores"):  # products in PostgreSQL, vectors in Milvus (shopsearch.scale)
            from shopsearch.scale.replica import load_replica

            return load_replica(Path(index_dir), version, manifest, config, encoders)
        products = read_products(version / STORE_NAME)
        if len(products) != manifest.counts.get("products", -1):
            raise IndexFormatError(f"index {index_dir}: product count does not match the manifest")
        params = _dense_params(manifest)
        dense = {
            role: DenseIndex.load(version / "dense", role, len(products), params)
            for role in manifest.encoders if role in _DENSE_ROLES or role.startswith(FIELD_ROLE_PREFIX)
        }
        lexical = LexicalIndex.load(version / "lexical") if (version / "lexical").is_dir() else None
        engine = cls(manifest, products, dense, lexical, config, encoders, Path(index_dir), version)
        engine._replay(stamp)
        logger.info("loaded index %s (%d products, signals: %s)", index_dir, engine.size,
                    ", ".join(sorted(dense)) + (", lexical" if lexical else ""))
        return engine

    def with_brand(self, product: Product) -> Product:
        """``product`` with its brand read from its title when it has none (and one is known)."""
        if product.brand or not len(self.brands):
            return product
        brand = self.brands.of_title(product.title)
        return replace(product, brand=brand) if brand else product

    # -- state derived from the product list, rebuilt lazily after updates ------------------
    def _invalidate(self) -> None:
        self._derived = {}
        self.generation += 1

    def _get(self, name: str) -> Any:
        value = self._derived.get(name)
        if value is None:
            alive = [p for p, ok in zip(self.products, self.alive) if ok] if name != "filters" else []
            if name == "filters":
                value = FilterIndex(self.products)
            elif name == "facet_fields":
                value = choose_facet_fields(alive)
            elif name == "price_edges":
                value = price_buckets(np.array([p.price for p in alive if p.price is not None], float))
            elif name == "suggester":
                value = Suggester(alive)
            elif name == "parser":
                value = _make_parser(alive, self._get("facet_fields"), self.config.shopper_words)
            else:  # pragma: no cover
                raise KeyError(name)
            self._derived[name] = value
        return value

    @property
    def size(self) -> int:
        """Number of live products."""
        return int(self.alive.sum())

    @property
    def image_dirs(self) -> tuple[Path, ...]:
        """Folders holding the catalog's local product images (what a service may serve)."""
        dirs = self._derived.get("image_dirs")
        if dirs is None:
            dirs = tuple(sorted({Path(img).parent.resolve() for p in self.products for img in p.images
                                 if not img.startswith(("http://", "https://"))}))
            self._derived["image_dirs"] = dirs
        return dirs

    # -- encoders, created on first use ---------------------------------------------------
    def _encoder(self, role: str) -> Any:
        if role.startswith(FIELD_ROLE_PREFIX):
            role = "text"  # per-field text vectors share the one text encoder
        enc = self._encoders.get(role)
        if enc is not None:
            return enc
        with self._encoder_lock:
            enc = self._encoders.get(role)
            if enc is None:
                ref_role = _ref_role(self.manifest, role)
                ref = self.manifest.encoders[ref_role]
                if role == "joint":
                    text = self._encoder("text") if self._has_text_vectors else None
                    enc = _load_joint_for(ref, self.manifest, self._image_backbone(), text)
                elif role == "zeroshot":
                    from shopsearch.encode.zeroshot import ZeroShotEncoder

                    text = self._encoder("text") if "text" in self.manifest.encoders else None
                    enc = ZeroShotEncoder(text_encoder=text, image_encoder=self._image_backbone())
                elif role == "image":
                    enc = _load_image_for(ref, self.manifest)
                else:
                    enc = create_encoder(ref.name)
                _check_encoder(self.manifest, ref_role, enc)
                self._encoders[role] = enc
        return enc

    def _image_backbone(self) -> Any:
        """The frozen image backbone the joint model and zero-shot labels read: the image
        encoder itself, or a shop image model's frozen branch (same network pass)."""
        enc = self._encoder("image")
        return getattr(enc, "backbone", enc)

    def _photo_vectors(self, photos: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(image-role vectors, frozen backbone features) of query photos, one network pass."""
        enc = self._encoder("image")
        if hasattr(enc, "backbone"):
            emb, feats, _ = enc.run(photos)
            return emb, feats
        vecs = enc.embed_images(photos)
        return vecs, vecs

    def _query_vector(self, role: str, text: str) -> np.ndarray:
        """Embedding of a text query by ``role``'s encoder, through a bounded LRU cache."""
        key = (role, text)
        with self._query_cache_lock:
            vec = self._query_cache.get(key)
            if vec is not None:
                self._query_cache.move_to_end(key)
                return vec
        vec = self._encoder(role).embed_queries([text])[0]
        with self._query_cache_lock:
            self._query_cache[key] = vec
            if len(self._query_cache) > self.config.query_cache_size:
                self._query_cache.popitem(last=False)
        return vec

    def _joint_query(self, text: str, parsed: ParsedQuery | None, text_vec: np.ndarray | None) -> np.ndarray:
        """The joint model's query vector. Its text head reads the e5 query embedding of the
        query in catalogue words (``parsed.normalized``: Chinese and shoppers' English mapped),
        which is the text signal's vector: when the engine has it, only the (sub-millisecond)
        head runs instead of a second e5 pass."""
        joint = self._encoder("joint")
        query = parsed.normalized if parsed is not None else text
        if (text_vec is not None and parsed is not None and joint.text_encoder is self._encoders.get("text")
                and joint.normalize_query(query) == query):
            return joint.project_texts(text_vec[None, :])[0]
        return self._query_vector("joint", query)

    def warmup(self) -> None:
        """Load every encoder and derived structure now rather than on the first query."""
        for role in self.manifest.encoders:
            self._encoder(role)
        with self._rw.read():
            for name in ("filters", "facet_fields", "price_edges", "suggester", "parser"):
                self._get(name)
            self._get("parser").parse("预热 warmup")  # jieba, the pinyin index, the spelling lists
        if self.lexical is not None:
            self.lexical.search("warmup 预热", 1)

    # -- reading ----------------------------------------------------------------------------
    def product(self, product_id: str) -> Product | None:
        pos = self._positions.get(product_id)
        return None if pos is None else self.products[pos]

    def parse(self, text: str) -> ParsedQuery:
        """The constraints this engine's query parser reads in ``text``."""
        with self._rw.read():
            return self._get("parser").parse(text)

    def suggest(self, prefix: str, k: int = 10) -> list[str]:
        """Autocomplete ``prefix`` from product titles, attribute values and brands."""
        with self._rw.read():
            return self._get("suggester").suggest(prefix, k)

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
                    given = [] if image is None else list(image) if isinstance(image, (list, tuple)) else [image]
                    image = given + list(plan.images)
            if not text and image is None:  # e.g. "start over" on its own: nothing to search yet
                return SearchResult([], (time.perf_counter() - t0) * 1000,
                                    session=ranker.observe([], ctx, plan))
        _check_page(k, offset)
        mode = constraints or self.config.constraints
        if mode not in CONSTRAINT_MODES:
            raise ValueError(f"constraints must be one of {', '.join(CONSTRAINT_MODES)}, got {mode!r}")
        use = set(SIGNALS if signals is None else signals)
        if not use <= set(SIGNALS):
            raise ValueError(f"unknown signal(s) {sorted(use - set(SIGNALS))}; valid: {', '.join(SIGNALS)}")
        parsed: ParsedQuery | None = None
        queries: dict[str, np.ndarray] = {}
        if text:
            if plan is not None and plan.parsed is not None:
                parsed = plan.parsed
            else:
                with self._rw.read():
                    parsed = self._get("parser").parse(text)
            if self._has_text_vectors and "text" in use:
                queries["text"] = self._query_vector("text", parsed.normalized)
                if self.config.shopper_words and mode != "off" and "attributes" in use and not parsed.types:
                    parsed = self._with_predicted_type(parsed, queries["text"])
            if "joint" in self.dense and "joint" in use:
                queries["joint"] = self._joint_query(text, parsed, queries.get("text"))
            if "zeroshot" in self.dense and "zeroshot" in use:
                queries["zeroshot"] = self._query_vector("zeroshot", text)
        if image is not None:
            roles = [r for r in ("image", "joint") if r in self.dense]
            if not roles:
                raise ValueError(f"index {self.path} has no image vectors; re-index with the image field")
            photos = [load_image(p) for p in (image if isinstance(image, (list, tuple)) else [image])]
            if not photos:
                raise ValueError("image: an empty list of images")
            want_joint = "joint" in roles and ("joint_image" in use or "composed" in use)
            if "image" in roles and ("image" in use or want_joint):
                vecs, backbone = self._photo_vectors(photos)
                # several photos at once: the mean of their vectors ("things like these")
                queries["image"] = l2_normalize(vecs.mean(axis=0, keepdims=True))[0]
            if want_joint:
                joint = self._encoder("joint")
                if "image" in roles and joint.image_backbone == feature_space(self._image_backbone().name):
                    # one backbone pass serves both signals
                    vecs = joint.project_images(joint.image_features_from(backbone, photos))
                else:
                    vecs = joint.embed_images(photos)
                queries["joint_image"] = l2_normalize(vecs.mean(axis=0, keepdims=True))[0]
            if text and "joint_image" in queries and "composed" in use:
                # "like this, but red": the photo's joint vector moved towards the words
                if "joint" not in queries:
                    queries["joint"] = self._joint_query(text, parsed, None)
                mixed = queries["joint_image"] + self.config.composed_text_weight * queries["joint"]
                queries["composed"] = l2_normalize(mixed[None, :])[0]
            for signal in [s for s in queries if s not in use]:
                del queries[signal]
        with self._rw.read():
            allowed = self._allowed(filters)
            if plan is not None:
                allowed = self._apply_plan(plan, allowed)
            boost = type_first = None
            if parsed is not None and parsed.constraints and mode != "off" and "attributes" in use:
                fraction = constraint_ranking(parsed.constraints, self._get("filters"), self.alive)
                type_first = self._type_mask(parsed) if self.config.shopper_words else None
                if mode == "filter":
                    full = fraction >= 1.0 - 1e-9
                    allowed = full if allowed is None else allowed & full
                else:
                    boost = fraction if allowed is None else np.where(allowed, fraction, 0.0)
            n_cand = max(self.config.candidates, k + offset)
            rankings: dict[str, Ranking] = {}
            if parsed is not None and self.lexical is not None and "lexical" in use:
                lexical_text = text if parsed.normalized == text else f"{text} {parsed.normalized}"
                rankings["lexical"] = self.lexical.search(lexical_text, n_cand, allowed)
            for signal, q in queries.items():
                rankings[signal] = self._dense_signal(signal, q, n_cand, allowed)
            if boost is not None and boost.any():
                rankings["attributes"] = self._constraint_candidates(boost, queries, n_cand)
            if not rankings:
                if signals is not None:  # the chosen signals have nothing for this query (e.g.
                    # "attributes" when no part of it was understood): no results, not an error
                    return SearchResult([], (time.perf_counter() - t0) * 1000,
                                        parsed=parsed.to_dict() if parsed is not None else None)
                raise ValueError(f"index {self.path} has no signal that can answer a text query")
            return self._fuse(rankings, k, offset, facets, weights, t0, boost, parsed, fusion,
                              ctx=ctx, plan=plan, explain=explain, ranker=ranker, type_first=type_first)

    def _with_predicted_type(self, parsed: ParsedQuery, text_vec: np.ndarray) -> ParsedQuery:
        """When the words name no product type the lexicons know ("anarkali"), the type most of
        the query's nearest products share (e5 text signal, rank-weighted votes of the top
        ``TYPE_NEIGHBOURS``, fewer in a small catalogue), added as a constraint of kind "type"
        whose confidence is that share, when it reaches ``PREDICTED_TYPE_MIN_SHARE``."""
        with self._rw.read():
            field = self._get("parser").type_field
            if field is None:
                return parsed
            # a small catalogue has few products of a type: fewer neighbours vote
            neighbours = int(np.clip(self.size // 50, 5, TYPE_NEIGHBOURS))
            positions, _ = self._dense_signal("text", text_vec, neighbours, self.alive)
            votes: Counter[str] = Counter()
            for rank, pos in enumerate(positions):
                value = self.products[pos].attributes.get(field)
                if isinstance(value, str):
                    votes[value] += 1.0 / (rank + 5)
        if not votes:
            return parsed
        value, weight = votes.most_common(1)[0]
        share = weight / sum(votes.values())
        if share < PREDICTED_TYPE_MIN_SHARE:
            return parsed
        predicted = Constraint((field,), value, "eq", value, round(share, 3), (value,), "type")
        return replace(parsed, constraints=(*parsed.constraints, predicted))

    def _type_mask(self, parsed: ParsedQuery) -> np.ndarray | None:
        """Products of the type(s) the query names with confidence, or None when it names none."""
        types = [c for c in parsed.types if c.confidence >= TYPE_FIRST_CONFIDENCE]
        if not types:
            return None
        mask = np.zeros(len(self.products), dtype=bool)
        for c in types:
            mask |= constraint_mask(c, self._get("filters"))
        return mask if mask.any() else None

    def similar(
        self, product_id: str, k: int = 10, filters: Filters = None, *, offset: int = 0,
        facets: bool = False,
    ) -> SearchResult:
        """Products like ``product_id``, from its own stored vectors (no model call); itself excluded.

        Raises ``KeyError`` for an unknown id.
        """
        t0 = time.perf_counter()
        _check_page(k, offset)
        self.refresh()
        with self._rw.read():
            pos = self._positions.get(product_id)
            if pos is None:
                raise KeyError(product_id)
            allowed = self._allowed(filters)
            allowed = self.alive.copy() if allowed is None else allowed
            allowed[pos] = False
            n_cand = max(self.config.candidates, k + offset)
            rankings: dict[str, Ranking] = {}
            for role in ("joint", "image", "text"):
                if role in self.dense:
                    vecs = self.dense[role].vectors_of(pos)
                    if len(vecs):
                        rankings[role] = self.dense[role].search(vecs.mean(axis=0), n_cand, allowed)
            if not rankings:
                raise ValueError(f"product {product_id!r} has no stored vectors to compare")
            return self._fuse(rankings, k, offset, facets, None, t0)

    def _apply_plan(self, plan: QueryPlan, allowed: np.ndarray | None) -> np.ndarray | None:
        """A reranker's hard constraints and exclusions, folded into the allowed mask."""
        if not plan.required and not plan.exclude:
            return allowed
        mask = self.alive.copy() if allowed is None else allowed.copy()
        for c in plan.required:
            mask &= constraint_mask(c, self._get("filters"))
        for pid in plan.exclude:
            pos = self._positions.get(pid)
            if pos is not None:
                mask[pos] = False
        return mask

    def _constraint_candidates(self, boost: np.ndarray, queries: dict[str, np.ndarray], n: int) -> Ranking:
        """The products that match the most parsed constraints, ordered by the query's strongest
        dense signal (a constrained vector search), or by position when there is none."""
        best = boost >= boost.max() - 1e-9
        for signal in ("composed", "joint_image", "image", "joint", "text", "zeroshot"):
            if signal in queries:
                return self._dense_signal(signal, queries[signal], n, best)
        top = np.flatnonzero(best)[:n]
        return top.astype(np.int64), boost[top].astype(np.float32)

    def _dense_signal(self, signal: str, q: np.ndarray, n: int, allowed: np.ndarray | None) -> Ranking:
        """Top-``n`` products of one dense signal: role lookup, per-field aggregation, the
        configured multi-vector aggregation and similarity function."""
        role = "joint" if signal in ("joint_image", "composed") else signal
        if role == "text" and "text" not in self.dense:
            return self._field_ranking(q, n, allowed)
        index = self.dense[role]
        ranking = index.search(q, n, allowed, aggregation=self.config.aggregation)
        if signal in self._similarities:
            ranking = index.rescore(q, ranking[0], self._similarities[signal])
        return ranking

    def _field_ranking(self, q: np.ndarray, n: int, allowed: np.ndarray | None) -> Ranking:
        """Text signal over per-field vectors (title, attributes, description): a product
        scores the max or the field-weighted mean of its field similarities."""
        total = np.zeros(len(self.products))
        weight = np.zeros(len(self.products))
        best = np.full(len(self.products), -np.inf)
        for role, index in self.dense.items():
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
        ok = np.isfinite(agg) & (self.alive if allowed is None else allowed)
        cand = np.flatnonzero(ok)
        top = cand[np.argsort(-agg[cand], kind="stable")[:n]]
        return top.astype(np.int64), agg[top].astype(np.float32)

    def filter_mask(self, filters: Filters) -> np.ndarray | None:
        """Bool mask over positions of live products passing ``filters``; None when all pass."""
        with self._rw.read():
            return self._allowed(filters)

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        mask = self._get("filters").mask(normalize_filters(filters))
        if mask is None:
            return None if self.alive.all() else self.alive
        return mask & self.alive

    def _fuse(
        self, rankings: dict[str, Ranking], k: int, offset: int, facets: bool,
        weights: Mapping[str, float] | None, t0: float, boost: np.ndarray | None = None,
        parsed: ParsedQuery | None = None, fusion: str | None = None, *,
        ctx: SearchContext | None = None, plan: QueryPlan | None = None, explain: bool = False,
        ranker: Reranker | None = None, type_first: np.ndarray | None = None,
    ) -> SearchResult:
        w = dict(self.config.weights)
        w.update(weights or {})
        method = fusion or self.config.fusion
        fused = fuse(rankings, method, w, self.config.rrf_k)
        if boost is not None:
            # Constraint boost: products matching more of the parsed constraints move up; on the
            # RRF scale (a first rank is worth 1/(rrf_k + 1)) or, for linear fusion, one signal's
            # full normalised score per matched constraint share.
            b = self.config.constraint_boost if method == "rrf" else 1.0
            fused = sorted(((p, s + b * float(boost[p]), d) for p, s, d in fused),
                           key=lambda x: (-x[1], min(r for _, r in x[2].values()), x[0]))
        traces: dict[int, dict[str, Any]] = {}
        if ranker is not None and fused:
            fused, traces = self._rerank(ranker, fused, parsed, ctx or SearchContext(), plan, boost, explain)
        if type_first is not None:
            # Product type first: every product of the type the query names ranks above products
            # of other types that only share a colour, a season or a word (order kept within each).
            fused = [x for x in fused if type_first[x[0]]] + [x for x in fused if not type_first[x[0]]]
        page = fused[offset:offset + k]
        hits = [Hit(self.products[p].id, s, self.products[p], d, traces.get(p) if explain else None)
                for p, s, d in page]
        session = None
        if ranker is not None and ctx is not None:
            session = ranker.observe([h.product_id for h in hits], ctx, plan)
        counts = {}
        if facets:
            counts = facet_counts(self.products, [p for p, _, _ in fused], self._get("facet_fields"),
                                  self._get("price_edges"))
        return SearchResult(
            hits=hits, took_ms=(time.perf_counter() - t0) * 1000, signals_used=tuple(rankings),
            total_candidates=len(fused), offset=offset, facets=counts,
            parsed=parsed.to_dict() if parsed is not None else None, session=session,
        )

    def _rerank(
        self, ranker: Reranker, fused: Fused, parsed: ParsedQuery | None, ctx: SearchContext,
        plan: QueryPlan | None, boost: np.ndarray | None, explain: bool,
    ) -> tuple[Fused, dict[int, dict[str, Any]]]:
        """The attached ranker reorders the top ``ranker.depth`` candidates; the rest keep their
        fused order below them."""
        head, tail = fused[:ranker.depth], fused[ranker.depth:]
        positions = np.array([p for p, _, _ in head], dtype=np.int64)
        scores = np.array([s for _, s, _ in head], dtype=np.float64)
        matched = boost[positions] if boost is not None else None
        out = ranker.rerank(positions, scores, [d for _, _, d in head], parsed, ctx, plan, matched=matched,
                            explain=explain)
        floor = float(np.min(out.scores)) if len(out.scores) else 0.0
        reordered = [(head[i][0], float(s), head[i][2]) for i, s in zip(out.order, out.scores)]
        # candidates below the reranked head stay below it, in fused order
        reordered += [(p, min(floor, s) - 1e-9 * (j + 1), d) for j, (p, s, d) in enumerate(tail)]
        traces = {head[i][0]: e for i, e in zip(out.order, out.explain)}
        return reordered, traces


def _dense_params(manifest: Manifest) -> DenseParams:
    return DenseParams(hnsw_threshold=int(manifest.settings.get("hnsw_threshold", 100_000)),
                       kind=str(manifest.settings.get("dense_index", "auto")))


def _make_parser(products: Sequence[Product], facet_fields: Sequence[str], shopper_words: bool = True) -> QueryParser:
    """A query parser over the catalog's own vocabulary (facet attributes and brands), the
    shopper lexicon extended with what the catalogue's titles teach (``learn_expansions``),
    and the titles' words as the words typo correction leaves alone (without
    ``shopper_words``: the catalogue's own words only)."""
    vocabulary: dict[str, set[str]] = {}
    for p in products:
        for f in facet_fields:
            if f == "brand" and p.brand:
                vocabulary.setdefault("brand", set()).add(p.brand)
            elif isinstance(p.attributes.get(f), str):
                vocabulary.setdefault(f, set()).add(str(p.attributes[f]))
    prices = np.array([p.price for p in products if p.price is not None], dtype=float)
    cheap = float(np.quantile(prices, 0.25)) if prices.size else None
    expensive = float(np.quantile(prices, 0.9)) if prices.size else None
    if not shopper_words:
        return QueryParser(vocabulary, cheap_price=cheap, expensive_price=expensive, shopper=ShopperLexicon([]),
                           known_words=None, correct_typos=False)
    shopper = default_shopper_lexicon()
    attribute_fields = [f for f in facet_fields if f in vocabulary and f != "brand"]
    known = {w for values in vocabulary.values() for v in values for w in word_keys(v)} | shopper.words()
    learned = learn_expansions([p.title for p in products],
                               {f: [p.attributes.get(f) if isinstance(p.attributes.get(f), str) else None
                                    for p in products] for f in attribute_fields}, known=known)
    title_words = Counter(w for p in products for w in set(word_keys(p.title)))
    return QueryParser(vocabulary, cheap_price=cheap, expensive_price=expensive, shopper=shopper.extended(learned),
                       known_words=title_words)


def _check_page(k: int, offset: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")


def _ref_role(manifest: Manifest, role: str) -> str:
    """The manifest entry describing ``role``'s encoder: per-field text roles stand for "text"."""
    if role == "text" and role not in manifest.encoders:
        return next((name for name in manifest.encoders if name.startswith(FIELD_ROLE_PREFIX)), role)
    return role


def _check_encoder(manifest: Manifest, role: str, enc: Any) -> None:
    ref = manifest.encoders.get(role)
    if ref is None:
        raise IndexFormatError(f"the index has no {role!r} vectors; cannot use a {role} encoder")
    version = str(getattr(enc, "version", ""))
    if enc.name != ref.name or enc.dim != ref.dim or (ref.version and version != ref.version):
        raise IndexFormatError(
            f"{role} encoder mismatch: index built with {ref.name!r} (dim {ref.dim}"
            f"{', version ' + ref.version if ref.version else ''}), got {enc.name!r} (dim {enc.dim}"
            f"{', version ' + version if ref.version else ''}); rebuild the index or pass the matching model"
        )


def _is_model_dir_setting(value: Any) -> bool:
    """Whether a manifest's ``image_model`` setting names a model directory (not a registry model)."""
    if not isinstance(value, str):
        return False
    try:
        model_info(value)
    except ValueError:
        return True
    return False


def _load_image_for(ref: Any, manifest: Manifest) -> Any:
    """The index's image encoder: a registry model by name, or the shop image model directory
    the manifest names (refused by :func:`_check_encoder` when it was retrained since)."""
    from shopsearch.encode.shop_image import ShopImageEncoder

    configured = manifest.settings.get("image_model")
    if not _is_model_dir_setting(configured):
        return create_encoder(ref.name)
    if not Path(configured).is_dir():
        raise IndexFormatError(
            f"the index was built with the shop image model at {configured}, which no longer exists; "
            "restore it or rebuild the index"
        )
    return ShopImageEncoder(configured)


def _load_joint_for(ref: Any, manifest: Manifest, image_encoder: Any, text_encoder: Any = None) -> Any:
    """The index's joint model, sharing the engine's image and (when it is the model's text
    backbone) text encoders, so no second copy of a model is loaded."""
    from shopsearch.encode.joint import JointEncoder, ModelFormatError

    configured = manifest.settings.get("joint_model")
    model_dir = None if configured in (None, "default") else Path(configured)
    if model_dir is not None and not model_dir.is_dir():
        raise IndexFormatError(
            f"the index was built with the joint model at {model_dir}, which no longer exists; "
            "pass encoders={'joint': JointEncoder.load(DIR)} or rebuild the index"
        )
    if text_encoder is not None:
        try:
            return JointEncoder.load(model_dir, image_encoder=image_encoder, text_encoder=text_encoder)
        except ModelFormatError:  # the model was trained on another text backbone: it loads its own
            pass
    return JointEncoder.load(model_dir, image_encoder=image_encoder)
