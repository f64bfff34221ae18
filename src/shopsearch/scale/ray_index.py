"""Distributed batch encoding on a Ray cluster (``shopsearch index CATALOG --ray ADDRESS``).

The driver validates the catalog (the same :func:`load_catalog` as a single-process build),
cuts the products into blocks, and hands the blocks to Ray's ``ActorPool`` of actors, one per
worker CPU. Each actor loads the encoders once and encodes whole blocks (texts, images, joint
vectors) through the shared embedding cache. Retries are Ray's own: a block whose encoding
raised is run again (``retry_exceptions``), and an actor that died is restarted with its
encoders and its block run again (``max_restarts``, ``max_task_retries``), up to ``max_retries``
times; progress is logged per block. Finished blocks are
checkpointed (``CHECKPOINT_DIR/<block key>.npz``, keyed by the block's products and the
encoding settings), so re-running after a crash skips them. The vectors are then written by
the build's usual writer, so the index, its manifest and its report equal the single-process
build's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.config import IndexConfig
from shopsearch.index.builder import BuildReport, ProductVectors
from shopsearch.index.manifest import EncoderRef
from shopsearch.storage import atomic_path
from shopsearch.types import Product

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def connect(address: str) -> Any:
    """``ray.init`` to an existing cluster at ``address`` (host:port). For a cluster on this
    machine's loopback, Ray is told to stay on loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
    which must be set before Ray is imported)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    local = host in LOOPBACK_HOSTS
    if local:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Ray batch indexing needs ray: pip install 'shopsearch[scale]'") from exc
    if local:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable was set
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"_node_ip_address": "127.0.0.1"} if local else {}
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **kwargs)
    return ray


class BlockError(RuntimeError):
    """Encoding one block failed (raised inside the actor; Ray retries it)."""


class BlockEncoder:
    """Ray actor body: the index encoders, loaded once, encoding whole blocks."""

    def __init__(self, config_dict: dict[str, Any]) -> None:
        from shopsearch.encode.cache import EmbeddingCache
        from shopsearch.index.builder import create_index_encoders

        self.config = _config_from(config_dict)
        self.encoders = create_index_encoders(self.config)
        self.cache = EmbeddingCache(self.config.cache_path) if self.config.cache_path else None

    def refs(self) -> dict[str, tuple[str, int, str]]:
        return {role: (enc.name, enc.dim, getattr(enc, "version", "")) for role, enc in self.encoders.items()}

    def encode(self, block: int, products: list[dict[str, Any]]) -> dict[str, Any]:
        """Vectors of one block (``products`` as dicts), with its counts and timings."""
        try:
            return self._encode(block, products)
        except Exception as exc:  # the driver sees which block failed, and why
            raise BlockError(f"block {block} ({len(products)} products): {type(exc).__name__}: {exc}") from exc

    def _encode(self, block: int, products: list[dict[str, Any]]) -> dict[str, Any]:
        from shopsearch.index.builder import encode_products

        items = [Product.from_dict(d) for d in products]
        seconds: dict[str, float] = {}
        hits0, misses0 = (self.cache.hits, self.cache.misses) if self.cache else (0, 0)
        pv = encode_products(items, self.config.text_fields, self.config.has_images, self.encoders, self.cache,
                             seconds)
        hits, misses = (self.cache.hits - hits0, self.cache.misses - misses0) if self.cache else (0, 0)
        return {"block": block, "vectors": {r: (v, rows) for r, (v, rows) in pv.vectors.items()},
                "n_images": pv.n_images, "skipped_images": pv.skipped_images, "seconds": seconds,
                "cache_hits": hits, "cache_misses": misses, "pid": os.getpid()}


def _config_from(d: dict[str, Any]) -> IndexConfig:
    d = dict(d)
    d["fields"] = tuple(d["fields"])
    if d.get("cache_path") is not None:
        d["cache_path"] = Path(d["cache_path"])
    d["progress"] = False
    return IndexConfig(**d)


def _config_dict(config: IndexConfig) -> dict[str, Any]:
    d = asdict(config)
    d["cache_path"] = str(config.cache_path) if config.cache_path else None
    return d


