"""Declarative field mapping: which source columns feed each ``Product`` field.

A :class:`FieldMapping` is a frozen description, loaded from TOML/JSON (:func:`load_mapping`),
from ``--map key=value`` CLI flags (:meth:`FieldMapping.from_pairs`) or built in code. The
defaults load catalogs whose columns are named like the product fields (plus a few common
aliases) with no mapping at all.

Mapping keys (the same in TOML, JSON and ``--map``):

* Field sources -- ``id``, ``title``, ``description``, ``brand``, ``category``, ``price``,
  ``currency``, ``rating``, ``stock``, ``images``: a column name or a list of candidate
  columns. For single-valued fields the first candidate present in a row with a non-null value
  feeds the field; ``images`` concatenates every candidate present (``images`` + ``image`` ...).
  An explicit value replaces the default candidates (``title = "productDisplayName"``); an
  empty list switches the field off (its column then falls through to ``attributes``).
* ``category_from`` -- columns whose values, in order, form the category path (the columns
  stay attributes too). When set, the ``category`` sources are not read.
* ``attributes`` -- whitelist of columns kept as attributes; absent = every leftover scalar
  column. Leftover columns outside the whitelist go to ``extra`` (nothing is dropped silently).
* ``extra`` -- columns kept verbatim in ``Product.extra``.
* ``exclude`` -- columns ignored entirely.
* ``required`` -- product fields that must be present; ``id`` is always required.
* ``require_searchable`` -- reject rows with no title, no description and no image.
* ``rating_range`` -- inclusive ``[min, max]`` for ``rating``.
* ``list_separator`` -- separator of multi-valued CSV cells (images, category path).
* ``category_separators`` -- separators tried, in order, to split a category string path.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from shopsearch.types import PRODUCT_FIELDS

# Product fields that a mapping feeds from source columns. ``attributes`` and ``extra`` are
# built from the leftover columns, so they are not in this list.
SOURCE_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "title",
    "description",
    "brand",
    "category",
    "price",
    "currency",
    "rating",
    "stock",
    "images",
)
_COLUMN_LIST_KEYS: Final[tuple[str, ...]] = ("category_from", "extra", "exclude")
_STR_LIST_KEYS: Final[tuple[str, ...]] = (
    *SOURCE_FIELDS,
    *_COLUMN_LIST_KEYS,
    "attributes",
    "required",
    "category_separators",
)
_TRUE: Final[frozenset[str]] = frozenset({"true", "1", "yes", "on"})
_FALSE: Final[frozenset[str]] = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class FieldMapping:
    """Which source columns feed each product field, and the validation options.

    Every column-list field holds a tuple of column names; :meth:`from_dict` and
    :meth:`from_pairs` also accept a single string. See the module docstring for each key.
    """

    id: tuple[str, ...] = ("id", "product_id", "sku")
    title: tuple[str, ...] = ("title", "name")
    description: tuple[str, ...] = ("description",)
    brand: tuple[str, ...] = ("brand",)
    category: tuple[str, ...] = ("category",)
    price: tuple[str, ...] = ("price",)
    currency: tuple[str, ...] = ("currency",)
    rating: tuple[str, ...] = ("rating",)
    stock: tuple[str, ...] = ("stock",)
    images: tuple[str, ...] = (
        "images",
        "image",
        "image_url",
        "image_urls",
        "image_path",
        "image_paths",
    )
    category_from: tuple[str, ...] = ()
    attributes: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    required: tuple[str, ...] = ("id",)
    require_searchable: bool = True
    rating_range: tuple[float, float] = (0.0, 5.0)
    list_separator: str = "|"
    category_separators: tuple[str, ...] = (">", "/")

    def __post_init__(self) -> None:
        for key in _STR_LIST_KEYS:
            value = getattr(self, key)
            if key == "attributes" and value is None:
                continue
            object.__setattr__(self, key, _as_str_tuple(key, value))
        self._check_options()
        self._drop_claimed_default_aliases()
        self._check_overlaps()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every valid mapping key, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldMapping:
        """Build from a parsed TOML/JSON table; unknown keys raise ``ValueError``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a field mapping must be a table/object, got {type(data).__name__}")
        valid = cls.keys()
        unknown = sorted(k for k in data if k not in valid)
        if unknown:
            raise ValueError(
                f"unknown field mapping key {unknown[0]!r}"
                + (f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else "")
                + f"; valid keys: {', '.join(valid)}"
            )
        kwargs: dict[str, Any] = dict(data)
        if "rating_range" in kwargs:
            kwargs["rating_range"] = _as_range(kwargs["rating_range"])
        return cls(**kwargs)

    @classmethod
    def from_pairs(cls, pairs: Iterable[str], base: FieldMapping | None = None) -> FieldMapping:
        """Build from ``key=value`` strings, as given by repeated ``--map key=value`` flags.

        List keys take comma-separated values (``category_from=a,b,c``) and accumulate over
        repeated flags (``--map images=a --map images=b``); an empty value gives an empty list
        (``brand=`` switches the field off). ``rating_range=0,10``; ``require_searchable=false``.
        Keys not given keep their value from ``base`` (default: the defaults).
        """
        valid = cls.keys()
        data: dict[str, Any] = {}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"--map expects key=value, got {pair!r}")
            if key not in valid:
                raise ValueError(
                    f"unknown field mapping key {key!r}; valid keys: {', '.join(valid)}"
                )
            if key in _STR_LIST_KEYS:
                items = [item.strip() for item in raw.split(",") if item.strip()]
                data[key] = [*data.get(key, []), *items]
                continue
            if key in data:
                raise ValueError(f"field mapping key {key!r} given twice")
            if key == "require_searchable":
                flag = raw.strip().lower()
                if flag not in _TRUE | _FALSE:
                    raise ValueError(
                        f"field mapping key 'require_searchable' must be true or false, got {raw!r}"
                    )
                data[key] = flag in _TRUE
            elif key == "rating_range":
                data[key] = [part.strip() for part in raw.split(",")]
            else:  # list_separator: taken verbatim, spaces included
                data[key] = raw
        merged = {**(base or cls()).to_dict(), **data}
        return cls.from_dict(merged)

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready dict that :meth:`from_dict` turns back into an equal mapping."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue  # attributes = None (no whitelist) has no TOML spelling
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def with_options(self, **changes: Any) -> FieldMapping:
        """A copy with some keys changed (validated like a fresh mapping)."""
        return replace(self, **changes)

    # -- queries used by the loader -------------------------------------------------------

    def sources(self, field: str) -> tuple[str, ...]:
        """Candidate source columns of one product field (honours ``category_from``)."""
        if field not in SOURCE_FIELDS:
            raise ValueError(f"no sources for field {field!r}; allowed: {', '.join(SOURCE_FIELDS)}")
        if field == "category" and self.category_from:
            return ()
        return tuple(getattr(self, field))

    def declared_columns(self) -> tuple[str, ...]:
        """Columns this mapping names explicitly (defaults excluded), for 'never seen' warnings."""
        out: list[str] = []
        for key in SOURCE_FIELDS:
            out.extend(c for c in getattr(self, key) if c not in _default(key))
        out.extend(self.category_from)
        out.extend(self.attributes or ())
        out.extend(self.extra)
        out.extend(self.exclude)
        return tuple(dict.fromkeys(out))

    # -- validation -----------------------------------------------------------------------

    def _check_options(self) -> None:
        if not self.id:
            raise ValueError("field mapping key 'id' needs at least one source column")
        bad = [f for f in self.required if f not in PRODUCT_FIELDS]
        if bad:
            raise ValueError(
                f"field mapping key 'required' names unknown product field {bad[0]!r}; "
                f"allowed: {', '.join(PRODUCT_FIELDS)}"
            )
        if "id" not in self.required:
            object.__setattr__(self, "required", ("id", *self.required))
        lo, hi = _as_range(self.rating_range)
        object.__setattr__(self, "rating_range", (lo, hi))
        if not isinstance(self.list_separator, str) or not self.list_separator:
            raise ValueError(
                "field mapping key 'list_separator' must be a non-empty string, "
                f"got {self.list_separator!r}"
            )
        if not isinstance(self.require_searchable, bool):
            raise TypeError(
                "field mapping key 'require_searchable' must be true or false, "
                f"got {self.require_searchable!r}"
            )

    def _drop_claimed_default_aliases(self) -> None:
        """A default alias named elsewhere (``exclude = ["name"]``, ``title = "sku"``) stops
        feeding the field it is a default for."""
        claimed = {*self.category_from, *(self.attributes or ()), *self.extra, *self.exclude}
        for key in SOURCE_FIELDS:  # explicit sources (title = "sku") claim their columns too
            value = getattr(self, key)
            if value != _default(key):
                claimed.update(value)
        for key in SOURCE_FIELDS:
            value = getattr(self, key)
            if value == _default(key) and claimed & set(value):
                object.__setattr__(self, key, tuple(c for c in value if c not in claimed))
        if not self.id:
            raise ValueError(
                "field mapping leaves 'id' without a source column: every default id column "
                "is claimed by category_from/attributes/extra/exclude"
            )

    def _check_overlaps(self) -> None:
        owner: dict[str, str] = {}
        for key in SOURCE_FIELDS:
            for column in getattr(self, key):
                if column in owner:
                    raise ValueError(
                        f"column {column!r} feeds both {owner[column]!r} and {key!r}; "
                        "a column may feed one product field"
                    )
                owner[column] = key
        groups = {
            "category_from": self.category_from,
            "attributes": self.attributes or (),
            "extra": self.extra,
            "exclude": self.exclude,
        }
        for group, columns in groups.items():
            for column in columns:
                if column in owner and not (
                    group == "category_from" and owner[column] == "category"
                ):
                    raise ValueError(
                        f"column {column!r} is listed in {group!r} but also feeds {owner[column]!r}"
                    )
        # category_from columns stay attributes, so they may also sit in the whitelist.
        pairs = (
            ("attributes", "extra"),
            ("attributes", "exclude"),
            ("extra", "exclude"),
            ("category_from", "exclude"),
        )
        for a, b in pairs:
            both = sorted(set(groups[a]) & set(groups[b]))
            if both:
                raise ValueError(f"column {both[0]!r} is listed in both {a!r} and {b!r}")


