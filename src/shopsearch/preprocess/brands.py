"""Brands learned from a shop's own titles, for catalogues without a brand field.

Shops write the brand first ("Nike Men Running Shoes", "United Colors of Benetton Men Shirt").
A leading word sequence is taken for a brand when many titles start with it and it rarely
appears anywhere else in a title (a brand leads; "Men", "Red" or "Casual" occur in the middle
of titles as often as at the start). Among the prefixes of one leading word, the longest one
that almost every title starting with that word shares is kept ("United Colors of Benetton",
not "United"; "Nike", not "Nike Men"). Spellings that differ only in apostrophes, hyphens or
case are one brand ("Levi's" / "Levis").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:['’\-&][^\W_]+)*", re.UNICODE)
MAX_BRAND_WORDS = 4


def brand_key(text: str) -> str:
    """Spelling-insensitive form of a brand: lower case, apostrophes and hyphens dropped."""
    return " ".join(re.sub(r"['’\-]", "", w) for w in text.lower().split())


@dataclass(frozen=True)
class Brands:
    """The learned brands: ``names`` as most titles spell them, by their :func:`brand_key`."""

    names: dict[str, str]

    def __len__(self) -> int:
        return len(self.names)

    def of_title(self, title: str) -> str | None:
        """The brand a title starts with (longest known brand first), or None."""
        words = _WORD.findall(title)
        for n in range(min(MAX_BRAND_WORDS, len(words)), 0, -1):
            name = self.names.get(brand_key(" ".join(words[:n])))
            if name is not None:
                return name
        return None


def learn_brands(titles: Iterable[str], min_titles: int = 5, lead_share: float = 0.8,
                 extend_share: float = 0.9) -> Brands:
    """Brands a shop writes at the start of its titles.

    ``min_titles``: titles a brand must lead; ``lead_share``: of all titles containing the
    word(s), the share in which they come first; ``extend_share``: a longer prefix replaces
    a shorter one when at least this share of the shorter one's titles start with it.
    """
    lead: Counter[str] = Counter()  # prefix key -> titles starting with it
    anywhere: Counter[str] = Counter()  # single-word key -> titles containing it anywhere
    spelled: dict[str, Counter[str]] = {}
    for title in titles:
        words = _WORD.findall(title)
        if not words:
            continue
        for w in {brand_key(w) for w in words}:
            anywhere[w] += 1
        for n in range(1, min(MAX_BRAND_WORDS, len(words)) + 1):
            text = " ".join(words[:n])
            key = brand_key(text)
            lead[key] += 1
            spelled.setdefault(key, Counter())[text] += 1
    names: dict[str, str] = {}
    for key, count in lead.items():
        if " " in key or count < min_titles or not key.replace("&", "").isalnum():
            continue
        if len(key) < 2 or count < lead_share * anywhere[key]:
            continue
        best = key
        while len(best.split()) < MAX_BRAND_WORDS:  # "united" -> "united colors of benetton"
            step = _extension(best, lead, anywhere, extend_share)
            if step is None:
                break
            best = step
        names[best] = spelled[best].most_common(1)[0][0]
    return Brands(names)


_CONNECTORS = frozenset({"of", "and", "&", "the", "de", "la", "by", "n"})


def _extension(prefix: str, lead: Counter[str], anywhere: Counter[str], share: float) -> str | None:
    """``prefix`` plus its next word(s) when nearly all titles led by ``prefix`` continue that
    way and the added word belongs to this brand (most titles holding it start with the longer
    prefix): "peter" -> "peter england", but not "levis" -> "levis men". A connector ("of",
    "and") is taken together with the word after it."""
    n = len(prefix.split())
    candidates = [k for k in lead if k.startswith(prefix + " ") and len(k.split()) == n + 1]
    top = max(candidates, key=lambda k: lead[k], default=None)
    if top is None or lead[top] < share * lead[prefix]:
        return None
    word = top.split()[-1]
    if word in _CONNECTORS:
        after = _extension(top, lead, anywhere, share) if n + 1 < MAX_BRAND_WORDS else None
        return after
    return top if lead[top] >= 0.5 * anywhere[word] else None
