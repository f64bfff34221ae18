"""Filtered search, HNSW recall, live updates and composed queries on the shared fashion catalog.

    python benchmarks/retrieval_ops.py [--index DIR] [--queries 200]

Needs a full-catalog index (built by ``benchmarks/retrieval_quality.py`` or ``shopsearch index``;
the default path is the one retrieval_quality.py builds). Writes
``benchmarks/results/retrieval_ops.{json,md}``. Baselines in the same run: exact search for
recall; image-only and text-only search for composed queries; search latency without updates.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from _harness import Run, Stopwatch, percentile, stopwatch, time_calls

import shopsearch
from shopsearch.index.dense import DenseIndex, DenseParams

BASELINE = ("exact search (recall); image-only and text-only search (composed queries); search latency without "
            "updates (live updates)")


def filtered_recall(engine, rng: random.Random, n_queries: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Dense text search under filters of about 50%, 5% and 0.5% selectivity vs exact scan."""
    products = engine.products
    by_value: dict[tuple[str, str], int] = {}
    for p in products:
        for key, value in p.attributes.items():
            if isinstance(value, str):
                by_value[(key, value)] = by_value.get((key, value), 0) + 1
    n = len(products)
    rows = []
    dense = engine.dense["text"]
    for target in (0.5, 0.05, 0.005):
        (key, value), count = min(by_value.items(), key=lambda kv: abs(kv[1] / n - target))
        mask = engine.filter_mask([f"{key}={value}"])
        allowed_idx = np.flatnonzero(mask)
        recalls, times = [], []
        for _ in range(n_queries):
            q = dense.vectors[rng.randrange(dense.vectors.shape[0])]
            with stopwatch() as sw:
                _, got_scores = dense.search(q, 10, mask)
            times.append(sw.ms)
            exact = np.sort(dense.vectors[allowed_idx] @ q)[::-1][:10]
            # tie-tolerant: a hit counts when it scores at least the exact 10th best (the catalog
            # has byte-identical images and shared titles, so equal scores are common)
            recalls.append(float(np.sum(got_scores >= exact[-1] - 1e-5)) / len(exact) if len(exact) else 1.0)
        rows.append({"filter": f"{key}={value}", "selectivity": count / n, "matching": int(count),
                     "recall@10": statistics.mean(recalls), "hits_returned_min": 10 if count >= 10 else count,
                     "p50_ms": percentile(times, 50)})
    return rows


def _time_and_recall(index: DenseIndex, queries: list, truth: list) -> dict:  # type: ignore[type-arg]
    with stopwatch() as sw:
        got = [index.search(q, 10) for q in queries]
    ms = sw.ms / len(queries)
    # tie-tolerant recall: a hit counts when it scores at least the exact 10th best
    rec = [float(np.sum(g[1] >= t_[1][-1] - 1e-5)) / len(t_[1]) for g, t_ in zip(got, truth)]
    return {"recall@10": statistics.mean(rec), "ms_per_query": ms}


def ram_bytes_per_vector(index: DenseIndex) -> float:
    """Measured: float32 vectors held in RAM (not memory-mapped) plus the serialised FAISS structure."""
    held = 0 if isinstance(index.vectors, np.memmap) else index.vectors.nbytes
    structure = 0 if index.index is None else len(faiss.serialize_index(index.index))
    return (held + structure) / max(len(index.vectors), 1)


