"""Coercion of single source values into product field values.

Each ``coerce_*`` function returns the coerced value or raises :class:`CoercionError` whose
message says what is allowed. Rules:

* ``id``: non-empty string, or an integer (also an integral float, e.g. from Parquet) turned
  into its decimal string. Booleans, fractional floats, lists, objects and empty strings are
  rejected.
* text (``title``, ``description``, ``brand``, ``currency``): strings are stripped; numbers
  are turned into strings; booleans, lists and objects are rejected.
* ``price`` (>= 0), ``rating`` (inside the mapping's ``rating_range``): numbers or numeric
  strings, finite.
* ``stock``: a whole number >= 0 (``"5"`` and ``5.0`` are accepted, ``5.5`` is not).
* ``category``: a list of names or a string path split on the first separator found.
* attributes: str, int or finite float; null, blank strings and NaN mean "absent".
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from shopsearch.types import AttributeValue

_VALUE_CHARS: Final[int] = 200


INT64_MAX = 2**63 - 1  # what SQLite and Arrow store as an integer


class CoercionError(ValueError):
    """A value that cannot be coerced; ``reason`` says what was expected."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def coerce_id(value: Any) -> str:
    """A product id as a non-empty string (integers and integral floats are converted)."""
    if isinstance(value, bool):
        raise CoercionError("id must be a string or an integer, got a boolean")
    if isinstance(value, str):
        if not value.strip():
            raise CoercionError("id must not be empty")
        return value.strip()
    if isinstance(value, int):
        return _int_text(value, "id")
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        raise CoercionError("id must be a string or an integer, got a float with a fractional part")
    raise CoercionError(f"id must be a string or an integer, got {kind_of(value)}")


def coerce_text(value: Any) -> str:
    """Text field value: strings stripped, numbers converted, anything else rejected."""
    return scalar_text(value)


def coerce_price(value: Any) -> float:
    """A finite price >= 0."""
    number = _number(value, "price")
    if not math.isfinite(number):
        raise CoercionError("price must be a finite number")
    if number < 0:
        raise CoercionError("price must be >= 0")
    return number


def coerce_rating(value: Any, bounds: tuple[float, float]) -> float:
    """A finite rating inside ``bounds`` (inclusive)."""
    number = _number(value, "rating")
    if not math.isfinite(number):
        raise CoercionError("rating must be a finite number")
    lo, hi = bounds
    if not lo <= number <= hi:
        raise CoercionError(f"rating must be within [{lo:g}, {hi:g}]")
    return number


def coerce_stock(value: Any) -> int:
    """A whole stock count >= 0 (``"5"`` and ``5.0`` are accepted)."""
    if isinstance(value, bool):
        raise CoercionError("stock must be a whole number, got a boolean")
    if isinstance(value, int):
        count = value
    else:
        number = _number(value, "stock")
        if not math.isfinite(number) or not number.is_integer():
            raise CoercionError("stock must be a whole number")
        count = int(number)
    if count < 0:
        raise CoercionError("stock must be >= 0")
    if count > INT64_MAX:
        raise CoercionError(f"stock must be at most {INT64_MAX}")
    return count


def coerce_category(
    value: Any, separators: tuple[str, ...], list_separator: str | None = None
) -> tuple[str, ...]:
    """A category path from a list of names or a string path ("A > B > C", "A/B/C")."""
    if isinstance(value, str):
        if list_separator is not None and list_separator in value:
            parts: list[Any] = value.split(list_separator)
        else:
            parts = [value]
            for sep in separators:
                if sep in value:
                    parts = value.split(sep)
                    break
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        try:
            parts = [scalar_text(value)]
        except CoercionError:
            raise CoercionError(
                f"category must be a string path or a list, got {kind_of(value)}"
            ) from None
    path: list[str] = []
    for part in parts:
        if is_blank(part):
            continue
        try:
            path.append(scalar_text(part))
        except CoercionError:
            raise CoercionError(f"category levels must be strings, got {kind_of(part)}") from None
    return tuple(path)


def attribute_value(value: Any) -> AttributeValue | None:
    """An attribute value (str, int or finite float), or None when absent (null, "", NaN)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CoercionError("attribute values must be str, int or float, got a boolean")
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int):
        if abs(value) > INT64_MAX:
            raise CoercionError(f"attribute integers must be within +-{INT64_MAX}")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise CoercionError("attribute values must be finite")
        return value
    raise CoercionError(f"attribute values must be str, int or float, got {kind_of(value)}")


def show_value(value: Any) -> str | None:
    """The offending value as short text for a reject (None when there is none)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # circular structures, integers with more digits than str() converts
            text = f"<{kind_of(value)} that cannot be shown>"
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def image_refs(value: Any, list_separator: str | None) -> list[str]:
    if isinstance(value, str):
        parts = value.split(list_separator) if list_separator else [value]
        return [p.strip() for p in parts if p.strip()]
    if isinstance(value, (list, tuple)):
        refs: list[str] = []
        for item in value:
            if is_blank(item):
                continue
            if not isinstance(item, str):
                raise CoercionError(f"image entries must be strings, got {kind_of(item)}")
            refs.append(item.strip())
        return refs
    raise CoercionError(f"images must be a string or a list of strings, got {kind_of(value)}")


def scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        raise CoercionError("expected text, got a boolean")
    if isinstance(value, int):
        return _int_text(value, "text")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionError("expected text, got a non-finite number")
        return str(value)
    raise CoercionError(
        f"expected text, got {kind_of(value)} (objects and lists are not converted)"
    )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise CoercionError(f"{name} must be a number, got a boolean")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond the float range
            raise CoercionError(f"{name} must be a finite number") from None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise CoercionError(f"{name} must be a number, got text that is not numeric") from None
    raise CoercionError(f"{name} must be a number, got {kind_of(value)}")


def _int_text(value: int, name: str) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise CoercionError(f"{name}: integer has too many digits") from None


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"
