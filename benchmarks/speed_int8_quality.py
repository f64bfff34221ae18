"""Retrieval quality of the int8 image encoder vs fp32 on the fashion dev queries (full catalog).

    nice -n 10 python benchmarks/speed_int8_quality.py [--work work/speed] [--reuse]

Builds two full-catalog indexes that differ only in the image encoder (``efficientnet-lite0``
vs ``efficientnet-lite0-int8``; default config otherwise, joint model included), then scores
both with ``shopsearch eval`` on ``fashion/queries_dev.jsonl``: the default fused search and the
joint text->image signal alone (the signal the image encoder feeds for text queries). The bar
from the issue: int8 nDCG@10 within 1% of fp32. Writes
``benchmarks/results/speed_int8_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _harness import Run, data_dir

from shopsearch.config import IndexConfig
from shopsearch.index.builder import build_index

MODELS = {"fp32": "efficientnet-lite0", "int8": "efficientnet-lite0-int8"}
SYSTEMS = {"fusion": "{}", "joint only": '{"signals": ["joint"]}'}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="work/speed", help="where the two indexes are built")
    ap.add_argument("--reuse", action="store_true", help="reuse indexes already built there")
    args = ap.parse_args()
    run = Run("speed_int8_quality", baseline="the index built with the fp32 image encoder (default config otherwise)")
    data = data_dir("fashion")
    builds = {}
    for label, model in MODELS.items():
        folder = Path(args.work) / f"fx-{label}"
        if not (args.reuse and (folder / "CURRENT").is_file()):
            report = build_index(data / "products.jsonl", folder, IndexConfig(image_model=model, progress=False))
            builds[label] = report.to_dict()
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for label in MODELS:
        cmd = [sys.executable, "-m", "shopsearch.cli", "eval", str(Path(args.work) / f"fx-{label}"),
               str(data / "queries_dev.jsonl"), "--k", "10", "--json", "--samples", "1000"]
        for name, spec in SYSTEMS.items():
            cmd += ["--system", f"{name.replace(' ', '_')}={spec}"]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        metrics[label] = {name: _means(res, name.replace(" ", "_")) for name in SYSTEMS}
    rows: list[dict[str, Any]] = []
    for name in SYSTEMS:
        a, b = metrics["fp32"][name], metrics["int8"][name]
        for m in ("ndcg@10", "recall@10", "mrr"):
            rows.append({"system": name, "metric": m, "fp32": round(a[m], 4), "int8": round(b[m], 4),
                         "delta": round(b[m] - a[m], 4), "relative_pct": round(100 * (b[m] - a[m]) / a[m], 2)})
    ok = all(r["relative_pct"] >= -1.0 for r in rows if r["metric"] == "ndcg@10")
    out = {"queries": str(data / "queries_dev.jsonl"), "builds": builds, "results": rows, "within_1pct": ok}
    md = ["# int8 image encoder vs fp32: retrieval quality on the fashion dev queries", "",
          "Two full-catalog indexes (7,667 products, default config with the joint model) that differ only in "
          "the image encoder; `shopsearch eval` on the 150 dev queries. Bar: nDCG@10 within 1% of fp32 -> "
          f"{'met' if ok else 'NOT met'}.", "",
          "| system | metric | fp32 | int8 | delta | relative |", "|---|---|---|---|---|---|"]
    md += [f"| {r['system']} | {r['metric']} | {r['fp32']:.4f} | {r['int8']:.4f} | {r['delta']:+.4f} | "
           f"{r['relative_pct']:+.2f}% |" for r in rows]
    run.write(out, md)
    print("\n".join(md))
    return 0


def _means(res: dict, system: str) -> dict[str, float]:
    """Mean metrics of one system from ``shopsearch eval --json`` output."""
    return res["systems"][system]["metrics"]


if __name__ == "__main__":
    sys.exit(main())
