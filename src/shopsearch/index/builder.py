"""Build an index directory from a catalog: validate, encode, index, write atomically."""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import shopsearch
from shopsearch.catalog import FieldMapping, load_catalog
from shopsearch.config import IndexConfig
from shopsearch.encode import create_encoder
from shopsearch.encode.cache import EmbeddingCache, image_key, text_key
from shopsearch.index.dense import DenseIndex, DenseParams
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    EncoderRef,
    Manifest,
    checksum_tree,
    fsync_tree,
    sha256_file,
    switch_current,
)
from shopsearch.index.store import STORE_NAME, write_products
from shopsearch.preprocess.text import product_text
from shopsearch.types import Product, Reject

logger = logging.getLogger(__name__)

REJECTS_NAME = "rejects.jsonl"


@dataclass
class BuildReport:
    """What a build did; ``seconds`` per phase, ``images_per_second`` of image encoding."""

    index_dir: Path
    version: str
    n_rows: int
    n_products: int
    rejects: list[Reject]
    n_images: int = 0
    skipped_images: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def images_per_second(self) -> float:
        t = self.seconds.get("images", 0.0)
        return self.n_images / t if t > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index_dir": str(self.index_dir),
            "version": self.version,
            "rows": self.n_rows,
            "products": self.n_products,
            "rejects": len(self.rejects),
            "images": self.n_images,
            "skipped_images": self.skipped_images,
            "images_per_second": round(self.images_per_second, 2),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
        }


def build_index(
    catalog: str | Path, out: str | Path, config: IndexConfig = IndexConfig(),
    mapping: FieldMapping | None = None, strict: bool = False,
) -> BuildReport:
    """Index ``catalog`` into the directory ``out`` and make it the live version.

    Bad rows are reported (and written to ``out/rejects.jsonl``); good rows are indexed.
    With ``strict=True`` any bad row raises :class:`shopsearch.catalog.CatalogError` and
    nothing is written.
    """
    t0 = time.perf_counter()
    loaded = load_catalog(catalog, mapping=mapping, check_images=config.check_images, strict=strict)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(out)
    version = "v-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    tmp = out / f".tmp-{version}"
    tmp.mkdir()
    report = BuildReport(out, version, loaded.n_rows, len(loaded.products), list(loaded.rejects))
    report.seconds["load"] = time.perf_counter() - t0
    cache = EmbeddingCache(config.cache_path) if config.cache_path else None
    try:
        encoders = _write_version(tmp, loaded.products, config, cache, report)
        loaded.write_rejects(tmp / REJECTS_NAME)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            package_version=shopsearch.__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            fields=config.fields,
            encoders=encoders,
            counts={"products": len(loaded.products), "rejects": len(loaded.rejects),
                    "rows": loaded.n_rows, "images": report.n_images},
            files=checksum_tree(tmp),
            catalog={"path": str(loaded.source), "sha256": sha256_file(Path(loaded.source))},
            settings={"hnsw_threshold": config.hnsw_threshold},
        )
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        fsync_tree(tmp)
        tmp.rename(out / version)
        switch_current(out, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if cache is not None:
            report.cache_hits, report.cache_misses = cache.hits, cache.misses
            cache.close()
    shutil.copyfile(out / version / REJECTS_NAME, out / f".{REJECTS_NAME}.tmp")
    (out / f".{REJECTS_NAME}.tmp").replace(out / REJECTS_NAME)
    _remove_old_versions(out, keep=version)
    report.seconds["total"] = time.perf_counter() - t0
    logger.info("indexed %d products (%d rejected) into %s in %.1fs",
                report.n_products, len(report.rejects), out, report.seconds["total"])
    return report


def _write_version(
    folder: Path, products: Sequence[Product], config: IndexConfig, cache: EmbeddingCache | None,
    report: BuildReport,
) -> dict[str, EncoderRef]:
    write_products(folder / STORE_NAME, products)
    encoders: dict[str, EncoderRef] = {}
    dense_dir = folder / "dense"
    params = DenseParams(hnsw_threshold=config.hnsw_threshold)
    n = len(products)
    common = {"threads": config.threads, "progress": config.progress}

    if config.text_fields:
        t = time.perf_counter()
        docs = [product_text(p, config.text_fields) for p in products]
        LexicalIndex.build(docs).save(folder / "lexical")
        enc = create_encoder(config.text_model, batch_size=64, **common)
        vecs = _embed(cache, [text_key(enc.name, "doc", d) for d in docs], docs, enc.dim, enc.embed_texts)  # type: ignore[union-attr]
        DenseIndex(vecs, np.arange(n), n, params).save(dense_dir, "text")
        encoders["text"] = EncoderRef(enc.name, enc.dim)
        report.seconds["texts"] = time.perf_counter() - t

    if config.has_images:
        t = time.perf_counter()
        paths, rows = [], []
        for i, p in enumerate(products):
            for img in p.images:
                if img.startswith(("http://", "https://")):
                    report.skipped_images += 1
                    continue
                paths.append(img)
                rows.append(i)
        if report.skipped_images:
            logger.warning("%d image URLs were not indexed: fetching remote images is not supported; "
                           "download them and point the catalog at local files", report.skipped_images)
        row_arr = np.asarray(rows, dtype=np.int64)
        img_enc = create_encoder(config.image_model, batch_size=config.batch_size, **common)
        keys = [image_key(img_enc.name, p) for p in paths]
        vecs = _embed(cache, keys, paths, img_enc.dim, img_enc.embed_images)  # type: ignore[union-attr]
        DenseIndex(vecs, row_arr, n, params).save(dense_dir, "image")
        encoders["image"] = EncoderRef(img_enc.name, img_enc.dim)
        report.n_images = len(paths)
        report.seconds["images"] = time.perf_counter() - t
        joint = _load_joint(config, img_enc)
        if joint is not None:
            t = time.perf_counter()
            jkeys = [image_key(f"{joint.name}@{joint.version}:features", p) for p in paths]
            feats = _embed(cache, jkeys, paths, joint.feature_dim, joint.image_features)
            DenseIndex(joint.project_images(feats), row_arr, n, params).save(dense_dir, "joint")
            encoders["joint"] = EncoderRef(joint.name, joint.dim, joint.version)
            report.seconds["joint"] = time.perf_counter() - t
    return encoders


def _load_joint(config: IndexConfig, image_encoder: object) -> Any:
    """The joint text-image model named by the config, or None (logged) when there is none."""
    if config.joint_model is None:
        return None
    try:
        from shopsearch.encode.joint import JointEncoder
    except ImportError:
        logger.warning("no joint text-image model is available; text->image search is disabled")
        return None
    model_dir = None if config.joint_model == "default" else Path(config.joint_model)
    return JointEncoder.load(model_dir, image_encoder=image_encoder)


def _embed(cache: EmbeddingCache | None, keys: list[str], inputs: Sequence[Any], dim: int, fn: Any) -> np.ndarray:
    if not len(inputs):
        return np.empty((0, dim), np.float32)
    if cache is None:
        return np.asarray(fn(list(inputs)), dtype=np.float32)
    return cache.embed(keys, inputs, dim, fn)


def _remove_stale_builds(out: Path) -> None:
    """Delete half-written versions left behind by a crashed build."""
    for stale in out.glob(".tmp-v-*"):
        logger.info("removing unfinished build %s", stale.name)
        shutil.rmtree(stale, ignore_errors=True)


def _remove_old_versions(out: Path, keep: str) -> None:
    for old in out.glob("v-*"):
        if old.is_dir() and old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
