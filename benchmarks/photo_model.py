"""Photo search with the shop-trained image model: grocery in-store photo -> product.

    python benchmarks/photo_model.py [--losses proxy triplet] [--epochs 6] [--threads 2]

The trained half of the photo-search benchmark (``benchmarks/photo_search.py`` compares the
*frozen* EfficientNet-Lite0/1/2 backbones). Data: the grocery set; its 81 products with their
web-shop iconic image and their *train* in-store photos form the catalogue (what
``shopsearch train`` learns from), its *val* photos are the shopper queries that pick the
recipe (loss, epoch). The source's test split is held out by the team and never read.

In one run:

1. ``shopsearch``'s image trainer (:func:`shopsearch.training.image_model.fit_image_model`)
   once per loss (proxy = normalised softmax with margin; triplet = batch-hard), the val top-1
   after every epoch, training time; the best loss (by its best epoch's val top-1) is exported.
2. Product-level options on the exported model: product score by best photo, mean of photo
   scores, or prototype (mean embedding); with and without flip test-time augmentation. The
   frozen baselines come from the same network pass (the model's frozen Lite0 branch): iconic
   image only, nearest photo, class centroid.
3. End to end through the product: two indexes of the catalogue (title, description, image),
   one with EfficientNet-Lite0 (shopsearch without a trained model) and one with the trained
   model; every val photo searched with the default search and with the image signal alone;
   top-1/top-5/MRR, photo query p50/p95, indexing images/s (cold embedding cache).

Numbers on val were seen while choosing the loss and the epoch (that is what val is for);
the team's test photos are the unseen measure. Writes ``benchmarks/results/photo_model.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _harness import RESULTS, Run, data_dir, load_average, percentile, stopwatch
from photo_search import load_grocery, log, metrics, product_max  # same folder

from shopsearch.config import IndexConfig, SearchConfig
from shopsearch.encode.shop_image import IMAGE_SUBDIR, ShopImageEncoder
from shopsearch.index.builder import build_index
from shopsearch.retrieve.engine import Engine
from shopsearch.training.image_model import ImageTrainConfig, Photo, export_image_model, fit_image_model

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BASELINE = ("the frozen EfficientNet-Lite0 features from the same network pass (iconic image only, nearest photo, "
            "class centroid), and end to end an index built with EfficientNet-Lite0 (shopsearch without a trained "
            "model)")
# keys of a results file written before the harness that the harness's run record now holds
LEGACY_RUN_KEYS = ("benchmark", "run_utc", "machine", "total_seconds", "end_to_end_rerun")


def l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def product_scores(q: np.ndarray, gallery: np.ndarray, labels: np.ndarray, n: int, how: str) -> np.ndarray:
    """(queries, products) scores: best photo, mean of photo scores, or prototype."""
    if how == "prototype":
        proto = np.zeros((n, gallery.shape[1]), np.float32)
        np.add.at(proto, labels, gallery)
        return q @ l2n(proto).T
    sim = q @ gallery.T
    if how == "best photo":
        return product_max(sim, labels, n)
    out = np.zeros((len(q), n), np.float32)
    np.add.at(out.T, labels, sim.T)
    return out / np.maximum(np.bincount(labels, minlength=n), 1)[None, :]


def catalogue_file(data: dict[str, Any], path: Path) -> Path:
    """The grocery catalogue as shopsearch JSONL: iconic image first, then the train photos."""
    photos: dict[int, list[str]] = {p["id"]: [] for p in data["products"]}
    for p, y in zip(data["train_paths"], data["train_y"]):
        photos[int(y)].append(p)
    rows = [{"id": str(p["id"]), "title": p["title"], "description": p["description"],
             "category": p["coarse_class"], "images": [data["iconic_paths"][p["id"]], *photos[p["id"]]]}
            for p in data["products"]]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def end_to_end(index: Path, data: dict[str, Any], signals: list[str] | None) -> dict[str, Any]:
    engine = Engine.load(index, config=SearchConfig())
    n = len(data["products"])
    engine.search(image=data["val_paths"][0], k=n, signals=signals)  # warm-up: model sessions
    scores = np.full((len(data["val_paths"]), n), -np.inf, np.float32)
    took = []
    for i, path in enumerate(data["val_paths"]):
        with stopwatch() as sw:
            res = engine.search(image=path, k=n, signals=signals)
        took.append(sw.ms)
        for rank, hit in enumerate(res.hits):
            scores[i, int(hit.product_id)] = n - rank  # rank order is what counts
    out = metrics(scores, data["val_y"], data["val_coarse"], data["coarse"])
    out["query_ms_p50"] = round(percentile(took, 50), 1)
    out["query_ms_p95"] = round(percentile(took, 95), 1)
    return out


SIGNAL_SETS: dict[str, list[str] | None] = {
    "default": None, "image + joint image (fused)": ["image", "joint_image"], "image": ["image"]}


def end_to_end_rows(data: dict[str, Any], model_dir: Path, chosen: str, threads: int,
                    rebuild: bool) -> list[dict[str, Any]]:
    """Both indexes (frozen Lite0, trained model) searched with every val photo, per signal set.
    ``rebuild=False`` reuses indexes of an earlier run (same catalogue, same exported model)."""
    rows = []
    catalog = catalogue_file(data, WORK / "grocery-catalog.jsonl")
    for label, image_model in (("efficientnet-lite0 (frozen)", "efficientnet-lite0"),
                               (f"trained ({chosen})", str(model_dir))):
        index = WORK / ("grocery-index-" + ("frozen" if image_model == "efficientnet-lite0" else "trained"))
        cache = WORK / f"{index.name}-cache.sqlite"
        ips = None
        if rebuild or not index.is_dir():
            shutil.rmtree(index, ignore_errors=True)
            cache.unlink(missing_ok=True)
            log(f"indexing with {label}")
            report = build_index(catalog, index, IndexConfig(
                fields=("title", "description", "image"), image_model=image_model, cache_path=cache,
                threads=threads, progress=False))
            ips = round(report.images_per_second, 1)
        for name, signals in SIGNAL_SETS.items():
            m = end_to_end(index, data, signals)
            rows.append({"model": label, "signals": name, "metrics": m, "images_per_second": ips})
            log(f"{label} / {name}: top-1 {pct(m['top1'])}, p50 {m['query_ms_p50']} ms")
    return rows


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown(r: dict[str, Any]) -> str:
    d = r["data"]
    lines = [
        "# Photo search with the shop-trained image model (grocery: phone photo -> product)",
        "",
        (f"Catalogue: {d['products']} products, each with its iconic image and its *train* in-store photos "
         f"({d['catalogue_photos']} photos): what `shopsearch train` learns from. Queries: {d['val_photos']} "
         f"*val* in-store photos ({d['val_products']} products). The test split is not used."),
        "",
        "**Val numbers were seen while choosing the loss and the epoch**; the team's test photos are the "
        "unseen measure.",
        "",
        "## Training (val top-1 after each epoch; epoch 0 = frozen features through a random projection)",
        "",
        "| loss | " + " | ".join(f"ep {h['epoch']}" for h in r["training"][0]["history"])
        + " | best | views s | train s |",
        "|---|" + "---|" * (len(r["training"][0]["history"]) + 3),
    ]
    for t in r["training"]:
        lines.append(f"| {t['loss']} | " + " | ".join(pct(h["val_top1"]) for h in t["history"])
                     + f" | **{pct(t['val_top1'])}** (ep {t['best_epoch']}) | {t['seconds'].get('views', 0):.0f}"
                     + f" | {t['seconds'].get('train', 0):.0f} |")
    lines += [
        "",
        (f"Chosen: **{r['chosen_loss']}**. `views s` = photo views through the frozen trunk "
         f"({r['training'][0]['views_per_photo']} augmented views per photo; 0 when they came from the cache of an "
         "earlier loss in this run)."),
        "",
        "## Product-level options and baselines (same network pass; top-1 / top-5 / MRR in %)",
        "",
        "| features | product score | no TTA | flip TTA |",
        "|---|---|---|---|",
    ]
    for row in r["options"]:
        cells = [f"{pct(row[v]['top1'])} / {pct(row[v]['top5'])} / {pct(row[v]['mrr'])}" if v in row else "-"
                 for v in ("none", "flip")]
        lines.append(f"| {row['features']} | {row['score']} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "## End to end: `Engine.search(image=photo)` over an index of title, description and image",
        "",
        "| index image model | signals | top-1 [95% CI] | top-5 | MRR | query p50 / p95 ms | index images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["end_to_end"]:
        m = row["metrics"]
        ci = m["top1_ci95"]
        lines.append(f"| {row['model']} | {row['signals']} | **{pct(m['top1'])}** [{pct(ci[0])}-{pct(ci[1])}] | "
                     f"{pct(m['top5'])} | {pct(m['mrr'])} | {m['query_ms_p50']} / {m['query_ms_p95']} | "
                     f"{row['images_per_second']} |")
    lines += [
        "",
        ("`default` = what a photo query searches by default: with a shop-trained image model its image "
         "vectors alone, otherwise the image and joint-image vectors fused; `image + joint image (fused)` = "
         "the default before that rule; `image` = the image vectors alone. The joint model is the packaged "
         "fashion one in both indexes. Index images/s: cold embedding cache, all photos of the catalogue."),
        "",
    ]
    if "first_run" in r:
        e = r["first_run"]
        commit = f" at commit `{e['commit']}`" if e.get("commit") else ""
        lines += [(f"Only the end-to-end section is from this run (`--end-to-end-only`, same model and indexes); "
                   f"training, options and baselines are from the run of {e['date']}{commit} "
                   f"({e['seconds'] / 60:.1f} min; `first_run` in the JSON)."), ""]
    return "\n".join(lines)


def previous_results() -> dict[str, Any]:
    """The results of the last full run (``results/photo_model.json``), with ``first_run``: the record
    of the run that trained the model. Reads files written before the harness too (no ``run``)."""
    doc = json.loads((RESULTS / "photo_model.json").read_text(encoding="utf-8"))
    if "schema" in doc:
        results = dict(doc["results"])
        results.setdefault("first_run", doc["run"])
        return results
    results = {k: v for k, v in doc.items() if k not in LEGACY_RUN_KEYS}
    results["first_run"] = {"date": doc["run_utc"], "seconds": doc["total_seconds"], "machine": doc["machine"]}
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losses", nargs="+", default=["proxy", "triplet"], choices=["proxy", "triplet"])
    ap.add_argument("--epochs", type=int, default=ImageTrainConfig().epochs)
    ap.add_argument("--tune-from", type=int, default=ImageTrainConfig().tune_from, choices=(12, 13, 14, 15),
                    help="first EfficientNet-Lite0 block to fine-tune")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-end-to-end", action="store_true", help="skip the two index builds and searches")
    ap.add_argument("--end-to-end-only", action="store_true",
                    help="re-run only the end-to-end searches on the model and indexes of the last run, "
                         "replacing that section of results/photo_model.json (after a change to search)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("shopsearch.training").setLevel(logging.INFO)  # per-epoch validation top-1
    run = Run("photo_model", baseline=BASELINE)
    root = data_dir("grocery/photo_queries.jsonl").parent  # exits naming $SHOPSEARCH_DATA when absent
    data = load_grocery(root)
    n = len(data["products"])
    cat = [Photo(data["iconic_paths"][i], i) for i in range(n)]
    cat += [Photo(p, int(y)) for p, y in zip(data["train_paths"], data["train_y"])]
    val = [Photo(p, int(y)) for p, y in zip(data["val_paths"], data["val_y"])]
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"grocery: {len(cat)} catalogue photos, {len(val)} val photos; load {load_average()}")
    if args.end_to_end_only:
        previous = previous_results()
        rows = end_to_end_rows(data, WORK / "grocery-model" / IMAGE_SUBDIR, previous["chosen_loss"], args.threads,
                               rebuild=False)
        speeds = {r["model"]: r["images_per_second"] for r in previous["end_to_end"]}
        for r in rows:  # indexing speed comes from the run that built the indexes
            r["images_per_second"] = r["images_per_second"] or speeds.get(r["model"])
        previous["end_to_end"] = rows
        run.write(previous, markdown(previous))
        print(markdown(previous))
        return 0

    training, fits = [], {}
    for loss in args.losses:
        config = ImageTrainConfig(loss=loss, epochs=args.epochs, tune_from=args.tune_from, threads=args.threads)
        log(f"training ({loss}, {args.epochs} epochs, blocks {args.tune_from}-15 tuned)")
        fit = fit_image_model(cat, config, progress=True, validation=val, maps_cache=WORK)
        fits[loss] = (fit, config)
        training.append({"loss": loss, "config": config.to_dict(), "history": fit.history,
                         "best_epoch": fit.best_epoch, "val_top1": fit.val_top1, "views_per_photo": fit.views,
                         "seconds": {k: round(v, 1) for k, v in fit.seconds.items()}})
        log(f"{loss}: val top-1 {fit.val_top1:.4f} at epoch {fit.best_epoch}; {fit.seconds}")
    chosen = max(training, key=lambda t: t["val_top1"])["loss"]
    model_root = WORK / "grocery-model"
    shutil.rmtree(model_root, ignore_errors=True)
    fit, config = fits[chosen]
    model_dir = export_image_model(fit, config, model_root / IMAGE_SUBDIR, name="grocery-image", version="bench",
                                   command="benchmarks/photo_model.py", catalog="grocery (iconic + train photos)")

    log("product-level options and frozen baselines")
    enc = ShopImageEncoder(model_dir, threads=args.threads)
    cat_paths = [p.path for p in cat]
    labels = np.array([p.label for p in cat])
    emb_c, raw_c, _ = enc.run(cat_paths)
    emb_q, raw_q, _ = enc.run(data["val_paths"])
    enc.tta_flip = True
    emb_cf, _, _ = enc.run(cat_paths)
    emb_qf, _, _ = enc.run(data["val_paths"])
    y, yc, coarse = data["val_y"], data["val_coarse"], data["coarse"]
    options = []
    for how in ("best photo", "mean", "prototype"):
        options.append({"features": "trained", "score": how,
                        "none": metrics(product_scores(emb_q, emb_c, labels, n, how), y, yc, coarse),
                        "flip": metrics(product_scores(emb_qf, emb_cf, labels, n, how), y, yc, coarse)})
    iconic = labels[:n]
    options.append({"features": "frozen Lite0", "score": "iconic image only",
                    "none": metrics(raw_q @ raw_c[:n].T, y, yc, coarse)})
    for how, name in (("best photo", "nearest photo"), ("prototype", "centroid")):
        options.append({"features": "frozen Lite0", "score": name,
                        "none": metrics(product_scores(raw_q, raw_c, labels, n, how), y, yc, coarse)})
    assert (iconic == np.arange(n)).all()
    for o in options:
        log(f"{o['features']} / {o['score']}: top-1 {pct(o['none']['top1'])}"
            + (f", flip {pct(o['flip']['top1'])}" if "flip" in o else ""))

    e2e = [] if args.no_end_to_end else end_to_end_rows(data, model_dir, chosen, args.threads, rebuild=True)

    report = {
        "data": {"root": str(root), "products": n, "catalogue_photos": len(cat), "val_photos": len(val),
                 "val_products": len(set(data["val_y"].tolist())), "test_split_used": False},
        "training": training, "chosen_loss": chosen, "options": options, "end_to_end": e2e,
        "threads": args.threads,
    }
    md = markdown(report)
    run.write(report, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
