"""Crash safety: kill -9 the writer, the service and the indexer many times at seeded random
moments; count the kills after which every acknowledged write was there, nothing half-written
was visible and the index loaded.

Uses the tiny Pillow-drawn catalog of the tests (a private copy per kill). The baseline in the
same run is a control: a deliberately lost acknowledged write (the log's last record cut off)
must be caught by the same checker, which shows the check can fail.

    python benchmarks/crash_safety.py [--writer 100] [--service 30] [--indexer 30]

Writes benchmarks/results/crash_safety.json and .md. Imports the kill -9 kit and the tiny
catalogue from ``devkit/``: run from the repository root with it on the import path
(``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from _harness import Run

from devkit import crashkit
from devkit.catalogs import tiny_rows, write_catalog

BASELINE = ("a control: a deliberately lost acknowledged write (the log's last record cut off) must be caught by "
            "the same checker")


def build_tiny(root: Path) -> Path:
    from shopsearch.config import IndexConfig
    from shopsearch.index.builder import build_index

    catalog = write_catalog(root / "shop", tiny_rows(root / "shop"))
    build_index(catalog, root / "index", IndexConfig(joint_model=None, zero_shot=False,
                                                     cache_path=root / "cache.sqlite", progress=False))
    return root / "index"


def control(index: Path, base: crashkit.State, work: Path) -> bool:
    """True when the checker catches a lost acknowledged write."""
    import shopsearch

    idx = Path(shutil.copytree(index, work / "control"))
    ops = crashkit.make_ops(1, 10, base)
    ops = [op for op in ops if op["op"] == "upsert"][:3]
    engine = shopsearch.load(idx)
    for op in ops:
        engine.upsert([crashkit._product(r) for r in op["rows"]])
    wal = next(idx.glob("*.wal"))
    lines = wal.read_bytes().splitlines(keepends=True)
    wal.write_bytes(b"".join(lines[:-1]))  # lose the last acknowledged record
    return bool(crashkit.check_index(idx, base, ops, len(ops), False))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writer", type=int, default=100)
    ap.add_argument("--service", type=int, default=30)
    ap.add_argument("--indexer", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bench = Run("crash_safety", baseline=BASELINE)
    with tempfile.TemporaryDirectory(prefix="crash-bench-") as tmp:
        work = Path(tmp)
        index = build_tiny(work / "tiny")
        base = crashkit.initial_state(tiny_rows(work / "rows"))
        caught = control(index, base, work)
        outcomes = []
        plan = [("writer", args.writer), ("service", args.service), ("indexer", args.indexer)]
        for victim, n in plan:
            for i in range(n):
                seed = args.seed + i
                idx = Path(shutil.copytree(index, work / f"{victim}-{i}"))
                if victim == "writer":
                    o = crashkit.kill_writer(idx, base, seed)
                elif victim == "service":
                    o = crashkit.kill_service(idx, base, seed)
                else:
                    o = crashkit.kill_indexer(idx, work / "tiny" / "shop" / "catalog.jsonl", base, base, seed)
                outcomes.append(o)
                shutil.rmtree(idx, ignore_errors=True)
                print(f"{victim} {i + 1}/{n}: {'ok' if o.ok else 'FAILED ' + o.detail} "
                      f"(acked {o.acked}, in flight {o.in_flight}, killed after {o.kill_after_s:.2f}s)", flush=True)
    summary = {}
    for victim, _ in plan:
        mine = [o for o in outcomes if o.victim == victim]
        summary[victim] = {
            "kills": len(mine), "survived": sum(o.ok for o in mine),
            "acked_writes_checked": sum(o.acked for o in mine),
            "killed_mid_operation": sum(o.in_flight for o in mine),
            "failures": [o.detail for o in mine if not o.ok][:10],
        }
        if victim == "indexer":
            summary[victim]["old_version_live_after_kill"] = sum(o.extra.get("live_after_kill") == "old" for o in mine)
            summary[victim]["new_version_live_after_kill"] = sum(o.extra.get("live_after_kill") == "new" for o in mine)
    out = {"control_lost_write_detected": caught, "victims": summary, "seconds": bench.meta()["seconds"]}
    rows = ["| victim | kills | survived | acked writes checked | killed mid-operation |", "|---|---|---|---|---|"]
    for victim, s in summary.items():
        rows.append(f"| {victim} | {s['kills']} | {s['survived']} | {s['acked_writes_checked']} | "
                    f"{s['killed_mid_operation']} |")
    md = ["# Crash safety (kill -9)", "", f"Control (a lost acknowledged write is detected): {caught}.", "",
          *rows, "", f"Indexer kills: old version live after {summary['indexer'].get('old_version_live_after_kill')}"
          f", new version live after {summary['indexer'].get('new_version_live_after_kill')}.",
          f"Total time {out['seconds']} s.", ""]
    bench.write(out, md)
    print("\n".join(md))
    ok = caught and all(s["survived"] == s["kills"] for s in summary.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
