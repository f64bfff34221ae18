"""Encoders: the Encoder protocols, the model registry, packaged default models, a cache."""

from shopsearch.encode.base import ImageEncoder, ModelInfo, TextEncoder, l2_normalize
from shopsearch.encode.registry import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_TEXT_MODEL,
    create_encoder,
    list_models,
    model_info,
)

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_TEXT_MODEL",
    "ImageEncoder",
    "ModelInfo",
    "TextEncoder",
    "create_encoder",
    "l2_normalize",
    "list_models",
    "model_info",
]
