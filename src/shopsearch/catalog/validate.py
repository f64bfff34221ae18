"""Turn one raw source row into validated :class:`~shopsearch.types.Product` fields.

:func:`validate_row` applies a :class:`~shopsearch.catalog.mapping.FieldMapping` to a row and
coerces every field, collecting *every* problem of the row (a row with three bad fields gets
three rejects). It checks only what one row can tell: duplicate ids and image files are
checked by the loader, which sees all rows.

Coercion of single values is in :mod:`shopsearch.catalog.coerce`. Here: ``category_from``
builds the path one level per column; ``images`` are strings (or lists of strings), local paths
made absolute (relative to the catalog's folder), http(s) URLs kept as they are; leftover
scalar columns become attributes and other leftovers ``extra``. Empty strings and nulls mean
"absent" everywhere except for ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from shopsearch.catalog.coerce import (
    CoercionError,
    attribute_value,
    coerce_category,
    coerce_id,
    coerce_price,
    coerce_rating,
    coerce_stock,
    coerce_text,
    image_refs,
    is_blank,
    kind_of,
    scalar_text,
    show_value,
)
from shopsearch.catalog.images import is_url, resolve_image
from shopsearch.catalog.mapping import FieldMapping
from shopsearch.types import AttributeValue, Reject

NESTED_ATTRIBUTES_COLUMN: Final[str] = "attributes"
SEARCHABLE_FIELD: Final[str] = "title/description/images"
ROW_FIELD: Final[str] = "row"
_TEXT_FIELDS: Final[tuple[str, ...]] = ("title", "description", "brand", "currency")
# Longest accepted values, in characters. Longer values are rejected with the field named: a
# 10 MB title would stall every stage after it (tokenising, embedding, the page).
MAX_CHARS: Final[dict[str, int]] = {"id": 128, "title": 1_000, "description": 20_000, "brand": 200,
                                    "currency": 16}
MAX_CATEGORY_CHARS: Final[int] = 200  # one level of the category path
MAX_ATTRIBUTE_NAME_CHARS: Final[int] = 200
MAX_ATTRIBUTE_CHARS: Final[int] = 20_000  # one attribute value (real catalogues keep ingredient lists here)


@dataclass
class RowOutcome:
    """The mapped fields of one row and its problems so far.

    ``fields`` holds :class:`Product` keyword arguments; it is only meaningful when
    ``rejects`` stays empty. ``local_images`` are the absolute local image paths to check.
    """

    line: int
    product_id: str | None
    fields: dict[str, Any]
    rejects: list[Reject] = field(default_factory=list)
    local_images: tuple[str, ...] = ()

    def reject(self, file: str, field_name: str, reason: str, value: Any = None) -> None:
        """Record one more problem of this row."""
        self.rejects.append(
            Reject(
                file=file,
                line=self.line,
                field=field_name,
                reason=reason,
                product_id=self.product_id,
                value=show_value(value),
            )
        )


def validate_row(
    values: Mapping[str, Any],
    *,
    line: int,
    file: str,
    mapping: FieldMapping,
    base_dir: Path,
    split_lists: bool = False,
) -> RowOutcome:
    """Map and coerce one parsed row; every problem found becomes a reject.

    ``split_lists``: split multi-valued cells (images, category) on ``mapping.list_separator``
    -- set for CSV, where a cell cannot hold a list.
    """
    problems: list[tuple[str, str, Any]] = []
    consumed: set[str] = set()
    out: dict[str, Any] = {}

    def fail(field_name: str, column: str, exc: CoercionError, value: Any) -> None:
        where = "" if column == field_name else f" (column {column!r})"
        problems.append((field_name, exc.reason + where, value))

    # id ------------------------------------------------------------------------------
    product_id: str | None = None
    column, raw = _first_present(values, mapping.sources("id"), id_field=True)
    if column is not None:
        consumed.add(column)
        try:
            product_id = coerce_id(raw)
            out["id"] = product_id
        except CoercionError as exc:
            fail("id", column, exc, raw)

    # scalar fields ---------------------------------------------------------------------
    for name in (*_TEXT_FIELDS, "price", "rating", "stock"):
        column, raw = _first_present(values, mapping.sources(name))
        if column is None:
            continue
        consumed.add(column)
        try:
            if name in _TEXT_FIELDS:
                out[name] = coerce_text(raw)
            elif name == "price":
                out[name] = coerce_price(raw)
            elif name == "rating":
                out[name] = coerce_rating(raw, mapping.rating_range)
            else:
                out[name] = coerce_stock(raw)
        except CoercionError as exc:
            fail(name, column, exc, raw)

    # category ---------------------------------------------------------------------------
    if mapping.category_from:
        path: list[str] = []
        for column in mapping.category_from:  # not consumed: these stay attributes too
            raw = values.get(column)
            if is_blank(raw):
                continue
            try:
                path.append(scalar_text(raw))
            except CoercionError as exc:
                fail("category", column, exc, raw)
        out["category"] = tuple(path)
    else:
        column, raw = _first_present(values, mapping.sources("category"))
        if column is not None:
            consumed.add(column)
            try:
                out["category"] = coerce_category(
                    raw,
                    mapping.category_separators,
                    mapping.list_separator if split_lists else None,
                )
            except CoercionError as exc:
                fail("category", column, exc, raw)

    # images -----------------------------------------------------------------------------
    images: list[str] = []
    for column in mapping.sources("images"):
        raw = values.get(column)
        if is_blank(raw):
            continue
        consumed.add(column)
        try:
            for ref in image_refs(raw, mapping.list_separator if split_lists else None):
                try:
                    images.append(resolve_image(ref, base_dir))
                except ValueError as exc:
                    raise CoercionError(str(exc)) from None
        except CoercionError as exc:
            fail("images", column, exc, raw)
    out["images"] = tuple(dict.fromkeys(images))

    # attributes and extra from the leftover columns --------------------------------------
    attributes: dict[str, AttributeValue] = {}
    extra: dict[str, Any] = {}
    for column, raw in values.items():
        if column in consumed or column in mapping.exclude:
            continue
        if column in mapping.extra:
            if raw is not None:
                extra[column] = raw
            continue
        if column == NESTED_ATTRIBUTES_COLUMN:
            if is_blank(raw):
                continue
            if not isinstance(raw, dict):
                fail(
                    "attributes",
                    column,
                    CoercionError(f"expected an object, got {kind_of(raw)}"),
                    raw,
                )
                continue
            for key, inner in raw.items():
                try:
                    value = attribute_value(inner)
                except CoercionError as exc:
                    fail(f"attributes.{key}", f"attributes.{key}", exc, inner)
                    continue
                if value is not None:
                    attributes.setdefault(str(key), value)  # a top-level column wins
            continue
        whitelisted = mapping.attributes is None or column in mapping.attributes
        try:
            value = attribute_value(raw)
        except CoercionError as exc:
            if mapping.attributes is not None and whitelisted:
                fail(column, column, exc, raw)  # an explicitly listed attribute must be one
            elif not is_blank(raw):
                extra[column] = raw
            continue
        if value is None:
            continue
        if whitelisted:
            attributes[column] = value
        else:
            extra[column] = value
    out["attributes"] = attributes
    out["extra"] = extra

    problems.extend(_length_problems(out))

    # presence rules -------------------------------------------------------------------------
    failed = {p[0] for p in problems}
    for name in mapping.required:
        if name not in failed and _is_empty(out.get(name)):
            looked = _looked_in(mapping, name)
            problems.append((name, f"required field {name!r} is missing{looked}", None))
    searchable = ("title", "description", "images")
    if (
        mapping.require_searchable
        and not failed.intersection(searchable)
        and all(_is_empty(out.get(name)) for name in searchable)
    ):
        problems.append(
            (
                SEARCHABLE_FIELD,
                (
                    "nothing searchable: title, description and images are all missing "
                    "(at least one is required)"
                ),
                None,
            )
        )

    outcome = RowOutcome(
        line=line,
        product_id=product_id,
        fields=out,
        local_images=tuple(i for i in out["images"] if not is_url(i)),
    )
    for name, reason, value in problems:
        outcome.reject(file, name, reason, value)
    return outcome


# -- helpers --------------------------------------------------------------------------------------


def _too_long(value: str, limit: int) -> str:
    return f"longer than {limit:,} characters ({len(value):,})"


def _length_problems(out: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(field, reason, value) for every value over its length limit."""
    problems: list[tuple[str, str, Any]] = []
    for name, limit in MAX_CHARS.items():
        value = out.get(name)
        if isinstance(value, str) and len(value) > limit:
            problems.append((name, _too_long(value, limit), value))
    for level in out.get("category", ()):
        if len(level) > MAX_CATEGORY_CHARS:
            problems.append(("category", _too_long(level, MAX_CATEGORY_CHARS), level))
    for key, value in out.get("attributes", {}).items():
        if len(key) > MAX_ATTRIBUTE_NAME_CHARS:
            problems.append((f"attributes.{key[:40]}...", f"attribute name {_too_long(key, MAX_ATTRIBUTE_NAME_CHARS)}",
                             key))
        elif isinstance(value, str) and len(value) > MAX_ATTRIBUTE_CHARS:
            problems.append((f"attributes.{key}", _too_long(value, MAX_ATTRIBUTE_CHARS), value))
    return problems



def _first_present(
    values: Mapping[str, Any], columns: tuple[str, ...], *, id_field: bool = False
) -> tuple[str | None, Any]:
    """The first column holding a value. For ``id`` an empty string counts (it is rejected)."""
    for column in columns:
        if column not in values:
            continue
        raw = values[column]
        if raw is None or (not id_field and is_blank(raw)):
            continue
        return column, raw
    return None, None


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, tuple, list, dict)) and len(value) == 0)


def _looked_in(mapping: FieldMapping, name: str) -> str:
    if name == "category" and mapping.category_from:
        columns: tuple[str, ...] = mapping.category_from
    elif name in ("attributes", "extra"):
        return ""
    else:
        columns = mapping.sources(name)
    return f" (looked in columns: {', '.join(columns)})" if columns else ""
