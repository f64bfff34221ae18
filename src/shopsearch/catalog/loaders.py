"""Load a catalog file into validated products plus a list of rejects.

:func:`load_catalog` streams the rows of a JSONL, CSV or Parquet file, maps and validates each
(:mod:`shopsearch.catalog.validate`), finds duplicate ids, checks local images in a thread
pool, and returns a :class:`CatalogLoad`: every good row as a :class:`Product`, in file order,
and every problem of every bad row as a :class:`Reject`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shopsearch.catalog import images as image_checks
from shopsearch.catalog.coerce import show_value
from shopsearch.catalog.errors import CatalogError
from shopsearch.catalog.mapping import FieldMapping
from shopsearch.catalog.readers import detect_format, iter_rows
from shopsearch.catalog.validate import ROW_FIELD, RowOutcome, validate_row
from shopsearch.types import Product, Reject

logger = logging.getLogger(__name__)

_STRICT_SHOWN: Final[int] = 5


@dataclass(frozen=True)
class CatalogLoad:
    """The result of loading one catalog file.

    ``products``: every good row, in file order. ``rejects``: every problem of every bad row
    (a row with several problems has several rejects; it is rejected once). ``n_rows``: rows
    read (blank lines not counted). ``source``: absolute path of the catalog file.
    ``warnings``: file-level oddities that did not stop the load (a mapped column no row has).
    """

    source: str
    products: list[Product]
    rejects: list[Reject]
    n_rows: int
    warnings: tuple[str, ...] = ()

    @property
    def n_rejected_rows(self) -> int:
        """Number of distinct rows rejected (``n_rows == len(products) + n_rejected_rows``)."""
        return len({r.line for r in self.rejects})

    def write_rejects(self, path: str | Path) -> Path:
        """Write ``rejects.jsonl``: one :meth:`Reject.to_dict` per line (written even if empty)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for reject in self.rejects:
                fh.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")
        logger.info("wrote %d rejects to %s", len(self.rejects), out)
        return out

    def summary(self) -> str:
        """One line: rows read, products kept, rows rejected, problems."""
        return (
            f"{self.source}: {self.n_rows} rows, {len(self.products)} products, "
            f"{self.n_rejected_rows} rejected rows ({len(self.rejects)} problems)"
        )


def load_catalog(
    path: str | Path,
    mapping: FieldMapping | None = None,
    *,
    check_images: bool = True,
    strict: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> CatalogLoad:
    """Load and validate a catalog file (``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``).

    Args:
        path: the catalog file; relative image paths in it are taken from its folder.
        mapping: source columns -> product fields; ``None`` uses :class:`FieldMapping` defaults.
        check_images: open every local image with Pillow (``verify()``) and reject rows whose
            image is missing, not a file or not decodable. URLs are never fetched.
        strict: raise :class:`CatalogError` if any row is bad (after reading the whole file,
            so the message can give the total).
        workers: threads for the image checks (default: the thread pool's default).
        progress: show a progress bar while checking images.

    Raises:
        CatalogError: the file is missing, has an unknown extension or cannot be read, or
            ``strict`` is set and some row was rejected.
    """
    started = time.perf_counter()
    mapping = mapping if mapping is not None else FieldMapping()
    source = Path(os.path.abspath(Path(path).expanduser()))
    if not source.exists():
        raise CatalogError(f"catalog file not found: {str(source)!r}")
    if not source.is_file():
        raise CatalogError(f"catalog path is not a file: {str(source)!r}")
    fmt = detect_format(source)
    file = str(source)
    base_dir = source.parent

    outcomes: list[RowOutcome] = []
    first_line: dict[str, int] = {}
    seen_columns: set[str] = set()
    n_rows = 0
    unit = "row" if fmt == "parquet" else "line"  # what Reject.line counts
    try:
        rows = iter_rows(source, fmt)
        for raw in rows:
            n_rows += 1
            if raw.values is None:
                outcome = RowOutcome(line=raw.line, product_id=None, fields={})
                outcome.reject(file, ROW_FIELD, raw.error or "unreadable row", raw.raw)
                outcomes.append(outcome)
                continue
            seen_columns.update(raw.values)
            outcome = validate_row(
                raw.values,
                line=raw.line,
                file=file,
                mapping=mapping,
                base_dir=base_dir,
                split_lists=fmt == "csv",
            )
            if outcome.product_id is not None:
                first = first_line.setdefault(outcome.product_id, raw.line)
                if first != raw.line:
                    outcome.reject(
                        file,
                        "id",
                        f"duplicate id {outcome.product_id!r}; first seen on {unit} {first}",
                        outcome.product_id,
                    )
            outcomes.append(outcome)
    except OSError as exc:
        raise CatalogError(f"catalog file {file!r} could not be read: {exc}") from exc

    image_problems: dict[str, str | None] = {}
    if check_images:
        unique = list(dict.fromkeys(p for o in outcomes for p in o.local_images))
        checked = image_checks.check_images(unique, workers=workers, progress=progress)
        image_problems = dict(zip(unique, checked, strict=True))

    products: list[Product] = []
    rejects: list[Reject] = []
    for outcome in outcomes:
        for image in outcome.local_images:
            problem = image_problems.get(image)
            if problem is not None:
                outcome.reject(file, "images", f"{problem}: {image}", image)
        if not outcome.rejects:
            try:
                products.append(Product(**outcome.fields))
            except (TypeError, ValueError) as exc:  # validation above should make this unreachable
                outcome.reject(file, ROW_FIELD, f"product could not be built: {exc}")
        rejects.extend(outcome.rejects)

    warnings = _warnings(mapping, seen_columns, n_rows)
    result = CatalogLoad(
        source=file, products=products, rejects=rejects, n_rows=n_rows, warnings=warnings
    )
    for warning in warnings:
        logger.warning("catalog %s: %s", file, warning)
    logger.info(
        "%s in %.2fs (%s, images %s)",
        result.summary(),
        time.perf_counter() - started,
        fmt,
        "checked" if check_images else "not checked",
    )
    if rejects:
        logger.info("first reject: %s", rejects[0])
    if strict and rejects:
        raise CatalogError(_strict_message(result))
    return result


def _warnings(mapping: FieldMapping, seen: set[str], n_rows: int) -> tuple[str, ...]:
    if n_rows == 0:
        return ("the catalog has no rows",)
    out: list[str] = []
    missing = [c for c in mapping.declared_columns() if c not in seen]
    if missing:
        out.append(
            f"the mapping names columns that no row has: {', '.join(missing)} "
            f"(columns seen: {', '.join(sorted(seen))})"
        )
    if not any(c in seen for c in mapping.sources("id")):
        out.append(
            f"no row has an id column (looked for: {', '.join(mapping.sources('id'))}); "
            'map one with id = "<column>"'
        )
    return tuple(out)


def _strict_message(result: CatalogLoad) -> str:
    shown = "\n".join(
        f"  {r}" + (f" [value: {show_value(r.value)}]" if r.value else "")
        for r in result.rejects[:_STRICT_SHOWN]
    )
    more = len(result.rejects) - _STRICT_SHOWN
    tail = f"\n  ... and {more} more" if more > 0 else ""
    n_shown = min(_STRICT_SHOWN, len(result.rejects))
    return (
        f"catalog {result.source!r}: {result.n_rejected_rows} of {result.n_rows} rows rejected "
        f"({len(result.rejects)} problems in total); first {n_shown}:"
        f"\n{shown}{tail}"
    )
