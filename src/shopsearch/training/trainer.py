"""Training loop on cached backbone features: sampling, losses, validation, early stopping.

Everything here works on arrays (image features per product, text features per training
text), so a recipe can be tried in seconds once the backbones have run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shopsearch.evaluation.metrics import ranking_summary, score_metrics
from shopsearch.training.batches import BatchSampler, prefetch
from shopsearch.training.config import TrainConfig
from shopsearch.training.heads import build_head, export_head, feature_stats
from shopsearch.training.losses import multi_positive_infonce, triplet_hardest
from shopsearch.training.texts import FIELDS, TextBank

logger = logging.getLogger(__name__)

_MODIFIER_COLS = [FIELDS.index(f) for f in ("gender", "season", "usage", "colour")]
_TITLE_COL = FIELDS.index("title")


@dataclass
class FitResult:
    """Trained head parameters (numpy, see :mod:`shopsearch.training.heads`) and the record."""

    params: dict[str, np.ndarray]
    logit_scale: float
    best_epoch: int
    epochs_run: int
    val_metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ValidationSet:
    """Queries over the validation products: partial texts and titles with their relevance."""

    partial_texts: np.ndarray
    partial_relevant: np.ndarray
    title_texts: np.ndarray
    title_relevant: np.ndarray


def validation_set(bank: TextBank, val_idx: np.ndarray, max_queries: int, seed: int) -> ValidationSet:
    """Partial texts (naming a type and >= 1 modifier) that fit >= 2 validation products, and
    the titles of the validation products; at most ``max_queries`` of each, seeded sample."""
    rng = np.random.default_rng(seed)
    own = np.unique(np.concatenate([bank.product_texts[i] for i in val_idx])) if len(val_idx) else \
        np.zeros(0, np.int64)
    kinds = np.array(bank.kinds, dtype=object)[own] if len(own) else np.zeros(0, object)
    cons = bank.constraints[own]
    partial = own[(kinds == "partial") & ((cons[:, _MODIFIER_COLS] >= 0).sum(axis=1) >= 1)]
    rel = bank.positives(val_idx, partial).T if len(partial) else np.zeros((0, len(val_idx)), bool)
    keep = rel.sum(axis=1) >= 2
    partial, rel = partial[keep], rel[keep]
    if len(partial) > max_queries:
        pick = np.sort(rng.choice(len(partial), max_queries, replace=False))
        partial, rel = partial[pick], rel[pick]
    titles = own[kinds == "title"]
    if len(titles) > max_queries:
        titles = np.sort(rng.choice(titles, max_queries, replace=False))
    trel = bank.positives(val_idx, titles).T if len(titles) else np.zeros((0, len(val_idx)), bool)
    return ValidationSet(partial, rel, titles, trel)


def fit_heads(
    image_views: list[np.ndarray],
    text_feats: np.ndarray,
    bank: TextBank,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    config: TrainConfig,
    codeswitch: np.ndarray | None = None,
    shopper: np.ndarray | None = None,
) -> FitResult:
    """Train image and text heads; early-stop on validation nDCG@10 of the partial texts.

    ``image_views``: one or more float32 (n_products, F) arrays — the first is the plain image,
    the others augmented views used when ``config.augment_flip``. ``text_feats``: float32
    (n_texts, T) for every text index used (bank texts, then code-switched ones).
    ``codeswitch``: int64 (n_bank_texts,), index of each text's code-switched variant or -1;
    ``shopper`` the same for shopper-worded variants.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the train extra
        raise ImportError("training needs torch: pip install 'shopsearch[train]'") from exc

    # The heads are small: one thread is fastest, and more only contend on a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(image_views, text_feats, bank, train_idx, val_idx, config, codeswitch, shopper)
    finally:
        torch.set_num_threads(threads)


