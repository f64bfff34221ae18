"""Train the shop image model: EfficientNet-Lite0's last block fine-tuned on a shop's photos.

Why this recipe (numbers in ``benchmarks/results/photo_search.md``): on the grocery set a
linear head on frozen ImageNet features reaches ~0.70 top-1 for in-store photo -> product, and
a bigger frozen backbone adds little. Fine-tuning the network's last block (``_blocks[15]``,
7 x 7 maps), its 1x1 head convolution and a projection, on phone-like augmented views, closes
most of the gap to fully fine-tuned CNNs while staying within minutes on two CPU cores:

1. Every photo of every product, plus ``views`` seeded augmented views of it
   (:class:`~shopsearch.training.photo_augment.PhotoAugment`), runs once through the frozen
   blocks 0-14 in ONNX Runtime; the 7 x 7 x 192 maps are kept in memory as float16.
2. The copy of the last block + head convolution + projection trains in PyTorch on those maps
   (batch-norm statistics frozen: the batches are small and the ImageNet statistics fit),
   with a proxy loss (normalised softmax, CosFace margin) or the batch-hard triplet loss
   (:mod:`shopsearch.training.image_losses`), AdamW and a one-cycle schedule.
3. Each epoch prints its validation top-1: held-out photos of products with at least three
   photos against the rest, or, when the catalogue has one photo per product, fresh augmented
   views against the plain photos. The best epoch is kept.
4. :func:`export_image_model` writes the ONNX network (shared frozen trunk, original last block
   for the frozen features and logits, fine-tuned last block for the embedding) and the model
   directory read by :class:`shopsearch.encode.shop_image.ShopImageEncoder`.

A product with a single photo still takes part: its augmented views are its positives.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import logging
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from shopsearch.encode.image_effnet import IMAGE_SIZE, torch_model, weights_digest
from shopsearch.encode.shop_image import (
    BACKBONE,
    BACKBONE_DIM,
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    ONNX_FILE,
)
from shopsearch.preprocess.image import load_image
from shopsearch.training.image_losses import IMAGE_LOSSES, ImageLoss, batch_hard_triplet, proxy_softmax
from shopsearch.training.photo_augment import PhotoAugment
from shopsearch.types import Product

logger = logging.getLogger(__name__)

N_BLOCKS = 16  # EfficientNet-Lite0's MBConv blocks; 12-15 run at 7 x 7 (192 channels in), 15 widens to 320
TUNABLE = (12, 13, 14, 15)  # first tuned block: from 12 on, the frozen trunk's maps are 7 x 7 x 192
TRAINING_FILE = "training.json"
CARD_FILE = "MODEL_CARD.md"
_MEAN = 127.0
_STD = 128.0


@dataclass(frozen=True)
class ImageTrainConfig:
    """What decides a shop image model; stored in its ``training.json``.

    ``views``: augmented views per photo (``None``: as many as fit ``view_budget`` views in
    all, at most 6). ``loss``: "triplet" (batch-hard, ``triplet_margin``, batches of
    ``batch_size // 4`` products x 4 views; the default, chosen on the grocery validation
    photos by ``benchmarks/photo_model.py``) or "proxy" (normalised softmax, ``scale``,
    ``margin``). ``val_fraction``: share of the photos of products with >= 3 photos held out for
    the per-epoch validation metric. ``tta_flip``: the model averages each photo with its
    mirror image at indexing and query time.
    """

    loss: ImageLoss = "triplet"
    tune_from: int = 15
    epochs: int = 6
    dim: int = 256
    lr: float = 3e-4
    proxy_lr_mult: float = 10.0
    weight_decay: float = 1e-4
    batch_size: int = 64
    scale: float = 20.0
    margin: float = 0.1
    triplet_margin: float = 0.2
    views: int | None = None
    view_budget: int = 20_000
    max_views: int = 6
    val_fraction: float = 0.1
    tta_flip: bool = False
    seed: int = 0
    threads: int | None = None
    augment: PhotoAugment = field(default_factory=PhotoAugment)

    def __post_init__(self) -> None:
        if self.tune_from not in TUNABLE:
            raise ValueError(f"ImageTrainConfig.tune_from must be one of {TUNABLE}, got {self.tune_from}")
        if self.loss not in IMAGE_LOSSES:
            raise ValueError(f"ImageTrainConfig.loss must be one of {', '.join(IMAGE_LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "dim", "batch_size", "view_budget", "max_views"):
            if getattr(self, name) < 1:
                raise ValueError(f"ImageTrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.views is not None and self.views < 0:
            raise ValueError(f"ImageTrainConfig.views must be >= 0, got {self.views}")
        if self.loss == "triplet" and self.batch_size < 8:
            raise ValueError("ImageTrainConfig.batch_size must be >= 8 for the triplet loss (products x 4 views)")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"ImageTrainConfig.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise ValueError(f"ImageTrainConfig.lr must be > 0, got {self.lr}")

    def views_for(self, n_photos: int) -> int:
        if self.views is not None:
            return self.views
        return int(max(1, min(self.max_views, self.view_budget // max(1, n_photos) - 1)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Photo:
    """One catalogue photo and the product (class) it shows."""

    path: str
    label: int


@dataclass
class ImageFit:
    """What :func:`fit_image_model` returns."""

    state: dict[str, Any]  # fine-tuned tail + projection (torch state dict)
    best_epoch: int
    history: list[dict[str, float]]
    val_top1: float
    val_kind: str
    n_photos: int
    n_products: int
    views: int
    seconds: dict[str, float]


def catalogue_photos(products: Sequence[Product]) -> list[Photo]:
    """Every local photo of every product, labelled by the product's position."""
    out = []
    for i, p in enumerate(products):
        for img in p.images:
            if not img.startswith(("http://", "https://")):
                out.append(Photo(img, i))
    return out


