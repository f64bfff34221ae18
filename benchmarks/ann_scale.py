"""ANN at scale: recall@10 vs queries/second for every dense index kind, shopsearch's search path
against raw FAISS on the same index, on synthetic L2-normalised vectors.

    nice -n 10 python benchmarks/ann_scale.py [--n 1000000] [--dim 256] [--queries 500]

The vectors have the joint space's dimension (256) and are drawn, seeded, from a clustered,
anisotropic distribution (``--distribution clustered``: 2,000 Gaussian clusters whose centres
and noise have a power-law spectrum, closer to real embeddings than uniform points on the
sphere; ``uniform`` is the worst case). Queries come from the same distribution, not from the
indexed set. Ground truth: exact top 10 by inner product.

Per option (exact; HNSW at several efSearch; fp16 / sq8 / PQ codes with full-precision re-rank
at several over-fetch factors) it measures, single-threaded and one query at a time (how the
engine calls it): recall@10 and QPS of ``DenseIndex.search`` and of the raw FAISS call on the
same structure (exact: ``faiss.IndexFlatIP``; compressed kinds: the FAISS scan alone, without
re-rank, and with the same re-rank done inline), build time, and bytes per vector in memory.
Writes ``benchmarks/results/ann_scale.{json,md,png}``. The baselines in the same run are the raw
FAISS calls on the same structures, and the exact top 10 for recall.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import statistics
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single-threaded search for both sides
os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss
import numpy as np
from _harness import RESULTS, Run, Stopwatch, stopwatch

from shopsearch.evaluation.metrics import mean_ranking_metrics
from shopsearch.index.dense import DenseIndex, DenseParams

K = 10
logger = logging.getLogger("ann_scale")


def synthetic(n: int, dim: int, seed: int, distribution: str, n_clusters: int = 2000) -> np.ndarray:
    """Seeded float32 (n, dim) L2-normalised vectors, generated in chunks."""
    rng = np.random.default_rng(12345)  # the same clusters for data and queries
    spectrum = (np.arange(1, dim + 1, dtype=np.float32) ** -0.5)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32) * spectrum
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        noise = rng.standard_normal((b - a, dim)).astype(np.float32)
        if distribution == "clustered":
            x = centres[rng.integers(0, n_clusters, b - a)] + 0.6 * noise * spectrum
        else:
            x = noise
        out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    """Mean recall@K of each query's found ids against its exact top K."""
    rankings = [[str(x) for x in f[:K].tolist()] for f in found]
    return mean_ranking_metrics(rankings, [{str(x) for x in t.tolist()} for t in truth], K)[f"recall@{K}"]


