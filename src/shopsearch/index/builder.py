"""Build an index directory from a catalog: validate, encode, index, write atomically."""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import shopsearch
from shopsearch.catalog import FieldMapping, load_catalog
from shopsearch.config import IndexConfig
from shopsearch.encode import create_encoder
from shopsearch.encode.base import ImageEncoder
from shopsearch.encode.cache import EmbeddingCache, content_digest, embed_with_cache, image_key, text_key
from shopsearch.encode.registry import DEFAULT_IMAGE_MODEL, feature_space
from shopsearch.encode.shop_image import IMAGE_SUBDIR, is_image_model_dir, load_image_encoder
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
from shopsearch.preprocess.text import lexical_text, product_text
from shopsearch.storage import atomic_path, storage_errors
from shopsearch.types import Product, Reject

logger = logging.getLogger(__name__)

REJECTS_NAME = "rejects.jsonl"
# Multi-field text vectors (IndexConfig.text_vectors="fields"): role "text.<group>" per group.
FIELD_ROLE_PREFIX = "text."
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "attributes": ("brand", "category", "attributes"),
    "description": ("description",),
}
WAL_SUFFIX = ".wal"


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
    report = BuildReport(Path(out), "", loaded.n_rows, len(loaded.products), list(loaded.rejects))
    report.seconds["load"] = time.perf_counter() - t0
    cache = EmbeddingCache(config.cache_path) if config.cache_path else None

    def fill(folder: Path) -> tuple[dict[str, EncoderRef], dict[str, int]]:
        encoders = _write_version(folder, loaded.products, config, cache, report)
        loaded.write_rejects(folder / REJECTS_NAME)
        counts = {"products": len(loaded.products), "rejects": len(loaded.rejects),
                  "rows": loaded.n_rows, "images": report.n_images}
        return encoders, counts

    try:
        report.version = publish_version(
            Path(out), fill, fields=config.fields,
            catalog={"path": str(loaded.source), "sha256": sha256_file(Path(loaded.source))},
            settings=_settings(config),
        )
    finally:
        if cache is not None:
            report.cache_hits, report.cache_misses = cache.hits, cache.misses
            cache.close()
    report.seconds["total"] = time.perf_counter() - t0
    logger.info("indexed %d products (%d rejected) into %s in %.1fs",
                report.n_products, len(report.rejects), out, report.seconds["total"])
    return report


def publish_version(
    out: Path, fill: Any, *, fields: Sequence[str], catalog: dict[str, Any], settings: dict[str, Any],
) -> str:
    """Create a new version of the index ``out`` and make it live; returns its name.

    ``fill(folder)`` writes the version's files and returns (encoder refs, counts). The folder
    is checksummed, fsynced and renamed into place, then ``CURRENT`` is swapped atomically; on
    any error the half-written folder is removed and the previous version stays live (a full
    disk raises :class:`~shopsearch.storage.StorageError`).
    """
    with storage_errors(f"a new version of the index {out}"):
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(out)
        version = "v-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        tmp = out / f".tmp-{version}"
        tmp.mkdir()
        _fill_and_switch(out, tmp, version, fill, fields, catalog, settings)
    try:  # the new version is live: a full disk here only leaves the top-level copy stale
        with atomic_path(out / REJECTS_NAME) as tmp:
            shutil.copyfile(out / version / REJECTS_NAME, tmp)
    except OSError as exc:
        logger.warning("%s: could not refresh %s (%s); it is also inside %s", out, REJECTS_NAME, exc, version)
    _remove_old_versions(out, keep=version)
    return version