def should_train(products: Sequence[Product], min_products: int = 20, min_share: float = 0.1) -> tuple[bool, str]:
    """Whether ``auto`` trains an image model: when enough products have several photos (shop
    photos). With one photo per product the model would learn only from augmentations, which
    did not beat the frozen features on the fashion packshots; ``--image-model yes`` forces it."""
    multi = sum(1 for p in products if sum(not i.startswith(("http://", "https://")) for i in p.images) >= 2)
    need = max(min_products, int(min_share * len(products)))
    if multi >= need:
        return True, f"{multi} products have several photos"
    return False, f"only {multi} products have several photos (auto trains from {need})"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the train extra
        raise ImportError("training the image model needs torch: pip install 'shopsearch[train]'") from exc
    return torch


def _trunk_module(model: Any, split: int) -> Any:
    _torch()
    from torch import nn

    class Trunk(nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: Any) -> Any:
            m = self.m
            x = m._swish(m._bn0(m._conv_stem(x)))
            for block in m._blocks[:split]:
                x = block(x)
            return x

    return Trunk(model)


class _TailHead:
    """Factory for the trainable part: last block + head conv + BN + pool + projection."""

    @staticmethod
    def build(model: Any, dim: int, split: int) -> Any:
        torch = _torch()
        from torch import nn

        class Tail(nn.Module):
            def __init__(self, m: Any) -> None:
                super().__init__()
                self.blocks = torch.nn.ModuleList(copy.deepcopy(list(m._blocks[split:])))
                self.head = copy.deepcopy(m._conv_head)
                self.bn = copy.deepcopy(m._bn1)
                self.act = m._swish
                self.proj = torch.nn.Linear(BACKBONE_DIM, dim, bias=False)
                torch.nn.init.orthogonal_(self.proj.weight)

            def forward(self, h: Any) -> Any:
                for block in self.blocks:
                    h = block(h)
                h = self.act(self.bn(self.head(h))).mean(dim=(2, 3))
                return torch.nn.functional.normalize(self.proj(h), dim=-1)

        return Tail(model)


def trunk_onnx_path(split: int) -> Path:
    """The frozen trunk (blocks before ``split``) as ONNX, exported once per weights file and cached."""
    root = Path(os.environ.get("SHOPSEARCH_MODELS", Path.home() / ".cache" / "shopsearch" / "models"))
    return root / f"{BACKBONE}-{weights_digest()}-trunk{split}.onnx"


