"""Shopper wording: the words shoppers type vs the catalogue's own wording (issue 15).

Query sets (``benchmarks/queries/``, written by hand before the lexicon and parser changes;
relevance from facets, resolved against whatever products are searched):

* ``--split validation``: ``validation_en/zh.jsonl``, ``validation2_zh.jsonl`` and
  ``validation3_zh.jsonl`` (a second and a third fresh Chinese set) — for choosing recipes
  while building;
* ``--split test``: ``natural_en/zh.jsonl`` and ``brand_en/zh.jsonl`` — for reporting only;
* always: the template set ``queries_dev.jsonl`` (catalogue-value wording, e.g. "Black Tshirts
  for Men"). Its strings are the joint model's training texts and its labels are the indexed
  facets, so its full-index numbers near 1.0 hold by construction: a regression check, not a
  quality number.

Two settings:

* ``full``: the full fashion catalogue index (7,667 products) with the shipped models. The
  shipped joint model was trained on all of these products, so joint-only numbers here are on
  products it saw;
* ``heldout`` (``--heldout-index``): an index of the 20% of products held out by
  ``split_ids(ids, 0.2, 0)`` built with a joint model trained on the other 80%
  (``--heldout-model``) — products no model saw; relevance restricted to them.

Systems: the default engine (fusion + parsed constraints + type first), the joint model alone
(``signals=["joint"]``, constraints off: the image-only index case), and baselines in the same
run: the engine reading queries in the catalogue's words only (``SearchConfig(shopper_words=
False)``, the behaviour before issue 15), BM25 alone and e5 text alone (these two read the
query as the default parser writes it in catalogue words).

    python benchmarks/shopper_wording.py --split validation
    python benchmarks/shopper_wording.py --split test --heldout-index work/held-index

Writes ``benchmarks/results/shopper_wording[_validation].{json,md}``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from _harness import Run, data_dir, stopwatch

import shopsearch
from shopsearch.config import IndexConfig, SearchConfig
from shopsearch.evaluation.evaluate import evaluate
from shopsearch.evaluation.facet_queries import load_facet_queries
from shopsearch.evaluation.queries import EvalQuery, load_queries
from shopsearch.index.builder import build_index
from shopsearch.index.manifest import IndexFormatError

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "queries"
BASELINE = ("the engine reading queries in the catalogue's words only (`SearchConfig(shopper_words=False)`, the "
            "behaviour before issue 15), BM25 alone and e5 text alone, on the same indexes and query sets")
SYSTEMS: dict[str, dict[str, Any]] = {
    "default (fusion + constraints + type first)": {},
    "before: catalogue words only (baseline)": {"engine": "before"},
    "joint model alone": {"signals": ["joint"], "constraints": "off"},
    "bm25 alone (baseline)": {"signals": ["lexical"], "constraints": "off"},
    "e5 text alone (baseline)": {"signals": ["text"], "constraints": "off"},
}


def query_sets(split: str, products: list[shopsearch.Product], fashion: Path) -> dict[str, list[EvalQuery]]:
    files = {"validation": {"natural EN": "validation_en.jsonl", "natural ZH": "validation_zh.jsonl",
                            "natural ZH set 2": "validation2_zh.jsonl", "natural ZH set 3": "validation3_zh.jsonl"},
             "test": {"natural EN": "natural_en.jsonl", "natural ZH": "natural_zh.jsonl",
                      "brand+type EN": "brand_en.jsonl", "brand+type ZH": "brand_zh.jsonl"}}[split]
    sets: dict[str, list[EvalQuery]] = {}
    for name, file in files.items():
        queries = load_facet_queries(QUERIES / file, products)
        if split == "validation":  # the validation files mix brand queries in: report them apart
            sets[name] = [q for q in queries if "brand" not in q.meta]
            sets[name.replace("natural", "brand+type")] = [q for q in queries if "brand" in q.meta]
        else:
            sets[name] = queries
    ids = {p.id for p in products}
    template = []
    for q in load_queries(fashion / "queries_dev.jsonl"):
        rel = tuple(r for r in q.relevant if r in ids)
        if rel:
            template.append(EvalQuery(qid=q.qid, relevant=rel, text=q.text, meta=q.meta))
    sets["template EN (trained wording)"] = template
    return sets


def run(engines: dict[str, Any], sets: dict[str, list[EvalQuery]], k: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for system, options in SYSTEMS.items():
        options = dict(options)
        engine = engines[options.pop("engine", "default")]
        if "signals" in options and not set(options["signals"]) <= set(engine.dense) | {"lexical"}:
            continue
        out[system] = {}
        for name, queries in sets.items():
            def search(q: EvalQuery, depth: int, engine: Any = engine, options: dict = options) -> list[str]:
                return engine.search(q.text, k=depth, facets=False, **options).ids()

            with stopwatch() as sw:
                report = evaluate(search, queries, k)
            out[system][name] = {"ndcg@10": round(report.metrics[f"ndcg@{k}"], 4),
                                 "recall@10": round(report.metrics[f"recall@{k}"], 4),
                                 "mrr": round(report.metrics["mrr"], 4), "n": len(queries),
                                 "seconds": round(sw.seconds, 1)}
            print(f"{system:45s} {name:32s} nDCG@10 {out[system][name]['ndcg@10']:.3f} (n={len(queries)})",
                  flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("validation", "test"), default="validation")
    ap.add_argument("--index", default=str(HERE / ".work" / "fx-full"), help="full-catalogue index (built if absent)")
    ap.add_argument("--heldout-index", help="index of the held-out 20%% built with the 80%%-trained joint model")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    stem = "shopper_wording" + ("" if args.split == "test" else f"_{args.split}")
    run_record = Run("shopper_wording", baseline=BASELINE)
    fashion = data_dir("fashion")
    try:
        engine = shopsearch.load(args.index)
    except IndexFormatError:
        report = build_index(fashion / "products.jsonl", args.index, IndexConfig())
        print(f"built {args.index} in {report.seconds['total']:.0f}s", file=sys.stderr)
        engine = shopsearch.load(args.index)
    engine.warmup()
    settings = {"full": (args.index, engine)}
    if args.heldout_index:
        held = shopsearch.load(args.heldout_index)
        held.warmup()
        settings["heldout"] = (args.heldout_index, held)
    results: dict[str, Any] = {"split": args.split, "k": args.k, "settings": {}}
    for name, (path, eng) in settings.items():
        print(f"== {name}: {eng.size} products", flush=True)
        before = shopsearch.load(path, config=SearchConfig(shopper_words=False))
        sets = query_sets(args.split, [p for p, ok in zip(eng.products, eng.alive) if ok], fashion)
        results["settings"][name] = {"products": eng.size, "joint_model": eng.manifest.settings.get("joint_model"),
                                     "systems": run({"default": eng, "before": before}, sets, args.k)}
    lines = [f"# Shopper wording ({args.split} queries), nDCG@10", "",
             "Template EN = catalogue-value wording, equal to the joint model's training texts; its labels are "
             "the indexed facets, so full-index numbers near 1.0 hold by construction (a regression check, not a "
             "quality number). In `full`, the shipped joint model was trained on these very products; `heldout` "
             "is the 20% no model saw (joint model trained on the other 80%).", ""]
    for name, block in results["settings"].items():
        systems = block["systems"]
        first = next(iter(systems.values()))
        set_names = list(first)
        lines += [f"## {name} ({block['products']} products)", "",
                  "| system | " + " | ".join(f"{s} (n={first[s]['n']})" for s in set_names) + " |",
                  "|---|" + "---|" * len(set_names)]
        for system, by_set in systems.items():
            lines.append(f"| {system} | " + " | ".join(f"{by_set[s]['ndcg@10']:.3f}" for s in set_names) + " |")
        lines.append("")
    run_record.write(results, lines, stem=stem)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