def block_key(products: Sequence[Product], config: IndexConfig) -> str:
    """Content key of one block: its products and every setting that changes the vectors."""
    h = hashlib.sha256()
    settings = {k: v for k, v in _config_dict(config).items() if k not in ("cache_path", "progress", "threads")}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for p in products:
        h.update(json.dumps(p.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        for img in p.images:  # a changed image file changes the block
            try:
                st = os.stat(img)
                h.update(f"{img}:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                h.update(img.encode())
    return h.hexdigest()[:32]


def _save_block(path: Path, result: dict[str, Any]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for role, (vecs, rows) in result["vectors"].items():
        arrays[f"v:{role}"] = vecs
        arrays[f"r:{role}"] = rows
    meta = {k: result[k] for k in ("n_images", "skipped_images", "seconds", "cache_hits", "cache_misses")}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:  # a block file exists only once complete
        np.savez(tmp, **arrays)  # type: ignore[arg-type]


def _load_block(path: Path) -> dict[str, Any]:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        vectors = {k[2:]: (z[k], z["r:" + k[2:]]) for k in z.files if k.startswith("v:")}
    return {"vectors": vectors, **meta}


class RayEncoder:
    """An encoding step for :func:`shopsearch.scale.build.build` that runs on Ray.

    ``workers``: actors (default: the cluster's CPUs); ``block_size``: products per block;
    ``max_retries``: Ray's retries of a failed block and restarts of a dead actor;
    ``checkpoint_dir``: where finished blocks are kept for resuming (None: no resume);
    ``block_encoder``: the actor body, a class made from the index settings (a dict) with
    ``refs()`` and ``encode(block, products)`` (default :class:`BlockEncoder`).
    After a run, ``stats`` holds blocks done/skipped, actors, and blocks per actor process.
    """

    def __init__(self, address: str, *, workers: int | None = None, block_size: int = 256, max_retries: int = 2,
                 checkpoint_dir: Path | None = None, block_encoder: type = BlockEncoder) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.address, self.workers, self.block_size, self.max_retries = address, workers, block_size, max_retries
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.block_encoder = block_encoder
        self.stats: dict[str, Any] = {}

    def __call__(self, products: Sequence[Product], config: IndexConfig,
                 report: BuildReport) -> tuple[ProductVectors, dict[str, EncoderRef]]:
        ray = connect(self.address)
        from ray.util import ActorPool
        t0 = time.perf_counter()
        blocks = [list(products[i:i + self.block_size]) for i in range(0, len(products), self.block_size)]
        keys = [block_key(b, config) for b in blocks]
        results: dict[int, dict[str, Any]] = {}
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            for i, key in enumerate(keys):
                path = self.checkpoint_dir / f"{key}.npz"
                if path.is_file():
                    results[i] = _load_block(path)
        skipped = len(results)
        todo = [i for i in range(len(blocks)) if i not in results]
        n_workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n_workers = max(1, min(n_workers, len(todo))) if todo else 1
        # Ray's own fault tolerance: a dead actor is restarted (its constructor loads the encoders
        # again) and its block run again; a block whose encoding raised is run again.
        actor_cls = ray.remote(num_cpus=1, max_restarts=self.max_retries,
                               max_task_retries=self.max_retries)(self.block_encoder)
        cfg = _config_dict(config)
        actors = [actor_cls.remote(cfg) for _ in range(n_workers)] if todo else []
        per_actor: dict[int, int] = {}

        def submit(actor: Any, block: int) -> Any:  # the block's products travel when an actor is free
            return actor.encode.options(retry_exceptions=True).remote(block, [p.to_dict() for p in blocks[block]])

        try:
            refs_by_role: dict[str, tuple[str, int, str]] = ray.get(actors[0].refs.remote()) if actors else {}
            logger.info("ray: %d blocks of %d products, %d already done, %d actors", len(blocks),
                        self.block_size, skipped, len(actors))
            for result in ActorPool(actors).map_unordered(submit, todo):
                block = result["block"]
                per_actor[result["pid"]] = per_actor.get(result["pid"], 0) + 1
                results[block] = result
                if self.checkpoint_dir is not None:
                    _save_block(self.checkpoint_dir / f"{keys[block]}.npz", result)
                logger.info("ray: block %d done (%d/%d)", block, len(results), len(blocks))
        except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as exc:
            cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(f"ray: a block failed after {self.max_retries} retries; giving up ({len(results)} of "
                               f"{len(blocks)} blocks done{', kept for a re-run' if self.checkpoint_dir else ''}): "
                               f"{cause}") from exc
        finally:
            for a in actors:
                ray.kill(a)
        pv = self._merge(blocks, results, report)
        report.seconds["ray_encode"] = time.perf_counter() - t0
        self.stats = {"blocks": len(blocks), "skipped": skipped, "workers": len(actors),
                      "blocks_per_worker": sorted(per_actor.values())}
        if not refs_by_role:  # every block came from checkpoints
            refs_by_role = _local_refs(config)
        refs = {role: EncoderRef(*ref) for role, ref in refs_by_role.items() if role in pv.vectors}
        return pv, refs

    @staticmethod
    def _merge(blocks: list[list[Product]], results: dict[int, dict[str, Any]], report: BuildReport) -> ProductVectors:
        pv = ProductVectors()
        parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        offset = 0
        for i, block in enumerate(blocks):
            r = results[i]
            for role, (vecs, rows) in r["vectors"].items():
                p = parts.setdefault(role, ([], []))
                p[0].append(np.asarray(vecs, dtype=np.float32))
                p[1].append(np.asarray(rows, dtype=np.int64) + offset)
            pv.n_images += int(r["n_images"])
            pv.skipped_images += int(r["skipped_images"])
            for name, sec in r["seconds"].items():
                report.seconds[name] = report.seconds.get(name, 0.0) + float(sec)
            report.cache_hits += int(r["cache_hits"])
            report.cache_misses += int(r["cache_misses"])
            offset += len(block)
        pv.vectors = {role: (np.concatenate(v), np.concatenate(rws)) for role, (v, rws) in parts.items()}
        return pv


def _local_refs(config: IndexConfig) -> dict[str, tuple[str, int, str]]:
    """Encoder refs when no actor ran (a fully resumed build): load the encoders here once."""
    from shopsearch.index.builder import create_index_encoders

    return {role: (enc.name, enc.dim, getattr(enc, "version", ""))
            for role, enc in create_index_encoders(config).items()}
