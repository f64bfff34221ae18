"""FAISS (in process) vs Milvus (standalone server on loopback): search latency and recall@10.

Data: a synthetic clustered set (``--n`` vectors, dim ``--dim``) and the fashion catalog's text
vectors (from an index built by ``shopsearch index``, ``--fashion-index``). Both backends use
HNSW with the same M / efConstruction / ef; ground truth is an exact scan. Queries are run one
at a time (the service's pattern); filtered searches allow a random 10% of the products.

    python benchmarks/scale_vectors.py --n 200000 --fashion-index work/fx-index

Writes benchmarks/results/scale_vectors.json and .md. The baseline in the same run is FAISS in
process (and an exact scan for recall). Imports the Milvus test server from ``devkit/servers.py``:
run from the repository root with it on the import path (``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Run, Stopwatch, latency_summary, stopwatch

from devkit.servers import MilvusServer
from shopsearch.evaluation.metrics import mean_ranking_metrics
from shopsearch.index.dense import DenseIndex, DenseParams
from shopsearch.scale import milvus as milvus_mod
from shopsearch.scale.milvus import MilvusDenseIndex, MilvusVectors

M, EF_CONSTRUCTION, EF_SEARCH, K = 32, 200, 128, 10


def synthetic(n: int, dim: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(16, n // 1000), dim)).astype(np.float32)
    def draw(m: int) -> np.ndarray:
        x = centers[rng.integers(0, len(centers), m)] + 0.6 * rng.standard_normal((m, dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    return draw(n), draw(n_queries)


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    out = np.empty((len(queries), k), dtype=np.int64)
    for i in range(0, len(queries), 64):
        s = queries[i:i + 64] @ base.T
        if allowed is not None:
            s[:, ~allowed] = -np.inf
        out[i:i + 64] = np.argsort(-s, axis=1)[:, :k]
    return out


def run_queries(index: object, queries: np.ndarray, allowed: np.ndarray | None) -> tuple[list[float], np.ndarray]:
    times, found = [], np.full((len(queries), K), -1, dtype=np.int64)
    for i, q in enumerate(queries):
        with stopwatch() as sw:
            pos, _ = index.search(q, K, allowed)  # type: ignore[attr-defined]
        times.append(sw.ms)
        found[i, :len(pos)] = pos
    return times, found


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean recall@K of the found positions (-1: padding) against the exact top K."""
    rankings = [[str(p) for p in f[f >= 0]] for f in found]
    return mean_ranking_metrics(rankings, [{str(p) for p in t} for t in truth], K)[f"recall@{K}"]


def summarise(times: list[float]) -> dict[str, float | int | None]:
    return latency_summary(times, quantiles=(50, 95), digits=2)


