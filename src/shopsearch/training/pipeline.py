"""End-to-end training from a catalogue: texts, backbone features (cached), heads, model dir."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ImageOps

from shopsearch.encode.base import ImageEncoder, TextEncoder
from shopsearch.encode.cache import EmbeddingCache, embed_with_cache, image_key, text_key
from shopsearch.encode.joint import COLOR_FEATURE
from shopsearch.preprocess.color import COLOR_DIM, color_histogram
from shopsearch.preprocess.image import load_image
from shopsearch.preprocess.lexicon import Lexicon, default_lexicon
from shopsearch.training.config import TrainConfig, split_ids, validation_split
from shopsearch.training.export import ModelMeta, catalog_checksum, write_model_dir
from shopsearch.training.texts import TextBank, build_text_bank
from shopsearch.training.trainer import FitResult, fit_heads
from shopsearch.types import Product

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Everything :func:`fit_heads` needs, computed once per catalogue."""

    products: list[Product]
    bank: TextBank
    image_views: list[np.ndarray]
    text_feats: np.ndarray
    codeswitch: np.ndarray | None
    shopper: np.ndarray | None = None  # index of each bank text's shopper-worded variant or -1


def add_codeswitched(
    bank: TextBank, lexicon: Lexicon, seed: int, share: float = 1 / 3,
) -> tuple[list[str], np.ndarray]:
    """Code-switched variants of a seeded ``share`` of the partial texts: (new texts, index of
    each bank text's variant or -1).

    Variant ``k`` of the returned list gets text index ``len(bank.texts) + k``. Each variant
    costs one text-backbone pass, so only a share of the texts get one (the terms recur
    across texts, so a third already shows the head every lexicon term in context).
    """
    rng = random.Random(seed)
    extra: list[str] = []
    alt = np.full(len(bank.texts), -1, dtype=np.int64)
    for j, (text, kind) in enumerate(zip(bank.texts, bank.kinds)):
        if kind != "partial" or rng.random() >= share:
            continue
        zh = lexicon.to_chinese(text, rng, p=0.7)
        if zh != text:
            alt[j] = len(bank.texts) + len(extra)
            extra.append(zh)
    return extra, alt


def prepare(
    products: Sequence[Product], config: TrainConfig, *,
    text_encoder: TextEncoder | None = None, image_encoder: ImageEncoder | None = None,
    cache: EmbeddingCache | None = None, lexicon: Lexicon | None = None, progress: bool = False,
) -> TrainingData:
    """Texts and backbone features for ``products`` (those without an image are skipped)."""
    from shopsearch.encode.registry import create_encoder

    usable = [p for p in products if p.images]
    if len(usable) < len(products):
        logger.warning("skipping %d products without an image", len(products) - len(usable))
    if len(usable) < 4:
        raise ValueError(f"need at least 4 products with an image to train, got {len(usable)}")
    bank = build_text_bank(usable)
    texts = list(bank.texts)
    codeswitch = shopper = None
    if config.codeswitch_prob > 0:
        extra, codeswitch = add_codeswitched(bank, lexicon or default_lexicon(), config.seed)
        texts += extra
    if config.shopper_prob > 0:
        from shopsearch.preprocess.shopper import default_shopper_lexicon
        from shopsearch.training.augment import add_shopper_variants

        extra, shopper = add_shopper_variants(bank, default_shopper_lexicon(), config.seed, offset=len(texts))
        texts += extra
    tenc: TextEncoder = text_encoder or create_encoder("e5-small", progress=progress)  # type: ignore[assignment]
    ienc: ImageEncoder = image_encoder or create_encoder("efficientnet-lite0", progress=progress)  # type: ignore[assignment]
    logger.info("%d products, %d training texts", len(usable), len(texts))
    text_feats = embed_with_cache(
        cache, lambda: [text_key(tenc.name, "query", t) for t in texts], texts, tenc.dim,
        lambda xs: tenc.embed_queries([str(x) for x in xs]),
    )
    paths = [p.images[0] for p in usable]
    views = [image_view_features(paths, ienc, cache, config.color, flip=False)]
    if config.augment_flip:
        views.append(image_view_features(paths, ienc, cache, config.color, flip=True))
    return TrainingData(list(usable), bank, views, text_feats, codeswitch, shopper)


IMAGE_CHUNK = 256
"""Photos decoded and embedded per step of :func:`image_view_features`: a multiple of the image
encoder's batch of 32, so the encoder sees the same batches as in one call, while only a
chunk of decoded photos is held in memory at a time."""


