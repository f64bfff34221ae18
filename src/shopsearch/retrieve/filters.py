"""Attribute filters: parsed from "key=value" strings or given as a mapping, applied as masks.

Syntax of one filter string (``--filter`` on the CLI)::

    gender=Men            equality (case-insensitive for text)
    base_colour=Black|Navy Blue   membership in a set
    gender!=Women         inequality
    price<200  price<=200  rating>4  rating>=4   numeric ranges

Keys are product fields (``price``, ``rating``, ``stock``, ``brand``, ``currency``,
``category`` — matching any level of the path — ``id``) or attribute names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shopsearch.types import Product

Op = Literal["eq", "ne", "in", "lt", "le", "gt", "ge"]
_OPS: dict[str, Op] = {"<=": "le", ">=": "ge", "!=": "ne", "<": "lt", ">": "gt", "=": "eq"}
_FILTER_RE = re.compile(r"^\s*([^<>=!]+?)\s*(<=|>=|!=|<|>|=)\s*(.*?)\s*$")
_TOP_LEVEL = ("id", "brand", "currency", "price", "rating", "stock", "category")


class FilterError(ValueError):
    """A filter could not be parsed or names an unknown field."""


@dataclass(frozen=True)
class Filter:
    key: str
    op: Op
    value: Any

    def __post_init__(self) -> None:
        numeric = isinstance(self.value, (int, float)) and not isinstance(self.value, bool)
        if self.op in ("lt", "le", "gt", "ge") and (not numeric or math.isnan(self.value)):
            raise FilterError(f"filter {self.key}: {self.op} needs a number, got {self.value!r}")


def parse_filter(text: str) -> Filter:
    """Parse ``"price<200"``-style text; raises :class:`FilterError` naming the problem."""
    m = _FILTER_RE.match(text)
    if not m or not m.group(3):
        raise FilterError(
            f"cannot parse filter {text!r}; use key=value, key!=value, key=a|b, key<N, key<=N, key>N or key>=N"
        )
    key, sym, raw = m.group(1), m.group(2), m.group(3)
    op = _OPS[sym]
    if op in ("lt", "le", "gt", "ge"):
        try:
            return Filter(key, op, float(raw))
        except ValueError:
            raise FilterError(f"filter {text!r}: {sym} needs a number, got {raw!r}") from None
    if op == "eq" and "|" in raw:
        return Filter(key, "in", tuple(v.strip() for v in raw.split("|") if v.strip()))
    return Filter(key, op, raw)


def from_mapping(filters: Mapping[str, Any]) -> list[Filter]:
    """Filters from JSON shape: ``{"gender": "Men", "base_colour": ["Black", "Blue"],
    "price": {"lt": 200, "gte": 50}}`` (ops: eq ne lt lte le gt gte ge in)."""
    out: list[Filter] = []
    aliases = {"lte": "le", "gte": "ge"}
    for key, spec in filters.items():
        if isinstance(spec, Mapping):
            for op, value in spec.items():
                op = aliases.get(op, op)
                if op not in ("eq", "ne", "lt", "le", "gt", "ge", "in"):
                    raise FilterError(f"filter {key}: unknown operator {op!r}; use eq, ne, in, lt, lte, gt, gte")
                if op == "in":
                    if not isinstance(value, (list, tuple)):
                        raise FilterError(f"filter {key}: 'in' needs a list, got {value!r}")
                    value = tuple(value)
                out.append(Filter(key, op, value))  # type: ignore[arg-type]
        elif isinstance(spec, (list, tuple)):
            out.append(Filter(key, "in", tuple(spec)))
        else:
            out.append(Filter(key, "eq", spec))
    return out


def normalize_filters(filters: Sequence[str] | Mapping[str, Any] | Iterable[Filter] | None) -> list[Filter]:
    if filters is None:
        return []
    if isinstance(filters, Mapping):
        return from_mapping(filters)
    return [f if isinstance(f, Filter) else parse_filter(f) for f in filters]


def _value(product: Product, key: str) -> Any:
    if key in _TOP_LEVEL:
        return product.category if key == "category" else getattr(product, key)
    return product.attributes.get(key)


def _norm(v: Any) -> Any:
    return v.strip().casefold() if isinstance(v, str) else v


def _eq(actual: Any, wanted: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, tuple):  # category path: any level matches
        return any(_eq(a, wanted) for a in actual)
    if isinstance(actual, (int, float)) and not isinstance(actual, bool):
        try:
            return float(actual) == float(wanted)
        except (TypeError, ValueError):
            return False
    return _norm(str(actual)) == _norm(str(wanted))


def _num(actual: Any) -> float | None:
    if isinstance(actual, bool) or actual is None:
        return None
    try:
        return float(actual)
    except (TypeError, ValueError):
        return None


class FilterIndex:
    """Evaluates filters over a fixed product list; per-key value columns are built once."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = products
        self._columns: dict[str, list[Any]] = {}
        keys: set[str] = set(_TOP_LEVEL)
        for p in products:
            keys.update(p.attributes)
        self.keys = frozenset(keys)

    def _column(self, key: str) -> list[Any]:
        col = self._columns.get(key)
        if col is None:
            col = [_value(p, key) for p in self.products]
            self._columns[key] = col
        return col

    def mask(self, filters: Sequence[Filter]) -> np.ndarray | None:
        """Bool mask (n_products,) of products passing every filter; None when no filters."""
        if not filters:
            return None
        mask = np.ones(len(self.products), dtype=bool)
        for f in filters:
            if f.key not in self.keys:
                raise FilterError(
                    f"unknown filter field {f.key!r}; available: {', '.join(sorted(self.keys))}"
                )
            col = self._column(f.key)
            if f.op in ("eq", "ne", "in"):
                wanted = f.value if f.op == "in" else (f.value,)
                hit = np.fromiter((any(_eq(v, w) for w in wanted) for v in col), bool, len(col))
                mask &= ~hit if f.op == "ne" else hit
            else:
                nums = np.array([_num(v) if _num(v) is not None else np.nan for v in col], dtype=np.float64)
                with np.errstate(invalid="ignore"):
                    cmp = {"lt": nums < f.value, "le": nums <= f.value, "gt": nums > f.value,
                           "ge": nums >= f.value}[f.op]
                mask &= cmp
        return mask
