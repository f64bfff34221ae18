"""Zero-shot text->image fallback as an encoder role, for catalogs with no trained joint model.

Wraps :class:`shopsearch.encode.joint.ZeroShotLabelScorer`: product images become vectors in
the text encoder's space (their top ImageNet labels and colour names, embedded as text), and
shopper queries are embedded by the same text encoder, so a plain dot product scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shopsearch.preprocess.image import ImageInput

ZERO_SHOT_NAME = "imagenet-labels-zeroshot"
ZERO_SHOT_VERSION = "1"


class ZeroShotEncoder:
    """``embed_images`` -> float32 (n, 384), ``embed_queries`` -> float32 (n, 384), L2-normalised."""

    name = ZERO_SHOT_NAME
    version = ZERO_SHOT_VERSION

    def __init__(self, text_encoder: Any = None, image_encoder: Any = None) -> None:
        from shopsearch.encode.joint import ZeroShotLabelScorer

        self._scorer = ZeroShotLabelScorer(text_encoder=text_encoder, image_encoder=image_encoder)
        self.dim = int(self._scorer.text_encoder.dim)

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        return self._scorer.embed_images(images)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._scorer.embed_queries(texts)
