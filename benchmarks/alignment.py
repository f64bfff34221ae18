"""Cross-modal alignment benchmark: trained joint heads vs baselines on held-out products.

Holds out 20% of the fashion catalogue by id (seeded, ``split_ids(ids, 0.2, 0)``), trains every
variant on the other 80% (itself split train/validation for early stopping), and searches an
image-only index of the held-out products:

* dev attribute queries (``queries_dev.jsonl``, relevance restricted to the held-out pool):
  nDCG@10, Recall@10, MRR, MAP for random, zero-shot labels, raw features (untrained heads),
  and each trained variant;
* Chinese versions of a sample of dev queries, translated by the fixed table below (written
  for this benchmark, separate from the product lexicon), with and without the lexicon;
* title -> image (each held-out product's own title; its own image is the one relevant item);
* image -> image P@10 (relevant = same article type and colour), raw vs trained features;
* training time per variant and single-query latency.

Writes ``benchmarks/results/alignment.json`` and ``alignment.md``. Backbone features are
cached in an SQLite embedding cache (``--cache``), so reruns cost only the head training.

    python benchmarks/alignment.py                       # baselines + DEFAULT_VARIANTS
    python benchmarks/alignment.py --tag extra --save-best "" \
        --variants mlp-infonce-dropout0.1,mlp-infonce-seed1,mlp-infonce-seed2,mlp-infonce-codeswitch

``--save-best`` (default ``mlp-infonce``) also writes that variant's
80%-trained model directory (``--save-dir``), which the latency measurement loads.
Recipes are chosen on the validation split of the 80% (``val`` in the JSON), not on these
dev numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Run, Stopwatch, data_dir

from shopsearch.catalog import FieldMapping, load_catalog
from shopsearch.encode import create_encoder
from shopsearch.encode.cache import EmbeddingCache, embed_with_cache, image_key, text_key
from shopsearch.encode.image_effnet import EfficientNetEncoder
from shopsearch.encode.joint import JointEncoder, ZeroShotLabelScorer, project
from shopsearch.evaluation.metrics import ranking_summary, score_metrics
from shopsearch.preprocess.image import load_image
from shopsearch.preprocess.lexicon import default_lexicon
from shopsearch.training.config import TrainConfig, split_ids, validation_split
from shopsearch.training.pipeline import image_view_features, prepare
from shopsearch.training.trainer import fit_heads

logger = logging.getLogger("alignment")

HOLDOUT, HOLDOUT_SEED = 0.2, 0
FASHION_MAPPING = FieldMapping(category_from=("master_category", "sub_category", "article_type"))

# The recorded runs (results/alignment*.json) used this base: TrainConfig defaults without
# code-switching. The shipped recipe (TrainConfig defaults) is "mlp-infonce-codeswitch".
BASE = replace(TrainConfig(), codeswitch_prob=0.0)
VARIANTS: dict[str, TrainConfig] = {
    "mlp-infonce": BASE,
    "linear-infonce": replace(BASE, head="linear"),
    "mlp-triplet": replace(BASE, loss="triplet"),
    "linear-triplet": replace(BASE, head="linear", loss="triplet"),
    "mlp-infonce-nocolor": replace(BASE, color=False),
    "mlp-infonce-flip": replace(BASE, augment_flip=True),
    "mlp-infonce-grouped": replace(BASE, grouped_fraction=0.5),
    "mlp-infonce-dropout0.1": replace(BASE, dropout=0.1),
    # Extra runs (--tag extra): lighter dropout, seed spread of the default recipe, code-switched
    # training texts (~7k extra texts through e5, several minutes on 2 cores).
    "mlp-infonce-seed1": replace(BASE, seed=1),
    "mlp-infonce-seed2": replace(BASE, seed=2),
    "mlp-infonce-codeswitch": replace(BASE, codeswitch_prob=0.3),
}
EXTRA_VARIANTS = (
    "mlp-infonce-dropout0.1", "mlp-infonce-seed1", "mlp-infonce-seed2", "mlp-infonce-codeswitch",
)
DEFAULT_VARIANTS = [v for v in VARIANTS if v not in EXTRA_VARIANTS]

# Chinese translations of dev query attribute values: a fixed table for this benchmark only,
# written the way a shopper would type them (not copied from the product lexicon).
ZH_VALUES: dict[str, str] = {
    # genders
    "Men": "男士", "Women": "女士", "Boys": "男童", "Girls": "女童", "Unisex": "男女同款",
    # seasons, usages
    "Summer": "夏季", "Winter": "冬季", "Fall": "秋季", "Spring": "春季",
    "Casual": "休闲", "Formal": "正装", "Sports": "运动", "Ethnic": "民族风",
    # colours
    "Black": "黑色", "White": "白色", "Blue": "蓝色", "Navy Blue": "藏青色", "Grey": "灰色",
    "Red": "红色", "Green": "绿色", "Brown": "棕色", "Pink": "粉色", "Purple": "紫色",
    "Beige": "米色", "Maroon": "酒红色", "Orange": "橙色", "Olive": "军绿色", "Silver": "银色",
    "Cream": "奶油色", "Charcoal": "深灰色", "Copper": "铜色", "Mustard": "姜黄色",
    "Peach": "桃色", "Yellow": "黄色",
    # product types
    "Tshirts": "T恤", "Shirts": "衬衫", "Tops": "上衣", "Sweaters": "毛衣", "Sweatshirts": "卫衣",
    "Jackets": "夹克", "Kurtas": "库尔塔长衫", "Tunics": "长款上衣", "Dresses": "连衣裙",
    "Skirts": "半身裙", "Trousers": "长裤", "Shorts": "短裤", "Track Pants": "运动裤",
    "Capris": "七分裤", "Briefs": "内裤", "Innerwear Vests": "背心", "Socks": "袜子",
    "Stockings": "丝袜", "Casual Shoes": "休闲鞋", "Sports Shoes": "运动鞋",
    "Formal Shoes": "皮鞋", "Heels": "高跟鞋", "Flats": "平底鞋", "Sandals": "凉鞋",
    "Flip Flops": "人字拖", "Handbags": "手提包", "Clutches": "手拿包", "Backpacks": "双肩包",
    "Laptop Bag": "电脑包", "Duffel Bag": "旅行包", "Wallets": "钱包", "Belts": "皮带",
    "Watches": "手表", "Sunglasses": "太阳镜", "Caps": "鸭舌帽", "Ties": "领带",
    "Cufflinks": "袖扣", "Scarves": "围巾", "Mufflers": "围脖", "Gloves": "手套",
    "Dupatta": "纱巾", "Deodorant": "止汗露", "Perfume and Body Mist": "香水",
    # sub-categories
    "Topwear": "上装", "Bottomwear": "下装", "Shoes": "鞋子", "Bags": "包包",
    "Eyewear": "眼镜", "Headwear": "帽子", "Innerwear": "内衣",
}
_ZH_ORDER = ("gender", "season", "usage", "base_colour", "article_type", "sub_category")


def to_chinese(attributes: dict[str, str]) -> str | None:
    """The Chinese query for a dev query's attributes (Chinese order: gender season usage
    colour type), or None if a value is missing from the table."""
    parts = []
    for key in _ZH_ORDER:
        if key in attributes:
            zh = ZH_VALUES.get(attributes[key])
            if zh is None:
                return None
            parts.append(zh)
    return "".join(parts)


# --------------------------------------------------------------------------- data


def load_data(data_dir: Path, cache: EmbeddingCache) -> dict[str, Any]:
    catalog = data_dir / "products.jsonl"
    products = load_catalog(catalog, FASHION_MAPPING, check_images=False).products
    ids = [p.id for p in products]
    keep, held = split_ids(ids, HOLDOUT, HOLDOUT_SEED)
    queries = [json.loads(line) for line in (data_dir / "queries_dev.jsonl").open()]
    return {"products": products, "ids": ids, "keep": keep, "held": held, "queries": queries,
            "catalog": str(catalog)}


def held_logits(paths: list[str], cache: EmbeddingCache) -> np.ndarray:
    enc = create_encoder("efficientnet-lite0")
    assert isinstance(enc, EfficientNetEncoder)  # the one with ImageNet logits
    name = enc.name + ":imagenet-logits"
    return embed_with_cache(
        cache, lambda: [image_key(name, p) for p in paths], paths, 1000,
        lambda items: enc.embed_with_logits([load_image(str(x)) for x in items])[1],
    )


def embed_query_texts(texts: list[str], cache: EmbeddingCache, normalise: bool = True) -> np.ndarray:
    lex = default_lexicon()
    texts = [lex.normalize_query(t) for t in texts] if normalise else list(texts)
    enc = create_encoder("e5-small")
    return embed_with_cache(
        cache, lambda: [text_key(enc.name, "query", t) for t in texts], texts, enc.dim,
        lambda xs: enc.embed_queries(xs),  # type: ignore[union-attr]
    )


def relevance(queries: list[dict[str, Any]], pool_ids: list[str]) -> tuple[list[int], np.ndarray]:
    """Queries with >= 1 relevant product in the pool, and their bool (n_q, n_pool) relevance."""
    pos = {pid: i for i, pid in enumerate(pool_ids)}
    keep, rows = [], []
    for qi, q in enumerate(queries):
        row = np.zeros(len(pool_ids), bool)
        for rid in q["relevant"]:
            if rid in pos:
                row[pos[rid]] = True
        if row.any():
            keep.append(qi)
            rows.append(row)
    return keep, np.stack(rows)


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace, bench: Run) -> dict[str, Any]:
    cache = EmbeddingCache(args.cache)
    d = load_data(Path(args.data), cache)
    products, keep, held = d["products"], d["keep"], d["held"]
    train_products = [products[i] for i in keep]
    pool = [products[i] for i in held]
    pool_ids = [p.id for p in pool]
    results: dict[str, Any] = {
        "setup": {
            "catalog": d["catalog"], "n_products": len(products), "n_train_pool": len(keep),
            "n_heldout": len(held), "holdout": HOLDOUT, "holdout_seed": HOLDOUT_SEED,
            "index": "held-out product images only",
        },
        "methods": {},
    }
    qkeep, qrel = relevance(d["queries"], pool_ids)
    queries = [d["queries"][i] for i in qkeep]
    results["setup"]["n_dev_queries"] = len(queries)
    q_en = embed_query_texts([q["query"] for q in queries], cache)

    zh_idx = [i for i, q in enumerate(queries) if to_chinese(q["attributes"])]
    rng = np.random.default_rng(0)
    zh_idx = sorted(rng.choice(zh_idx, min(args.zh_sample, len(zh_idx)), replace=False).tolist())
    zh_texts = [to_chinese(queries[i]["attributes"]) or "" for i in zh_idx]
    q_zh = embed_query_texts(zh_texts, cache)
    q_zh_raw = embed_query_texts(zh_texts, cache, normalise=False)
    results["setup"]["chinese_sample"] = [
        {"en": queries[i]["query"], "zh": z} for i, z in zip(zh_idx, zh_texts)
    ]
    title_texts = [p.title for p in pool]
    q_title = embed_query_texts(title_texts, cache, normalise=False)
    title_rel = np.eye(len(pool), dtype=bool)
    img_rel = _same_type_colour(pool)

    def record(name: str, scores_en: np.ndarray, extra: dict[str, Any] | None = None) -> None:
        entry = {"dev": ranking_summary(scores_en, qrel, 10)}
        entry.update(extra or {})
        results["methods"][name] = entry
        logger.info("%-28s nDCG@10 %.4f MRR %.4f", name, entry["dev"]["ndcg@10"],
                    entry["dev"]["mrr"])

    # random
    rs = np.random.default_rng(1)
    record("random", rs.random(qrel.shape),
           {"title": ranking_summary(rs.random(title_rel.shape), title_rel, 10)})

    # zero-shot labels
    paths = [p.images[0] for p in pool]
    cfg0 = BASE
    started = Stopwatch()
    image_encoder = create_encoder("efficientnet-lite0")
    pool_feats = image_view_features(paths, image_encoder, cache, color=True)  # type: ignore[arg-type]
    logger.info("held-out image features ready in %.1f s", started.elapsed)
    zs = ZeroShotLabelScorer(top_k=5, color_weight=args.zs_color_weight)
    zvec = zs.image_vectors(held_logits(paths, cache), pool_feats[:, 1280:])
    zvec_nocolor = zs.image_vectors(held_logits(paths, cache), None)
    record("zero-shot labels+colour", q_en @ zvec.T, {
        "zh_lexicon": ranking_summary(q_zh @ zvec.T, qrel[zh_idx], 10),
        "title": ranking_summary(q_title @ zvec.T, title_rel, 10),
    })
    record("zero-shot labels", q_en @ zvec_nocolor.T)

    # raw features: image->image on the backbone; text->image needs a shared space, so the
    # "raw" text->image row uses untrained (randomly initialised) heads.
    raw = pool_feats[:, :1280]
    results["image_to_image"] = {"raw efficientnet": _p10(raw, img_rel),
                                 "raw efficientnet+colour": _p10(_std_concat(pool_feats), img_rel)}

    # trained variants (on the 80%: train_products only; pool features are never seen)
    train_data = prepare(train_products, cfg0, cache=cache)
    train_idx, val_idx = validation_split([p.id for p in train_products], cfg0)
    results["setup"]["n_train"] = len(train_idx)
    results["setup"]["n_val"] = len(val_idx)
    untrained = replace(cfg0, epochs=1, lr=1e-12)
    fit0 = fit_heads(train_data.image_views, train_data.text_feats, train_data.bank, train_idx,
                     val_idx, untrained)
    zi0 = project(fit0.params, "image", pool_feats)
    record("raw features (untrained heads)", project(fit0.params, "text", q_en) @ zi0.T)

    flip_data = None
    for name in args.variants.split(","):
        cfg = VARIANTS[name]
        if args.quick:
            cfg = replace(cfg, epochs=3)
        td = train_data
        if cfg.augment_flip or cfg.codeswitch_prob > 0:
            if flip_data is None or cfg.codeswitch_prob > 0:
                flip_data = prepare(train_products, cfg, cache=cache)
            td = flip_data
        views = td.image_views if cfg.color else [v[:, :1280] for v in td.image_views]
        fit = fit_heads(views, td.text_feats, td.bank, train_idx, val_idx, cfg, td.codeswitch)
        pf = pool_feats if cfg.color else pool_feats[:, :1280]
        zi = project(fit.params, "image", pf)
        extra = {
            "zh_lexicon": ranking_summary(project(fit.params, "text", q_zh) @ zi.T, qrel[zh_idx], 10),
            "zh_no_lexicon": ranking_summary(project(fit.params, "text", q_zh_raw) @ zi.T,
                                             qrel[zh_idx], 10),
            "en_on_zh_sample": ranking_summary(project(fit.params, "text", q_en[zh_idx]) @ zi.T,
                                               qrel[zh_idx], 10),
            "title": ranking_summary(project(fit.params, "text", q_title) @ zi.T, title_rel, 10),
            "image_to_image_p@10": _p10(zi, img_rel),
            "train_seconds": round(fit.seconds, 1),
            "best_epoch": fit.best_epoch,
            "epochs_run": fit.epochs_run,
            "val": fit.val_metrics,
            "config": cfg.to_dict(),
        }
        record(name, project(fit.params, "text", q_en) @ zi.T, extra)
        results["image_to_image"][f"trained {name}"] = extra["image_to_image_p@10"]
        write_results(bench, results, args, partial=True)  # a long run leaves usable results
        if args.save_best and name == args.save_best:
            _save(fit, cfg, args, d, len(train_idx), len(val_idx), len(held))
    results["latency"] = _latency(args)
    cache.close()
    return results


def _std_concat(feats: np.ndarray) -> np.ndarray:
    a, b = feats[:, :1280], feats[:, 1280:]
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.concatenate([a, 0.5 * b], axis=1)


def _same_type_colour(pool: list[Any]) -> np.ndarray:
    keys = [(p.attributes.get("article_type"), p.attributes.get("base_colour")) for p in pool]
    arr = np.array([hash(k) for k in keys])
    rel = arr[:, None] == arr[None, :]
    np.fill_diagonal(rel, False)
    return rel


def _p10(feats: np.ndarray, rel: np.ndarray) -> float:
    z = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    s = z @ z.T
    np.fill_diagonal(s, -np.inf)
    has = rel.any(axis=1)
    return float(score_metrics(s[has], rel[has], 10)["precision@10"].mean())


def _save(fit: Any, cfg: TrainConfig, args: argparse.Namespace, d: dict[str, Any], n_train: int,
          n_val: int, n_held: int) -> None:
    from shopsearch.training.export import ModelMeta, catalog_checksum, write_model_dir

    train_products = [d["products"][i] for i in d["keep"]]
    meta = ModelMeta(
        name="fashion-joint-80", version="1", text_backbone=("e5-small", 384),
        image_backbone=("efficientnet-lite0", 1280),
        image_extras=("color-hsv-v1",) if cfg.color else (),
        command="python benchmarks/alignment.py --save-best " + args.save_best,
        data_checksum=catalog_checksum(train_products), catalog=d["catalog"], n_train=n_train,
        n_val=n_val, n_excluded=n_held,
    )
    write_model_dir(args.save_dir, fit, cfg, meta, overwrite=True)


def _latency(args: argparse.Namespace) -> dict[str, float]:
    """Median single-query latency (ms): text backbone + lexicon + head, and head alone."""
    model_dir = args.save_dir if args.save_best else None
    try:
        enc = JointEncoder.load(model_dir)
    except ValueError as exc:
        logger.warning("latency not measured: %s", exc)
        return {}
    queries = ["Men Black Sports Shoes", "女士休闲手拿包", "Summer Casual Tshirts", "藏青色双肩包"] * 10
    enc.embed_queries(queries[:1])  # warm up
    full, head = [], []
    for q in queries:
        t = time.perf_counter()
        feats = enc.text_features([q], is_query=True)
        t2 = time.perf_counter()
        enc.project_texts(feats)
        t3 = time.perf_counter()
        full.append((t3 - t) * 1000)
        head.append((t3 - t2) * 1000)
    return {"query_embed_ms_median": float(np.median(full)),
            "head_only_ms_median": float(np.median(head))}


# --------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    s = results["setup"]
    lines = [
        "# Alignment benchmark",
        "",
        (f"Held-out {s['n_heldout']} of {s['n_products']} products (fraction {s['holdout']}, seed "
        f"{s['holdout_seed']}); image-only index of the held-out products; {s['n_dev_queries']} "
        f"dev queries with >= 1 relevant held-out product. Trained variants: "
        f"{s.get('n_train', '?')} train / {s.get('n_val', '?')} validation products from the 80%."),
        "",
        ("| method | nDCG@10 | R@10 | MRR | MAP | zh nDCG@10 (lexicon) | zh no lexicon | en on zh sample "
        "| title R@1 | title R@10 | title MRR | img->img P@10 | train s |"),
        "| --- | " + " | ".join(["---:"] * 12) + " |",
    ]
    for name, m in results["methods"].items():
        dev = m["dev"]

        def g(key: str, sub: str, m: dict[str, Any] = m) -> str:
            return f"{m[key][sub]:.3f}" if key in m else ""

        lines.append(
            f"| {name} | {dev['ndcg@10']:.3f} | {dev['recall@10']:.3f} | {dev['mrr']:.3f} | "
            f"{dev['map']:.3f} | {g('zh_lexicon', 'ndcg@10')} | {g('zh_no_lexicon', 'ndcg@10')} | "
            f"{g('en_on_zh_sample', 'ndcg@10')} | {g('title', 'recall@1')} | "
            f"{g('title', 'recall@10')} | {g('title', 'mrr')} | "
            + (f"{m['image_to_image_p@10']:.3f}" if "image_to_image_p@10" in m else "")
            + f" | {m.get('train_seconds', '')} |"
        )
    lines += ["", "Image -> image P@10 (same article type and colour):", ""]
    for name, v in results["image_to_image"].items():
        lines.append(f"- {name}: {v:.3f}")
    if results.get("latency"):
        lat = results["latency"]
        lines += ["", (f"Query latency (median, 1 query): {lat['query_embed_ms_median']:.1f} ms "
                  f"end to end (lexicon + e5 + head), head alone {lat['head_only_ms_median']:.3f} ms.")]
    lines += ["", f"Chinese sample: {len(s['chinese_sample'])} dev queries translated by the "
              "benchmark's own table (e.g. "
              + ", ".join(f"{c['en']} -> {c['zh']}" for c in s["chinese_sample"][:3]) + ")."]
    return "\n".join(lines) + "\n"


def write_results(bench: Run, results: dict[str, Any], args: argparse.Namespace, partial: bool) -> Path:
    """Write the JSON and Markdown results; returns the Markdown path."""
    stem = "alignment" + (f"-{args.tag}" if args.tag else "")
    results["setup"]["complete"] = not partial
    return bench.write(results, markdown(results), stem=stem, folder=Path(args.out_dir))[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="fashion data folder (default: sample data)")
    ap.add_argument("--cache", default="work/alignment-cache.sqlite")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    ap.add_argument("--zh-sample", type=int, default=60)
    ap.add_argument("--zs-color-weight", type=float, default=0.5)
    ap.add_argument("--quick", action="store_true", help="3 epochs per variant (smoke run)")
    ap.add_argument("--save-best", default="mlp-infonce", help="also write this variant's model dir")
    ap.add_argument("--save-dir", default="work/models/fashion-joint-80")
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--tag", default="", help="suffix for the result file names")
    args = ap.parse_args()
    if args.data is None:
        args.data = str(data_dir("fashion"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    bench = Run("alignment", baseline="random scores, zero-shot ImageNet labels and the raw backbone features "
                "(untrained heads), on the same held-out products and queries")
    started = Stopwatch()
    results = run(args, bench)
    results["setup"]["total_seconds"] = round(started.elapsed, 1)
    print(write_results(bench, results, args, partial=False).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
