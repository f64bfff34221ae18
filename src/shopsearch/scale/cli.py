"""Command-line options of ``shopsearch index`` for the scale-out backends and Ray."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shopsearch.config import IndexConfig
from shopsearch.index.builder import BuildReport


def add_index_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scale-out (pip install 'shopsearch[scale]')")
    g.add_argument("--ray", metavar="ADDRESS", help="encode on the Ray cluster at ADDRESS (host:port)")
    g.add_argument("--ray-workers", type=int, help="Ray actors (default: the cluster's CPUs)")
    g.add_argument("--ray-block-size", type=int, default=256, help="products per Ray block (default 256)")
    g.add_argument("--ray-retries", type=int, default=2,
                   help="Ray's retries of a failed block and restarts of a dead actor (default 2)")
    g.add_argument("--ray-checkpoint", metavar="DIR",
                   help="keep finished blocks here; a re-run skips them (default OUT/../.OUTNAME-blocks)")
    g.add_argument("--products", choices=("sqlite", "postgres"), default="sqlite",
                   help="product store (default sqlite, in the index folder)")
    g.add_argument("--vectors", choices=("faiss", "milvus"), default="faiss",
                   help="vector store (default faiss, in the index folder)")
    g.add_argument("--postgres-dsn", help="PostgreSQL connection string (or $SHOPSEARCH_POSTGRES_DSN)")
    g.add_argument("--milvus-uri", help="Milvus URI, e.g. http://127.0.0.1:19530 (or $SHOPSEARCH_MILVUS_URI)")
    g.add_argument("--namespace", default="shopsearch", help="table-row and collection prefix of this index")


def wants_scale(args: argparse.Namespace) -> bool:
    return bool(args.ray) or args.products != "sqlite" or args.vectors != "faiss"


def build_from_args(args: argparse.Namespace, config: IndexConfig, mapping: Any) -> BuildReport:
    """``shopsearch index`` with --ray and/or external stores."""
    from shopsearch.scale.build import build, encode_locally
    from shopsearch.scale.config import StoreConfig

    stores = StoreConfig(products=args.products, vectors=args.vectors, postgres_dsn=args.postgres_dsn,
                         milvus_uri=args.milvus_uri, namespace=args.namespace)
    encode: Any = encode_locally
    if args.ray:
        from shopsearch.scale.ray_index import RayEncoder

        out = Path(args.out)
        checkpoint = Path(args.ray_checkpoint) if args.ray_checkpoint else out.parent / f".{out.name}-blocks"
        encode = RayEncoder(args.ray, workers=args.ray_workers, block_size=args.ray_block_size,
                            max_retries=args.ray_retries, checkpoint_dir=checkpoint)
    return build(args.catalog, args.out, config, stores, mapping=mapping, strict=args.strict, encode=encode)