def _fit(
    image_views: list[np.ndarray], text_feats: np.ndarray, bank: TextBank, train_idx: np.ndarray,
    val_idx: np.ndarray, config: TrainConfig, codeswitch: np.ndarray | None,
    shopper: np.ndarray | None = None,
) -> FitResult:
    import torch

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    views = image_views if config.augment_flip else image_views[:1]
    train_texts = np.unique(np.concatenate([bank.product_texts[i] for i in train_idx]))
    img_mean, img_std = feature_stats(views[0][train_idx])
    txt_mean, txt_std = feature_stats(text_feats[train_texts])
    views = [np.ascontiguousarray(v, dtype=np.float32) for v in views]
    text_feats = np.ascontiguousarray(text_feats, dtype=np.float32)
    img_head = build_head(config.head, views[0].shape[1], config.dim, config.hidden,
                          img_mean, img_std, config.dropout)
    txt_head = build_head(config.head, text_feats.shape[1], config.dim, config.hidden,
                          txt_mean, txt_std, config.dropout)
    logit_scale = torch.nn.Parameter(
        torch.tensor(float(np.log(1.0 / config.temperature))),
        requires_grad=config.learn_temperature,
    )
    params = [*img_head.parameters(), *txt_head.parameters()]
    if config.learn_temperature:
        params.append(logit_scale)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, (len(train_idx) * config.rounds) // config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs * steps_per_epoch)

    val = validation_set(bank, val_idx, config.max_val_queries, config.seed)
    titles = np.array([t[0] if len(t) and bank.kinds[t[0]] == "title" else -1
                       for t in bank.product_texts])
    partial_lists = [t[[bank.kinds[j] == "partial" for j in t]] for t in bank.product_texts]

    sampler = BatchSampler(
        bank=bank, views=views, text_feats=text_feats, train_idx=train_idx, titles=titles, partial_lists=partial_lists,
        group_codes=bank.product_codes[:, FIELDS.index("article")], config=config, steps=steps_per_epoch,
        codeswitch=codeswitch, shopper=shopper, rng=rng,
    )
    best: dict[str, Any] = {"score": -1.0, "epoch": 0, "state": None, "metrics": {}}
    history: list[dict[str, float]] = []
    bad_epochs = 0
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        img_head.train()
        txt_head.train()
        losses = []
        for batch in prefetch(sampler.epoch()):
            zi = img_head(torch.from_numpy(batch.image_feats))
            zt = txt_head(torch.from_numpy(batch.text_feats))
            sim = zi @ zt.t()
            pos = torch.from_numpy(batch.positives)
            if config.loss == "infonce":
                loss = multi_positive_infonce(sim, pos, logit_scale)
            else:
                loss = triplet_hardest(sim, pos, config.margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                logit_scale.clamp_(0.0, float(np.log(100.0)))
            losses.append(float(loss.detach()))
        metrics = _validate(img_head, txt_head, torch.from_numpy(views[0]), torch.from_numpy(text_feats), val_idx,
                            val)
        metrics["loss"] = float(np.mean(losses)) if losses else 0.0
        metrics["epoch"] = float(epoch)
        metrics["temperature"] = float(1.0 / np.exp(float(logit_scale.detach())))
        history.append(metrics)
        logger.info(
            "epoch %d loss %.4f val nDCG@10 %.4f title R@10 %.4f", epoch, metrics["loss"],
            metrics["val_ndcg@10"], metrics.get("val_title_recall@10", 0.0),
        )
        if metrics["val_ndcg@10"] > best["score"] + 1e-4:
            best = {
                "score": metrics["val_ndcg@10"], "epoch": epoch, "metrics": metrics,
                "state": (export_head(img_head, "image"), export_head(txt_head, "text"),
                          float(logit_scale.detach())),
            }
            bad_epochs = 0
        else:
            bad_epochs += 1
            if bad_epochs > config.patience:
                logger.info("early stop after epoch %d (best %d)", epoch, best["epoch"])
                break
    img_params, txt_params, scale = best["state"]
    return FitResult(
        params={**img_params, **txt_params},
        logit_scale=scale,
        best_epoch=best["epoch"],
        epochs_run=epoch,
        val_metrics=best["metrics"],
        history=history,
        seconds=time.perf_counter() - started,
    )


def _validate(
    img_head: Any, txt_head: Any, img: Any, txt: Any, val_idx: np.ndarray, val: ValidationSet,
) -> dict[str, float]:
    import torch

    img_head.eval()
    txt_head.eval()
    with torch.no_grad():
        zi = img_head(img[torch.from_numpy(val_idx)]).numpy()
        out: dict[str, float] = {}
        if len(val.partial_texts):
            zq = txt_head(txt[torch.from_numpy(val.partial_texts)]).numpy()
            scores = zq @ zi.T
            out["val_ndcg@10"] = float(score_metrics(scores, val.partial_relevant, 10)["ndcg@10"].mean())
        else:
            out["val_ndcg@10"] = 0.0
        if len(val.title_texts):
            zq = txt_head(txt[torch.from_numpy(val.title_texts)]).numpy()
            s = ranking_summary(zq @ zi.T, val.title_relevant, 10)
            out["val_title_recall@10"] = s["recall@10"]
            out["val_title_mrr"] = s["mrr"]
    return out
