"""The fashion catalog end to end: the embedded engine (SQLite + FAISS) vs a replica over
PostgreSQL + Milvus, same vectors, same queries.

The PostgreSQL + Milvus index is written from an existing embedded index's vectors (no
re-encoding; ``--index`` built by ``shopsearch index`` from the fashion catalog), so both answer
from identical data. For the dev queries (text) and product photos (image queries) it measures
search latency one query at a time (QPS per replica = 1000 / mean ms, one client) and how many of
the embedded engine's top 10 the replica returns (agreement@10; 1.0 = identical).

    python benchmarks/scale_engine.py --index work/fx-index

Writes benchmarks/results/scale_engine.json and .md. The baseline in the same run is the embedded
engine. Imports the test servers from ``devkit/servers.py``: run from the repository root with it
on the import path (``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Run, data_dir, percentile, stopwatch

import shopsearch
from devkit.servers import MilvusServer, PostgresServer
from shopsearch.config import IndexConfig
from shopsearch.index.builder import ProductVectors
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import read_manifest
from shopsearch.preprocess.text import lexical_text
from shopsearch.retrieve.engine import Engine
from shopsearch.scale.build import build
from shopsearch.scale.config import StoreConfig
from shopsearch.scale.replica import load_replica


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("work/fx-index"), help="an embedded fashion index")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--images", type=int, default=30)
    args = ap.parse_args()
    run = Run("scale_engine", baseline="the embedded engine (SQLite + FAISS) on the same vectors and queries")
    version = args.index / (args.index / "CURRENT").read_text().strip()
    manifest = read_manifest(version)

    def reuse_vectors(products, config, report):  # type: ignore[no-untyped-def]
        dense = version / "dense"
        vectors = {role: (np.load(dense / f"{role}.vectors.npy"), np.load(dense / f"{role}.rows.npy").astype(np.int64))
                   for role in manifest.encoders}
        pv = ProductVectors(vectors=vectors, n_images=manifest.counts.get("images", 0))
        return pv, dict(manifest.encoders)

    data = data_dir("fashion")
    with open(data / "queries_dev.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["query"] for line in fh][:args.queries]
    config = IndexConfig(fields=manifest.fields, joint_model=None, zero_shot=False, cache_path=None, progress=False)
    out: dict[str, Any] = {"products": manifest.counts["products"], "signals": sorted(manifest.encoders)}
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as pg, MilvusServer(Path(tmp) / "milvus") as mv:
        stores = StoreConfig(products="postgres", vectors="milvus", postgres_dsn=pg.dsn, milvus_uri=mv.uri,
                             namespace="fashion")
        with stopwatch() as sw:
            build(manifest.catalog["path"], Path(tmp) / "remote", config, stores, encode=reuse_vectors)
        out["remote_write_s"] = round(sw.seconds, 1)
        local = Engine.load(args.index)
        # the replica builds BM25 from its products with this code; give the embedded engine the
        # same (an index built by an older version may have tokenised differently)
        fields = tuple(f for f in local.manifest.fields if f != "image")
        local.catalog.state.lexical = LexicalIndex.build([lexical_text(p, fields) for p in local.products])
        with stopwatch() as sw:
            remote = shopsearch.load(Path(tmp) / "remote")
        out["replica_load_s"] = round(sw.seconds, 1)
        photos = [p.images[0] for p in local.products[:: max(1, len(local.products) // args.images)]][:args.images]
        # the same replica with a wide HNSW search: what is left of the differences is not ANN recall
        assert remote.version_dir is not None  # a loaded replica has a version
        wide = load_replica(Path(tmp) / "remote", remote.version_dir, remote.manifest,
                            stores=dataclasses.replace(stores, ef_search=2048))
        engines = {"faiss": local, "milvus": remote, "milvus_ef2048": wide}
        for name, calls in (("text", [{"text": q} for q in queries]), ("image", [{"image": p} for p in photos])):
            for e in engines.values():  # warm up encoders and caches
                for c in calls[:3]:
                    e.search(k=10, **c)
            times: dict[str, list[float]] = {label: [] for label in engines}
            hits: dict[str, list[list[str]]] = {label: [] for label in engines}
            for c in calls:  # interleaved, so that load from other jobs hits every backend alike
                for label, e in engines.items():
                    with stopwatch() as sw:
                        r = e.search(k=10, **c)
                    times[label].append(sw.ms)
                    hits[label].append([h.product_id for h in r.hits])
            row: dict[str, Any] = {}
            for label in engines:
                row[label] = {"p50_ms": round(percentile(times[label], 50), 1),
                              "p95_ms": round(percentile(times[label], 95), 1),
                              "qps_one_client": round(1000 / float(np.mean(times[label])), 1)}
                if label != "faiss":
                    pairs = list(zip(hits["faiss"], hits[label]))
                    row[label]["agreement@10"] = round(float(np.mean(
                        [len(set(a) & set(b)) / max(len(a), 1) for a, b in pairs])), 4)
                    row[label]["identical_lists"] = round(float(np.mean([a == b for a, b in pairs])), 4)
            out[name] = row
        wide.close()
        remote.close()
    lines = [f"# Fashion catalog ({out['products']} products, signals {', '.join(out['signals'])} + lexical): "
             "embedded vs PostgreSQL + Milvus replica", "",
             "Same vectors in both; one query at a time on 2 shared CPUs, the backends interleaved query by query; "
             "the query encoders run in the process; both use BM25 built by the current code. "
             f"Writing the remote index (PostgreSQL + Milvus): {out['remote_write_s']} s; loading a replica: "
             f"{out['replica_load_s']} s.", "",
             "| queries | backend | p50 ms | p95 ms | QPS (1 client) | agreement@10 with embedded "
             "| identical top-10 lists |",
             "|---|---|---|---|---|---|---|"]
    names = {"faiss": "SQLite+FAISS", "milvus": "PostgreSQL+Milvus", "milvus_ef2048": "PostgreSQL+Milvus, ef 2048"}
    for name in ("text", "image"):
        r = out[name]
        for label, title in names.items():
            x = r[label]
            lines.append(f"| {name} | {title} | {x['p50_ms']} | {x['p95_ms']} | {x['qps_one_client']} | "
                         f"{x.get('agreement@10', '-')} | {x.get('identical_lists', '-')} |")
    run.write(out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
