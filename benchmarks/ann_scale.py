"""ANN at scale: recall@10 vs queries/second for every dense index kind, shopsearch's search path
against raw FAISS on the same index, on synthetic L2-normalised vectors.

    # build once (long: run it niced, outside the timing lock), then measure from the cache
    nice -n 19 python benchmarks/ann_scale.py --cache /work/scratch/ann --build-only
    flock /work/measure.lock python benchmarks/ann_scale.py --cache /work/scratch/ann
    # filtered searches (filters, retired products) on the shipped HNSW and sq8 codes
    flock /work/measure.lock python benchmarks/ann_scale.py --cache /work/scratch/ann \
        --kinds filtered --out ann_scale_filtered

The vectors have the joint space's dimension (256) and are drawn, seeded, from a clustered,
anisotropic distribution (``--distribution clustered``: 2,000 Gaussian clusters whose centres
and noise have a power-law spectrum, closer to real embeddings than uniform points on the
sphere; ``uniform`` is the worst case). Queries come from the same distribution, not from the
indexed set. Ground truth: exact top 10 by inner product. How hard the data is for a graph
index is measured on the data itself (local intrinsic dimensionality of each query's top 10,
the PCA spectrum, relative contrast), and with ``--reference-vectors`` compared with real
embeddings at equal size.

HNSW is built with the parameters ``shopsearch index`` ships (:class:`DenseParams`'s defaults,
read here, not copied); ``--hnsw 16:40,...`` adds other builds (M:efConstruction) beside it.
Per option (exact; HNSW at several efSearch; fp16 / sq8 / PQ codes with full-precision re-rank
at several over-fetch factors) it measures, single-threaded and one query at a time (how the
engine calls it): recall@10 and QPS of ``DenseIndex.search`` and of the raw FAISS call on the
same structure (exact: ``faiss.IndexFlatIP``; compressed kinds: the FAISS scan alone, without
re-rank, and with the same re-rank done inline), build time, and bytes per vector in memory.
``--kinds filtered`` measures searches under an ``allowed`` mask (one retired product, random and
half-space masks from 50% to 0.5%) against the exact scan over the allowed vectors.
With ``--cache`` the vectors, ground truth and built indexes are kept between runs, and every
index is searched as the engine loads it (``DenseIndex.load``: float32 vectors memory-mapped).
Writes ``benchmarks/results/ann_scale.{json,md,png}``. The baselines in the same run are the raw
FAISS calls on the same structures, and the exact top 10 for recall.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single-threaded search for both sides
os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss
import numpy as np
from _harness import RESULTS, Run, Stopwatch, load_average, stopwatch

from shopsearch.evaluation.metrics import mean_ranking_metrics
from shopsearch.index.aggregate import best_per_product
from shopsearch.index.dense import DenseIndex, DenseParams

K = 10
logger = logging.getLogger("ann_scale")
_FAISS: Any = faiss  # faiss's stubs omit SearchParametersHNSW


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


@dataclass(frozen=True)
class Data:
    """Indexed vectors float32 (n, d), queries float32 (nq, d) and their exact top K int64 (nq, K)."""

    base: np.ndarray
    queries: np.ndarray
    truth: np.ndarray


def data_folder(cache: Path, n: int, dim: int, distribution: str) -> Path:
    return cache / f"{distribution}-{n}x{dim}"


def load_data(n: int, dim: int, nq: int, distribution: str, cache: Path | None, threads: int) -> Data:
    """The seeded vectors, queries and exact top K; read from (or written to) ``cache`` when given.
    Cached vectors are memory-mapped (the exact scans and re-ranks read them like a loaded index)."""
    folder = data_folder(cache, n, dim, distribution) if cache else None
    files = {name: folder / f"{name}.npy" for name in ("base", f"queries-{nq}", f"truth-{nq}")} if folder else {}
    if folder and all(f.is_file() for f in files.values()):
        logger.info("vectors, queries and ground truth from %s", folder)
        return Data(*(np.load(f, mmap_mode="r") if name == "base" else np.load(f) for name, f in files.items()))
    with stopwatch() as sw:
        base = synthetic(n, dim, 1, distribution)
        queries = synthetic(nq, dim, 2, distribution)
    logger.info("generated %d x %d vectors in %.1fs", n, dim, sw.seconds)
    faiss.omp_set_num_threads(threads)
    with stopwatch() as sw:
        _, truth = faiss.knn(queries, base, K, metric=faiss.METRIC_INNER_PRODUCT)
    logger.info("ground truth in %.1fs", sw.seconds)
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
        for f, a in zip(files.values(), (base, queries, truth)):
            np.save(f, a)
    return Data(base, queries, truth)


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


SHIPPED = DenseParams()  # what `shopsearch index` builds above hnsw_threshold vectors
GOAL = (0.95, 500.0)  # issue 19: recall@10 >= 0.95 at >= 500 QPS on one thread, through shopsearch


def hnsw_builds(text: str) -> list[DenseParams]:
    """The shipped HNSW build first, then each ``M:efConstruction`` of ``text`` (comma-separated)."""
    builds = [DenseParams(kind="hnsw")]
    for item in filter(None, text.split(",")):
        m, _, efc = item.partition(":")
        params = DenseParams(kind="hnsw", hnsw_m=int(m), ef_construction=int(efc or SHIPPED.ef_construction))
        if params not in builds:
            builds.append(params)
    return builds


def build_name(params: DenseParams) -> str:
    if params.kind != "hnsw":
        return params.kind
    return f"hnsw M={params.hnsw_m} efC={params.ef_construction}"


def is_shipped(params: DenseParams) -> bool:
    return (params.hnsw_m, params.ef_construction) == (SHIPPED.hnsw_m, SHIPPED.ef_construction)


def difficulty(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, seed: int = 0) -> dict[str, float]:
    """How hard nearest-neighbour search is on this data, from the data alone.

    ``lid``: local intrinsic dimensionality at each query's exact top K (maximum-likelihood
    estimate of Levina and Bickel, ``-1 / mean(log(d_i / d_K))`` over the K - 1 nearer
    neighbours, Euclidean distances between unit vectors), median over queries; it grows with the
    data size, so compare sets at equal n. ``pca_participation``: ``(sum l)^2 / sum l^2`` of the
    covariance eigenvalues (the effective number of dimensions), ``dims_90``: components holding
    90% of the variance (on up to 50,000 vectors). ``relative_contrast``: median over queries of
    the mean distance to random vectors over the distance to the K-th neighbour (near 1: every
    vector is about as far as the neighbours). ``top1`` / ``topk``: mean inner product of the
    nearest and the K-th neighbour."""
    rng = np.random.default_rng(seed)
    sims = -np.sort(-np.stack([base[np.sort(t)] @ q for t, q in zip(truth, queries)]), axis=1)
    dist = np.sqrt(np.maximum(2.0 - 2.0 * sims, 1e-12))
    lid = -1.0 / np.mean(np.log(dist[:, :-1] / dist[:, -1:]), axis=1)
    sample = np.asarray(base[np.sort(rng.choice(len(base), min(len(base), 50_000), replace=False))], np.float64)
    eig = np.linalg.eigvalsh(np.cov(sample.T))[::-1]
    far = np.sqrt(np.maximum(2.0 - 2.0 * (queries @ sample[:5000].T.astype(np.float32)), 0.0)).mean(axis=1)
    return {"n": len(base), "lid": round(float(np.median(lid)), 1),
            "pca_participation": round(float(eig.sum() ** 2 / (eig ** 2).sum()), 1),
            "dims_90": int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.9) + 1),
            "relative_contrast": round(float(np.median(far / dist[:, -1])), 2),
            "top1": round(float(sims[:, 0].mean()), 3), "topk": round(float(sims[:, -1].mean()), 3)}


def reference_difficulty(path: Path, dim: int, distribution: str) -> dict[str, dict[str, float]]:
    """:func:`difficulty` of real vectors (500 held out as queries) and of the synthetic
    distribution at the same size."""
    real = np.load(path).astype(np.float32)
    if real.ndim != 2 or real.shape[1] != dim:
        raise SystemExit(f"--reference-vectors {path}: need (n, {dim}) vectors, got {real.shape}")
    order = np.random.default_rng(0).permutation(len(real))
    out = {}
    for name, (base, queries) in {"reference": (real[order[500:]], real[order[:500]]),
                                  distribution: (synthetic(len(real) - 500, dim, 1, distribution),
                                                 synthetic(500, dim, 2, distribution))}.items():
        _, truth = faiss.knn(queries, base, K, metric=faiss.METRIC_INNER_PRODUCT)
        out[name] = difficulty(base, queries, truth)
    return out


def filter_masks(base: np.ndarray, n: int, seed: int = 7) -> list[tuple[str, float, np.ndarray]]:
    """(name, share allowed, bool mask over the n products): one retired product (every mask the
    engine passes between a delete and the next compaction); random masks; and half-space masks,
    an attribute that follows the embedding (allowed: ``<x, u>`` above a quantile, u a random
    direction), so a query's neighbourhood is mostly allowed or mostly not."""
    rng = np.random.default_rng(seed)
    one = np.ones(n, bool)
    one[rng.integers(n)] = False
    u = rng.standard_normal((base.shape[1],), dtype=np.float32)
    proj = np.concatenate([np.asarray(base[a:a + 100_000]) @ u for a in range(0, n, 100_000)])
    out: list[tuple[str, float, np.ndarray]] = [("one product retired", (n - 1) / n, one)]
    for share in (0.5, 0.1, 0.02, 0.005):
        out.append((f"random {share:.1%}", share, rng.random(n) < share))
        out.append((f"half-space {share:.1%}", share, proj > np.quantile(proj, 1 - share)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--exhaustive-queries", type=int, default=100,
                    help="queries for the scanning kinds (exact, fp16, sq8, pq), which are slow")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ef", default="16,32,64,128,256,512",
                    help=f"efSearch values for every HNSW build (shopsearch's default: {SHIPPED.ef_search})")
    ap.add_argument("--hnsw", default="",
                    help=f"more HNSW builds beside the shipped one (M={SHIPPED.hnsw_m}, "
                         f"efConstruction={SHIPPED.ef_construction}), as M:efConstruction,... e.g. 16:40")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--distribution", choices=("clustered", "uniform"), default="clustered")
    ap.add_argument("--kinds", default="flat,hnsw,fp16,sq8,pq")
    ap.add_argument("--filtered-kinds", default="hnsw,sq8",
                    help="index kinds searched under filter masks when --kinds has 'filtered'")
    ap.add_argument("--filtered-queries", type=int, default=30,
                    help="queries per filter mask (the exact baseline scans up to every vector)")
    ap.add_argument("--rounds-filtered", type=int, default=2)
    ap.add_argument("--reference-vectors", type=Path, default=None,
                    help="real L2-normalised vectors (.npy, (n, dim)), e.g. an index's dense/joint.vectors.npy, "
                         "whose difficulty is reported beside the synthetic distribution's at the same size")
    ap.add_argument("--out", default="ann_scale")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder (outside the repository) keeping the vectors, ground truth and built indexes "
                         "between runs, e.g. /work/scratch/ann")
    ap.add_argument("--build-only", action="store_true",
                    help="generate and build into --cache, measure nothing (run it niced, outside the timing lock)")
    args = ap.parse_args()
    if args.build_only and args.cache is None:
        ap.error("--build-only needs --cache")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    bench = Run("ann_scale", baseline="the raw FAISS call on the same structure (QPS); the exact top 10 (recall)")
    data = load_data(args.n, args.dim, args.queries, args.distribution, args.cache, args.build_threads)
    base, queries, truth = data.base, data.queries, data.truth
    rows = np.arange(args.n)
    kinds = args.kinds.split(",")
    builds = hnsw_builds(args.hnsw)
    results: list[dict] = []
    build: dict[str, dict] = {}

    def record(option: str, kind: str, layer: str, found: list[np.ndarray], qps: float, nq: int,
               **extra: object) -> None:
        r = {"option": option, "kind": kind, "layer": layer, f"recall@{K}": round(recall(found, truth[:nq]), 4),
             "qps": round(qps, 1), "queries": nq, **extra}
        results.append(r)
        logger.info("%s", r)

    def built(params: DenseParams) -> DenseIndex:
        """The index: built here, or loaded the way the engine loads an index (the float32 vectors
        memory-mapped) from the cache, where a build is saved with its record."""
        name, folder = build_name(params), None
        if args.cache and params.kind != "flat":
            key = f"hnsw-m{params.hnsw_m}-efc{params.ef_construction}" if params.kind == "hnsw" else params.kind
            folder = data_folder(args.cache, args.n, args.dim, args.distribution) / key
            if (folder / "build.json").is_file():
                build[name] = {**json.loads((folder / "build.json").read_text()), "cached": str(folder)}
                logger.info("loading %s from %s", name, folder)
                return DenseIndex.load(folder, "v", args.n, params)
        faiss.omp_set_num_threads(args.build_threads)
        gc.collect()
        vectors = np.array(base)  # in memory (a cached base is memory-mapped), so RSS growth is the structure's
        before, sw = rss(), Stopwatch()
        index = DenseIndex(vectors, rows, args.n, params)
        seconds = sw.elapsed
        build[name] = {"seconds": round(seconds, 1), "bytes_per_vector": round(index.bytes_per_vector, 1),
                       "rss_growth_per_vector": round((rss() - before) / args.n, 1),
                       "full_precision_on_disk": params.kind not in ("flat", "hnsw"),
                       "threads": args.build_threads, "load_average": load_average()}
        logger.info("built %s in %.1fs: %s", name, seconds, build[name])
        if folder:
            index.save(folder, "v")
            (folder / "build.json").write_text(json.dumps(build[name], indent=1))
            build[name]["cached"] = str(folder)
            index = DenseIndex.load(folder, "v", args.n, params)  # search what the engine searches
        faiss.omp_set_num_threads(1)
        return index

    if args.build_only:
        for kind in kinds:
            for params in builds if kind == "hnsw" else [] if kind == "flat" else [DenseParams(kind=kind)]:
                built(params)
        return 0

    faiss.omp_set_num_threads(1)
    nq_scan = min(args.exhaustive_queries, args.queries)
    scan_q = queries[:nq_scan]

    def run_flat() -> None:
        index = built(DenseParams(kind="flat"))
        raw = faiss.IndexFlatIP(args.dim)
        raw.add(np.ascontiguousarray(base))
        timings = timed({"shopsearch": lambda q: index.search(q, K)[0],
                         "faiss": lambda q: raw.search(q[None], K)[1][0]}, scan_q, args.rounds)
        for layer, (found, qps) in timings.items():
            record("exact", "flat", layer, found, qps, nq_scan)

    def run_hnsw(params: DenseParams) -> None:
        index = built(params)
        graph = index.index
        assert isinstance(graph, faiss.IndexHNSWFlat)
        assert graph.hnsw.efSearch == SHIPPED.ef_search  # the engine's default, before the sweep
        name = build_name(params)
        for ef in [int(x) for x in args.ef.split(",")]:
            graph.hnsw.efSearch = ef
            timings = timed({"shopsearch": lambda q: index.search(q, K)[0],
                             "faiss": lambda q: graph.search(q[None], K)[1][0]}, queries, args.rounds)
            for layer, (found, qps) in timings.items():
                record(f"{name} ef={ef}", name, layer, found, qps, args.queries, hnsw_m=params.hnsw_m,
                       ef_construction=params.ef_construction, ef_search=ef,
                       shipped=is_shipped(params) and ef == SHIPPED.ef_search)

    def run_compressed(kind: str, reranks: tuple[int, ...]) -> None:
        index = built(DenseParams(kind=kind))
        codes = index.index
        assert codes is not None  # the compressed kinds always have a FAISS structure
        vectors = index.vectors  # the full-precision vectors it re-ranks on (memory-mapped when cached)
        found, qps = timed({"faiss": lambda q: codes.search(q[None], K)[1][0]}, scan_q, args.rounds)["faiss"]
        record(f"{kind} no re-rank", kind, "faiss", found, qps, nq_scan, rerank=0)
        for rr in reranks:
            index.params = DenseParams(kind=kind, rerank=rr)

            def raw_rerank(q: np.ndarray, rr: int = rr) -> np.ndarray:
                cand = np.sort(codes.search(q[None], K * rr)[1][0])
                return cand[np.argsort(-(vectors[cand] @ q))[:K]]

            timings = timed({"shopsearch": lambda q: index.search(q, K)[0], "faiss+rerank": raw_rerank},
                            scan_q, args.rounds)
            for layer, (found, qps) in timings.items():
                record(f"{kind} re-rank x{rr}", kind, layer, found, qps, nq_scan, rerank=rr)

    def run_filtered(kind: str) -> None:
        """Searches restricted by an ``allowed`` mask (filters; retired products until compaction)
        through ``DenseIndex.search`` (which picks the FAISS structure with a selector, or the exact
        scan), against the exact scan over the allowed vectors (what every filtered search did
        before; its top K is the truth for recall) and the raw FAISS structure with the same
        selector at every share (HNSW: efSearch widened by the share; codes: + the re-rank)."""
        params = builds[0] if kind == "hnsw" else DenseParams(kind=kind)
        index = built(params)
        structure, vectors = index.index, index.vectors
        assert structure is not None
        rr = params.rerank_for(kind)
        nq = min(args.filtered_queries, args.queries)
        for mask_name, share, mask in filter_masks(base, args.n):
            sel = np.flatnonzero(mask)
            bits = np.packbits(mask, bitorder="little")
            search_params: Any = _FAISS.SearchParametersHNSW() if kind == "hnsw" else faiss.SearchParameters()
            search_params.sel = faiss.IDSelectorBitmap(args.n, faiss.swig_ptr(bits))
            if kind == "hnsw":
                search_params.efSearch = int(np.ceil(params.ef_search * args.n / len(sel)))

            def ours(q: np.ndarray, mask: np.ndarray = mask) -> np.ndarray:
                return index.search(q, K, mask)[0]

            def exact(q: np.ndarray, mask: np.ndarray = mask) -> np.ndarray:  # what dense.py did, mask to hits
                allowed_vectors = np.flatnonzero(mask[rows])
                return best_per_product(rows[allowed_vectors], vectors[allowed_vectors] @ q, K).positions

            def raw(q: np.ndarray, p: Any = search_params) -> np.ndarray:
                found = structure.search(q[None], K if kind == "hnsw" else K * rr, params=p)[1][0]
                if kind == "hnsw":
                    return found
                cand = np.sort(found[found >= 0])
                return cand[np.argsort(-(vectors[cand] @ q))[:K]]

            timings = timed({"shopsearch": ours, "exact over allowed": exact, "faiss + selector": raw},
                            queries[:nq], args.rounds_filtered)
            truth_here = np.stack(timings["exact over allowed"][0])
            for layer, (found, qps) in timings.items():
                r = {"option": f"{kind}, {mask_name}", "kind": f"filtered {kind}", "layer": layer,
                     f"recall@{K}": round(recall(found, truth_here), 4), "qps": round(qps, 1), "queries": nq,
                     "share": round(share, 6), "mask": mask_name}
                results.append(r)
                logger.info("%s", r)

    with stopwatch() as sw:
        hardness = {args.distribution: difficulty(base, queries, truth)}
        if args.reference_vectors:
            hardness["at equal size"] = reference_difficulty(args.reference_vectors, args.dim,  # type: ignore[assignment]
                                                             args.distribution)
    logger.info("difficulty in %.1fs: %s", sw.seconds, hardness)
    meta = {"n": args.n, "dim": args.dim, "queries": args.queries, "exhaustive_queries": nq_scan,
            "distribution": args.distribution, "k": K, "rounds": args.rounds, "search_threads": 1,
            "build_threads": args.build_threads,
            "shipped": {"hnsw_m": SHIPPED.hnsw_m, "ef_construction": SHIPPED.ef_construction,
                        "ef_search": SHIPPED.ef_search, "hnsw_threshold": SHIPPED.hnsw_threshold},
            "hnsw_builds": [build_name(p) + (" (shipped)" if is_shipped(p) else "") for p in builds],
            "goal": {f"recall@{K}": GOAL[0], "qps": GOAL[1]},
            "difficulty": hardness, "reference_vectors": str(args.reference_vectors or ""),
            "cached": bool(args.cache), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "faiss": faiss.__version__}
    runs: list[tuple[str, Callable[[], None]]] = [("hnsw", partial(run_hnsw, p)) for p in builds]
    runs += [("filtered", partial(run_filtered, kind)) for kind in args.filtered_kinds.split(",")]
    runs += [("flat", run_flat)]
    runs += [(kind, partial(run_compressed, kind, rr))
             for kind, rr in (("fp16", (1,)), ("sq8", (1, 4)), ("pq", (4, 16, 64)))]
    for kind, run in runs:
        if kind in kinds:
            run()
            write_results(bench, meta, build, results, args.out)  # partial results survive a long run
    print((RESULTS / f"{args.out}.md").read_text())
    return 0


