"""Typo tolerance for English query words against an index vocabulary (SymSpell-style).

Every vocabulary word is indexed by the strings obtained by deleting up to ``max_edits``
letters; a query word's own deletions meet those of the words within that edit distance,
and the candidates are then checked with a true edit distance. Among equally close words
the most frequent one (highest document frequency) wins.

Work is bounded per word: words longer than :data:`MAX_WORD_LETTERS` are neither indexed nor
corrected (a word has ~n^2/2 two-letter deletions; a 1,000-letter "word" in a title would
cost a minute and gigabytes), so any token costs microseconds here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from itertools import combinations
from typing import Final

MAX_WORD_LETTERS: Final[int] = 30  # longer words are not typo-corrected (no shopper word is this long)


def _deletes(word: str, max_edits: int) -> set[str]:
    out = {word}
    for d in range(1, min(max_edits, len(word) - 1) + 1):
        for idx in combinations(range(len(word)), d):
            out.add("".join(c for i, c in enumerate(word) if i not in idx))
    return out


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: adjacent swaps cost 1)."""
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def allowed_edits(word: str) -> int:
    """How many typos a word of this length may carry: 0 below 4 letters, 1 up to 7, then 2,
    and 0 above :data:`MAX_WORD_LETTERS`."""
    n = len(word)
    return 0 if n < 4 or n > MAX_WORD_LETTERS else 1 if n < 8 else 2


class SpellCorrector:
    def __init__(self, frequencies: Mapping[str, int]) -> None:
        self.frequencies = {w: f for w, f in frequencies.items()
                            if w.isascii() and w.isalpha() and len(w) <= MAX_WORD_LETTERS}
        self._index: dict[str, list[str]] = {}
        for word in self.frequencies:
            for d in _deletes(word, allowed_edits(word)):
                self._index.setdefault(d, []).append(word)

    def correct(self, word: str) -> str | None:
        """The best in-vocabulary replacement for an out-of-vocabulary ``word``, or None.

        Known words, short words, and words with digits or non-Latin letters are not corrected.
        """
        if len(word) > MAX_WORD_LETTERS or word in self.frequencies or not (word.isascii() and word.isalpha()):
            return None
        budget = allowed_edits(word)
        if budget == 0:
            return None
        candidates = {c for d in _deletes(word, budget) for c in self._index.get(d, ())}
        best: tuple[int, int, str] | None = None
        for cand in candidates:
            dist = edit_distance(word, cand)
            if dist <= min(budget, allowed_edits(cand)):
                key = (dist, -self.frequencies[cand], cand)
                if best is None or key < best:
                    best = key
        return None if best is None else best[2]


COMMON_WORD_COUNT: Final[int] = 1_000_000  # web-corpus count above which a word is taken as spelled right


@lru_cache(maxsize=1)
def common_english_words() -> frozenset[str]:
    """English words common enough not to be typos ("make", "it", "grey"), from the frequency
    dictionary that ships with symspellpy (82,765 words with web-corpus counts). Rarer words
    in it ("blu", 2.2M... kept; "whte" is not in it at all) may still be corrected."""
    try:
        from importlib import resources

        text = resources.files("symspellpy").joinpath("frequency_dictionary_en_82_765.txt").read_text("utf-8")
    except (ImportError, FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - a core dependency
        return frozenset()
    words = set()
    for line in text.splitlines():
        word, _, count = line.partition(" ")
        if count.isdigit() and int(count) >= COMMON_WORD_COUNT:
            words.add(word)
    return frozenset(words)
