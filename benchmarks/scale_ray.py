"""Indexing throughput: single process vs Ray with 1 and 2 workers (same machine, same run).

A slice of the fashion catalog (``--products``, with images), no embedding cache (every vector
computed), SQLite + FAISS output. Ray runs on a local head with 2 CPUs on 127.0.0.1; each actor
loads the models once (included in the time, as in a real run).

    python benchmarks/scale_ray.py --products 400

Writes benchmarks/results/scale_ray.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers

from shopsearch.config import IndexConfig, sample_data_dir
from shopsearch.scale.build import build
from shopsearch.scale.ray_index import RayEncoder
from tests.servers import RayCluster

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=400)
    ap.add_argument("--block-size", type=int, default=50)
    args = ap.parse_args()
    src = sample_data_dir() / "fashion"
    rows = []
    with open(src / "products.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.append(r)
            if len(rows) >= args.products:
                break
    config = IndexConfig(zero_shot=False, cache_path=None, progress=False, threads=1)
    out: dict[str, object] = {"products": len(rows), "block_size": args.block_size, "cpus": os.cpu_count(), "runs": []}
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
        t = time.perf_counter()
        rep = build(catalog, Path(tmp) / "single", config)
        runs.append(("single process (1 thread)", time.perf_counter() - t, rep))
        t = time.perf_counter()
        rep = build(catalog, Path(tmp) / "single2", IndexConfig(zero_shot=False, cache_path=None, progress=False,
                                                               threads=2))
        runs.append(("single process (2 threads)", time.perf_counter() - t, rep))
        with RayCluster(Path(tmp) / "ray", num_cpus=2) as cluster:
            for workers in (1, 2):
                enc = RayEncoder(cluster.address, workers=workers, block_size=args.block_size)
                t = time.perf_counter()
                rep = build(catalog, Path(tmp) / f"ray{workers}", config, encode=enc)
                runs.append((f"ray, {workers} worker(s)", time.perf_counter() - t, rep))
        for name, secs, rep in runs:
            d = rep.to_dict()
            out["runs"].append({"run": name, "seconds": round(secs, 1), "products_per_s": round(len(rows) / secs, 1),
                                "products": d["products"], "images": d["images"], "rejects": d["rejects"]})  # type: ignore[union-attr]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_ray.json").write_text(json.dumps(out, indent=2))
    lines = [f"# Indexing throughput: single process vs Ray ({out['products']} fashion products with images, "
             f"no cache, {out['cpus']} CPUs)", "",
             "Each Ray actor uses 1 encoder thread and loads the models once (counted). Reports of every run "
             "agree (products, images, rejects).", "",
             "| run | seconds | products/s | products | images | rejects |", "|---|---|---|---|---|---|"]
    for r in out["runs"]:  # type: ignore[union-attr]
        lines.append(f"| {r['run']} | {r['seconds']} | {r['products_per_s']} | {r['products']} | {r['images']} | "
                     f"{r['rejects']} |")
    (RESULTS / "scale_ray.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
