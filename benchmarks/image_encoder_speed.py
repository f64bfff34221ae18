"""Image encoder throughput and parity: PyTorch (baseline) vs ONNX Runtime, on real catalog photos.

    python benchmarks/image_encoder_speed.py [--images 512] [--threads 2]

Writes ``benchmarks/results/image_encoder_speed.{json,md}``: images/second (decoding included,
batch 32) and the minimum cosine between the two backends' features. The baseline in the same
run is PyTorch.
"""

from __future__ import annotations

import argparse
import sys
from typing import cast

import numpy as np
from _harness import Run, data_dir, stopwatch

from shopsearch.encode import create_encoder
from shopsearch.encode.base import ImageEncoder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    run = Run("image_encoder_speed", baseline="the PyTorch encoder")
    paths = sorted(str(p) for p in data_dir("fashion/images").glob("*.jpg"))[: args.images]
    rows, feats = [], {}
    for backend in ("torch", "onnx"):
        enc = cast(ImageEncoder, create_encoder("efficientnet-lite0", backend=backend, threads=args.threads,
                                                batch_size=32))
        enc.embed_images(paths[:32])  # warm up
        with stopwatch() as batch:
            feats[backend] = enc.embed_images(paths)
        with stopwatch() as singles:
            for p in paths[:50]:
                enc.embed_images([p])
        rows.append({"backend": backend, "images": len(paths), "images_per_second": len(paths) / batch.seconds,
                     "single_image_ms": singles.ms / 50})
    cos = np.sum(feats["torch"] * feats["onnx"], axis=1)
    out = {"threads": args.threads, "results": rows, "min_cosine_onnx_vs_torch": float(cos.min()),
           "mean_cosine_onnx_vs_torch": float(cos.mean())}
    md = ["# Image encoder: PyTorch vs ONNX Runtime (EfficientNet-Lite0, fp32)", "",
          f"{len(paths)} fashion photos, batch 32, {args.threads} threads, decoding included. Feature parity "
          f"ONNX vs PyTorch: min cosine {cos.min():.6f}.", "",
          "| backend | images/s | one image, ms |", "|---|---|---|"]
    md += [f"| {r['backend']} | {r['images_per_second']:.1f} | {r['single_image_ms']:.1f} |" for r in rows]
    md += ["", "int8 quantisation is not measured yet (dynamic quantisation leaves the convolutions in fp32)."]
    run.write(out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
