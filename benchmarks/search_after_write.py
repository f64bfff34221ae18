"""The first search after a live write: views kept across writes vs rebuilt after every write.

    python benchmarks/search_after_write.py [--index fx-index] [--writes 120]

A shop's index takes a stream of small writes while it serves: prices, stock, now and then a new
product or a new title. After a write the engine derives its query parser, autocomplete, facet
fields and filter columns for the new catalogue state, and the ranker (attached, as the service
does by default) its per-product price, stock, rating and freshness arrays and product vectors.
This measures, in process on a copy of a full index (the fashion sample), the latency of the
search right after each write and of the one after it, with the defaults (which keep what a write
cannot have changed and patch the rest) against the baseline in the same run: the same writes
with all of it thrown away after each (what every write cost before). The two are interleaved
write by write.

Writes: cycled price change, stock change, new product, price change, title change (the last two
kinds re-embed). Queries: distinct generated shopper queries (``_load_pool.py``), each asked once,
``k`` = 24 with filters' facets off, as the service asks. Numbers are wall clock on this
machine, with its load recorded.

Writes ``benchmarks/results/search_after_write.{json,md}``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _harness import Run, data_dir, latency_summary
from _load_pool import generate, read_catalog_facets

import shopsearch
from shopsearch.rank import Ranker
from shopsearch.types import Product

BASELINE = ("the same writes with the engine's derived views and the ranker's catalogue facts dropped after each "
            "write (a full rebuild, as before)")
KINDS = ("price", "stock", "new product", "price", "title")


def write(engine: shopsearch.Engine, kind: str, n: int, ids: list[str]) -> None:
    p = engine.product(ids[n % len(ids)])
    assert p is not None
    if kind == "price":
        engine.upsert([replace(p, price=round((p.price or 20.0) * 1.05 + 1, 2))])
    elif kind == "stock":
        engine.upsert([replace(p, stock=(p.stock or 0) + 3)])
    elif kind == "title":
        engine.upsert([replace(p, title=f"{p.title} limited edition")])
    else:
        engine.upsert([Product(id=f"bench-new-{n}", title=f"Violet Linen Summer Scarf {n}", price=25.0 + n,
                               category=p.category, attributes=dict(p.attributes))])


def summary(ms: list[float]) -> dict[str, float | int | None]:
    return {**latency_summary(ms), "max_ms": round(max(ms), 2) if ms else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=Path("fx-index"), help="a full index of the fashion sample")
    ap.add_argument("--writes", type=int, default=120, help="writes per mode")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    if not (args.index / "CURRENT").is_file():
        sys.exit(f"{args.index}: not an index (build one: shopsearch index "
                 f"{data_dir('fashion') / 'products.jsonl'} --out {args.index})")
    run = Run("search_after_write", baseline=BASELINE)
    queries = [q.text for q in generate(read_catalog_facets(data_dir("fashion") / "products.jsonl"),
                                        4 * args.writes + 60, seed=args.seed)]
    with tempfile.TemporaryDirectory(prefix="shopsearch-bench-") as tmp:
        index = Path(shutil.copytree(args.index, Path(tmp) / "index"))
        engine = shopsearch.load(index)
        ranker = Ranker(engine).attach()  # ranking on, as the service runs by default
        engine.warmup()
        asked = iter(queries)

        def search() -> float:
            t0 = time.perf_counter()
            engine.search(next(asked), k=24, facets=False)
            return (time.perf_counter() - t0) * 1000

        steady = [search() for _ in range(60)][20:]
        ids = sorted(engine.positions)
        ms: dict[str, dict[str, list[float]]] = {m: {"first": [], "second": [], "write": []}
                                                 for m in ("kept", "rebuilt")}
        by_kind: dict[str, dict[str, list[float]]] = {m: {} for m in ("kept", "rebuilt")}
        for n in range(2 * args.writes):
            mode = "kept" if n % 2 == 0 else "rebuilt"
            kind = KINDS[(n // 2) % len(KINDS)]
            t0 = time.perf_counter()
            write(engine, kind, n, ids)
            ms[mode]["write"].append((time.perf_counter() - t0) * 1000)
            if mode == "rebuilt":  # the baseline: nothing derived survives the write
                engine._views = None
                ranker._facts = None
            first = search()
            ms[mode]["first"].append(first)
            ms[mode]["second"].append(search())
            by_kind[mode].setdefault(kind, []).append(first)
            if n % 20 == 19:
                print(f"  {n + 1}/{2 * args.writes} writes", flush=True)
    results = {"index": str(args.index), "writes_per_mode": args.writes, "kinds": list(dict.fromkeys(KINDS)),
               "steady_ms": summary(steady),
               "modes": {m: {what: summary(v) for what, v in d.items()} for m, d in ms.items()},
               "first_by_kind": {m: {k: summary(v) for k, v in d.items()} for m, d in by_kind.items()}}
    md = ["# The first search after a live write: derived views kept vs rebuilt", "",
          f"Index: a copy of `{args.index}` (the fashion sample), in process, ranker attached (no history); "
          f"{args.writes} writes per mode, "
          "interleaved; each write is followed by two searches (distinct generated shopper queries, k = 24). "
          f"Searches with no write before them: p50 {results['steady_ms']['p50_ms']} ms, "
          f"p99 {results['steady_ms']['p99_ms']} ms.", "",
          "| views after a write | first search p50 ms | p90 | p99 | max | second search p50 ms | write p50 ms |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    for mode, label in (("kept", "kept and patched (default)"), ("rebuilt", "rebuilt (baseline)")):
        f, s, w = (results["modes"][mode][x] for x in ("first", "second", "write"))
        md.append(f"| {label} | {f['p50_ms']} | {f['p90_ms']} | {f['p99_ms']} | {f['max_ms']} | {s['p50_ms']} "
                  f"| {w['p50_ms']} |")
    md += ["", "First search after each kind of write, p50 / max ms:", "",
           "| write | kept | rebuilt |", "|---|---:|---:|"]
    for kind in results["kinds"]:
        k, r = results["first_by_kind"]["kept"][kind], results["first_by_kind"]["rebuilt"][kind]
        md.append(f"| {kind} | {k['p50_ms']} / {k['max_ms']} | {r['p50_ms']} / {r['max_ms']} |")
    md += ["", "A price or stock change leaves every word the parser, autocomplete and facets read as it was, "
           "so they are kept (the parser takes the new price thresholds); filter columns and the ranker's "
           "per-product facts are updated at the changed position, and its product vectors are kept (no "
           "vector was added). A new product or title adds words, so the parser and autocomplete are rebuilt: "
           "that write's first search costs about what it did before."]
    run.write(results, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