def _trunk_session(threads: int | None, split: int) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    path = trunk_onnx_path(split)
    if not path.is_file():
        torch = _torch()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_trunk_module(torch_model(), split), torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),
                              str(tmp),
                              input_names=["pixels"], output_names=["maps"],
                              dynamic_axes={"pixels": {0: "n"}, "maps": {0: "n"}}, opset_version=17, dynamo=False)
        os.replace(tmp, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def trunk_maps(
    photos: Sequence[Photo], views: int, config: ImageTrainConfig, progress: bool = True,
    seed_offset: int = 0,
) -> np.ndarray:
    """Frozen-trunk maps of each photo's plain view and ``views`` augmented views:
    float16 (n_photos, views + 1, 192, 7, 7). View 0 is the plain (index-time) preprocessing."""
    session = _trunk_session(config.threads, config.tune_from)
    rng = random.Random(config.seed * 1_000_003 + seed_offset)
    out: np.ndarray | None = None
    per_batch = max(1, 32 // (views + 1))
    chunks = [photos[a:a + per_batch] for a in range(0, len(photos), per_batch)]

    def make(chunk: Sequence[Photo]) -> np.ndarray:
        return np.concatenate([config.augment.views(load_image(p.path), IMAGE_SIZE, views, rng) for p in chunk])

    # Decode and augment the next chunk while the network runs on this one (one worker, so the
    # seeded random stream is consumed in the same order every run).
    with ThreadPoolExecutor(1) as pool, \
            tqdm(total=len(photos), desc="image model: photo views", unit="photo", disable=not progress) as bar:
        pending = pool.submit(make, chunks[0]) if chunks else None
        for i, chunk in enumerate(chunks):
            a = i * per_batch
            pixels = pending.result()  # type: ignore[union-attr]
            if i + 1 < len(chunks):
                pending = pool.submit(make, chunks[i + 1])
            x = (pixels.transpose(0, 3, 1, 2).astype(np.float32) - _MEAN) / _STD
            maps = session.run(None, {"pixels": np.ascontiguousarray(x)})[0].astype(np.float16)
            maps = maps.reshape(len(chunk), views + 1, *maps.shape[1:])
            if out is None:
                out = np.empty((len(photos), views + 1, *maps.shape[2:]), np.float16)
            out[a:a + len(chunk)] = maps
            bar.update(len(chunk))
    assert out is not None
    return out


def validation_photos(photos: Sequence[Photo], fraction: float, seed: int) -> tuple[list[int], list[int], str]:
    """(train photo indices, validation query indices, kind). ``kind`` "held-out photos": a
    seeded ``fraction`` (at least one) of the photos of each product with >= 3 photos; the
    others stay in training and form the gallery. "augmented views": no product has three
    photos, so validation queries are fresh augmented views of a seeded sample of photos."""
    by_product: dict[int, list[int]] = {}
    for i, p in enumerate(photos):
        by_product.setdefault(p.label, []).append(i)
    rng = random.Random(seed)
    held: list[int] = []
    if fraction > 0:
        for label in sorted(by_product):
            idx = by_product[label]
            if len(idx) >= 3:
                k = max(1, round(fraction * len(idx)))
                held += rng.sample(idx, k)
    if len({photos[i].label for i in held}) >= 5:
        held_set = set(held)
        return [i for i in range(len(photos)) if i not in held_set], sorted(held), "held-out photos"
    k = min(len(photos), max(20, round(max(fraction, 0.05) * len(photos))))
    return list(range(len(photos))), sorted(rng.sample(range(len(photos)), k)), "augmented views"


def _embed(net: Any, maps: Any, batch: int = 256) -> Any:
    torch = _torch()
    net.eval()
    out = []
    with torch.inference_mode():
        for a in range(0, len(maps), batch):
            out.append(net(torch.as_tensor(np.asarray(maps[a:a + batch], dtype=np.float32))))
    return torch.cat(out) if out else torch.zeros((0, net.proj.out_features))


def product_top1(query: Any, query_labels: np.ndarray, gallery: Any, gallery_labels: np.ndarray) -> float:
    """Share of queries whose best-scoring product (by its best gallery photo) is right."""
    sims = (query @ gallery.T).numpy()
    n_products = int(max(query_labels.max(initial=0), gallery_labels.max(initial=0))) + 1
    best = np.full((len(sims), n_products), -np.inf, dtype=np.float32)
    for j, label in enumerate(gallery_labels):
        np.maximum(best[:, label], sims[:, j], out=best[:, label])
    return float((best.argmax(axis=1) == query_labels).mean()) if len(sims) else 0.0


def fit_image_model(
    photos: Sequence[Photo], config: ImageTrainConfig, progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    validation: Sequence[Photo] | None = None, maps_cache: Path | None = None,
) -> ImageFit:
    """Fine-tune the last block + projection on ``photos``; see the module docstring.

    ``validation``: photos to pick the best epoch with instead of a split of ``photos`` (all of
    ``photos`` are then trained on and form the gallery; a benchmark's validation split).
    ``maps_cache``: a folder where the frozen-trunk maps of the views are kept between runs
    (keyed by photos, views, seed, augmentation and backbone weights).
    """
    torch = _torch()
    if config.threads:
        torch.set_num_threads(int(config.threads))
    n_products = len({p.label for p in photos})
    if n_products < 2:
        raise ValueError(f"the image model needs photos of at least 2 products, got {n_products}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    seconds: dict[str, float] = {}
    views = config.views_for(len(photos))
    t = time.perf_counter()
    maps = _cached(maps_cache, photos, views, config, 0, lambda: trunk_maps(photos, views, config, progress))
    labels = np.array([p.label for p in photos])
    if validation is not None:
        train_idx, val_kind = list(range(len(photos))), "given photos"
        val_maps = _cached(maps_cache, validation, 0, config, 2,
                           lambda: trunk_maps(validation, 0, config, progress, seed_offset=2))[:, 0]
        val_labels = np.array([p.label for p in validation])
        gallery_idx = np.arange(len(photos))
    else:
        train_idx, val_idx, val_kind = validation_photos(photos, config.val_fraction, config.seed)
        val_labels = labels[val_idx]
        if val_kind == "augmented views":
            val_maps = trunk_maps([photos[i] for i in val_idx], 1, config, progress, seed_offset=1)[:, 1]
            gallery_idx = np.arange(len(photos))
        else:
            val_maps = maps[val_idx, 0]
            gallery_idx = np.array(train_idx)
    seconds["views"] = time.perf_counter() - t

    model = torch_model()
    net = _TailHead.build(model, config.dim, config.tune_from)
    for module in net.modules():  # frozen batch-norm statistics and affine parameters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)
    trainable = [p for p in net.parameters() if p.requires_grad]
    n_classes = int(labels.max()) + 1
    proxies = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(n_classes, config.dim), dim=-1))
    groups = [{"params": trainable, "lr": config.lr}]
    if config.loss == "proxy":
        groups.append({"params": [proxies], "lr": config.lr * config.proxy_lr_mult})
    opt = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    train_arr = np.asarray(train_idx)
    pairs = len(train_arr) * (views + 1)
    steps_per_epoch = max(1, pairs // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[g["lr"] for g in groups], total_steps=config.epochs * steps_per_epoch, pct_start=0.1)

    def evaluate() -> float:
        gallery = _embed(net, maps[gallery_idx, 0])
        query = _embed(net, val_maps)
        return product_top1(query, val_labels, gallery, labels[gallery_idx])

    history: list[dict[str, float]] = []
    base = evaluate()
    history.append({"epoch": 0, "loss": float("nan"), "val_top1": base})
    logger.info("image model: frozen features, validation top-1 %.4f (%s)", base, val_kind)
    best_top1, best_epoch, best_state = base, 0, copy.deepcopy(net.state_dict())
    by_label = {int(c): train_arr[labels[train_arr] == c] for c in np.unique(labels[train_arr])}
    t = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        net.train()
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
        batches = _batches(config, rng, train_arr, by_label, views, steps_per_epoch)
        total = 0.0
        for batch in tqdm(batches, desc=f"image model: epoch {epoch}/{config.epochs}", unit="batch",
                          disable=not progress, leave=False):
            x = torch.as_tensor(maps[batch[:, 0], batch[:, 1]].astype(np.float32))
            y = torch.as_tensor(labels[batch[:, 0]])
            emb = net(x)
            if config.loss == "proxy":
                loss = proxy_softmax(emb, y, proxies, config.scale, config.margin)
            else:
                loss = batch_hard_triplet(emb, y, config.triplet_margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        top1 = evaluate()
        row = {"epoch": epoch, "loss": total / len(batches), "val_top1": top1}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        logger.info("image model: epoch %d/%d loss %.4f validation top-1 %.4f", epoch, config.epochs,
                    row["loss"], top1)
        if top1 >= best_top1:  # ties: the trained epoch
            best_top1, best_epoch, best_state = top1, epoch, copy.deepcopy(net.state_dict())
    seconds["train"] = time.perf_counter() - t
    return ImageFit(best_state, best_epoch, history, best_top1, val_kind, len(photos), n_products, views, seconds)


def _cached(folder: Path | None, photos: Sequence[Photo], views: int, config: ImageTrainConfig, offset: int,
            compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, kept in ``folder`` under a key of everything that decides the maps."""
    if folder is None:
        return compute()
    decided = [views, config.seed, offset, asdict(config.augment), weights_digest(), config.tune_from]
    key = hashlib.sha256(json.dumps([[p.path, p.label] for p in photos] + decided).encode()).hexdigest()[:20]
    path = Path(folder) / f"image-maps-{key}.npy"
    if path.is_file():
        return np.load(path)
    maps = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}.npy")
    np.save(tmp, maps)
    os.replace(tmp, path)
    return maps


def _batches(config: ImageTrainConfig, rng: np.random.Generator, train_arr: np.ndarray,
             by_label: dict[int, np.ndarray], views: int, steps: int) -> list[np.ndarray]:
    """(photo index, view) pairs per batch: shuffled pairs (proxy loss) or products x 4 views."""
    if config.loss == "proxy":
        pairs = np.stack(np.meshgrid(train_arr, np.arange(views + 1), indexing="ij"), -1).reshape(-1, 2)
        pairs = pairs[rng.permutation(len(pairs))]
        return [pairs[i * config.batch_size:(i + 1) * config.batch_size] for i in range(steps)]
    classes = np.array(sorted(by_label))
    per = config.batch_size // 4
    out = []
    for _ in range(steps):
        chosen = rng.choice(classes, size=min(per, len(classes)), replace=False)
        rows = [(int(rng.choice(by_label[int(c)])), int(rng.integers(views + 1))) for c in chosen for _ in range(4)]
        out.append(np.asarray(rows))
    return out


def full_network(state: dict[str, Any], dim: int, split: int) -> Any:
    """The exported network: pixels -> (embedding, frozen features, logits), torch module."""
    _torch()
    model = torch_model()
    tail = _TailHead.build(model, dim, split)
    tail.load_state_dict(state)
    trunk = _trunk_module(model, split)

    from torch import nn

    class Full(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = trunk
            self.tail = tail

        def forward(self, x: Any) -> tuple[Any, Any, Any]:
            m = self.trunk.m
            h = self.trunk(x)
            f = h
            for block in m._blocks[split:]:
                f = block(f)
            pooled = m._swish(m._bn1(m._conv_head(f))).mean(dim=(2, 3))
            return self.tail(h), pooled, m._fc(pooled)

    return Full().eval()


def export_image_model(
    fit: ImageFit, config: ImageTrainConfig, out_dir: str | Path, *, name: str, version: str,
    command: str = "", catalog: str = "", data_checksum: str = "", overwrite: bool = False,
) -> Path:
    """Write the model directory (``config.json``, ``model.onnx``, ``training.json``,
    ``MODEL_CARD.md``) atomically enough: the ONNX file is written under a temporary name."""
    torch = _torch()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (out / CONFIG_FILE).is_file():
            raise FileExistsError(f"{out} exists and is not a model directory; refusing")
        if not overwrite:
            raise FileExistsError(f"{out} already holds a model; pass overwrite=True (--force)")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{ONNX_FILE}.tmp-{os.getpid()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = full_network(fit.state, config.dim, config.tune_from)
        torch.onnx.export(net, torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE), str(tmp),
                          input_names=["pixels"], output_names=["embedding", "features", "logits"],
                          dynamic_axes={k: {0: "n"} for k in ("pixels", "embedding", "features", "logits")},
                          opset_version=17, dynamo=False)
    os.replace(tmp, out / ONNX_FILE)
    model_config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "version": version,
        "dim": config.dim, "input_size": IMAGE_SIZE,
        "backbone": {"name": BACKBONE, "dim": BACKBONE_DIM, "weights_sha256": weights_digest()},
        "tuned_blocks": list(range(config.tune_from, N_BLOCKS)), "tta_flip": config.tta_flip,
        "preprocessing": "pad to a white square, bicubic resize to 224, (x - 127) / 128",
    }
    (out / CONFIG_FILE).write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    record = {
        "command": command, "catalog": catalog, "data_sha256": data_checksum,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(), "photos": fit.n_photos, "products": fit.n_products,
        "views_per_photo": fit.views, "validation": fit.val_kind, "best_epoch": fit.best_epoch,
        "val_top1": fit.val_top1, "history": fit.history,
        "seconds": {k: round(v, 1) for k, v in fit.seconds.items()},
    }
    (out / TRAINING_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    (out / CARD_FILE).write_text(_card(model_config, record), encoding="utf-8")
    logger.info("wrote image model %s %s to %s", name, version, out)
    return out


def _card(cfg: dict[str, Any], rec: dict[str, Any]) -> str:
    c = rec["config"]
    loss = (f"proxy (normalised softmax, scale {c['scale']}, margin {c['margin']})" if c["loss"] == "proxy"
            else f"batch-hard triplet (margin {c['triplet_margin']})")
    base = rec["history"][0]["val_top1"] if rec["history"] else float("nan")
    lines = [
        f"# {cfg['name']} {cfg['version']} (shop image model)",
        "",
        (f"EfficientNet-Lite0 (ImageNet, packaged weights) with its last block, head convolution and a "
         f"{cfg['dim']}-d projection fine-tuned on this catalogue's photos (format {FORMAT} v{FORMAT_VERSION}). "
         "The ONNX network also returns the frozen Lite0 features and ImageNet logits, unchanged."),
        "",
        "## Training",
        "",
        f"- Catalogue: `{rec['catalog']}` (data SHA-256 `{rec['data_sha256'][:16]}...`)",
        f"- {rec['photos']} photos of {rec['products']} products, {rec['views_per_photo']} phone-like "
        "augmented views per photo (crop, flip, rotation, perspective, colour jitter, blur, JPEG)",
        f"- Loss: {loss}; {c['epochs']} epochs, lr {c['lr']}, batch {c['batch_size']}, seed {c['seed']}",
        f"- Validation ({rec['validation']}): top-1 {rec['val_top1']:.4f} at epoch {rec['best_epoch']} "
        f"(frozen features: {base:.4f})",
        f"- Time: {rec['seconds']}; command: `{rec['command']}`",
        "",
        "## Use and limits",
        "",
        "- Learned for this catalogue's products: retrain when products or photo styles change.",
        "- Validation photos come from the same catalogue; they measure fit, not the photos of "
        "shoppers elsewhere. `benchmarks/photo_search.py` reports in-store photos held out by split.",
    ]
    return "\n".join(lines) + "\n"


def catalogue_digest(photos: Sequence[Photo]) -> str:
    """SHA-256 over the photo paths, labels and file bytes."""
    h = hashlib.sha256()
    for p in photos:
        h.update(f"{p.label}\0{p.path}\0".encode())
        path = Path(p.path)
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
