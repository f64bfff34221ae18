"""BM25 lexical index.

bm25s was chosen over tantivy because shopsearch tokenises text itself (jieba for Chinese,
plural folding for English) and bm25s takes pre-tokenised documents as plain lists, stores
its sparse score matrix as .npy files that fit the versioned-directory format, and exposes
``get_scores`` for exact whole-catalog scoring, which makes filtered lexical search exact.
"""

from __future__ import annotations

import logging
from pathlib import Path

import bm25s
import numpy as np

from shopsearch.preprocess.text import tokenize

logger = logging.getLogger(__name__)


class LexicalIndex:
    def __init__(self, model: bm25s.BM25, n_docs: int) -> None:
        self._model = model
        self.n_docs = n_docs

    @classmethod
    def build(cls, documents: list[str]) -> LexicalIndex:
        corpus = [tokenize(d) or [""] for d in documents]
        model = bm25s.BM25()
        if corpus:
            model.index(corpus, show_progress=False)
        return cls(model, len(corpus))

    def search(self, text: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` documents with a positive BM25 score: (positions int64, scores float32)."""
        tokens = tokenize(text)
        if not tokens or self.n_docs == 0 or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        scores = np.asarray(self._model.get_scores(tokens), dtype=np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, n_docs: int) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(folder)), n_docs)