def _fill_and_switch(out: Path, tmp: Path, version: str, fill: Any, fields: Sequence[str],
                     catalog: dict[str, Any], settings: dict[str, Any]) -> None:
    try:
        encoders, counts = fill(tmp)
        if not (tmp / REJECTS_NAME).exists():
            (tmp / REJECTS_NAME).write_text("", encoding="utf-8")
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            package_version=shopsearch.__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            fields=tuple(fields),
            encoders=encoders,
            counts=counts,
            files=checksum_tree(tmp),
            catalog=catalog,
            settings=settings,
        )
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        fsync_tree(tmp)
        tmp.rename(out / version)
        switch_current(out, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class ProductVectors:
    """Vectors of a batch of products per role, with the batch-local product row of each."""

    docs: list[str] = field(default_factory=list)
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    n_images: int = 0
    skipped_images: int = 0


def encode_products(
    products: Sequence[Product], text_fields: Sequence[str], with_images: bool,
    encoders: dict[str, Any], cache: EmbeddingCache | None, seconds: dict[str, float] | None = None,
) -> ProductVectors:
    """Embed product texts (role ``text``), images (``image``) and joint image vectors (``joint``).

    ``encoders`` maps role -> encoder; roles missing from it are skipped. Used by the index
    build and by live updates, so both produce identical vectors.
    """
    seconds = {} if seconds is None else seconds
    out = ProductVectors()
    n = len(products)
    if text_fields:
        out.docs = [product_text(p, text_fields) for p in products]
        t = time.perf_counter()
        if "text" in encoders:
            enc = encoders["text"]
            vecs = embed_with_cache(cache, _doc_keys(enc.name, out.docs), out.docs, enc.dim, enc.embed_texts)
            out.vectors["text"] = (vecs, np.arange(n))
        for role in [r for r in encoders if r.startswith(FIELD_ROLE_PREFIX)]:
            # multi-field vectors: one vector per product and field (title, attributes, description)
            enc = encoders[role]
            group = FIELD_GROUPS[role[len(FIELD_ROLE_PREFIX):]]
            texts = [product_text(p, [f for f in group if f in text_fields]) for p in products]
            rows = np.asarray([i for i, x in enumerate(texts) if x], dtype=np.int64)
            present = [texts[i] for i in rows]
            vecs = embed_with_cache(cache, _doc_keys(enc.name, present), present, enc.dim, enc.embed_texts)
            out.vectors[role] = (vecs, rows)
        if "text" in encoders or any(r.startswith(FIELD_ROLE_PREFIX) for r in encoders):
            seconds["texts"] = time.perf_counter() - t
    if with_images and "image" in encoders:
        t = time.perf_counter()
        paths: list[str] = []
        image_rows: list[int] = []
        for i, p in enumerate(products):
            for img in p.images:
                if img.startswith(("http://", "https://")):
                    out.skipped_images += 1
                    continue
                paths.append(img)
                image_rows.append(i)
        if out.skipped_images:
            logger.warning("%d image URLs were not indexed: fetching remote images is not supported; "
                           "download them and point the catalog at local files", out.skipped_images)
        row_arr = np.asarray(image_rows, dtype=np.int64)
        enc = encoders["image"]
        # A shop image model (shopsearch.encode.shop_image) also returns the frozen backbone
        # features in the same network pass: kept here for the joint model, so indexing runs
        # the network once per photo.
        backbone = getattr(enc, "backbone", None)
        frozen: dict[str, np.ndarray] = {}
        digests: list[str] = []

        def keys(model: str) -> Callable[[], list[str]]:
            # each image file is read and hashed once, then keyed per model
            def make() -> list[str]:
                if not digests:
                    digests.extend(content_digest(p) for p in paths)
                return [image_key(model, p, d) for p, d in zip(paths, digests)]
            return make

        def embed(items: list[Any]) -> np.ndarray:
            if backbone is None:
                return np.asarray(enc.embed_images(items))
            emb, feats, _ = enc.run(items)
            frozen.update(zip(map(str, items), feats))
            return np.asarray(emb)

        image_name = enc.name if backbone is None else f"{enc.name}@{enc.version}"
        out.vectors["image"] = (embed_with_cache(cache, keys(image_name), paths, enc.dim, embed), row_arr)
        out.n_images = len(paths)
        seconds["images"] = time.perf_counter() - t
        joint = encoders.get("joint")
        if joint is not None:
            t = time.perf_counter()
            feature_enc = enc if backbone is None else backbone
            if joint.image_backbone == feature_space(feature_enc.name):
                if backbone is None:
                    base = out.vectors["image"][0]
                else:
                    base = embed_with_cache(cache, keys(backbone.name), paths, backbone.dim,
                                            _kept_features(backbone, frozen))

                # Reuse the backbone features just computed; only the extras (colour) are new.
                def joint_features(items: list[Any]) -> np.ndarray:
                    index = {p: i for i, p in enumerate(paths)}
                    return joint.image_features_from(base[[index[p] for p in items]], items)
            else:
                joint_features = joint.image_features
            # the features hold the backbone's output: a variant backbone (int8) gets its own keys
            variant = "" if feature_enc.name == joint.image_backbone else f"@{feature_enc.name}"
            feats = embed_with_cache(cache, keys(f"{joint.name}@{joint.version}:features{variant}"), paths,
                                     joint.image_feature_dim, joint_features)
            out.vectors["joint"] = (joint.project_images(feats), row_arr)
            seconds["joint"] = time.perf_counter() - t
        zero = encoders.get("zeroshot")
        if zero is not None:
            t = time.perf_counter()
            out.vectors["zeroshot"] = (embed_with_cache(cache, keys(f"{zero.name}@{zero.version}"), paths,
                                                        zero.dim, zero.embed_images), row_arr)
            seconds["zeroshot"] = time.perf_counter() - t
    return out


def _doc_keys(model: str, docs: Sequence[str]) -> Callable[[], list[str]]:
    """The cache keys of ``model``'s document vectors of ``docs``, computed when called."""
    return lambda: [text_key(model, "doc", d) for d in docs]


def _kept_features(backbone: ImageEncoder, kept: dict[str, np.ndarray]) -> Callable[[list[Any]], np.ndarray]:
    """``backbone``'s features of some images: those ``kept`` from the shop model's pass, the
    missing ones computed (and kept)."""
    def features(items: list[Any]) -> np.ndarray:
        missing = [p for p in items if str(p) not in kept]
        if missing:
            kept.update(zip(map(str, missing), backbone.embed_images(missing)))
        return np.stack([kept[str(p)] for p in items])
    return features


def create_index_encoders(config: IndexConfig) -> dict[str, Any]:
    """The encoders an index build with ``config`` needs, by role."""
    common = {"threads": config.threads, "progress": config.progress}
    encoders: dict[str, Any] = {}
    if config.text_fields:
        text = create_encoder(config.text_model, batch_size=64, **common)
        if config.text_vectors == "document":
            encoders["text"] = text
        else:
            for group, members in FIELD_GROUPS.items():
                if any(f in config.text_fields for f in members):
                    encoders[FIELD_ROLE_PREFIX + group] = text
    if config.has_images:
        encoders["image"] = load_image_encoder(image_model_spec(config), batch_size=config.batch_size, **common)
        # the joint model and zero-shot labels read the frozen backbone (a shop model's too)
        backbone = getattr(encoders["image"], "backbone", encoders["image"])
        joint = _load_joint(config, backbone)
        if joint is not None:
            encoders["joint"] = joint
        elif config.zero_shot:
            from shopsearch.encode.zeroshot import ZeroShotEncoder

            text = next((e for r, e in encoders.items() if r == "text" or r.startswith(FIELD_ROLE_PREFIX)), None) \
                or create_encoder(config.text_model, batch_size=64, **common)
            encoders["zeroshot"] = ZeroShotEncoder(text_encoder=text, image_encoder=backbone)
    return encoders


def write_version(
    folder: Path, products: Sequence[Product], text_fields: Sequence[str],
    vectors: dict[str, tuple[np.ndarray, np.ndarray]], params: DenseParams,
) -> None:
    """Write the product store, lexical index (over ``text_fields``; none when empty) and dense
    indexes of one version into ``folder``."""
    write_products(folder / STORE_NAME, products)
    if text_fields:
        LexicalIndex.build([lexical_text(p, text_fields) for p in products]).save(folder / "lexical")
    for role, (vecs, rows) in vectors.items():
        DenseIndex(vecs, rows, len(products), params).save(folder / "dense", role)


def _write_version(
    folder: Path, products: Sequence[Product], config: IndexConfig, cache: EmbeddingCache | None,
    report: BuildReport,
) -> dict[str, EncoderRef]:
    encoders = create_index_encoders(config)
    pv = encode_products(products, config.text_fields, config.has_images, encoders, cache, report.seconds)
    report.n_images, report.skipped_images = pv.n_images, pv.skipped_images
    write_version(folder, products, config.text_fields, pv.vectors, dense_params(config.hnsw_threshold,
                                                                                config.dense_index))
    return {role: EncoderRef(enc.name, enc.dim, getattr(enc, "version", "")) for role, enc in encoders.items()
            if role in pv.vectors}


def dense_params(hnsw_threshold: int, kind: str) -> DenseParams:
    return DenseParams(hnsw_threshold=hnsw_threshold, kind=kind)


def _settings(config: IndexConfig) -> dict[str, Any]:
    """What the manifest records of the build settings (the image model only with images)."""
    settings: dict[str, Any] = {"hnsw_threshold": config.hnsw_threshold, "dense_index": config.dense_index,
                                "joint_model": joint_setting(config)}
    if config.has_images:
        settings["image_model"] = image_model_spec(config)
    return settings


def joint_setting(config: IndexConfig) -> str | None:
    """The joint model as recorded in the manifest: None, "default", or an absolute path."""
    if config.joint_model in (None, "default"):
        return config.joint_model
    return str(Path(config.joint_model).resolve())


def image_model_spec(config: IndexConfig) -> str:
    """The image model an index build uses: ``config.image_model`` when set, else the shop image
    model trained beside the joint model (``MODEL_DIR/image``, written by ``shopsearch train``),
    else the packaged EfficientNet-Lite0."""
    if config.image_model is not None:
        if is_image_model_dir(config.image_model):
            return str(Path(config.image_model).resolve())
        return config.image_model
    if config.joint_model not in (None, "default"):
        candidate = Path(config.joint_model) / IMAGE_SUBDIR
        if is_image_model_dir(candidate):
            return str(candidate.resolve())
    return DEFAULT_IMAGE_MODEL


def _load_joint(config: IndexConfig, image_encoder: ImageEncoder) -> Any:
    """The joint text-image model named by the config, or None (logged) when there is none."""
    if config.joint_model is None:
        return None
    from shopsearch.encode.joint import JointEncoder

    model_dir = None if config.joint_model == "default" else Path(config.joint_model)
    return JointEncoder.load(model_dir, image_encoder=image_encoder)


def _remove_stale_builds(out: Path) -> None:
    """Delete half-written versions left behind by a crashed build."""
    for stale in out.glob(".tmp-v-*"):
        logger.info("removing unfinished build %s", stale.name)
        shutil.rmtree(stale, ignore_errors=True)


def _remove_old_versions(out: Path, keep: str) -> None:
    """Delete superseded versions and their update logs."""
    for old in out.glob("v-*"):
        if old.name == keep or old.name == f"{keep}{WAL_SUFFIX}":
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old.name.endswith(WAL_SUFFIX):
            old.unlink(missing_ok=True)
