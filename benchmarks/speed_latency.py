"""Query latency in-process (Python API) on the full fashion catalog: text queries with hybrid
fusion and photo queries, p50/p99, with the encoder's share measured on its own.

    nice -n 10 python benchmarks/speed_latency.py [--index work/fx-onnx] [--text-queries 500]

The index is a full-catalog index with the default config (joint model included), e.g. built by
``shopsearch index ../shared/data/fashion/products.jsonl --out work/fx-onnx``. Text queries: the
fashion dev queries plus product titles (seeded sample), each asked once so the query-embedding
cache never answers (cold); then the same queries again (warm: cache hits). Photo queries:
catalog photos (seeded sample). Runs with the default encoder threads and with one thread;
``engine.search`` defaults otherwise (k=10, RRF over lexical, text, joint signals, facets on).
The baseline in the same run is the encoder alone (what a query costs before any search).
Writes ``benchmarks/results/speed_latency.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from _harness import RESULTS, Run, data_dir, latency_summary, percentile, time_calls

import shopsearch
from shopsearch.encode import create_encoder
from shopsearch.encode.joint import JointEncoder
from shopsearch.preprocess.image import load_image

BASELINE = "the encoders alone (what a query costs before any search)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="work/fx-onnx")
    ap.add_argument("--text-queries", type=int, default=500)
    ap.add_argument("--image-queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    run = Run("speed_latency", baseline=BASELINE)
    data = data_dir("fashion")
    rng = random.Random(args.seed)
    dev = [json.loads(line)["query"] for line in (data / "queries_dev.jsonl").read_text(encoding="utf-8").splitlines()
           if line.strip()]
    products = [json.loads(line) for line in (data / "products.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip()]
    titles = [p.get("productDisplayName") or p.get("title") or "" for p in products]
    texts = list(dict.fromkeys(dev + rng.sample([t for t in titles if t], 4 * args.text_queries)))[:args.text_queries]
    photos = [str(data / p["image"]) for p in rng.sample(products, args.image_queries)]
    photo_images = [load_image(p) for p in photos]  # decoded up front: the query arrives as an image

    out: dict = {"index": args.index, "text_queries": len(texts), "image_queries": len(photos), "runs": {}}
    samples: dict[str, list[float]] = {}
    for threads in (None, 1):
        label = "default threads" if threads is None else "1 thread"
        runs = measure(args.index, threads, texts, photo_images)
        out["runs"][label] = {name: latency_summary(ms) for name, ms in runs.items()}
        for name, ms in runs.items():
            samples[f"{name} [{label}]"] = ms
    md = ["# Query latency in-process (Python API), full fashion catalog", "",
          f"Index `{Path(args.index).name}` (7,667 products, default config: lexical + e5 text + joint model, "
          f"RRF fusion, k=10, facets on). {len(texts)} distinct text queries (dev queries + product titles), "
          f"{len(photos)} catalog photos as photo queries (decoded before timing). "
          "Targets: text p50 <= 15 ms, image p50 <= 50 ms.", "",
          "![latency histograms](speed_latency.png)", "",
          "| encoder threads | run | n | p50 ms | p90 ms | p99 ms | mean ms |", "|---|---|---|---|---|---|---|"]
    for label, runs in out["runs"].items():
        md += [f"| {label} | {name} | {s['n']} | {s['p50_ms']:.1f} | {s['p90_ms']:.1f} | {s['p99_ms']:.1f} | "
               f"{s['mean_ms']:.1f} |" for name, s in runs.items()]
    run.write(out, md)
    plot(samples, RESULTS / "speed_latency.png")
    print("\n".join(md))
    return 0


def measure(index: str, threads: int | None, texts: list[str], photos: list) -> dict[str, list[float]]:  # type: ignore[type-arg]
    """Per-query milliseconds of each run, on an engine whose encoders use ``threads``."""
    encoders = None
    if threads:
        text, image = create_encoder("e5-small", threads=threads), create_encoder("efficientnet-lite0", threads=threads)
        encoders = {"text": text, "image": image,
                    "joint": JointEncoder.load(text_encoder=text, image_encoder=image)}  # type: ignore[arg-type]
    engine = shopsearch.load(index, encoders=encoders)
    engine.search(text="warm up", k=10)
    engine.search(image=photos[0], k=10)
    text_enc, image_enc, joint = engine.encoders.get("text"), engine.encoders.get("image"), engine.encoders.get("joint")
    return {
        "text cold (encode + search)": time_calls(lambda q: engine.search(text=q, k=10), texts),
        "text warm (cached embedding)": time_calls(lambda q: engine.search(text=q, k=10), texts),
        "text warm, facets off": time_calls(lambda q: engine.search(text=q, k=10, facets=False), texts),
        # what the engine runs for a new text query: one e5 pass, the joint head on its output
        "text encoders only (one e5 pass + joint head)": time_calls(
            lambda q: joint.project_texts(text_enc.embed_queries([q])), texts[:100]),
        # the earlier path (before the joint head reused the text signal's embedding): two e5 passes
        "text encoders, two e5 passes (text signal + joint's own)": time_calls(
            lambda q: (text_enc.embed_queries([q]), joint.embed_queries([q])), texts[:100]),
        "image query": time_calls(lambda im: engine.search(image=im, k=10), photos),
        "image encoder only": time_calls(lambda im: image_enc.embed_images([im]), photos),
    }


def plot(samples: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, ("text", "image")):
        for name, ms in samples.items():
            if not name.startswith(kind) or "only" in name or "facets off" in name:
                continue
            ax.hist(ms, bins=np.logspace(np.log10(max(min(ms), 0.1)), np.log10(max(ms) + 1), 40), alpha=0.5,
                    label=f"{name} (p50 {percentile(ms, 50):.1f}, p99 {percentile(ms, 99):.1f})")
        ax.axvline(15 if kind == "text" else 50, color="k", linestyle=":", linewidth=1, label="target p50")
        ax.set_xscale("log")
        ax.set_xlabel("ms per query (log)")
        ax.set_ylabel("queries")
        ax.set_title(f"{kind} queries")
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
