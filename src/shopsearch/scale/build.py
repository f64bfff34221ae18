"""Index builds that write to the configured stores, with a pluggable encoding step.

:func:`build` is :func:`shopsearch.index.builder.build_index` with two seams: where products and
vectors are written (SQLite + FAISS files in the version folder, or PostgreSQL + Milvus), and
who encodes (this process, or a pool of Ray actors: :mod:`shopsearch.scale.ray_index`). Every
other step (catalog validation, rejects, manifest, atomic version switch, report) is the
builder's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.catalog import FieldMapping, load_catalog
from shopsearch.config import IndexConfig
from shopsearch.encode.cache import EmbeddingCache
from shopsearch.index.builder import (
    REJECTS_NAME,
    BuildReport,
    ProductVectors,
    create_index_encoders,
    dense_params,
    encode_products,
    joint_setting,
    publish_version,
    write_version,
)
from shopsearch.index.manifest import CURRENT_NAME, EncoderRef, Manifest, sha256_file
from shopsearch.scale.config import StoreConfig
from shopsearch.types import Product

logger = logging.getLogger(__name__)

# encode(products, config, report) -> (vectors, encoder refs by role)
EncodeFn = Callable[[Sequence[Product], IndexConfig, BuildReport], tuple[ProductVectors, dict[str, EncoderRef]]]


def encode_locally(products: Sequence[Product], config: IndexConfig,
                   report: BuildReport) -> tuple[ProductVectors, dict[str, EncoderRef]]:
    """The single-process encoding step of ``shopsearch index``."""
    encoders = create_index_encoders(config)
    cache = EmbeddingCache(config.cache_path) if config.cache_path else None
    try:
        pv = encode_products(products, config.text_fields, config.has_images, encoders, cache, report.seconds)
    finally:
        if cache is not None:
            report.cache_hits, report.cache_misses = cache.hits, cache.misses
            cache.close()
    refs = {role: EncoderRef(enc.name, enc.dim, getattr(enc, "version", "")) for role, enc in encoders.items()
            if role in pv.vectors}
    return pv, refs


def build(
    catalog: str | Path, out: str | Path, config: IndexConfig = IndexConfig(), stores: StoreConfig = StoreConfig(),
    *, mapping: FieldMapping | None = None, strict: bool = False, encode: EncodeFn = encode_locally,
) -> BuildReport:
    """Index ``catalog`` into ``out`` (a versioned index directory) and the configured stores,
    and make it the live version. Same validation, rejects and report as ``build_index``."""
    t0 = time.perf_counter()
    loaded = load_catalog(catalog, mapping=mapping, check_images=config.check_images, strict=strict)
    report = BuildReport(Path(out), "", loaded.n_rows, len(loaded.products), list(loaded.rejects))
    report.seconds["load"] = time.perf_counter() - t0
    products = loaded.products
    settings: dict[str, Any] = {"hnsw_threshold": config.hnsw_threshold, "dense_index": config.dense_index,
                                "joint_model": joint_setting(config)}
    if stores.remote:
        settings["stores"] = stores.to_manifest()

    def fill(folder: Path) -> tuple[dict[str, EncoderRef], dict[str, int]]:
        pv, refs = encode(products, config, report)
        report.n_images, report.skipped_images = pv.n_images, pv.skipped_images
        t = time.perf_counter()
        counts = {"products": len(products), "rejects": len(loaded.rejects), "rows": loaded.n_rows,
                  "images": report.n_images}
        if stores.remote:
            write_remote(folder.name.removeprefix(".tmp-"), products, pv.vectors, refs, stores, counts,
                         config.dense_index, config.hnsw_threshold)
        else:
            write_version(folder, products, config.text_fields, pv.vectors,
                          dense_params(config.hnsw_threshold, config.dense_index))
        report.seconds["write"] = time.perf_counter() - t
        loaded.write_rejects(folder / REJECTS_NAME)
        return refs, counts

    report.version = publish_version(
        Path(out), fill, fields=config.fields,
        catalog={"path": str(loaded.source), "sha256": sha256_file(Path(loaded.source))}, settings=settings)
    if stores.remote:
        drop_old_versions(stores, keep=report.version, out=Path(out))
    report.seconds["total"] = time.perf_counter() - t0
    logger.info("indexed %d products (%d rejected) into %s in %.1fs", report.n_products, len(report.rejects), out,
                report.seconds["total"])
    return report


def milvus_index_kind(n_vectors: int, dense_index: str, hnsw_threshold: int) -> str:
    """The Milvus index matching the embedded choice: exact (FLAT) for "flat" and for "auto"
    below ``hnsw_threshold`` vectors, HNSW otherwise (the compressed FAISS kinds fp16 / sq8 / pq
    map to HNSW over float32: Milvus 2.3's quantised indexes are IVF-based)."""
    if dense_index == "flat" or (dense_index == "auto" and n_vectors < hnsw_threshold):
        return "flat"
    return "hnsw"


def write_remote(version: str, products: Sequence[Product], vectors: dict[str, tuple[np.ndarray, np.ndarray]],
                 refs: dict[str, EncoderRef], stores: StoreConfig, counts: dict[str, int],
                 dense_index: str = "auto", hnsw_threshold: int = 100_000) -> None:
    """Write one index version's products to PostgreSQL and its vectors to Milvus."""
    from shopsearch.scale.postgres import PostgresStore
    from shopsearch.scale.replica import open_vectors

    store = PostgresStore(stores.dsn(), stores.namespace, version, stores.pool_size)
    try:
        store.create_version(products)
        manifest = Manifest(format_version=0, package_version="", created_at="", fields=(), encoders=refs,
                            counts=counts)
        for role, v in open_vectors(stores, manifest, version).items():
            vecs, rows = vectors[role]
            v.ensure(milvus_index_kind(len(rows), dense_index, hnsw_threshold))
            v.delete_from(0)  # a crashed earlier attempt at this version
            v.write(vecs, np.asarray(rows, dtype=np.int64), lambda pos: products[pos])
            v.seal()
            store.note_vector_write(v.guarantee_ts)  # readers wait until Milvus shows these vectors
            logger.info("wrote %d %s vectors to Milvus %s/%s", len(rows), role, v.collection, v.partition)
    finally:
        store.close()


def drop_old_versions(stores: StoreConfig, keep: str, out: Path, keep_last: int = 2) -> None:
    """Drop PostgreSQL rows and Milvus partitions of all but the newest ``keep_last`` versions of
    this namespace (replicas still on the previous version keep working until they reload)."""
    from shopsearch.scale.milvus import MilvusVectors
    from shopsearch.scale.postgres import PostgresStore

    store = PostgresStore(stores.dsn(), stores.namespace, keep, stores.pool_size)
    try:
        versions = store.versions()
        old = [v for v in versions if v != keep][: max(0, len(versions) - keep_last)]
        for version in old:
            store.drop_version(version)
            for role in _roles_of(out):
                MilvusVectors(stores.uri(), stores.namespace, role, 1, version).drop()
            logger.info("dropped old index version %s of %s", version, stores.namespace)
    finally:
        store.close()


def _roles_of(out: Path) -> list[str]:
    from shopsearch.index.manifest import read_manifest
    from shopsearch.retrieve.loading import dense_roles

    current = out / (out / CURRENT_NAME).read_text(encoding="utf-8").strip()
    return dense_roles(read_manifest(current))
