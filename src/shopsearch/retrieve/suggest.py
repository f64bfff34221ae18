"""Prefix autocomplete over product titles and attribute values (English and Chinese)."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence

from shopsearch.preprocess.text import normalize
from shopsearch.types import Product


class Suggester:
    """Completions ranked by how many products carry them.

    Attribute values and brands complete from their start ("bla" -> "Black"); titles complete
    from the start of the title and from the start of any word in it ("polo" finds
    "Puma Men Polo Tshirts" and the phrase "Polo Tshirts").
    """

    def __init__(self, products: Sequence[Product], extra_terms: Iterable[str] = ()) -> None:
        counts: Counter[str] = Counter()
        display: dict[str, str] = {}
        for p in products:
            phrases = [str(v) for v in p.attributes.values() if isinstance(v, str)]
            if p.brand:
                phrases.append(p.brand)
            phrases.extend(p.category)
            if p.title:
                phrases.append(p.title)
                words = p.title.split()
                # word-start suffixes of the title: "Men Polo Tshirts", "Polo Tshirts", ...
                phrases.extend(" ".join(words[i:]) for i in range(1, len(words)) if len(words[i]) > 1)
            for phrase in phrases:
                key = normalize(phrase)
                if key:
                    counts[key] += 1
                    display.setdefault(key, phrase.strip())
        for term in extra_terms:
            key = normalize(term)
            if key and key not in counts:
                counts[key] = 1
                display[key] = term
        self._keys = sorted(counts)
        self._counts = counts
        self._display = display

    def suggest(self, prefix: str, k: int = 10) -> list[str]:
        """Up to ``k`` completions of ``prefix``, most common first (ties: shorter, then A-Z)."""
        p = normalize(prefix)
        if not p or k < 1:
            return []
        lo = bisect.bisect_left(self._keys, p)
        hi = bisect.bisect_left(self._keys, p + "\U0010ffff")
        matches = self._keys[lo:hi]
        matches.sort(key=lambda key: (-self._counts[key], len(key), key))
        return [self._display[key] for key in matches[:k]]
