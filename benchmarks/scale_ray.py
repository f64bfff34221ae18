"""Indexing throughput: single process vs Ray with 1 and 2 workers (same machine, same run).

A slice of the fashion catalog (``--products``, with images), no embedding cache (every vector
computed), SQLite + FAISS output. Ray runs on a local head with 2 CPUs on 127.0.0.1; each actor
loads the models once (included in the time, as in a real run).

    python benchmarks/scale_ray.py --products 400

Writes benchmarks/results/scale_ray.json and .md. The baseline in the same run is the single
process. Imports the Ray test cluster from ``devkit/servers.py``: run from the repository root with
it on the import path (``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from _harness import Run, data_dir, stopwatch

from devkit.servers import RayCluster
from shopsearch.config import IndexConfig
from shopsearch.scale.build import build
from shopsearch.scale.ray_index import RayEncoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=400)
    ap.add_argument("--block-size", type=int, default=50)
    args = ap.parse_args()
    run = Run("scale_ray", baseline="the single process (1 and 2 encoder threads)")
    src = data_dir("fashion")
    rows = []
    with open(src / "products.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.append(r)
            if len(rows) >= args.products:
                break
    config = IndexConfig(zero_shot=False, cache_path=None, progress=False, threads=1)
    results: list[dict[str, Any]] = []
    out: dict[str, Any] = {"products": len(rows), "block_size": args.block_size, "cpus": os.cpu_count(),
                           "runs": results}
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.jsonl"
        # image paths in the sample catalog are relative to its folder
        with open(catalog, "w", encoding="utf-8") as fh:
            for r in rows:
                r = dict(r)
                for key in ("image", "images"):
                    if isinstance(r.get(key), str) and not r[key].startswith(("http://", "https://", "/")):
                        r[key] = str(src / r[key])
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        runs = []
        with stopwatch() as sw:
            rep = build(catalog, Path(tmp) / "single", config)
        runs.append(("single process (1 thread)", sw.seconds, rep))
        with stopwatch() as sw:
            rep = build(catalog, Path(tmp) / "single2", IndexConfig(zero_shot=False, cache_path=None, progress=False,
                                                                   threads=2))
        runs.append(("single process (2 threads)", sw.seconds, rep))
        with RayCluster(Path(tmp) / "ray", num_cpus=2) as cluster:
            for workers in (1, 2):
                enc = RayEncoder(cluster.address, workers=workers, block_size=args.block_size)
                with stopwatch() as sw:
                    rep = build(catalog, Path(tmp) / f"ray{workers}", config, encode=enc)
                runs.append((f"ray, {workers} worker(s)", sw.seconds, rep))
        for name, secs, rep in runs:
            d = rep.to_dict()
            results.append({"run": name, "seconds": round(secs, 1), "products_per_s": round(len(rows) / secs, 1),
                            "products": d["products"], "images": d["images"], "rejects": d["rejects"]})
    lines = [f"# Indexing throughput: single process vs Ray ({out['products']} fashion products with images, "
             f"no cache, {out['cpus']} CPUs)", "",
             "Each Ray actor uses 1 encoder thread and loads the models once (counted). Reports of every run "
             "agree (products, images, rejects).", "",
             "| run | seconds | products/s | products | images | rejects |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['run']} | {r['seconds']} | {r['products_per_s']} | {r['products']} | {r['images']} | "
                     f"{r['rejects']} |")
    run.write(out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
