"""The search engine over one index version: loads once, answers text, image and mixed queries.

Signals (each a ranked candidate list, fused with reciprocal rank fusion):

- ``lexical``: BM25 over the indexed text fields (text queries);
- ``text``: e5 query vector vs product document vectors (text queries);
- ``joint``: the trained joint model, query text vs product images (text queries), and
  query image vs product images in the joint space (image queries);
- ``image``: EfficientNet features, query image vs product images (image queries).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.encode import create_encoder, model_info
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
from shopsearch.preprocess.image import ImageInput
from shopsearch.retrieve.filters import Filter, FilterIndex, normalize_filters
from shopsearch.retrieve.fusion import reciprocal_rank_fusion
from shopsearch.types import Hit, Product, SearchResult

logger = logging.getLogger(__name__)


class Engine:
    """Search over a loaded index. Thread-safe for concurrent searches."""

    def __init__(
        self, manifest: Manifest, products: list[Product], dense: dict[str, DenseIndex],
        lexical: LexicalIndex | None, config: SearchConfig = SearchConfig(),
        encoders: Mapping[str, Any] | None = None, path: Path | None = None,
    ) -> None:
        self.manifest = manifest
        self.products = products
        self.dense = dense
        self.lexical = lexical
        self.config = config
        self.path = path
        self._positions = {p.id: i for i, p in enumerate(products)}
        self._filters = FilterIndex(products)
        self._encoders: dict[str, Any] = dict(encoders or {})
        self._lock = threading.Lock()
        for role, enc in self._encoders.items():
            _check_encoder(manifest, role, enc)

    @classmethod
    def load(
        cls, index_dir: str | Path, config: SearchConfig = SearchConfig(), *, verify: bool = True,
        encoders: Mapping[str, Any] | None = None,
    ) -> Engine:
        """Open the live version of ``index_dir``.

        Refuses (``IndexFormatError``) an index whose format, files or encoders do not match
        what this installation provides. ``encoders`` may pass ready encoder objects by role
        (``text``, ``image``, ``joint``); they must match the manifest's names and dims.
        """
        version = resolve_version(Path(index_dir))
        manifest = read_manifest(version)
        if verify:
            verify_checksums(version, manifest)
        for role, ref in manifest.encoders.items():
            if role == "joint":
                continue
            try:
                info = model_info(ref.name)
            except ValueError as exc:
                if encoders and role in encoders:
                    continue
                raise IndexFormatError(f"index {index_dir} was built with {role} encoder {ref.name!r}: {exc}") from None
            if info.dim != ref.dim:
                raise IndexFormatError(
                    f"index {index_dir}: {role} encoder {ref.name!r} has dim {info.dim} here "
                    f"but the index was built with dim {ref.dim}; rebuild the index"
                )
        products = read_products(version / STORE_NAME)
        if len(products) != manifest.counts.get("products", -1):
            raise IndexFormatError(f"index {index_dir}: product count does not match the manifest")
        params = DenseParams(hnsw_threshold=int(manifest.settings.get("hnsw_threshold", 100_000)))
        dense = {
            role: DenseIndex.load(version / "dense", role, len(products), params)
            for role in ("text", "image", "joint") if role in manifest.encoders
        }
        lexical = None
        if (version / "lexical").is_dir():
            lexical = LexicalIndex.load(version / "lexical", len(products))
        engine = cls(manifest, products, dense, lexical, config, encoders, Path(index_dir))
        logger.info("loaded index %s (%d products, signals: %s)", index_dir, len(products),
                    ", ".join(sorted(dense)) + (", lexical" if lexical else ""))
        return engine

    # -- encoders, created on first use ---------------------------------------------------
    def _encoder(self, role: str) -> Any:
        enc = self._encoders.get(role)
        if enc is not None:
            return enc
        with self._lock:
            enc = self._encoders.get(role)
            if enc is None:
                ref = self.manifest.encoders[role]
                if role == "joint":
                    enc = _load_joint_for(ref, self._encoder("image"))
                else:
                    enc = create_encoder(ref.name)
                _check_encoder(self.manifest, role, enc)
                self._encoders[role] = enc
        return enc

    # -- search -----------------------------------------------------------------------------
    def product(self, product_id: str) -> Product | None:
        pos = self._positions.get(product_id)
        return None if pos is None else self.products[pos]

    def search(
        self, text: str | None = None, image: ImageInput | None = None, k: int = 10,
        filters: Sequence[str] | Mapping[str, Any] | Sequence[Filter] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> SearchResult:
        """Rank products for a text query, an image query, or both.

        ``filters``: "key=value"-style strings or a JSON-style mapping (see
        :mod:`shopsearch.retrieve.filters`). ``weights`` override per-signal RRF weights.
        Each hit carries its per-signal (score, rank) in ``signals``.
        """
        t0 = time.perf_counter()
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        text = text.strip() if text else None
        if not text and image is None:
            raise ValueError("a search needs text, an image, or both")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        allowed = self._filters.mask(normalize_filters(filters))
        n_cand = max(self.config.candidates, k)
        rankings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if text:
            if self.lexical is not None:
                rankings["lexical"] = self.lexical.search(text, n_cand, allowed)
            if "text" in self.dense:
                q = self._encoder("text").embed_queries([text])[0]
                rankings["text"] = self.dense["text"].search(q, n_cand, allowed)
            if "joint" in self.dense:
                q = self._encoder("joint").embed_queries([text])[0]
                rankings["joint"] = self.dense["joint"].search(q, n_cand, allowed)
        if image is not None:
            if "image" in self.dense:
                q = self._encoder("image").embed_images([image])[0]
                rankings["image"] = self.dense["image"].search(q, n_cand, allowed)
            if "joint" in self.dense:
                q = self._encoder("joint").embed_images([image])[0]
                rankings["joint_image"] = self.dense["joint"].search(q, n_cand, allowed)
            if not rankings or set(rankings) == {"lexical", "text"}:
                raise ValueError(f"index {self.path} has no image vectors; re-index with the image field")
        if not rankings:
            raise ValueError(f"index {self.path} has no signal that can answer a text query")
        w = dict(self.config.weights)
        w.update(weights or {})
        fused = reciprocal_rank_fusion(rankings, k=self.config.rrf_k, weights=w)
        hits = [Hit(self.products[p].id, s, self.products[p], d) for p, s, d in fused[:k]]
        return SearchResult(
            hits=hits, took_ms=(time.perf_counter() - t0) * 1000,
            signals_used=tuple(rankings), total_candidates=len(fused),
        )


def _check_encoder(manifest: Manifest, role: str, enc: Any) -> None:
    ref = manifest.encoders.get(role)
    if ref is None:
        raise IndexFormatError(f"the index has no {role!r} vectors; cannot use a {role} encoder")
    if enc.name != ref.name or enc.dim != ref.dim or (ref.version and getattr(enc, "version", "") != ref.version):
        raise IndexFormatError(
            f"{role} encoder mismatch: index built with {ref.name!r} (dim {ref.dim}"
            f"{', version ' + ref.version if ref.version else ''}), got {enc.name!r} (dim {enc.dim}"
            f"{', version ' + str(getattr(enc, 'version', '')) if ref.version else ''}); "
            "rebuild the index or pass the matching model"
        )


def _load_joint_for(ref: Any, image_encoder: Any) -> Any:
    from shopsearch.encode.joint import JointEncoder, default_model_dir

    default = JointEncoder.load(None, image_encoder=image_encoder)
    if default.name == ref.name:
        return default
    raise IndexFormatError(
        f"the index was built with joint model {ref.name!r}; this installation ships "
        f"{default.name!r} (at {default_model_dir()}); pass encoders={{'joint': JointEncoder.load(DIR)}}"
    )