def load_mapping(path: str | Path) -> FieldMapping:
    """Read a field mapping from a ``.toml`` or ``.json`` file (top-level keys, see module doc)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ValueError(f"mapping file {str(p)!r} has extension {suffix!r}; allowed: .toml, .json")
    try:
        if suffix == ".toml":
            with p.open("rb") as fh:
                data: Any = tomllib.load(fh)
        else:
            with p.open(encoding="utf-8") as fh:
                data = json.load(fh)
    except FileNotFoundError:
        raise ValueError(f"mapping file not found: {str(p)!r}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"mapping file {str(p)!r} is not valid {suffix[1:].upper()}: {exc}"
        ) from exc
    try:
        return FieldMapping.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"mapping file {str(p)!r}: {exc}") from exc


def _as_str_tuple(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(
            f"field mapping key {key!r} must be a string or a list of strings, got {value!r}"
        )
    stripped = tuple(v.strip() for v in value)
    if any(not v for v in stripped):
        raise ValueError(f"field mapping key {key!r} contains an empty name: {value!r}")
    return tuple(dict.fromkeys(stripped))  # dedupe, keep order


def _as_range(value: Any) -> tuple[float, float]:
    msg = (
        f"field mapping key 'rating_range' must be [min, max] with finite min < max, got {value!r}"
    )
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(msg)
    try:
        lo, hi = (float(v) for v in value if not isinstance(v, bool))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        raise ValueError(msg) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(msg)
    return lo, hi


def _default(key: str) -> Any:
    """The class default of one mapping key (readable inside ``__post_init__``)."""
    return FieldMapping.__dataclass_fields__[key].default
