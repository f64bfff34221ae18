"""Write a versioned joint model directory: config, head weights, training record, model card."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.encode.joint import CONFIG_FILE, FORMAT, FORMAT_VERSION, WEIGHTS_FILE
from shopsearch.training.config import TrainConfig
from shopsearch.training.trainer import FitResult
from shopsearch.types import Product

logger = logging.getLogger(__name__)

TRAINING_FILE = "training.json"
CARD_FILE = "MODEL_CARD.md"


@dataclass(frozen=True)
class ModelMeta:
    """What a model directory says about where the model came from."""

    name: str
    version: str
    text_backbone: tuple[str, int]
    image_backbone: tuple[str, int]
    image_extras: tuple[str, ...]
    command: str
    data_checksum: str
    catalog: str
    n_train: int
    n_val: int
    n_excluded: int = 0
    notes: str = ""


def catalog_checksum(products: Sequence[Product]) -> str:
    """SHA-256 over every product record (sorted by id) and the bytes of its first image."""
    h = hashlib.sha256()
    for p in sorted(products, key=lambda p: p.id):
        h.update(json.dumps(p.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        if p.images and not p.images[0].startswith(("http://", "https://")):
            path = Path(p.images[0])
            if path.is_file():
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def write_model_dir(
    out_dir: str | Path, fit: FitResult, config: TrainConfig, meta: ModelMeta,
    overwrite: bool = False,
) -> Path:
    """Write ``config.json``, ``heads.npz``, ``training.json`` and ``MODEL_CARD.md``.

    Refuses a non-empty directory that is not a joint model directory; an existing model
    directory is replaced only with ``overwrite``.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (out / CONFIG_FILE).is_file():
            raise FileExistsError(f"{out} exists and is not a joint model directory; refusing")
        if not overwrite:
            raise FileExistsError(f"{out} already holds a model; pass overwrite=True (--force)")
    out.mkdir(parents=True, exist_ok=True)
    model_config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": meta.name,
        "version": meta.version,
        "dim": config.dim,
        "head": config.head,
        "text_backbone": {"name": meta.text_backbone[0], "dim": meta.text_backbone[1],
                          "prefix": "query"},
        "image_backbone": {"name": meta.image_backbone[0], "dim": meta.image_backbone[1]},
        "image_extras": list(meta.image_extras),
        "lexicon_normalisation": True,
        "logit_scale": fit.logit_scale,
    }
    (out / CONFIG_FILE).write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    np.savez_compressed(out / WEIGHTS_FILE, **storage_arrays(fit.params))  # type: ignore[arg-type]
    record = {
        "command": meta.command,
        "catalog": meta.catalog,
        "data_sha256": meta.data_checksum,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "train_config": config.to_dict(),
        "n_train_products": meta.n_train,
        "n_val_products": meta.n_val,
        "n_excluded_products": meta.n_excluded,
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "train_seconds": round(fit.seconds, 2),
        "val_metrics": fit.val_metrics,
        "history": fit.history,
    }
    (out / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (out / CARD_FILE).write_text(model_card(model_config, record, meta), encoding="utf-8")
    logger.info("wrote model %s %s to %s", meta.name, meta.version, out)
    return out


def storage_arrays(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Weight matrices as float16 (halves the shipped size; retrieval is unaffected at this
    precision), standardisation statistics and biases as float32. Loading casts to float32."""
    return {
        k: v.astype(np.float16 if k.rsplit(".", 1)[-1] in {"w", "w1", "w2"} else np.float32)
        for k, v in params.items()
    }


def model_card(model_config: dict[str, Any], record: dict[str, Any], meta: ModelMeta) -> str:
    """A short Markdown model card."""
    cfg = record["train_config"]
    val = record["val_metrics"]
    extras = ", ".join(model_config["image_extras"]) or "none"
    lines = [
        f"# {meta.name} {meta.version}",
        "",
        ("Trained text<->image alignment heads for shopsearch (format "
        f"{FORMAT} v{FORMAT_VERSION}). Frozen backbones: text `{meta.text_backbone[0]}` "
        f"({meta.text_backbone[1]}-d, e5 `query:` prefix), image `{meta.image_backbone[0]}` "
        f"({meta.image_backbone[1]}-d pooled features) + extras: {extras}. Joint space: "
        f"{model_config['dim']}-d, {cfg['head']} heads."),
        "",
        "## Training",
        "",
        f"- Catalogue: `{meta.catalog}` (data SHA-256 `{meta.data_checksum[:16]}...`)",
        f"- Products: {meta.n_train} train, {meta.n_val} validation (seeded split by id)"
        + (f", {meta.n_excluded} excluded (held out)" if meta.n_excluded else ""),
        f"- Loss: {cfg['loss']}"
        + (" (symmetric multi-positive InfoNCE, learnable temperature)" if cfg["loss"] == "infonce"
           else f" (hardest in-batch negative, margin {cfg['margin']})"),
        ("- Texts: titles + partial texts from product facets (type + any subset of gender, "
        "season, usage, colour); a text is a positive for every product it describes"),
        (f"- Epochs: best {record['best_epoch']} of {record['epochs_run']} run "
        f"(early stop on validation nDCG@10), {record['train_seconds']} s"),
        f"- Seed {cfg['seed']}; command: `{meta.command}`",
        "",
        "## Validation (products unseen in training)",
        "",
        f"- partial-text queries nDCG@10: {val.get('val_ndcg@10', 0.0):.4f}",
        (f"- title -> image Recall@10: {val.get('val_title_recall@10', 0.0):.4f}, "
        f"MRR {val.get('val_title_mrr', 0.0):.4f}"),
        "",
        "## Use and limits",
        "",
        ("- Chinese queries go through the bilingual lexicon (`shopsearch/data/lexicon_zh_en.tsv`) "
        "before the text head; terms outside it reach the multilingual backbone as they are."),
        ("- Learned from one catalogue's packshots (white background); other photo styles and "
        "product domains need retraining (`shopsearch train`)."),
        ("- Labels are catalogue metadata and as noisy as it is; season is barely visible in "
        "images."),
    ]
    if meta.notes:
        lines += ["", "## Notes", "", meta.notes]
    return "\n".join(lines) + "\n"



def heads_to_onnx(params: dict[str, np.ndarray], side: str, path: str | Path) -> Path:
    """Write one head (``side`` = "text" or "image") as an ONNX file computing exactly what
    :func:`shopsearch.encode.joint.project` computes (the graph is
    :func:`shopsearch.encode.joint.head_onnx_model`, which :class:`JointEncoder` also runs in
    ONNX Runtime at inference), for serving stacks that want the heads as files."""
    import onnx

    from shopsearch.encode.joint import head_onnx_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(head_onnx_model(params, side), str(path))
    return path