def hnsw_recall(engine, rng: random.Random, n_queries: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """HNSW (forced) vs exact on the image vectors, at several efSearch values."""
    d = engine.dense["image"]
    out = []
    exact = DenseIndex(d.vectors, d.rows, d.n_products, DenseParams(hnsw_threshold=10**9))
    queries = [d.vectors[rng.randrange(d.vectors.shape[0])] for _ in range(n_queries)]
    truth = [exact.search(q, 10) for q in queries]
    exact_ms = sum(time_calls(lambda q: exact.search(q, 10), queries)) / n_queries
    out.append({"index": "exact (flat)", "recall@10": 1.0, "ms_per_query": exact_ms, "build_s": 0.0,
                "memory_bytes_per_vector": ram_bytes_per_vector(exact)})
    sw = Stopwatch()
    with tempfile.TemporaryDirectory() as tmp:  # saved and re-loaded: vectors memory-mapped as in use
        DenseIndex(np.ascontiguousarray(d.vectors), d.rows, d.n_products, DenseParams(kind="sq8")).save(
            Path(tmp), "v")
        build = sw.elapsed
        sq8 = DenseIndex.load(Path(tmp), "v", d.n_products, DenseParams(kind="sq8"))
        sq8_stats = _time_and_recall(sq8, queries, truth)
        sq8_ram = ram_bytes_per_vector(sq8)
        del sq8
    out.append({"index": "sq8 codes + full-precision re-rank (x4)", **sq8_stats, "build_s": build,
                "memory_bytes_per_vector": sq8_ram})
    with stopwatch() as built:
        hnsw = DenseIndex(d.vectors, d.rows, d.n_products, DenseParams(hnsw_threshold=1))
    build = built.seconds
    assert isinstance(hnsw.index, faiss.IndexHNSWFlat)
    for ef in (16, 64, 128):
        hnsw.index.hnsw.efSearch = ef
        out.append({"index": f"hnsw M=32 efSearch={ef}", **_time_and_recall(hnsw, queries, truth),
                    "build_s": build, "memory_bytes_per_vector": ram_bytes_per_vector(hnsw)})
    return out


def live_updates(index_dir: Path, rng: random.Random) -> dict:
    """Upsert throughput (metadata-only and re-embedded) and search latency during updates."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(index_dir, Path(tmp) / "idx"))
        engine = shopsearch.load(copy)
        engine.warmup()
        queries = ["black tshirts", "women handbags", "blue jeans", "formal shoes for men", "红色连衣裙"]

        def latencies(n: int) -> list[float]:
            return time_calls(lambda i: engine.search(text=queries[i % len(queries)], k=10, facets=False), range(n))

        quiet = latencies(100)
        sample = rng.sample(engine.products, 400)
        with stopwatch() as sw:
            for p in sample[:200]:
                engine.upsert([replace(p, price=float(rng.randint(5, 500)))])
        meta_rate = 200 / sw.seconds
        busy: list[float] = []
        stop = threading.Event()

        def searcher() -> None:
            while not stop.is_set():
                busy.extend(latencies(5))

        th = threading.Thread(target=searcher)
        th.start()
        with stopwatch() as sw:
            for p in sample[200:300]:
                engine.upsert([replace(p, title=p.title + " new season")])
        embed_rate = 100 / sw.seconds
        with stopwatch() as sw:
            engine.delete([p.id for p in sample[300:400]])
        delete_rate = 100 / sw.seconds
        stop.set()
        th.join()
        with stopwatch() as sw:
            engine.compact()
        compact_s = sw.seconds
        return {
            "metadata_upserts_per_s": meta_rate, "text_reembed_upserts_per_s": embed_rate,
            "deletes_per_s": delete_rate, "compact_s": compact_s,
            "search_p50_ms_quiet": percentile(quiet, 50), "search_p99_ms_quiet": percentile(quiet, 99),
            "search_p50_ms_during_updates": percentile(busy, 50) if busy else None,
            "search_p99_ms_during_updates": percentile(busy, 99) if busy else None,
            "searches_during_updates": len(busy),
        }


def composed(engine, rng: random.Random, n_queries: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Photo of product P + "in <colour>": precision@10 of hits with P's article type and that colour."""
    products = [p for p in engine.products if p.images and p.attributes.get("base_colour")]
    colours = sorted({p.attributes["base_colour"] for p in products})
    pool: dict[tuple[str, str], int] = {}
    for p in products:
        key = (p.attributes.get("article_type"), p.attributes["base_colour"])
        pool[key] = pool.get(key, 0) + 1
    cases: list[tuple[Any, str]] = []
    while len(cases) < n_queries:
        p = rng.choice(products)
        colour = rng.choice(colours)
        if colour != p.attributes["base_colour"] and pool.get((p.attributes.get("article_type"), colour), 0) >= 10:
            cases.append((p, colour))
    modes = {"image only": lambda p, c: engine.search(image=p.images[0], k=10, facets=False),
             "text only": lambda p, c: engine.search(text=f"{p.attributes['article_type']} in {c}", k=10, facets=False),
             "image + 'in <colour>' (fusion)": lambda p, c: engine.search(text=f"in {c}", image=p.images[0], k=10,
                                                                          facets=False)}
    if "joint" in engine.dense:
        modes["image + 'in <colour>' (joint composition only)"] = lambda p, c: engine.search(
            text=f"in {c}", image=p.images[0], k=10, facets=False, signals=["composed"])
    rows = []
    for name, fn in modes.items():
        precs = []
        for p, colour in cases:
            hits = fn(p, colour).hits
            good = [h for h in hits if h.product.attributes.get("article_type") == p.attributes.get("article_type")
                    and h.product.attributes.get("base_colour") == colour]
            precs.append(len(good) / 10)
        rows.append({"mode": name, "precision@10": statistics.mean(precs), "queries": len(cases)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", default=str(Path(__file__).resolve().parent / ".work" / "fx-full"))
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    run = Run("retrieval_ops", baseline=BASELINE)
    rng = random.Random(7)
    engine = shopsearch.load(args.index)
    engine.warmup()
    out = {"index": args.index, "products": engine.size,
           "filtered": filtered_recall(engine, rng, args.queries),
           "hnsw": hnsw_recall(engine, rng, args.queries),
           "composed": composed(engine, rng, min(args.queries, 100)),
           "updates": live_updates(Path(args.index), rng)}
    md = ["# Retrieval operations: filters, HNSW, composed queries, live updates", "",
          f"Fashion catalog, {engine.size} products. Recall is against an exact scan in the same run.", "",
          "| filter | selectivity | matching | recall@10 | p50 ms |", "|---|---|---|---|---|"]
    md += [f"| `{r['filter']}` | {r['selectivity']:.3%} | {r['matching']} | {r['recall@10']:.3f} | {r['p50_ms']:.2f} |"
           for r in out["filtered"]]
    md += ["", "| dense index (image vectors) | recall@10 | ms/query | build s | bytes/vector in RAM |",
           "|---|---|---|---|---|"]
    md += [f"| {r['index']} | {r['recall@10']:.3f} | {r['ms_per_query']:.2f} | {r['build_s']:.1f} | "
           f"{r['memory_bytes_per_vector']:.0f} |" for r in out["hnsw"]]
    md += ["", "| composed query mode | precision@10 | queries |", "|---|---|---|"]
    md += [f"| {r['mode']} | {r['precision@10']:.3f} | {r['queries']} |" for r in out["composed"]]
    md += ["", "| live updates | value |", "|---|---|"]
    md += [f"| {k} | {v:.2f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in out["updates"].items()]
    run.write(out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
