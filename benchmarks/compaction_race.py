"""Compaction races under load: ``shopsearch compact`` from a shell, again and again, while
``shopsearch serve`` takes writes from two clients (new products with photos, re-embedded titles,
price-only changes, deletes) and searches from a third. Counts acknowledged writes missing on
the live server and after a restart.

The baseline in the same run is a control: one acknowledged write falsified on purpose must be
reported lost by the same checker (the check can fail). The code before the fix (issue 14) lost
6 of 341 and 6 of 285 acknowledged writes over three rounds.

Index: the first ``--rows`` products of the shared fashion catalogue with their photos
(``SHOPSEARCH_DATA``, default ``../shared/data``).

    python benchmarks/compaction_race.py [--rows 600] [--runs 5] [--rounds 12]

Writes benchmarks/results/compaction_race.json and .md. Imports the race kit from
``devkit/racekit.py``: run from the repository root with it on the import path
(``PYTHONPATH=.``, as ``run_all.py`` does).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import Run, data_dir

from devkit.racekit import run_races

CLI = [sys.executable, "-m", "shopsearch.cli"]
BASELINE = ("a control: one acknowledged write falsified on purpose must be reported lost by the same checker "
            "(the code before the fix of issue 14 lost 6 of 341 and 6 of 285 acknowledged writes)")


def build(work: Path, rows: int) -> tuple[Path, list[str]]:
    fashion = data_dir("fashion/products.jsonl").parent
    lines = (fashion / "products.jsonl").read_text(encoding="utf-8").splitlines()[:rows]
    records = [json.loads(line) for line in lines]
    for r in records:
        r["image"] = str(fashion / r["image"])
    catalog = work / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    index = work / "base-index"
    subprocess.run([*CLI, "index", str(catalog), "--out", str(index), "--no-progress"], check=True)
    return index, [r["image"] for r in records[:50]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=600)
    ap.add_argument("--runs", type=int, default=5, help="server runs (each restarted and checked)")
    ap.add_argument("--rounds", type=int, default=12, help="compactions per run")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    bench = Run("compaction_race", baseline=BASELINE)
    runs = []
    with tempfile.TemporaryDirectory(prefix="compaction-race-") as tmp:
        work = Path(tmp)
        base, images = build(work, args.rows)
        for run in range(args.runs):
            index = Path(shutil.copytree(base, work / f"run-{run}" / "index"))
            report = run_races(CLI, index, args.rounds, seed=args.seed + run, images=images)
            runs.append(report.to_dict())
            print(f"run {run}: {report.rounds} compactions, {report.writes_acked} acknowledged writes "
                  f"({report.acked_during_compact} during a compaction), lost live {len(report.lost_live)}, "
                  f"after restart {len(report.lost_after_restart)}", flush=True)
    total = {
        "compactions": sum(len(r["compact_rc"]) for r in runs),
        "compactions_failed": sum(rc != 0 for r in runs for rc in r["compact_rc"]),
        "writes_acked": sum(r["writes_acked"] for r in runs),
        "acked_during_compact": sum(r["acked_during_compact"] for r in runs),
        "ids_checked": sum(r["ids_checked"] for r in runs),
        "lost_live": sum(r["lost_live"] for r in runs),
        "lost_after_restart": sum(r["lost_after_restart"] for r in runs),
        "uncertain": sum(r["uncertain"] for r in runs),
        "searches": sum(sum(r["searches"].values()) for r in runs),
        "searches_not_200": sum(n for r in runs for s, n in r["searches"].items() if s != "200"),
        "control_caught": all(r["checker_catches_a_loss"] for r in runs),
        "compact_s_median": sorted(s for r in runs for s in r["compact_s"])[
            len([s for r in runs for s in r["compact_s"]]) // 2],
    }
    out = {"args": vars(args), "total": total, "runs": runs, "seconds": bench.meta()["seconds"]}
    md = [
        "# Compaction races under load",
        "",
        f"{args.runs} server runs x {args.rounds} `shopsearch compact` from a shell, {args.rows} fashion products "
        "with photos, two writer clients and one searcher. Every acknowledged write checked on the live server "
        "and after a restart.",
        "",
        f"Control (a falsified acknowledged write is reported lost): {total['control_caught']}.",
        "",
        "| compactions | failed | acknowledged writes | acked during a compaction | ids checked "
        "| lost live | lost after restart | searches (not 200) | compact median s |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {total['compactions']} | {total['compactions_failed']} | {total['writes_acked']} "
        f"| {total['acked_during_compact']} | {total['ids_checked']} | {total['lost_live']} "
        f"| {total['lost_after_restart']} | {total['searches']} ({total['searches_not_200']}) "
        f"| {total['compact_s_median']} |",
        "",
        f"Writes with no answer (excluded from the check): {total['uncertain']}. Total time {out['seconds']} s.",
    ]
    bench.write(out, md)
    print("\n".join(md))
    ok = total["lost_live"] == 0 and total["lost_after_restart"] == 0 and total["control_caught"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