def timed(fns: dict[str, Callable[[np.ndarray], np.ndarray]], queries: np.ndarray,
          rounds: int) -> dict[str, tuple[list[np.ndarray], float]]:
    """Results per query and median queries/second over rounds, per layer; the layers take turns
    within each round so that background load hits them alike."""
    qps: dict[str, list[float]] = {name: [] for name in fns}
    out: dict[str, list[np.ndarray]] = {}
    for _ in range(rounds):
        for name, fn in fns.items():
            with stopwatch() as sw:
                out[name] = [fn(q) for q in queries]
            qps[name].append(len(queries) / sw.seconds)
    return {name: (out[name], statistics.median(qps[name])) for name in fns}


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--exhaustive-queries", type=int, default=100,
                    help="queries for the scanning kinds (exact, fp16, sq8, pq), which are slow")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ef", default="16,32,64,128,256,512")
    ap.add_argument("--hnsw-m", type=int, default=DenseParams().hnsw_m)
    ap.add_argument("--ef-construction", type=int, default=DenseParams().ef_construction,
                    help="HNSW build effort (default: shopsearch's); lower it when a 1M build is too slow")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--distribution", choices=("clustered", "uniform"), default="clustered")
    ap.add_argument("--kinds", default="flat,hnsw,fp16,sq8,pq")
    ap.add_argument("--out", default="ann_scale")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    bench = Run("ann_scale", baseline="the raw FAISS call on the same structure (QPS); the exact top 10 (recall)")
    with stopwatch() as sw:
        base = synthetic(args.n, args.dim, 1, args.distribution)
        queries = synthetic(args.queries, args.dim, 2, args.distribution)
    logger.info("generated %d x %d vectors in %.1fs", args.n, args.dim, sw.seconds)
    faiss.omp_set_num_threads(args.build_threads)
    with stopwatch() as sw:
        _, truth = faiss.knn(queries, base, K, metric=faiss.METRIC_INNER_PRODUCT)
    logger.info("ground truth in %.1fs", sw.seconds)
    rows = np.arange(args.n)
    kinds = args.kinds.split(",")
    results: list[dict] = []
    build: dict[str, dict] = {}

    def record(option: str, kind: str, layer: str, found: list[np.ndarray], qps: float, nq: int,
               **extra: object) -> None:
        r = {"option": option, "kind": kind, "layer": layer, f"recall@{K}": round(recall(found, truth[:nq]), 4),
             "qps": round(qps, 1), "queries": nq, **extra}
        results.append(r)
        logger.info("%s", r)

    def built(kind: str, params: DenseParams) -> DenseIndex:
        faiss.omp_set_num_threads(args.build_threads)
        gc.collect()
        before, sw = rss(), Stopwatch()
        index = DenseIndex(base, rows, args.n, params)
        seconds = sw.elapsed
        build[kind] = {"seconds": round(seconds, 1), "bytes_per_vector": round(index.bytes_per_vector, 1),
                       "rss_growth_per_vector": round((rss() - before) / args.n, 1),
                       "full_precision_on_disk": kind not in ("flat", "hnsw")}
        logger.info("built %s in %.1fs: %s", kind, seconds, build[kind])
        faiss.omp_set_num_threads(1)
        return index

    nq_scan = min(args.exhaustive_queries, args.queries)
    scan_q = queries[:nq_scan]

    def run_flat() -> None:
        index = built("flat", DenseParams(kind="flat"))
        raw = faiss.IndexFlatIP(args.dim)
        raw.add(base)
        timings = timed({"shopsearch": lambda q: index.search(q, K)[0],
                         "faiss": lambda q: raw.search(q[None], K)[1][0]}, scan_q, args.rounds)
        for layer, (found, qps) in timings.items():
            record("exact", "flat", layer, found, qps, nq_scan)

    def run_hnsw() -> None:
        index = built("hnsw", DenseParams(kind="hnsw", hnsw_m=args.hnsw_m, ef_construction=args.ef_construction))
        graph = index.index
        assert isinstance(graph, faiss.IndexHNSWFlat)
        for ef in [int(x) for x in args.ef.split(",")]:
            graph.hnsw.efSearch = ef
            timings = timed({"shopsearch": lambda q: index.search(q, K)[0],
                             "faiss": lambda q: graph.search(q[None], K)[1][0]}, queries, args.rounds)
            for layer, (found, qps) in timings.items():
                record(f"hnsw ef={ef}", "hnsw", layer, found, qps, args.queries, ef_search=ef)

    def run_compressed(kind: str, reranks: tuple[int, ...]) -> None:
        index = built(kind, DenseParams(kind=kind))
        codes = index.index
        assert codes is not None  # the compressed kinds always have a FAISS structure
        found, qps = timed({"faiss": lambda q: codes.search(q[None], K)[1][0]}, scan_q, args.rounds)["faiss"]
        record(f"{kind} no re-rank", kind, "faiss", found, qps, nq_scan, rerank=0)
        for rr in reranks:
            index.params = DenseParams(kind=kind, rerank=rr)

            def raw_rerank(q: np.ndarray, rr: int = rr) -> np.ndarray:
                cand = np.sort(codes.search(q[None], K * rr)[1][0])
                return cand[np.argsort(-(base[cand] @ q))[:K]]

            timings = timed({"shopsearch": lambda q: index.search(q, K)[0], "faiss+rerank": raw_rerank},
                            scan_q, args.rounds)
            for layer, (found, qps) in timings.items():
                record(f"{kind} re-rank x{rr}", kind, layer, found, qps, nq_scan, rerank=rr)

    meta = {"n": args.n, "dim": args.dim, "queries": args.queries, "exhaustive_queries": nq_scan,
            "distribution": args.distribution, "k": K, "rounds": args.rounds, "search_threads": 1,
            "build_threads": args.build_threads, "hnsw_m": args.hnsw_m, "ef_construction": args.ef_construction,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "faiss": faiss.__version__}
    runs: list[tuple[str, Callable[[], None]]] = [("flat", run_flat)]
    runs += [(kind, partial(run_compressed, kind, rr))
             for kind, rr in (("fp16", (1,)), ("sq8", (1, 4)), ("pq", (4, 16, 64)))]
    runs += [("hnsw", run_hnsw)]
    for kind, run in runs:
        if kind in kinds:
            run()
            write_results(bench, meta, build, results, args.out)  # partial results survive a long HNSW build
    print((RESULTS / f"{args.out}.md").read_text())
    return 0


