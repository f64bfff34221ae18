"""The Encoder protocol every text or image model implements, and shared helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from shopsearch.preprocess.image import ImageInput

Modality = Literal["text", "image"]


@dataclass(frozen=True)
class ModelInfo:
    """Frozen description of a registered model."""

    name: str
    modality: Modality
    dim: int
    package: str
    licence: str
    description: str


@runtime_checkable
class TextEncoder(Protocol):
    """Encodes texts. Both methods return float32 arrays of shape (n, dim), rows L2-normalised.

    ``embed_queries`` is for what a shopper types, ``embed_texts`` for product documents;
    asymmetric models (e5) prefix them differently.
    """

    name: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class ImageEncoder(Protocol):
    """Encodes images (paths, bytes or PIL images) into float32 (n, dim), rows L2-normalised."""

    name: str
    dim: int

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray: ...


Encoder = TextEncoder | ImageEncoder


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation; returns float32. All-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32, copy=False)
