"""BM25 lexical index, with a small in-memory delta for live updates.

bm25s was chosen over tantivy because shopsearch tokenises text itself (jieba for Chinese,
plural folding for English) and bm25s takes pre-tokenised documents as plain lists, stores
its sparse score matrix as .npy files that fit the versioned-directory format, and exposes
``get_scores`` for exact whole-catalog scoring, which makes filtered lexical search exact.

bm25s cannot add documents to a built index, so products added after the build live in a
:class:`_Delta` that scores them with the same BM25 formula ("lucene" variant, same k1 and b)
and the base index's document frequencies, until the next compaction rebuilds everything.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np

from shopsearch.preprocess.spelling import SpellCorrector
from shopsearch.preprocess.text import tokenize

logger = logging.getLogger(__name__)
# bm25s forces its own logger to DEBUG at import, which floods any application handler.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_DOCLEN = "doc_lengths.npy"


class _Delta:
    """Documents appended after the build, at positions ``start``, ``start + 1``, ..."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.tfs: list[Counter[str]] = []
        self.lengths: list[int] = []
        self.df: Counter[str] = Counter()

    def add(self, position: int, tokens: list[str]) -> None:
        tf = Counter(tokens)
        self.positions.append(position)
        self.tfs.append(tf)
        self.lengths.append(len(tokens))
        self.df.update(tf.keys())


class LexicalIndex:
    def __init__(self, model: bm25s.BM25, doc_lengths: np.ndarray) -> None:
        self._model = model
        self.doc_lengths = doc_lengths
        self.n_docs = len(doc_lengths)
        self._delta = _Delta()
        self._speller: SpellCorrector | None = None
        if self.n_docs:
            indptr = model.scores["indptr"]
            self._df = np.diff(indptr)
            self._vocab = model.vocab_dict
        else:
            self._df = np.zeros(0, np.int64)
            self._vocab = {}

    @classmethod
    def build(cls, documents: list[str]) -> LexicalIndex:
        corpus = [tokenize(d) for d in documents]
        model = bm25s.BM25()
        if corpus:
            model.index([c or [""] for c in corpus], show_progress=False)
        return cls(model, np.asarray([len(c) for c in corpus], dtype=np.int32))

    def add(self, position: int, document: str) -> None:
        """Make the document at ``position`` (past the built ones) searchable."""
        self._delta.add(position, tokenize(document))
        self._speller = None  # new words join the spelling vocabulary

    def search(self, text: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` positions with a positive BM25 score: (positions int64, scores float32).

        ``allowed`` is a bool mask over all positions (built and added).
        """
        tokens = self.correct(tokenize(text))
        if not tokens or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if self.n_docs:
            scores = np.asarray(self._model.get_scores(tokens), dtype=np.float32)
        else:
            scores = np.zeros(0, np.float32)
        if self._delta.positions:
            total = max(self._delta.positions) + 1
            full = np.zeros(total, np.float32)
            full[: self.n_docs] = scores
            full[self._delta.positions] = self._delta_scores(tokens)
            scores = full
        if allowed is not None:
            scores = np.where(allowed[: len(scores)], scores, 0.0)
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top]

    def correct(self, tokens: list[str]) -> list[str]:
        """Replace out-of-vocabulary English words by their closest indexed word (typos)."""
        known = self._vocab
        if all(t in known or t in self._delta.df for t in tokens):
            return tokens
        if self._speller is None:
            freq = {w: int(self._df[i]) for w, i in known.items() if w and i < len(self._df)}
            for w, f in self._delta.df.items():
                freq[w] = freq.get(w, 0) + f
            self._speller = SpellCorrector(freq)
        out = []
        for t in tokens:
            fixed = None if (t in known or t in self._delta.df) else self._speller.correct(t)
            out.append(fixed or t)
        return out

    def _delta_scores(self, tokens: list[str]) -> np.ndarray:
        d = self._delta
        n = self.n_docs + len(d.positions)
        avgdl = (float(self.doc_lengths.sum()) + sum(d.lengths)) / max(n, 1)
        k1, b = self._model.k1, self._model.b
        out = np.zeros(len(d.positions), np.float32)
        for term in set(tokens):
            tid = self._vocab.get(term)
            df = (int(self._df[tid]) if tid is not None and tid < len(self._df) else 0) + d.df[term]
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            q = tokens.count(term)
            for i, tf in enumerate(d.tfs):
                f = tf.get(term, 0)
                if f:
                    out[i] += q * idf * f / (f + k1 * (1 - b + b * d.lengths[i] / avgdl))
        return out

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.n_docs:
            self._model.save(str(folder), show_progress=False)
        np.save(folder / _DOCLEN, self.doc_lengths)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        lengths = np.load(folder / _DOCLEN)
        model = bm25s.BM25.load(str(folder)) if len(lengths) else bm25s.BM25()
        return cls(model, lengths)
