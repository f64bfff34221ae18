"""Load and soak: a real ``shopsearch serve`` subprocess on 127.0.0.1 driven at a steady rate
with text searches, image searches (photo uploads) and key-protected updates for 10 minutes.

Reports the request and error counts, the server's RSS over time and p50/p99 latency per
window, with a PNG plot. The baseline in the same run is the first minute after the warm-up:
the last minute's p99 and RSS are compared against it (drift, not absolute speed).

    python benchmarks/soak.py --index work/fx-index [--minutes 10] [--rate 10]

Runs on a private copy of the index (updates are written to it). Writes
benchmarks/results/soak.json, soak.md and soak_p99.png. Imports the soak kit from
``devkit/soakkit.py``: run from the repository root with it on the import path
(``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

from _harness import RESULTS, ROOT, Run, data_dir

from devkit.soakkit import SoakConfig, plot, run_soak

WARMUP_S = 60.0
RSS_BOUND_MIB = 64.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=str(ROOT / "work" / "fx-index"), help="index directory (copied)")
    ap.add_argument("--images", type=Path, default=None,
                    help="folder of query photos (default: the sample data's fashion/images)")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=10.0, help="requests per second")
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import shopsearch

    bench = Run("soak", baseline="the first minute after the warm-up (its p99 and RSS; drift, not absolute speed)")
    rng = random.Random(0)
    photos = sorted((args.images or data_dir("fashion/images")).glob("*.jpg"))
    photos = rng.sample(photos, min(40, len(photos)))
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        index = Path(shutil.copytree(args.index, Path(tmp) / "index"))
        products = shopsearch.load(index).products
        ids = [p.id for p in rng.sample(products, min(200, len(products)))]
        n_products = len(products)
        del products
        cfg = SoakConfig(duration_s=args.minutes * 60, rate=args.rate, threads=args.threads, window_s=30.0,
                         rss_every_s=5.0)
        result = run_soak(index, photos, ids, cfg, log=Path(tmp) / "server.log")
    rss_start, rss_end, _ = result.rss_growth_after(WARMUP_S, window_s=60.0)
    rss_max = max(b for _, b in result.rss)
    first = [w for w in result.windows if WARMUP_S <= w["t"] < WARMUP_S + 60]
    last = result.windows[-2:]
    p99_first = max(w["p99_ms"] for w in first) if first else float("nan")
    p99_last = max(w["p99_ms"] for w in last) if last else float("nan")
    growth = (rss_end - rss_start) / 2 ** 20
    loads = [x for _, x in result.load] or [os.getloadavg()[0]]
    out = {**result.to_dict(), "index": args.index, "products": n_products,
           "rss_start_mib": rss_start / 2 ** 20, "rss_end_mib": rss_end / 2 ** 20,
           "rss_first_mib": result.rss[0][1] / 2 ** 20, "rss_growth_after_warmup_mib": growth,
           "rss_max_mib": rss_max / 2 ** 20,
           "rss_bound_mib": RSS_BOUND_MIB, "p99_first_minute_ms": p99_first, "p99_last_minute_ms": p99_last}
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(result, RESULTS / "soak_p99.png",
         f"soak: {args.minutes:g} min at {args.rate:g} req/s, {result.requests} requests, {result.errors} errors")
    table = ["| window start (s) | requests | p50 (ms) | p99 (ms) | max (ms) |", "|---|---|---|---|---|"]
    table += [f"| {w['t']:.0f} | {w['n']} | {w['p50_ms']:.1f} | {w['p99_ms']:.1f} | {w['max_ms']:.1f} |"
              for w in result.windows]
    md = [f"# Soak: {args.minutes:g} minutes at {args.rate:g} requests/s on 127.0.0.1", "",
          f"Index {args.index} ({n_products} products), {os.cpu_count()} CPUs, one uvicorn worker. Mix: "
          f"{result.by_kind}.", "",
          f"- requests: {result.requests}, errors: {result.errors}, started > 1 s late: {result.late_starts}",
          f"- server RSS: {result.rss[0][1] / 2**20:.0f} MiB at start (models not loaded yet); median "
          f"{rss_start / 2**20:.0f} MiB in the first minute after the {WARMUP_S:.0f} s warm-up, median "
          f"{rss_end / 2**20:.0f} MiB in the last minute: growth {growth:.1f} MiB (bound {RSS_BOUND_MIB:.0f} MiB); "
          f"highest sample {rss_max / 2**20:.0f} MiB",
          f"- p99 in the first minute after warm-up (baseline): {p99_first:.1f} ms; in the last minute: "
          f"{p99_last:.1f} ms",
          f"- machine load average (1 min) during the run: min {min(loads):.1f}, mean {sum(loads) / len(loads):.1f}, "
          f"max {max(loads):.1f} on {os.cpu_count()} CPUs (other jobs on the machine share them)", "",
          "![p99 and RSS over time](soak_p99.png)", "", *table, ""]
    bench.write(out, md)
    print("\n".join(md[:8]))
    return 0 if result.errors == 0 and growth <= RSS_BOUND_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
