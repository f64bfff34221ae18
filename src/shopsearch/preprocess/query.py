"""Query understanding: structured constraints from what a shopper types (English and Chinese).

"black formal shoes for men under 200" and "男士黑色正装鞋 200元以下" both parse into
``base_colour=Black``, ``article_type=Formal Shoes``, ``gender=Men`` and ``price<=200``.
Attribute values come from the catalog itself (any low-cardinality text attribute, brands), so
the parser follows the shop's own vocabulary; Chinese is first mapped onto English terms with
the bilingual lexicon; synonyms (mens, ladies, 男款...) fold onto catalog values. Words that
match nothing pass through untouched. The parse is returned with results so a UI can show
each constraint as a removable chip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shopsearch.preprocess.lexicon import Lexicon, default_lexicon
from shopsearch.preprocess.text import SYNONYMS, fold_plural, normalize

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
        if self.op == "range":
            lo, hi = self.value  # type: ignore[misc]
            return {self.fields[0]: {"ge": lo, "le": hi}}
        return {self.fields[0]: {self.op: self.value}}


@dataclass(frozen=True)
class ParsedQuery:
    original: str
    normalized: str  # Chinese terms mapped to English; what the English-side signals search
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"original": self.original, "normalized": self.normalized,
                "constraints": [c.to_dict() for c in self.constraints]}


def _key(text: str) -> tuple[str, ...]:
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", normalize(text))
    out: list[str] = []
    for w in words:
        out.extend(fold_plural(p) for p in SYNONYMS.get(w, w).replace("-", "").split())
    return tuple(out)


class QueryParser:
    """Parses queries against a catalog vocabulary: ``{field: values}`` of text attributes."""

    def __init__(
        self, vocabulary: Mapping[str, Iterable[str]], lexicon: Lexicon | None = None,
        cheap_price: float | None = None, expensive_price: float | None = None,
    ) -> None:
        self.lexicon = lexicon if lexicon is not None else default_lexicon()
        self.cheap_price = cheap_price
        self.expensive_price = expensive_price
        self._values: dict[tuple[str, ...], dict[str, str]] = {}
        for fld, values in vocabulary.items():
            for value in values:
                key = _key(value)
                if key:
                    self._values.setdefault(key, {})[fld] = value
        self._max_len = max((len(k) for k in self._values), default=0)

    def parse(self, text: str) -> ParsedQuery:
        normalized = self.lexicon.normalize_query(text)
        lowered = normalize(normalized)
        constraints: list[Constraint] = []
        lowered = self._parse_price(lowered, constraints)
        lowered = _NEGATION.sub(" _not_ ", lowered)
        words = re.findall(r"_not_|[a-z0-9]+(?:-[a-z0-9]+)*", lowered)
        keys = [("\x00",) if w == "_not_" else _key(w) for w in words]
        i = 0
        while i < len(words):
            match = None
            for size in range(min(self._max_len, len(words) - i), 0, -1):
                key = tuple(t for k in keys[i:i + size] for t in k)
                if key in self._values:
                    match = (size, self._values[key])
                    break
            if match is None:
                i += 1
                continue
            size, by_field = match
            fields = tuple(sorted(by_field))
            values = tuple(by_field[f] for f in fields)
            conf = 0.9 if len(fields) == 1 else 0.8
            negated = i > 0 and words[i - 1] == "_not_"
            span = ("not " if negated else "") + " ".join(words[i:i + size])
            constraints.append(Constraint(fields, values[0], "ne" if negated else "eq", span, conf, values))
            i += size
        return ParsedQuery(text, normalized, tuple(_dedupe(constraints)))

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
