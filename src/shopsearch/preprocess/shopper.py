"""The English words shoppers type, mapped onto the product vocabulary catalogues use.

Two sources, one result shape (a phrase -> catalogue terms, with a kind):

* the maintained lexicon (``shopsearch/data/lexicon_en.tsv``): product-type synonyms and slang
  ("sneakers", "joggers", "hoodie"), colour shades ("navy", "burgundy", "charcoal"), who it is
  for ("for her", "guys"), occasions ("office", "gym"), seasons, materials, patterns, fits,
  US/UK spellings and filler words. A phrase matches singular or plural and written split,
  hyphenated or joined ("t shirt", "t-shirt", "tshirt");
* an expansion *learned from the catalogue*: a title word that nearly always comes with one
  facet value ("polo" with T-shirts, "kurta" with Kurtas), so a new shop gets much of this
  without writing a lexicon (:func:`learn_expansions`).

The query parser (:mod:`shopsearch.preprocess.query`) uses both to read constraints and to
write the query in the catalogue's words for the embedding signals and BM25 expansion.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

from shopsearch.preprocess.lexicon import tsv_rows
from shopsearch.preprocess.text import STOPWORDS, fold_plural, normalize

LEXICON_RESOURCE: Final = "lexicon_en.tsv"
KINDS: Final = frozenset({"product", "colour", "gender", "usage", "season", "material", "pattern", "style",
                          "fit", "stop", "learned"})
_WORDS = re.compile(r"[a-z0-9]+")


def word_keys(text: str) -> tuple[str, ...]:
    """Words of ``text`` as the matcher compares them: lower case, apostrophes dropped,
    hyphens split, plurals folded."""
    return tuple(fold_plural(w) for w in _WORDS.findall(normalize(text).replace("'", "").replace("’", "")))


@dataclass(frozen=True)
class ShopperTerm:
    """One phrase and what it means in catalogue words (``terms``; empty for filler)."""

    phrase: str
    terms: tuple[str, ...]
    kind: str
    confidence: float = 0.9


class ShopperLexicon:
    """Longest-match lookup of shopper phrases over a query's words."""

    def __init__(self, entries: Iterable[ShopperTerm]) -> None:
        self._by_key: dict[tuple[str, ...], ShopperTerm] = {}
        self._raw_words: set[str] = set()  # phrase words as written (plurals too), for typo correction
        self._max_words = 0  # longest key, kept as keys are added (read on every parse)
        self.entries: list[ShopperTerm] = []
        for e in entries:
            self.add(e)

    def add(self, entry: ShopperTerm, *, override: bool = True) -> None:
        words = word_keys(entry.phrase)
        if not words:
            return
        keys = {words}
        if len(words) > 1:  # "t shirt" is also written "tshirt" (and "t-shirt", split by word_keys)
            keys.add((fold_plural("".join(_WORDS.findall(entry.phrase.lower().replace("'", "")))),))
        for key in keys:
            if override or key not in self._by_key:
                self._by_key[key] = entry
                self._max_words = max(self._max_words, len(key))
        self._raw_words.update(_WORDS.findall(entry.phrase.lower().replace("'", "")))
        self.entries.append(entry)

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def max_words(self) -> int:
        return self._max_words

    def get(self, words: Sequence[str]) -> ShopperTerm | None:
        return self._by_key.get(tuple(words))

    def words(self) -> set[str]:
        """Every word of every phrase, as written and folded (for typo correction)."""
        return {w for key in self._by_key for w in key} | self._raw_words

    @classmethod
    def from_file(cls, path: str | Path) -> ShopperLexicon:
        path = Path(path)
        return cls(parse_lexicon(path.read_text(encoding="utf-8"), str(path)))

    def extended(self, extra: Iterable[ShopperTerm]) -> ShopperLexicon:
        """A copy with ``extra`` entries that do not replace phrases already here."""
        out = ShopperLexicon(self.entries)
        for e in extra:
            out.add(e, override=False)
        return out


def parse_lexicon(content: str, source: str) -> list[ShopperTerm]:
    """Rows ``phrase <TAB> terms <TAB> kind``; raises ``ValueError`` naming every bad line."""
    entries: list[ShopperTerm] = []
    errors: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for lineno, phrase, terms, kind in tsv_rows(content, source, errors):
        key = word_keys(phrase)
        if not key:
            errors.append(f"{source}:{lineno}: empty phrase")
        elif kind not in KINDS - {"learned"}:
            errors.append(f"{source}:{lineno}: kind {kind!r} not allowed (allowed: {', '.join(sorted(KINDS))})")
        elif not terms and kind != "stop":
            errors.append(f"{source}:{lineno}: empty terms for kind {kind!r}")
        elif key in seen:
            errors.append(f"{source}:{lineno}: phrase {phrase!r} repeats line {seen[key]}")
        else:
            seen[key] = lineno
            entries.append(ShopperTerm(phrase, tuple(t.strip() for t in terms.split("|") if t.strip()), kind))
    if errors:
        raise ValueError("malformed shopper lexicon:\n" + "\n".join(errors))
    return entries


@lru_cache(maxsize=1)
def default_shopper_lexicon() -> ShopperLexicon:
    """The packaged English shopper lexicon, loaded once."""
    res = resources.files("shopsearch").joinpath("data", LEXICON_RESOURCE)
    return ShopperLexicon(parse_lexicon(res.read_text(encoding="utf-8"), f"shopsearch/data/{LEXICON_RESOURCE}"))


def learn_expansions(
    titles: Sequence[str], facets: Mapping[str, Sequence[str | None]], *, min_titles: int = 8,
    min_share: float = 0.85, known: Iterable[str] = (),
) -> list[ShopperTerm]:
    """Title words that nearly always come with one facet value, as lexicon entries.

    ``facets``: field -> each product's value (aligned with ``titles``). A word found in at
    least ``min_titles`` titles whose products share one value of a field at least
    ``min_share`` of the time maps to that value ("polo" -> Tshirts when 90% of titles with
    "polo" are T-shirts). ``known`` words (already in a lexicon or the facet values) and
    stopwords are skipped. Entries are of kind "learned" with confidence = the share, capped.
    """
    skip = {fold_plural(w) for w in known} | STOPWORDS
    df: Counter[str] = Counter()
    joint: dict[str, Counter[tuple[str, str]]] = {}
    for i, title in enumerate(titles):
        words = {w for w in word_keys(title) if w not in skip and w.isalpha() and len(w) > 2}
        for w in words:
            df[w] += 1
            bucket = joint.setdefault(w, Counter())
            for fld, column in facets.items():
                value = column[i]
                if value:
                    bucket[(fld, value)] += 1
    distinct = {fld: len({v for v in column if v}) for fld, column in facets.items()}
    out = []
    for w, n in df.items():
        if n < min_titles:
            continue
        by_field: dict[str, tuple[str, int]] = {}
        for (fld, value), c in joint[w].items():
            if c > by_field.get(fld, ("", 0))[1]:
                by_field[fld] = (value, c)
        # the most specific field that passes ("kurta" -> Kurtas, not the usage Ethnic)
        best = [(distinct[fld], c / n, value) for fld, (value, c) in by_field.items() if c / n >= min_share]
        if best:
            _, share, value = max(best)
            out.append(ShopperTerm(w, (value,), "learned", confidence=round(min(0.8, share - 0.1), 3)))
    return sorted(out, key=lambda e: e.phrase)
