"""Query understanding: structured constraints from what a shopper types (English and Chinese).

"black formal shoes for men under 200" and "男士黑色正装鞋 200元以下" both parse into
``base_colour=Black``, ``article_type=Formal Shoes``, ``gender=Men`` and ``price<=200``.
Attribute values come from the catalog itself (any low-cardinality text attribute, brands), so
the parser follows the shop's own vocabulary. Chinese is first mapped onto English terms with
the bilingual lexicon; shoppers' English ("sneakers for her", "gray joggers", "t shirt") is
mapped onto catalogue terms with the shopper lexicon and the expansion learned from the
catalogue's titles (:mod:`shopsearch.preprocess.shopper`); an unknown word within one or two
typos of a known one is corrected ("whte skrit" -> "white skirt", reported in
``ParsedQuery.corrections``). Words that match nothing pass through untouched.

A constraint of kind ``"type"`` names what the shopper wants (T-shirts, sneakers): the engine
ranks every matching product of that type above products of other types that only share a
colour or a season. The parse is returned with results so a UI can show each constraint as a
removable chip and "showing results for" after a correction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shopsearch.preprocess.lexicon import Lexicon, default_lexicon
from shopsearch.preprocess.shopper import ShopperLexicon, ShopperTerm, default_shopper_lexicon, word_keys
from shopsearch.preprocess.spelling import SpellCorrector, common_english_words
from shopsearch.preprocess.text import STOPWORDS, SYNONYMS, fold_plural, normalize

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Chinese characters (a regex class body)

PriceOp = Literal["le", "ge", "range"]

_NUM = r"(\d+(?:\.\d+)?)"
_CUR = r"(?:\s*(?:元|块|rmb|yuan|usd|eur|rs\.?|inr|\$|€|¥|￥))?"
_PRICE_PATTERNS: list[tuple[re.Pattern[str], PriceOp]] = [
    (re.compile(rf"(?:between|from)\s*{_CUR}\s*{_NUM}\s*(?:and|to|-)\s*{_CUR}\s*{_NUM}{_CUR}"), "range"),
    (re.compile(rf"{_CUR}\s*{_NUM}\s*{_CUR}\s*(?:-|~|到|至|to)\s*{_CUR}\s*{_NUM}{_CUR}"), "range"),
    (re.compile(rf"(?:under|below|less than|cheaper than|at most|max|up to|within|<=?|低于|少于|不超过|不到|小于)"
                rf"\s*{_CUR}\s*{_NUM}{_CUR}"), "le"),
    (re.compile(rf"{_CUR}\s*{_NUM}{_CUR}\s*(?:以下|以内|之内|or less|and under|or below)"), "le"),
    (re.compile(rf"(?:over|above|more than|at least|min|>=?|高于|超过|大于)\s*{_CUR}\s*{_NUM}{_CUR}"), "ge"),
    (re.compile(rf"{_CUR}\s*{_NUM}{_CUR}\s*(?:以上|or more|and up|and above|\+)"), "ge"),
]
_NEGATION = re.compile(r"\b(?:no|not|without|except|non)\b|不要|不含|不是|别|没有|除了|非")
_CHEAP = re.compile(r"\b(?:cheap|cheapest|budget|affordable|inexpensive)\b|便宜|实惠|平价|低价")
_EXPENSIVE = re.compile(r"\b(?:expensive|luxury|premium|high[- ]end)\b|高端|奢侈|贵")


@dataclass(frozen=True)
class Constraint:
    """One understood part of a query. ``fields`` lists every attribute the words may name
    (e.g. "watches" is both a sub-category and an article type; "dresses" is the article type
    "Dresses" and the sub-category "Dress"), with the catalog value in each (``values``,
    aligned with ``fields``); ``value`` is the first. ``text`` is the query span."""

    fields: tuple[str, ...]
    value: str | float | tuple[float, float]
    op: Literal["eq", "ne", "le", "ge", "range"]
    text: str
    confidence: float
    values: tuple[str, ...] = ()
    kind: str = ""  # "type" when it names the product type; else the lexicon kind or ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fields"] = list(self.fields)
        d["values"] = list(self.values)
        d["field"] = self.fields[0]
        if isinstance(self.value, tuple):
            d["value"] = list(self.value)
        return d

    def as_filter(self) -> dict[str, Any]:
        """The constraint as a JSON-style filter on its first field."""
        if self.op in ("eq", "ne"):
            return {self.fields[0]: {self.op: self.value}}
        if self.op == "range" and isinstance(self.value, tuple):
            lo, hi = self.value
            return {self.fields[0]: {"ge": lo, "le": hi}}
        return {self.fields[0]: {self.op: self.value}}


@dataclass(frozen=True)
class ParsedQuery:
    original: str
    normalized: str  # in the catalogue's words (Chinese and shopper English mapped); what the signals search
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)
    corrections: tuple[tuple[str, str], ...] = ()  # (typed word, corrected word)
    read: str = ""  # the words as the parser read them (Chinese mapped, lower case, typos fixed); spans come from here

    @property
    def corrected(self) -> str | None:
        """The query with its typos corrected ("showing results for ..."), or None."""
        if not self.corrections:
            return None
        text = self.original
        for wrong, right in self.corrections:
            if wrong.isascii():
                text = re.sub(rf"(?i)\b{re.escape(wrong)}\b", right, text)
            else:  # Chinese has no word boundaries
                text = text.replace(wrong, right)
        return text

    @property
    def types(self) -> tuple[Constraint, ...]:
        """The constraints naming the product type asked for."""
        return tuple(c for c in self.constraints if c.kind == "type" and c.op == "eq")

    def to_dict(self) -> dict[str, Any]:
        return {"original": self.original, "normalized": self.normalized,
                "constraints": [c.to_dict() for c in self.constraints],
                "corrected": self.corrected, "corrections": [list(c) for c in self.corrections]}


def _key(text: str) -> tuple[str, ...]:
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", normalize(text).replace("'", "").replace("’", ""))
    out: list[str] = []
    for w in words:
        out.extend(fold_plural(p) for p in SYNONYMS.get(w, w).replace("-", "").split())
    return tuple(out)


class QueryParser:
    """Parses queries against a catalog vocabulary: ``{field: values}`` of text attributes.

    ``shopper``: the English shopper lexicon (default: the packaged one), already extended
    with learned entries when the caller has them. ``type_fields``: attribute fields that name
    a product's type (default: the fields the shopper lexicon's product words resolve to).
    ``known_words``: words with frequencies that are correct as typed (the catalogue's title
    words), for typo correction.
    """

    def __init__(
        self, vocabulary: Mapping[str, Iterable[str]], lexicon: Lexicon | None = None,
        cheap_price: float | None = None, expensive_price: float | None = None,
        shopper: ShopperLexicon | None = None, type_fields: Iterable[str] | None = None,
        known_words: Mapping[str, int] | None = None, correct_typos: bool = True,
    ) -> None:
        self.lexicon = lexicon if lexicon is not None else default_lexicon()
        self.shopper = shopper if shopper is not None else default_shopper_lexicon()
        self.cheap_price = cheap_price
        self.expensive_price = expensive_price
        self._values: dict[tuple[str, ...], dict[str, str]] = {}
        n_values: dict[str, int] = {}
        for fld, values in vocabulary.items():
            values = set(values)
            n_values[fld] = len(values)
            for value in values:
                key = _key(value)
                if key:
                    self._values.setdefault(key, {})[fld] = value
        self._max_len = max((len(k) for k in self._values), default=0)
        if type_fields is None:
            found: set[str] = set()
            for e in self.shopper.entries:
                if e.kind == "product":
                    found.update(f for f, _ in self._resolve(e.terms))
            type_fields = found
        self.type_fields = frozenset(type_fields)
        # the fields saying who a product is for ("for him", 男士): a shopper's who outranks the type word
        self.who_fields = frozenset(f for e in self.shopper.entries if e.kind == "gender"
                                    for f, _ in self._resolve(e.terms)) - self.type_fields
        # products for everyone ("unisex") are for whoever the query names
        unisex = self.shopper.get(("unisex",))
        self.for_everyone = tuple(pair for pair in (self._resolve(unisex.terms) if unisex is not None else [])
                                  if pair[0] in self.who_fields)
        # the most specific of them (most distinct values): where a predicted type is looked for
        self.type_field = max(sorted(self.type_fields), key=lambda f: n_values.get(f, 0), default=None)
        freq: dict[str, int] = dict(known_words or {})
        for key in self._values:
            for w in key:
                freq[w] = freq.get(w, 0) + 1000  # the catalogue's facet words win ties
        for w in self.shopper.words():
            freq[w] = freq.get(w, 0) + 500
        self._known = freq
        self._speller = SpellCorrector(freq) if correct_typos else None

    def parse(self, text: str) -> ParsedQuery:
        fixed, zh_corrections = self.lexicon.correct_homophones(text) if self._speller is not None else (text, [])
        normalized = self.lexicon.normalize_query(fixed)
        lowered = normalize(normalized).replace("'", "").replace("’", "")
        constraints: list[Constraint] = []
        lowered = self._parse_price(lowered, constraints)
        lowered = _NEGATION.sub(" _not_ ", lowered)
        # Chinese the lexicons do not map stays in the query the signals read: e5 understands it
        words = re.findall(rf"_not_|[a-z0-9]+(?:-[a-z0-9]+)*|[{_HAN}]+", lowered)
        words, corrections = self._correct(words)
        corrections = zh_corrections + corrections
        # words the parser leaves as they are keep the shopper's casing in the rewritten query
        cased = {w.lower(): w for w in re.findall(r"[^\W_]+(?:-[^\W_]+)*", normalized.replace("'", ""))}
        keys = [("\x00",) if w == "_not_" else _key(w) for w in words]
        shop_keys = [() if w == "_not_" else word_keys(w) for w in words]
        out_words: list[str] = []  # the query in catalogue words
        i = 0
        while i < len(words):
            if words[i] == "_not_":
                i += 1
                continue
            vocab = self._vocab_match(keys, i)
            shop = self._shopper_match(shop_keys, i)
            size = max(vocab[0] if vocab else 0, shop[0] if shop else 0)
            if size == 0:
                out_words.append(cased.get(words[i], words[i]))
                i += 1
                continue
            by_field: dict[tuple[str, str], None] = {}
            if vocab and vocab[0] == size:
                by_field.update(dict.fromkeys(sorted(vocab[1].items())))
            term = shop[1] if shop and shop[0] == size else None
            negated = i > 0 and words[i - 1] == "_not_"
            conf = 0.9
            if term is not None:
                by_field.update(dict.fromkeys(self._resolve(term.terms)))
                conf = term.confidence
                if term.terms and not negated:  # what is not wanted is not searched for
                    out_words.append(term.terms[0])
            elif not negated:
                out_words.extend(cased.get(w, w) for w in words[i:i + size])
            if by_field:
                pairs = list(by_field)
                fields = tuple(f for f, _ in pairs)
                values = tuple(v for _, v in pairs)
                if len(set(fields)) > 1 and term is None:
                    conf = 0.8
                span = ("not " if negated else "") + " ".join(words[i:i + size])
                is_type = (term is not None and term.kind == "product") or bool(self.type_fields & set(fields))
                kind = "type" if is_type else (term.kind if term is not None else "")
                constraints.append(Constraint(fields, values[0], "ne" if negated else "eq", span, conf, values,
                                              kind))
            i += size
        rewritten = " ".join(out_words)
        read = " ".join("not" if w == "_not_" else w for w in words)
        return ParsedQuery(text, rewritten if rewritten else normalized, tuple(_dedupe(constraints)),
                           tuple(corrections), read)

    def _resolve(self, terms: Iterable[str]) -> list[tuple[str, str]]:
        """Catalogue (field, value) pairs for a lexicon entry's terms: the terms the shop has,
        or, when it has none of them, their head nouns ("Sports Shoes" in a shop whose only
        shoe type is "Shoes"; not when it has "Sports Shoes" but lacks "Casual Shoes")."""
        pairs = [pair for t in terms for pair in sorted(self._values.get(_key(t), {}).items())]
        if not pairs:
            pairs = [pair for t in terms if " " in t.strip()
                     for pair in sorted(self._values.get(_key(t.split()[-1]), {}).items())]
        return pairs

    def _vocab_match(self, keys: list[tuple[str, ...]], i: int) -> tuple[int, dict[str, str]] | None:
        for size in range(min(self._max_len, len(keys) - i), 0, -1):
            if any(not k for k in keys[i:i + size]):  # Chinese the lexicons left is no catalogue word
                continue
            key = tuple(t for k in keys[i:i + size] for t in k)
            if key in self._values:
                return size, self._values[key]
            if size > 1:  # "red tape" typed for the value "Redtape"
                joined = (fold_plural("".join(key)),)
                if joined in self._values:
                    return size, self._values[joined]
        return None

    def _shopper_match(self, keys: list[tuple[str, ...]], i: int) -> tuple[int, ShopperTerm] | None:
        for size in range(min(self.shopper.max_words, len(keys) - i), 0, -1):
            window = keys[i:i + size]
            if any(not k for k in window):
                continue
            term = self.shopper.get(tuple(t for k in window for t in k))
            if term is None and size > 1:  # "t shirt" typed as separate words of a joined entry
                term = self.shopper.get((fold_plural("".join(t for k in window for t in k)),))
            if term is not None:
                return size, term
        return None

    def _correct(self, words: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """Words within one or two typos of a word the catalogue or the lexicons know, corrected
        (digits, short words, known words and common English words are left alone)."""
        out: list[str] = []
        corrections: list[tuple[str, str]] = []
        if self._speller is None:
            return words, corrections
        common = common_english_words()
        for w in words:
            if w == "_not_" or w in STOPWORDS or not w.isascii() or not w.isalpha() or w in self._known \
                    or fold_plural(w) in self._known or w in SYNONYMS or w in common:
                out.append(w)
                continue
            fixed = self._speller.correct(w)
            if fixed is not None and fixed != w:
                corrections.append((w, fixed))
                out.append(fixed)
            else:
                out.append(w)
        return out, corrections

    def _parse_price(self, text: str, out: list[Constraint]) -> str:
        for pattern, op in _PRICE_PATTERNS:
            m = pattern.search(text)
            if m and not all(math.isfinite(float(g)) for g in m.groups() if g is not None):
                continue  # a number beyond the float range ("under 999...9") is no price
            if m:
                if op == "range":
                    lo, hi = sorted((float(m.group(1)), float(m.group(2))))
                    out.append(Constraint(("price",), (lo, hi), "range", m.group(0).strip(), 0.95))
                else:
                    out.append(Constraint(("price",), float(m.group(1)), op, m.group(0).strip(), 0.95))
                return text[:m.start()] + " " + text[m.end():]
        m = _CHEAP.search(text)
        if m and self.cheap_price is not None:
            out.append(Constraint(("price",), self.cheap_price, "le", m.group(0), 0.5))
            return text[:m.start()] + " " + text[m.end():]
        m = _EXPENSIVE.search(text)
        if m and self.expensive_price is not None:
            out.append(Constraint(("price",), self.expensive_price, "ge", m.group(0), 0.5))
            return text[:m.start()] + " " + text[m.end():]
        return text


def _dedupe(constraints: list[Constraint]) -> list[Constraint]:
    seen: set[tuple[tuple[str, ...], str]] = set()
    out = []
    for c in constraints:
        key = (c.fields, str(c.value))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
