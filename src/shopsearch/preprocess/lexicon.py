"""Bilingual (Chinese <-> English) e-commerce lexicon: query normalisation and code-switching.

The lexicon is a maintained product data file (``shopsearch/data/lexicon_zh_en.tsv``): one row
per Chinese spelling, ``zh <TAB> en <TAB> kind``. Short attribute-style Chinese queries
("男士黑色运动鞋") transfer poorly through the multilingual text encoder alone, so queries are
normalised to the English product vocabulary the alignment heads were trained on
("Men Black Sports Shoes") before they are embedded. The reverse direction
(:meth:`Lexicon.to_chinese`) makes code-switched training texts.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

logger = logging.getLogger(__name__)

LEXICON_RESOURCE = "lexicon_zh_en.tsv"
KINDS: frozenset[str] = frozenset(
    {"colour", "product", "gender", "season", "usage", "material", "pattern", "style", "fit", "brand", "stop"}
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
COMMON_WORD_FREQ = 20  # a jieba dictionary frequency from which a word is taken as spelled right
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class LexiconEntry:
    """One row of the lexicon: a Chinese spelling, its English term ("" = drop) and its kind."""

    zh: str
    en: str
    kind: str


class Lexicon:
    """Longest-match Chinese -> English term replacement and its reverse.

    ``normalize_query`` leaves text without Chinese characters untouched, so English queries
    pass through unchanged; Chinese characters that match no entry are kept as they are.
    """

    def __init__(self, entries: list[LexiconEntry]) -> None:
        if not entries:
            raise ValueError("lexicon has no entries")
        self.entries = entries
        self._zh: dict[str, str] = {}
        self._en: dict[str, list[str]] = {}
        for e in entries:
            key = e.zh.lower()
            if key in self._zh and self._zh[key] != e.en:
                raise ValueError(
                    f"lexicon entry {e.zh!r} maps to both {self._zh[key]!r} and {e.en!r}"
                )
            self._zh[key] = e.en
            if e.en:
                self._en.setdefault(e.en.lower(), []).append(e.zh)
        self._max_zh = max(len(k) for k in self._zh)
        self._pinyin: dict[tuple[str, ...], str] | None = None  # built on first use
        # English terms, longest first, for the reverse (code-switching) direction.
        self._en_terms = sorted(self._en, key=lambda t: (-len(t.split()), -len(t)))
        self._en_pattern = re.compile(
            r"\b(" + "|".join(re.escape(t) for t in self._en_terms) + r")\b", re.IGNORECASE
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Lexicon:
        """Read a ``zh <TAB> en <TAB> kind`` file; ``#`` lines are comments.

        Raises ``ValueError`` naming the file, line and problem for malformed rows.
        """
        path = Path(path)
        return cls(_parse(path.read_text(encoding="utf-8"), str(path)))

    def __len__(self) -> int:
        return len(self.entries)

    def translate_term(self, zh: str) -> str | None:
        """The English term for one Chinese spelling, or None when it is not in the lexicon."""
        return self._zh.get(zh.lower())

    def correct_homophones(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        """Chinese input-method typos: 2-4 characters that no lexicon term covers, that are not
        a common word, and that sound exactly like one lexicon term (same pinyin, tones
        ignored) become that term: "为衣" -> "卫衣", "连衣群" -> "连衣裙", "默镜" -> "墨镜"
        (jieba's dictionary says what a common word is). A typo may begin with a shorter term
        ("皮代": 皮 is a term, 皮代 sounds like 皮带).
        Returns the corrected text and the (typed, corrected) pairs. Without pypinyin installed,
        nothing is corrected."""
        if not _CJK.search(text):
            return text, []
        index = self._pinyin_index()
        if not index:
            return text, []
        from pypinyin import lazy_pinyin

        out: list[str] = []
        corrections: list[tuple[str, str]] = []
        i, n = 0, len(text)
        while i < n:
            known = next((size for size in range(min(self._max_zh, n - i), 0, -1)
                          if text[i:i + size].lower() in self._zh), 0)
            if not _CJK.match(text[i]):
                out.append(text[i])
                i += 1
                continue
            # a known term may start a longer typo: 皮代 (皮 "leather") is 皮带, 牛仔库 牛仔裤
            for size in range(min(4, n - i), max(known, 1), -1):
                piece = text[i:i + size]
                freq = _jieba_frequency(piece)
                if not all(_CJK.match(ch) for ch in piece) or (
                        freq is not None and (freq == 0 or freq >= COMMON_WORD_FREQ)):
                    continue  # a real word, or the start of real words: not a typo
                fixed = index.get(tuple(lazy_pinyin(piece)))
                if fixed is not None and fixed != piece:
                    out.append(fixed)
                    corrections.append((piece, fixed))
                    i += size
                    break
            else:
                step = max(known, 1)
                out.append(text[i:i + step])
                i += step
        return "".join(out), corrections

    def _pinyin_index(self) -> dict[tuple[str, ...], str]:
        """Toneless pinyin of every 2-4 character Chinese term -> the term (sounds shared by
        terms with different meanings are left out)."""
        if self._pinyin is None:
            try:
                from pypinyin import lazy_pinyin
            except ImportError:  # pragma: no cover - a core dependency
                self._pinyin = {}
                return self._pinyin
            index: dict[tuple[str, ...], str] = {}
            meaning: dict[tuple[str, ...], str] = {}
            clashes: set[tuple[str, ...]] = set()
            for e in self.entries:
                if 2 <= len(e.zh) <= 4 and all(_CJK.match(ch) for ch in e.zh):
                    key = tuple(lazy_pinyin(e.zh))
                    if key in meaning and meaning[key] != e.en:
                        clashes.add(key)
                    index.setdefault(key, e.zh)
                    meaning.setdefault(key, e.en)
            self._pinyin = {k: v for k, v in index.items() if k not in clashes}
        return self._pinyin

    def normalize_query(self, text: str) -> str:
        """Replace every lexicon term in ``text`` by its English term (longest match first).

        Text without Chinese characters is returned unchanged (whitespace collapsed).
        """
        if not _CJK.search(text):
            return _SPACES.sub(" ", text).strip()
        out: list[str] = []
        i, n = 0, len(text)
        buf = ""
        while i < n:
            match = None
            for size in range(min(self._max_zh, n - i), 0, -1):
                piece = text[i:i + size]
                if piece.lower() in self._zh and not _inside_latin_word(text, i, i + size):
                    match = piece
                    break
            if match is None:
                buf += text[i]
                i += 1
                continue
            if buf.strip():
                out.append(buf.strip())
            buf = ""
            en = self._zh[match.lower()]
            if en:
                out.append(en)
            i += len(match)
        if buf.strip():
            out.append(buf.strip())
        return _SPACES.sub(" ", " ".join(out)).strip()

    def to_chinese(self, text: str, rng: random.Random | None = None, p: float = 1.0) -> str:
        """Replace English lexicon terms in ``text`` by a Chinese spelling (code-switching).

        Each matched term is replaced with probability ``p``; the spelling is the preferred
        (first) one without ``rng``, a random one with it. Chinese has no spaces between terms,
        so spaces between two replaced terms are dropped.
        """
        pieces: list[tuple[str, bool]] = []
        last = 0
        for m in self._en_pattern.finditer(text):
            if m.start() > last:
                pieces.append((text[last:m.start()], False))
            spellings = self._en[m.group(0).lower()]
            if rng is not None and rng.random() >= p:
                pieces.append((m.group(0), False))
            else:
                zh = spellings[0] if rng is None else rng.choice(spellings)
                pieces.append((zh, True))
            last = m.end()
        if last < len(text):
            pieces.append((text[last:], False))
        out = ""
        for k, (piece, is_zh) in enumerate(pieces):
            between_zh = 0 < k < len(pieces) - 1 and pieces[k - 1][1] and pieces[k + 1][1]
            if not is_zh and not piece.strip() and between_zh:
                continue  # drop the space between two Chinese terms
            out += piece
        return _SPACES.sub(" ", out).strip()


def _jieba_frequency(word: str) -> int | None:
    """How common a Chinese word is in jieba's dictionary: None when unknown, 0 when it is
    only the beginning of longer words ("上一" of "上一代")."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()  # once per process; the tokenizer of shopsearch.preprocess.text shares it
    freq = jieba.get_FREQ(word)
    return None if freq is None else int(freq)


def _inside_latin_word(text: str, start: int, end: int) -> bool:
    """True when a match that starts or ends with a Latin letter or digit runs on into one:
    "PU" (PU leather) is not the start of "Puma", nor "T恤" the end of "NT恤"."""
    def latin(ch: str) -> bool:
        return ch.isascii() and ch.isalnum()

    return (latin(text[start]) and start > 0 and latin(text[start - 1])) or (
        latin(text[end - 1]) and end < len(text) and latin(text[end]))


def tsv_rows(content: str, source: str, errors: list[str]) -> Iterator[tuple[int, str, str, str]]:
    """(line number, column 1, 2, 3) of each row of a 3-column lexicon file, stripped; ``#``
    lines and blank lines are skipped, a row with another column count goes to ``errors``."""
    for lineno, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cols = raw.split("\t")
        if len(cols) != 3:
            errors.append(f"{source}:{lineno}: expected 3 tab-separated columns, got {len(cols)}")
            continue
        yield lineno, cols[0].strip(), cols[1].strip(), cols[2].strip()


def _parse(content: str, source: str) -> list[LexiconEntry]:
    entries: list[LexiconEntry] = []
    errors: list[str] = []
    for lineno, zh, en, kind in tsv_rows(content, source, errors):
        if not zh:
            errors.append(f"{source}:{lineno}: empty zh column")
        elif kind not in KINDS:
            errors.append(
                f"{source}:{lineno}: kind {kind!r} not allowed (allowed: {', '.join(sorted(KINDS))})"
            )
        elif not en and kind != "stop":
            errors.append(f"{source}:{lineno}: empty en column for kind {kind!r}")
        else:
            entries.append(LexiconEntry(zh=zh, en=en, kind=kind))
    if errors:
        raise ValueError("malformed lexicon:\n" + "\n".join(errors))
    return entries


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged lexicon (``shopsearch/data/lexicon_zh_en.tsv``), loaded once."""
    res = resources.files("shopsearch").joinpath("data", LEXICON_RESOURCE)
    return Lexicon(_parse(res.read_text(encoding="utf-8"), f"shopsearch/data/{LEXICON_RESOURCE}"))