def write_results(run: Run, meta: dict, build: dict, results: list[dict], name: str) -> None:
    # overhead of our layer vs the raw FAISS call doing the same work, per option
    pairs = []
    for r in results:
        if r["layer"] != "shopsearch" or "mask" in r:  # filtered rows have their own table
            continue
        raw_r = next(x for x in results if x["option"] == r["option"] and x["layer"] != "shopsearch")
        pairs.append({"option": r["option"], f"recall@{K}": r[f"recall@{K}"], "qps_shopsearch": r["qps"],
                      "qps_raw": raw_r["qps"], "raw": raw_r["layer"],
                      "overhead_pct": round(100 * (raw_r["qps"] / r["qps"] - 1), 1)})
    out = {**meta, "build": build, "results": results, "overhead": pairs, "hnsw_summary": hnsw_summary(results)}
    run.write(out, markdown(out, f"{name}.png"), stem=name)
    plot(results, RESULTS / f"{name}.png", out)


def hnsw_summary(results: list[dict]) -> list[dict]:
    """Per HNSW build: the shipped efSearch's row and the smallest efSearch's row meeting the recall
    goal (the fastest, up to timing noise), both through shopsearch's search path, and whether the
    goal is met there."""
    out = []
    ours = [r for r in results if r["layer"] == "shopsearch" and "ef_search" in r]
    for name in dict.fromkeys(r["kind"] for r in ours):
        rs = [r for r in ours if r["kind"] == name]
        at_default = next((r for r in rs if r["ef_search"] == SHIPPED.ef_search), None)
        good = [r for r in rs if r[f"recall@{K}"] >= GOAL[0]]
        best = min(good, key=lambda r: r["ef_search"]) if good else None
        out.append({"build": name, "default_ef": at_default, "smallest_ef_at_goal_recall": best,
                    "goal_met": bool(best and best["qps"] >= GOAL[1])})
    return out


