"""The ``shopsearch train`` subcommand: a thin call into :func:`shopsearch.training.train`."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from shopsearch.training.config import TrainConfig
from shopsearch.training.image_losses import IMAGE_LOSSES
from shopsearch.training.image_model import ImageTrainConfig

logger = logging.getLogger(__name__)


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``train CATALOG --out MODEL_DIR [options]`` to a CLI's subparsers."""
    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train the text<->image alignment heads on a catalogue",
        description="Train joint text/image heads over the frozen backbones and write a "
        "versioned model directory (config.json, heads.npz, training.json, MODEL_CARD.md).",
    )
    p.add_argument("catalog", help="catalogue file (.jsonl, .csv, .parquet)")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--mapping", help="field mapping file (TOML/JSON) for the catalogue")
    p.add_argument("--map", action="append", default=[], metavar="KEY=VALUE",
                   help="field mapping override, repeatable (see shopsearch.catalog.mapping)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--head", choices=("linear", "mlp"), default=d.head)
    p.add_argument("--loss", choices=("infonce", "triplet"), default=d.loss)
    p.add_argument("--dim", type=int, default=d.dim, help="joint space dimension")
    p.add_argument("--hidden", type=int, default=d.hidden, help="MLP hidden width")
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--rounds", type=int, default=d.rounds,
                   help="training pairs drawn per product per epoch")
    p.add_argument("--title-prob", type=float, default=d.title_prob,
                   help="chance a training pair uses the title instead of a partial text")
    p.add_argument("--grouped-fraction", type=float, default=d.grouped_fraction,
                   help="share of each batch drawn from one article type (hard negatives)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--patience", type=int, default=d.patience)
    p.add_argument("--margin", type=float, default=d.margin, help="triplet margin")
    p.add_argument("--temperature", type=float, default=d.temperature,
                   help="initial InfoNCE temperature (learned)")
    p.add_argument("--no-color", dest="color", action="store_false",
                   help="no colour histogram image features")
    p.add_argument("--augment-flip", action="store_true",
                   help="also train on mirrored images (costs a second image pass)")
    p.add_argument("--codeswitch-prob", type=float, default=d.codeswitch_prob,
                   help="chance a partial training text is rewritten with Chinese lexicon terms")
    p.add_argument("--shopper-prob", type=float, default=d.shopper_prob,
                   help="chance a partial training text is replaced by a shopper-worded variant")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--holdout", type=float, default=0.0,
                   help="leave out this seeded fraction of products entirely (evaluation split)")
    p.add_argument("--holdout-seed", type=int, default=0)
    p.add_argument("--cache", help="embedding cache file (SQLite) for backbone features (default: the one "
                   "`shopsearch index` uses, $SHOPSEARCH_CACHE or ~/.cache/shopsearch/embeddings.sqlite, so a "
                   "catalogue's photo features are computed once for indexing and training)")
    p.add_argument("--no-cache", action="store_true",
                   help="compute every backbone feature afresh and store none")
    p.add_argument("--name", default="joint", help="model name stored in the directory")
    p.add_argument("--version", dest="model_version", default="1", help="model version string")
    p.add_argument("--notes", default="", help="free text for the model card's Notes section")
    p.add_argument("--force", action="store_true", help="replace an existing model directory")
    g = p.add_argument_group("shop image model (photo search; written to OUT/image)")
    di = ImageTrainConfig()
    g.add_argument("--image", choices=("auto", "yes", "no"), default="auto",
                   help="train the shop image model: auto = when enough products have several photos")
    g.add_argument("--image-loss", choices=IMAGE_LOSSES, default=di.loss,
                   help="proxy (normalised softmax with margin) or triplet (batch-hard)")
    g.add_argument("--image-epochs", type=int, default=di.epochs)
    g.add_argument("--image-tune-from", type=int, default=di.tune_from, choices=(12, 13, 14, 15),
                   help="first EfficientNet-Lite0 block to fine-tune (earlier blocks stay frozen)")
    g.add_argument("--image-views", type=int, default=None,
                   help=f"augmented views per photo (default: fit a budget of {di.view_budget} views, "
                   f"at most {di.max_views})")
    g.add_argument("--image-dim", type=int, default=di.dim, help="image embedding dimension")
    g.add_argument("--image-tta-flip", action="store_true",
                   help="average each photo with its mirror image at index and query time")
    g.add_argument("--no-joint", dest="joint", action="store_false",
                   help="train only the shop image model (OUT/image), not the text-image heads")
    g.add_argument("--threads", type=int, default=None, help="CPU threads for training (default: all)")
    p.set_defaults(func=run_train)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the flags describe (unset options keep their defaults)."""
    names = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return TrainConfig(**values)


def cache_path(args: argparse.Namespace) -> Path | None:
    """The embedding cache the flags name: ``--cache``, none with ``--no-cache``, else the
    indexer's default (shared, so features computed by one are reused by the other)."""
    from shopsearch.config import default_cache_path

    if args.no_cache:
        if args.cache:
            raise SystemExit("train: --cache and --no-cache contradict each other; give one")
        return None
    return Path(args.cache) if args.cache else default_cache_path()