def write_results(run: Run, meta: dict, build: dict, results: list[dict], name: str) -> None:
    # overhead of our layer vs the raw FAISS call doing the same work, per option
    pairs = []
    for r in results:
        if r["layer"] != "shopsearch":
            continue
        raw_r = next(x for x in results if x["option"] == r["option"] and x["layer"] != "shopsearch")
        pairs.append({"option": r["option"], f"recall@{K}": r[f"recall@{K}"], "qps_shopsearch": r["qps"],
                      "qps_raw": raw_r["qps"], "raw": raw_r["layer"],
                      "overhead_pct": round(100 * (raw_r["qps"] / r["qps"] - 1), 1)})
    out = {**meta, "build": build, "results": results, "overhead": pairs}
    run.write(out, markdown(out, f"{name}.png"), stem=name)
    plot(results, RESULTS / f"{name}.png", out)


def markdown(out: dict, png: str) -> list[str]:
    md = [f"# ANN at scale: {out['n']:,} synthetic vectors, {out['dim']}-d ({out['distribution']})", "",
          f"recall@{K} against exact inner-product top {K}; one query at a time, 1 search thread "
          f"({out['queries']} queries for HNSW, {out['exhaustive_queries']} for the scanning kinds), QPS = "
          f"median of {out['rounds']} rounds; builds with {out['build_threads']} threads (HNSW M={out['hnsw_m']}, "
          f"efConstruction={out['ef_construction']}); FAISS "
          f"{out['faiss']}; {out['cores']} shared cores. Raw FAISS runs on the very index object "
          "shopsearch searches (exact: `IndexFlatIP` over the same vectors).", "",
          f"![recall vs QPS]({png})", "",
          "## Overhead of shopsearch's search path vs raw FAISS", "",
          f"| option | recall@{K} | QPS shopsearch | QPS raw | raw | overhead |", "|---|---|---|---|---|---|"]
    md += [f"| {p['option']} | {p[f'recall@{K}']:.3f} | {p['qps_shopsearch']:.1f} | {p['qps_raw']:.1f} | "
           f"{p['raw']} | {p['overhead_pct']:+.1f}% |" for p in out["overhead"]]
    md += ["", "## All runs", "", f"| option | layer | recall@{K} | QPS |", "|---|---|---|---|"]
    md += [f"| {r['option']} | {r['layer']} | {r[f'recall@{K}']:.3f} | {r['qps']:.1f} |" for r in out["results"]]
    md += ["", "## Build time and memory", "",
           "| kind | build s | bytes/vector in memory | RSS growth/vector | float32 vectors |", "|---|---|---|---|---|"]
    md += [f"| {k} | {b['seconds']} | {b['bytes_per_vector']} | {b['rss_growth_per_vector']} | "
           f"{'memory-mapped from disk for re-rank' if b['full_precision_on_disk'] else 'in memory'} |"
           for k, b in out["build"].items()]
    md += ["", "bytes/vector = `DenseIndex.memory_bytes` / n: codes (or float32 vectors, or HNSW storage + graph) "
           "plus 8 bytes of product row. RSS growth is measured around the in-process build, where the float32 "
           "input array already exists (so it shows only what the structure adds); a loaded hnsw index "
           "memory-maps its numpy copy, so FAISS holds the one in-memory float32 copy."]
    return md


def plot(results: list[dict], path: Path, out: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        layer = "shopsearch" if r["layer"] == "shopsearch" else "raw FAISS"
        label = r["kind"] + (" no re-rank" if r.get("rerank") == 0 else "")
        groups.setdefault((label, layer), []).append(r)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = sorted({g[0] for g in groups})
    for (label, layer), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r[f"recall@{K}"])
        c = colours[labels.index(label) % len(colours)]
        ax.plot([r[f"recall@{K}"] for r in rs], [r["qps"] for r in rs], marker="o" if layer == "shopsearch" else "x",
                linestyle="-" if layer == "shopsearch" else "--", color=c, label=f"{label} ({layer})")
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{K}")
    ax.set_ylabel("queries / second (1 thread, log)")
    ax.axvline(0.95, color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(f"{out['n']:,} x {out['dim']}-d {out['distribution']} vectors")
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
