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

# Shopper words -> the catalog word they mean, applied to documents and queries alike.
SYNONYMS: dict[str, str] = {
    "man": "men", "mens": "men", "male": "men", "gent": "men", "gents": "men", "guy": "men",
    "woman": "women", "womens": "women", "lady": "women", "ladies": "women", "female": "women",
    "boy": "boys", "girl": "girls", "kid": "kids", "child": "kids", "children": "kids",
    "t-shirt": "tshirt", "tee": "tshirt", "tees": "tshirt", "gray": "grey",
    "sporty": "sports", "sportier": "sports", "athletic": "sports",
}

_jieba_lock = threading.Lock()
_jieba = None


def _segmenter():  # type: ignore[no-untyped-def]
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            # The e-commerce dictionary: every Chinese term of the bilingual lexicon stays one
            # token ("连衣裙", "人字拖", "藏青色"), so BM25 matches whole product words.
            from shopsearch.preprocess.lexicon import default_lexicon

            for entry in default_lexicon().entries:
                if len(entry.zh) > 1 and _CJK_RE.match(entry.zh):
                    jieba.add_word(entry.zh, freq=2000)
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
            out.extend(_word(p) for p in parts if p and p not in STOPWORDS)
            out.append(_word("".join(parts)))
            continue
        if tok not in STOPWORDS:
            out.append(_word(tok))
    return out


def _word(token: str) -> str:
    return fold_plural(SYNONYMS.get(token, token))


def tokenize_many(texts: Iterable[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]


# Fields a product document can be built from; "image" is the visual field.
TEXT_FIELDS: tuple[str, ...] = ("title", "brand", "category", "attributes", "description")


# Lexical field weights: a field's words are repeated this many times in the BM25 document,
# so a title match counts above an attribute match, which counts above a description match.
FIELD_WEIGHTS: dict[str, int] = {"title": 3, "brand": 2, "category": 2, "attributes": 2, "description": 1}


def lexical_text(product: Product, fields: Iterable[str] = TEXT_FIELDS, weights: dict[str, int] | None = None) -> str:
    """The BM25 document of ``product``: each chosen field repeated by its weight."""
    weights = FIELD_WEIGHTS if weights is None else weights
    parts = []
    for f in fields:
        text = product_text(product, (f,), max_chars=10_000)
        if text:
            parts.extend([text] * max(1, weights.get(f, 1)))
    return " \n ".join(parts)


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
