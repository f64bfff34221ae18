"""Text normalisation and tokenisation for lexical search (English and Chinese).

English: NFKC, lower-case, hyphenated words kept both split and joined ("t-shirts" ->
"t", "shirts", "tshirts"), light plural folding ("dresses" -> "dress"). Chinese: jieba's
search-mode segmentation, which also emits the sub-words of long words, so "连衣裙" matches
both "连衣裙" and "裙".
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

from shopsearch.types import Product

logger = logging.getLogger(__name__)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:[-'][a-z0-9]+)*")
_CJK_RE = re.compile(rf"[{_CJK}]")
STOPWORDS: frozenset[str] = frozenset(
    "a an and the of for in on with to by at from or is are this that".split()
)
# Words that end in "s" but are not plurals (or whose singular changes meaning in a shop).
_KEEP_S = frozenset(
    (
        "dress glass jeans trousers shorts pants leggings tights briefs boxers sunglasses overalls "
        "dungarees pyjamas capris bus gas lens canvas chess cross kids mens womens boys girls "
        "sports"
    ).split()
)

_jieba_lock = threading.Lock()
_jieba = None


def _segmenter():  # type: ignore[no-untyped-def]
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


def normalize(text: str) -> str:
    """NFKC + lower-case + collapse whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def fold_plural(word: str) -> str:
    """Light English plural folding: "shirts" -> "shirt", "dresses" -> "dress", "ties" -> "tie"."""
    if len(word) <= 3 or not word.isalpha() or word in _KEEP_S or not word.endswith("s"):
        return word
    if word.endswith("sses") or word.endswith("shes") or word.endswith("ches") or word.endswith("xes"):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def tokenize(text: str) -> list[str]:
    """Lexical tokens of ``text`` (duplicates kept: they are term frequencies)."""
    out: list[str] = []
    for match in _TOKEN_RE.finditer(normalize(text)):
        tok = match.group(0)
        if _CJK_RE.match(tok):
            out.extend(w for w in _segmenter().cut_for_search(tok) if w.strip())
            continue
        if "-" in tok or "'" in tok:
            parts = re.split(r"[-']", tok)
            out.extend(fold_plural(p) for p in parts if p and p not in STOPWORDS)
            out.append(fold_plural("".join(parts)))
            continue
        if tok not in STOPWORDS:
            out.append(fold_plural(tok))
    return out


def tokenize_many(texts: Iterable[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]


# Fields a product document can be built from; "image" is the visual field.
TEXT_FIELDS: tuple[str, ...] = ("title", "brand", "category", "attributes", "description")


def product_text(product: Product, fields: Iterable[str] = TEXT_FIELDS, max_chars: int = 1000) -> str:
    """One document string for ``product`` from the chosen text fields, most important first.

    Attribute values are written as plain words ("Men Black Casual") because that is how
    shoppers type them; numbers are kept (sizes, years, volumes).
    """
    chosen = set(fields)
    parts: list[str] = []
    if "title" in chosen and product.title:
        parts.append(product.title)
    if "brand" in chosen and product.brand:
        parts.append(product.brand)
    if "category" in chosen and product.category:
        parts.append(" ".join(product.category))
    if "attributes" in chosen and product.attributes:
        seen = {normalize(p) for p in parts}
        values = [str(v) for v in product.attributes.values() if normalize(str(v)) not in seen]
        parts.append(" ".join(dict.fromkeys(values)))
    if "description" in chosen and product.description:
        parts.append(product.description)
    return ". ".join(p for p in parts if p)[:max_chars]