def markdown(out: dict, png: str) -> list[str]:
    shipped = out["shipped"]
    md = [f"# ANN at scale: {out['n']:,} synthetic vectors, {out['dim']}-d ({out['distribution']})", "",
          f"recall@{K} against exact inner-product top {K}; one query at a time, 1 search thread "
          f"({out['queries']} queries for HNSW, {out['exhaustive_queries']} for the scanning kinds), QPS = "
          f"median of {out['rounds']} rounds; builds with {out['build_threads']} threads; FAISS "
          f"{out['faiss']}; {out['cores']} shared cores. Raw FAISS runs on the very index object "
          "shopsearch searches (exact: `IndexFlatIP` over the same vectors)"
          + (", each index loaded as the engine loads it (`DenseIndex.load`, float32 vectors memory-mapped)."
             if out["cached"] else "."), "",
          f"![recall vs QPS]({png})", "",
          f"## HNSW: shipped parameters (M={shipped['hnsw_m']}, efConstruction={shipped['ef_construction']}, "
          f"efSearch={shipped['ef_search']}) and other builds", "",
          f"Goal (issue 19): recall@{K} >= {out['goal'][f'recall@{K}']} at >= {out['goal']['qps']:.0f} QPS on one "
          "thread through shopsearch's search path (`DenseIndex.search`).", "",
          f"| build | build s | at efSearch={shipped['ef_search']}: recall@{K} / QPS | smallest efSearch with "
          f"recall@{K} >= {out['goal'][f'recall@{K}']}: recall / QPS | goal met |", "|---|---|---|---|---|"]
    for s in out["hnsw_summary"]:
        d, b = s["default_ef"], s["smallest_ef_at_goal_recall"]
        shipped_build = s["build"] == f"hnsw M={shipped['hnsw_m']} efC={shipped['ef_construction']}"
        md.append(f"| {s['build']}{' (shipped)' if shipped_build else ''} | "
                  f"{out['build'].get(s['build'], {}).get('seconds', '-')} | "
                  + (f"{d[f'recall@{K}']:.3f} / {d['qps']:.0f}" if d else "-") + " | "
                  + (f"ef={b['ef_search']}: {b[f'recall@{K}']:.3f} / {b['qps']:.0f}" if b else "not reached") + " | "
                  + ("yes" if s["goal_met"] else "no") + " |")
    md += ["", "## How hard the data is", "",
           "Measured on the data itself (see `difficulty()`): local intrinsic dimensionality at each query's "
           f"exact top {K} (MLE, median; it grows with n, so compare at equal n), effective PCA dimensions "
           "(participation ratio; components for 90% of the variance), relative contrast (mean distance to random "
           f"vectors / distance to the {K}th neighbour), mean inner product of the 1st and {K}th neighbour.", "",
           "| data | n | LID | PCA participation | dims for 90% | relative contrast | top-1 | top-10 |",
           "|---|---|---|---|---|---|---|---|"]
    rows = [(k, v) for k, v in out["difficulty"].items() if k != "at equal size"]
    rows += [(f"{k} (at equal size)", v) for k, v in out["difficulty"].get("at equal size", {}).items()]
    md += [f"| {k} | {v['n']:,} | {v['lid']} | {v['pca_participation']} | {v['dims_90']} | "
           f"{v['relative_contrast']} | {v['top1']} | {v['topk']} |" for k, v in rows]
    if out["reference_vectors"]:
        md += ["", f"reference = `{out['reference_vectors']}` (500 of its vectors held out as queries)."]
    filtered = [r for r in out["results"] if "mask" in r and r["layer"] == "shopsearch"]
    if filtered:
        md += ["", "## Filtered search (an `allowed` mask: filters; retired products until compaction)", "",
               "`DenseIndex.search(q, 10, allowed)` against the exact scan over the allowed vectors (what it did "
               "before, from the mask to the hits; its top 10 is the truth here) and the raw FAISS structure with "
               "the mask as a selector at every share (HNSW: efSearch = shipped efSearch / share; codes: + the "
               "re-rank). HNSW keeps the allowed hits of its plain walk when there are k, else walks with the "
               "selector (efSearch widened by the share, 8x more when the plain walk found no allowed vector) where "
               "that pays, else scans exactly; fp16/sq8 scan their codes with the selector from 5% allowed. Random "
               "masks, and half-space masks (an attribute that follows the embedding: a query's neighbourhood is "
               "mostly allowed or mostly not).", "",
               f"| index, mask | share | shopsearch recall@{K} / QPS | exact over allowed QPS | "
               f"FAISS + selector recall@{K} / QPS | speed-up over exact |", "|---|---|---|---|---|---|"]
        for r in filtered:
            same = {x["layer"]: x for x in out["results"] if x["option"] == r["option"]}
            ex, sel = same["exact over allowed"], same["faiss + selector"]
            md.append(f"| {r['option']} | {r['share']:.4g} | {r[f'recall@{K}']:.3f} / {r['qps']:.1f} | "
                      f"{ex['qps']:.1f} | {sel[f'recall@{K}']:.3f} / {sel['qps']:.1f} | {r['qps'] / ex['qps']:.1f}x |")
    md += ["", "## Overhead of shopsearch's search path vs raw FAISS", "",
           f"| option | recall@{K} | QPS shopsearch | QPS raw | raw | overhead |", "|---|---|---|---|---|---|"]
    md += [f"| {p['option']} | {p[f'recall@{K}']:.3f} | {p['qps_shopsearch']:.1f} | {p['qps_raw']:.1f} | "
           f"{p['raw']} | {p['overhead_pct']:+.1f}% |" for p in out["overhead"]]
    md += ["", "## All runs", "", f"| option | layer | recall@{K} | QPS |", "|---|---|---|---|"]
    md += [f"| {r['option']} | {r['layer']} | {r[f'recall@{K}']:.3f} | {r['qps']:.1f} |" for r in out["results"]]
    md += ["", "## Build time and memory", "",
           "| index | build s | load (1 min) at the build's end | bytes/vector in memory | RSS growth/vector | "
           "float32 vectors |", "|---|---|---|---|---|---|"]
    md += [f"| {k} | {b['seconds']} | {b.get('load_average', ['-'])[0]} | {b['bytes_per_vector']} | "
           f"{b['rss_growth_per_vector']} | "
           f"{'memory-mapped from disk for re-rank' if b['full_precision_on_disk'] else 'in memory'} |"
           for k, b in out["build"].items()]
    md += ["", "bytes/vector = `DenseIndex.memory_bytes` / n: codes (or float32 vectors, or HNSW storage + graph) "
           "plus 8 bytes of product row, at the build. RSS growth is measured around the in-process build, where "
           "the float32 input array already exists (so it shows only what the structure adds); a loaded hnsw index "
           "memory-maps its numpy copy, so FAISS holds the one in-memory float32 copy. Builds are niced, beside "
           "other work (their load is in the table); cached builds were made by an earlier `--build-only` run."]
    return md


