"""The shop image model: EfficientNet-Lite0 with its last block fine-tuned on a shop's own photos.

``shopsearch train`` writes it (:mod:`shopsearch.training.image_model`) into a directory::

    DIR/config.json      format "shopsearch-image" v1, name, version, dim, backbone, split block
    DIR/model.onnx       pixels (n, 3, 224, 224) -> embedding (n, dim), features (n, 1280),
                         logits (n, 1000)
    DIR/training.json    command, data checksum, config, per-epoch validation metric
    DIR/MODEL_CARD.md

One ONNX pass gives two things: the shop-trained ``embedding`` (L2-normalised, what photo
queries and "more like this" compare) and the *frozen* EfficientNet-Lite0 ``features`` and
ImageNet ``logits`` — bit-for-bit the packaged network's output, because the blocks up to the
split are shared and the original last block runs beside the fine-tuned copy. So the joint
text-image model and the zero-shot labels keep working unchanged on an index that uses the shop
model (:meth:`ShopImageEncoder.backbone` is the adapter they receive), and indexing costs one
network pass per photo, not two.

An index records the model's name and ``version`` (the configured version plus a digest of
``model.onnx``), so a retrained model is refused by an index built with the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.encode.base import l2_normalize
from shopsearch.encode.image_effnet import IMAGE_SIZE
from shopsearch.preprocess.image import ImageInput, load_image, to_array

FORMAT = "shopsearch-image"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
ONNX_FILE = "model.onnx"
IMAGE_SUBDIR = "image"  # where `shopsearch train` puts the image model inside its output directory
BACKBONE = "efficientnet-lite0"
BACKBONE_DIM = 1280
# EfficientNet-Lite input scaling, as in shopsearch.encode.image_effnet.
_MEAN = 127.0
_STD = 128.0


class ImageModelError(ValueError):
    """A shop image model directory is missing, of another format, or damaged."""


def is_image_model_dir(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding a shop image model (by its config's format)."""
    cfg = Path(path) / CONFIG_FILE
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def onnx_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class ShopImageEncoder:
    """A trained shop image model; ``embed_images`` -> float32 (n, dim), L2-normalised.

    ``tta_flip`` averages the embeddings of the photo and its mirror image (the model config's
    default, measured in ``benchmarks/photo_search.py``); indexing and queries use the same.
    """

    def __init__(self, model_dir: str | Path, *, threads: int | None = None, batch_size: int = 32,
                 progress: bool = False, **_: Any) -> None:
        self.path = Path(model_dir)
        cfg_path = self.path / CONFIG_FILE
        onnx_path = self.path / ONNX_FILE
        if not cfg_path.is_file() or not onnx_path.is_file():
            raise ImageModelError(
                f"{self.path} is not a shop image model directory (needs {CONFIG_FILE} and {ONNX_FILE}); "
                "train one with `shopsearch train CATALOG --out DIR` (it writes DIR/image)"
            )
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ImageModelError(f"{cfg_path}: not valid JSON ({exc})") from exc
        if config.get("format") != FORMAT:
            raise ImageModelError(f"{cfg_path}: format {config.get('format')!r}, expected {FORMAT!r}")
        if config.get("format_version") != FORMAT_VERSION:
            raise ImageModelError(
                f"{cfg_path}: format version {config.get('format_version')} is not supported "
                f"(expects {FORMAT_VERSION}); retrain with this shopsearch"
            )
        if config.get("backbone", {}).get("name") != BACKBONE:
            raise ImageModelError(f"{cfg_path}: backbone {config.get('backbone')!r}; only {BACKBONE} is supported")
        self.config = config
        self.name: str = str(config["name"])
        self.version = f"{config['version']}+{onnx_digest(onnx_path)}"
        self.dim = int(config["dim"])
        self.tta_flip = bool(config.get("tta_flip", False))
        self.batch_size = batch_size
        self.progress = progress
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a base dependency
            raise ImportError("the shop image model needs: pip install onnxruntime") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._backbone = _Backbone(self)

    @property
    def backbone(self) -> _Backbone:
        """An ``efficientnet-lite0`` encoder over the same network pass (frozen features and
        ImageNet logits), for the joint model and zero-shot labels."""
        return self._backbone

    def run(self, images: Sequence[ImageInput]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embedding (n, dim) L2-normalised, frozen features (n, 1280) L2-normalised, logits
        (n, 1000)), all float32."""
        from tqdm.auto import tqdm

        n = len(images)
        emb = np.empty((n, self.dim), np.float32)
        feats = np.empty((n, BACKBONE_DIM), np.float32)
        logits = np.empty((n, 1000), np.float32)
        with tqdm(total=n, desc="embedding images", unit="image", disable=not self.progress or n == 0) as bar:
            for a in range(0, n, self.batch_size):
                b = min(a + self.batch_size, n)
                pixels = np.stack([to_array(load_image(im), IMAGE_SIZE) for im in images[a:b]])
                e, f, lg = self._forward(pixels)
                if self.tta_flip:
                    e = e + self._forward(np.ascontiguousarray(pixels[:, :, ::-1]))[0]
                emb[a:b], feats[a:b], logits[a:b] = e, f, lg
                bar.update(b - a)
        return l2_normalize(emb), l2_normalize(feats), logits

    def _forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = (pixels.transpose(0, 3, 1, 2).astype(np.float32) - _MEAN) / _STD
        e, f, lg = self._session.run(None, {"pixels": np.ascontiguousarray(x)})
        return e, f, lg

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Images -> float32 (n, dim), L2-normalised (shop-trained embedding)."""
        return self.run(images)[0]


class _Backbone:
    """The frozen EfficientNet-Lite0 outputs of a :class:`ShopImageEncoder`'s network pass."""

    name = BACKBONE
    dim = BACKBONE_DIM

    def __init__(self, owner: ShopImageEncoder) -> None:
        self._owner = owner

    def embed_with_logits(self, images: Sequence[ImageInput]) -> tuple[np.ndarray, np.ndarray]:
        _, feats, logits = self._owner.run(images)
        return feats, logits

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        return self._owner.run(images)[1]


def load_image_encoder(spec: str | Path, **kwargs: Any) -> Any:
    """A registry image model by name, or a shop image model from its directory."""
    from shopsearch.encode.registry import create_encoder

    if is_image_model_dir(spec):
        return ShopImageEncoder(spec, **kwargs)
    if Path(spec).is_dir() or os.sep in str(spec):
        raise ImageModelError(f"{spec}: not a shop image model directory (no {CONFIG_FILE} with format {FORMAT!r})")
    return create_encoder(str(spec), **kwargs)