def bench_set(name: str, base: np.ndarray, queries: np.ndarray, uri: str) -> dict[str, Any]:
    n, dim = base.shape
    rng = np.random.default_rng(1)
    allowed: np.ndarray = np.asarray(rng.random(n) < 0.1)
    truth, truth_f = exact_topk(base, queries, K), exact_topk(base, queries, K, allowed)
    res: dict[str, Any] = {"set": name, "n": n, "dim": dim, "queries": len(queries)}
    with stopwatch() as sw:
        faiss_ix = DenseIndex(base, np.arange(n), n, DenseParams(kind="hnsw", hnsw_m=M,
                                                                 ef_construction=EF_CONSTRUCTION, ef_search=EF_SEARCH))
    res["faiss_build_s"] = round(sw.seconds, 1)
    times, found = run_queries(faiss_ix, queries, None)
    res["faiss"] = {**summarise(times), "recall@10": round(recall(found, truth), 4)}
    times, found = run_queries(faiss_ix, queries, allowed)
    res["faiss_filtered"] = {**summarise(times), "recall@10": round(recall(found, truth_f), 4)}
    del faiss_ix

    store = MilvusVectors(uri, "bench", name, dim, "v1", hnsw_m=M, ef_construction=EF_CONSTRUCTION,
                          ef_search=EF_SEARCH)
    if store.client.has_collection(store.collection):
        store.client.drop_collection(store.collection)
    store.ensure()

    class _P:  # scalar fields for the synthetic rows
        id, brand, category, price, stock = "x", None, (), None, None

    with stopwatch() as sw:
        store.write(base, np.arange(n, dtype=np.int64), lambda pos: _P)  # type: ignore[arg-type,return-value]
    res["milvus_insert_s"] = round(sw.seconds, 1)
    indexing = Stopwatch()
    store.client.flush(store.collection)
    while True:  # wait for the HNSW index over the sealed segments
        info = store.client.describe_index(store.collection, "vector")
        if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) >= n:
            break
        time.sleep(1)
    store.client.release_collection(store.collection)
    store.client.load_collection(store.collection)
    res["milvus_index_s"] = round(indexing.elapsed, 1)
    mix = MilvusDenseIndex(store, n, DenseParams())
    mix.bind(lambda pos: _P, lambda: np.ones(n, bool))  # type: ignore[arg-type,return-value]
    run_queries(mix, queries[:10], None)  # warm up
    times, found = run_queries(mix, queries, None)
    res["milvus"] = {**summarise(times), "recall@10": round(recall(found, truth), 4)}
    times, found = run_queries(mix, queries, allowed)
    res["milvus_filtered"] = {**summarise(times), "recall@10": round(recall(found, truth_f), 4)}
    saved, milvus_mod.POST_FILTER_SHARE = milvus_mod.POST_FILTER_SHARE, 2.0  # force the position-list filter
    try:
        times, found = run_queries(mix, queries[:50], allowed)
    finally:
        milvus_mod.POST_FILTER_SHARE = saved
    res["milvus_filtered_list"] = {**summarise(times), "recall@10": round(recall(found, truth_f[:50]), 4)}
    store.client.drop_collection(store.collection)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200)
    fx = Path("work/fx-index")
    ap.add_argument("--fashion-index", type=Path, default=fx if fx.is_dir() else None,
                    help="index directory built by `shopsearch index` (its text vectors)")
    ap.add_argument("--milvus-uri", help="an existing Milvus; default: start one (needs the Milvus test venv)")
    args = ap.parse_args()
    run = Run("scale_vectors", baseline="FAISS HNSW in process with the same M / efConstruction / ef; recall against "
              "an exact scan")
    results: list[dict[str, Any]] = []
    out: dict[str, object] = {"hnsw": {"M": M, "efConstruction": EF_CONSTRUCTION, "ef": EF_SEARCH}, "sets": results}
    base, queries = synthetic(args.n, args.dim, args.queries)
    sets = [(f"synthetic{args.n // 1000}k", base, queries)]
    if args.fashion_index:
        version = args.fashion_index / (args.fashion_index / "CURRENT").read_text().strip()
        text = np.load(version / "dense" / "text.vectors.npy").astype(np.float32)
        rng = np.random.default_rng(2)
        pick = rng.choice(len(text), size=min(args.queries, len(text)), replace=False)
        q = text[pick] + 0.05 * rng.standard_normal((len(pick), text.shape[1])).astype(np.float32)
        sets.append(("fashion_text", text, q / np.linalg.norm(q, axis=1, keepdims=True)))
    with tempfile.TemporaryDirectory() as tmp:
        server = None if args.milvus_uri else MilvusServer(Path(tmp) / "milvus").__enter__()
        try:
            uri = args.milvus_uri or server.uri  # type: ignore[union-attr]
            for name, b, q in sets:
                print(f"{name}: {b.shape}", flush=True)
                results.append(bench_set(name, b, q, uri))
                print(json.dumps(results[-1]), flush=True)
        finally:
            if server is not None:
                server.stop()
    lines = ["# FAISS vs Milvus (HNSW M=32, efConstruction=200, ef=128), one query at a time", "",
             "Milvus 2.3.5 standalone on loopback, pymilvus 2.6. "
             "Filtered: a random 10% of products allowed; Milvus applies a broad filter (>= 5% of products) after an "
             "over-fetched search and falls back to a position-list filter expression when too few survive; the "
             "'position list' row forces that expression (50 queries).", "",
             "| set | n | dim | backend | p50 ms | p95 ms | recall@10 | filtered (10%) p50 ms | filtered recall@10 |"
             " build / insert+index s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in results:
        lines.append(f"| {s['set']} | {s['n']} | {s['dim']} | FAISS | {s['faiss']['p50_ms']} | "
                     f"{s['faiss']['p95_ms']} | {s['faiss']['recall@10']} | {s['faiss_filtered']['p50_ms']} | "
                     f"{s['faiss_filtered']['recall@10']} | {s['faiss_build_s']} |")
        if "milvus_filtered_list" in s:
            f = s["milvus_filtered_list"]
            lines.append(f"| {s['set']} | {s['n']} | {s['dim']} | Milvus, filter as a position list | - | - | - | "
                         f"{f['p50_ms']} | {f['recall@10']} | - |")
        lines.append(f"| {s['set']} | {s['n']} | {s['dim']} | Milvus | {s['milvus']['p50_ms']} | "
                     f"{s['milvus']['p95_ms']} | {s['milvus']['recall@10']} | {s['milvus_filtered']['p50_ms']} | "
                     f"{s['milvus_filtered']['recall@10']} | {s['milvus_insert_s']} + {s['milvus_index_s']} |")
    run.write(out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