def image_view_features(
    paths: Sequence[str], encoder: ImageEncoder, cache: EmbeddingCache | None, color: bool,
    flip: bool = False,
) -> np.ndarray:
    """Backbone (+ colour) features of the images, or of their mirror images; (n, F) float32.

    Each photo is decoded once: the backbone pass also takes its colour histogram, which the
    colour step then uses (it decodes only photos the backbone pass skipped, e.g. cached ones).
    """
    tag = "+hflip" if flip else ""
    histograms: dict[str, np.ndarray] = {}

    def backbone(items: list[object]) -> np.ndarray:
        out = []
        for start in range(0, len(items), IMAGE_CHUNK):
            chunk = items[start:start + IMAGE_CHUNK]
            imgs = [load_image(str(x)) for x in chunk]
            if color:
                histograms.update((str(x), color_histogram(im)) for x, im in zip(chunk, imgs))
            if flip:
                imgs = [ImageOps.mirror(im) for im in imgs]
            out.append(np.asarray(encoder.embed_images(imgs), dtype=np.float32))
        return np.concatenate(out)

    def colour(items: list[object]) -> np.ndarray:
        rows = []
        for x in items:
            hist = histograms.pop(str(x), None)
            rows.append(color_histogram(load_image(str(x))) if hist is None else hist)
        return np.stack(rows)

    parts = [embed_with_cache(
        cache, lambda: [image_key(encoder.name + tag, p) for p in paths], list(paths), encoder.dim,
        backbone,
    )]
    if color:
        # Colour histograms are mirror-invariant: one set serves both views.
        parts.append(embed_with_cache(
            cache, lambda: [image_key(COLOR_FEATURE, p) for p in paths], list(paths), COLOR_DIM, colour,
        ))
    return np.concatenate(parts, axis=1).astype(np.float32)


def train(
    products: Sequence[Product], out_dir: str | Path, config: TrainConfig, *,
    name: str = "joint", version: str = "1", command: str = "", catalog: str = "",
    cache_path: str | Path | None = None, holdout: float = 0.0, holdout_seed: int = 0,
    overwrite: bool = False, notes: str = "",
    text_encoder: TextEncoder | None = None, image_encoder: ImageEncoder | None = None,
    progress: bool = False,
) -> FitResult:
    """Train heads on ``products`` and write the model directory ``out_dir``.

    ``holdout`` > 0 first removes a seeded fraction of products by id (the evaluation split
    of ``benchmarks/alignment.py`` uses ``holdout=0.2, holdout_seed=0``); the rest is split
    into train/validation by ``config.val_fraction`` and ``config.seed``.
    """
    products = list(products)
    n_excluded = 0
    if holdout > 0:
        keep, held = split_ids([p.id for p in products], holdout, holdout_seed)
        products = [products[i] for i in keep]
        n_excluded = len(held)
        logger.info("holding out %d products (fraction %.2f, seed %d)", n_excluded, holdout,
                    holdout_seed)
    cache = EmbeddingCache(cache_path) if cache_path else None
    try:
        data = prepare(products, config, text_encoder=text_encoder, image_encoder=image_encoder,
                       cache=cache, progress=progress)
    finally:
        if cache is not None:
            cache.close()
    train_idx, val_idx = validation_split([p.id for p in data.products], config)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise ValueError(
            f"validation split is empty or takes everything ({len(train_idx)} train, "
            f"{len(val_idx)} val); use more products or another val_fraction"
        )
    fit = fit_heads(data.image_views, data.text_feats, data.bank, train_idx, val_idx, config,
                    data.codeswitch, data.shopper)
    tenc_name, tenc_dim = _backbone(text_encoder, "e5-small")
    ienc_name, ienc_dim = _backbone(image_encoder, "efficientnet-lite0")
    meta = ModelMeta(
        name=name, version=version, text_backbone=(tenc_name, tenc_dim),
        image_backbone=(ienc_name, ienc_dim),
        image_extras=(COLOR_FEATURE,) if config.color else (),
        command=command, data_checksum=catalog_checksum(data.products), catalog=catalog,
        n_train=len(train_idx), n_val=len(val_idx), n_excluded=n_excluded, notes=notes,
    )
    write_model_dir(out_dir, fit, config, meta, overwrite=overwrite)
    return fit


def _backbone(encoder: TextEncoder | ImageEncoder | None, default: str) -> tuple[str, int]:
    if encoder is not None:
        return encoder.name, encoder.dim
    from shopsearch.encode.registry import model_info

    info = model_info(default)
    return info.name, info.dim