def _filtered_groups(results: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Filtered rows by (index kind, mask family, layer), ordered by share; the one-retired-product
    mask counts as a random one at share ~1."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in results:
        family = "half-space" if r["mask"].startswith("half-space") else "random"
        groups.setdefault((r["kind"].removeprefix("filtered "), family, r["layer"]), []).append(r)
    return {key: sorted(rs, key=lambda r: r["share"]) for key, rs in groups.items()}


def plot(results: list[dict], path: Path, out: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    if results and all("mask" in r for r in results):  # filtered runs: queries/second by share allowed
        for (kind, family, layer), rs in sorted(_filtered_groups(results).items()):
            ax.plot([r["share"] for r in rs], [r["qps"] for r in rs], marker="o" if layer == "shopsearch" else "x",
                    linestyle="-" if family == "random" else "--", label=f"{kind}, {family} masks ({layer})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("share of products allowed (log)")
        ax.set_ylabel("queries / second (1 thread, log)")
        ax.set_title(f"Filtered search, {out['n']:,} x {out['dim']}-d {out['distribution']} vectors")
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        layer = "raw FAISS" if r["layer"].startswith("faiss") else r["layer"]
        label = r["kind"] + (" no re-rank" if r.get("rerank") == 0 else "")
        groups.setdefault((label, layer), []).append(r)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = sorted({g[0] for g in groups})
    for (label, layer), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r[f"recall@{K}"])
        c = colours[labels.index(label) % len(colours)]
        ax.plot([r[f"recall@{K}"] for r in rs], [r["qps"] for r in rs], marker="o" if layer == "shopsearch" else "x",
                linestyle={"shopsearch": "-", "raw FAISS": "--"}.get(layer, ":"), color=c, label=f"{label} ({layer})")
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{K}")
    ax.set_ylabel("queries / second (1 thread, log)")
    ax.axvline(GOAL[0], color="grey", linewidth=0.8, linestyle=":")
    ax.axhline(GOAL[1], color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(f"{out['n']:,} x {out['dim']}-d {out['distribution']} vectors")
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