def image_config_from_args(args: argparse.Namespace) -> ImageTrainConfig:
    """The :class:`ImageTrainConfig` the ``--image-*`` flags describe."""
    return ImageTrainConfig(
        loss=args.image_loss, epochs=args.image_epochs, tune_from=args.image_tune_from, views=args.image_views,
        dim=args.image_dim,
        tta_flip=args.image_tta_flip, seed=args.seed, threads=args.threads,
    )


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``shopsearch train``; prints a summary per model, returns the exit code."""
    from shopsearch.catalog import FieldMapping, load_catalog, load_mapping
    from shopsearch.training.pipeline import train

    # Training takes minutes: show its progress lines (epochs and their validation metric)
    # even without -v. Progress bars go to stderr.
    logging.getLogger("shopsearch.training").setLevel(min(logging.INFO, logging.getLogger().level or logging.INFO))
    config = config_from_args(args)
    image_config = image_config_from_args(args)
    mapping = load_mapping(args.mapping) if args.mapping else None
    if args.map:
        mapping = FieldMapping.from_pairs(args.map, base=mapping)
    started = time.perf_counter()
    loaded = load_catalog(args.catalog, mapping, check_images=False)
    if loaded.rejects:
        logger.warning("%d catalogue rows rejected; training on the %d good products",
                       len(loaded.rejects), len(loaded.products))
    # The exact command line when this runs as ``shopsearch ... train``; rebuilt from the
    # parsed flags when the handler is called some other way.
    command = "shopsearch " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if "train" in sys.argv[1:] else _reconstruct(args)
    products = loaded.products
    if args.holdout > 0:
        from shopsearch.training.config import split_ids

        keep, _ = split_ids([p.id for p in products], args.holdout, args.holdout_seed)
        image_products = [products[i] for i in keep]
    else:
        image_products = list(products)
    want_image, why = _want_image(args.image, image_products)
    if not args.joint and not want_image:
        raise SystemExit(f"train: --no-joint leaves nothing to train: {why}")
    if args.joint:
        fit = train(
            products, args.out, config, name=args.name, version=args.model_version,
            command=command, catalog=str(args.catalog), cache_path=cache_path(args),
            holdout=args.holdout, holdout_seed=args.holdout_seed, overwrite=args.force,
            notes=args.notes, progress=True,
        )
        val = fit.val_metrics
        print(
            f"trained {args.name} {args.model_version} -> {args.out}: best epoch {fit.best_epoch}/"
            f"{fit.epochs_run}, val nDCG@10 {val.get('val_ndcg@10', 0.0):.4f}, title R@10 "
            f"{val.get('val_title_recall@10', 0.0):.4f}, {time.perf_counter() - started:.0f} s"
        )
    if not want_image:
        print(f"no shop image model: {why} (--image yes trains one anyway)")
        return 0
    return _train_image(args, image_products, image_config, command, started)


def _want_image(choice: str, products: list[Any]) -> tuple[bool, str]:
    from shopsearch.training.image_model import should_train

    if choice == "no":
        return False, "--image no"
    ok, why = should_train(products)
    return (True, why) if choice == "yes" else (ok, why)


def _train_image(args: argparse.Namespace, products: list[Any], config: ImageTrainConfig, command: str,
                 started: float) -> int:
    from shopsearch.encode.shop_image import IMAGE_SUBDIR
    from shopsearch.training.image_model import (
        catalogue_digest,
        catalogue_photos,
        export_image_model,
        fit_image_model,
    )

    photos = catalogue_photos(products)
    t = time.perf_counter()
    fit = fit_image_model(photos, config, progress=True)
    out = Path(args.out) / IMAGE_SUBDIR
    export_image_model(fit, config, out, name=f"{args.name}-image", version=args.model_version, command=command,
                       catalog=str(args.catalog), data_checksum=catalogue_digest(photos),
                       overwrite=args.force)
    base = fit.history[0]["val_top1"]
    print(
        f"trained shop image model -> {out}: {fit.n_photos} photos of {fit.n_products} products, "
        f"validation top-1 {fit.val_top1:.4f} ({fit.val_kind}; frozen features {base:.4f}), best epoch "
        f"{fit.best_epoch}/{config.epochs}, {time.perf_counter() - t:.0f} s "
        f"(total {time.perf_counter() - started:.0f} s)"
    )
    return 0


def _reconstruct(args: argparse.Namespace) -> str:
    parts = ["shopsearch", "train", shlex.quote(str(args.catalog)), "--out", shlex.quote(args.out)]
    skip = {"catalog", "out", "func", "command", "verbose", "notes"}
    for key, value in sorted(vars(args).items()):
        if key in skip or value is None or value == [] or value is False:
            continue
        flag = "--" + ("version" if key == "model_version" else key.replace("_", "-"))
        if key in ("color", "joint"):
            if not value:
                parts.append(f"--no-{key}")
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [f"{flag} {shlex.quote(str(v))}" for v in value]
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)
