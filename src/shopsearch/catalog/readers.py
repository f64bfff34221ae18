"""Streaming row readers for catalog files: JSONL, CSV and Parquet.

Each reader yields :class:`RawRow` records one at a time, in file order, without holding the
raw file in memory. A row that cannot be parsed (bad JSON, not an object, wrong cell count)
is yielded with ``error`` set, so the loader can turn it into a reject and go on; a file that
cannot be read at all raises :class:`~shopsearch.catalog.errors.CatalogError`.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from shopsearch.catalog.errors import CatalogError

CatalogFormat = Literal["jsonl", "csv", "parquet"]

FORMATS: Final[dict[str, CatalogFormat]] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
_PARQUET_BATCH_ROWS: Final[int] = 4096
_PREVIEW_CHARS: Final[int] = 200


@dataclass(frozen=True)
class RawRow:
    """One source row before mapping.

    ``line`` is the 1-based file line (JSONL, CSV: the line the row starts on) or the 1-based
    row index (Parquet). ``values`` is None when the row could not be parsed; ``error`` then
    says why and ``raw`` holds the start of the offending text.
    """

    line: int
    values: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None


def detect_format(path: Path) -> CatalogFormat:
    """Catalog format from the file extension; unknown extensions raise ``CatalogError``."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CatalogError(
            f"catalog file {str(path)!r} has unknown extension {path.suffix!r}; "
            f"allowed: {', '.join(FORMATS)}"
        )
    return fmt


def iter_rows(path: Path, fmt: CatalogFormat) -> Iterator[RawRow]:
    """Rows of ``path`` read as ``fmt``."""
    if fmt == "jsonl":
        return iter_jsonl(path)
    if fmt == "csv":
        return iter_csv(path)
    return iter_parquet(path)


def iter_jsonl(path: Path) -> Iterator[RawRow]:
    """JSON Lines: one object per line; blank lines are skipped (but still counted)."""
    with path.open("rb") as fh:
        for lineno, data in enumerate(fh, start=1):
            if not data.strip():
                continue
            try:
                text = data.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield RawRow(lineno, None, f"line is not valid UTF-8: {exc}", _preview(data))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRow(lineno, None, f"line is not valid JSON: {exc.msg}", _preview(text))
                continue
            except ValueError as exc:  # an integer literal over Python's 4300-digit limit
                yield RawRow(lineno, None, f"line is not usable JSON: {exc}", _preview(text))
                continue
            except RecursionError:
                yield RawRow(lineno, None, "line is not usable JSON: nested too deeply", _preview(text))
                continue
            if not isinstance(obj, dict):
                yield RawRow(
                    lineno, None, f"line is a JSON {_json_kind(obj)}, not an object", _preview(text)
                )
                continue
            yield RawRow(lineno, obj)


def iter_csv(path: Path) -> Iterator[RawRow]:
    """CSV with a header row. Empty cells are left out of ``values`` (missing).

    Line numbers are file lines (the header is line 1); a quoted cell spanning several lines
    gives its row the number of the line it starts on.
    """
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None:
                return
            _check_header(path, header)
            end_of_previous = reader.line_num
            for cells in reader:
                start = end_of_previous + 1
                end_of_previous = reader.line_num
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # blank line
                if len(cells) != len(header):
                    yield RawRow(
                        start,
                        None,
                        f"row has {len(cells)} cells but the header has {len(header)}",
                        _preview(",".join(cells)),
                    )
                    continue
                yield RawRow(start, {k: v for k, v in zip(header, cells, strict=True) if v.strip()})
        except UnicodeDecodeError as exc:
            line = reader.line_num + 1
            raise CatalogError(
                f"catalog file {str(path)!r} is not valid UTF-8 near line {line}: {exc}"
            ) from exc
        except csv.Error as exc:
            raise CatalogError(
                f"catalog file {str(path)!r} is not valid CSV at line {reader.line_num}: {exc}"
            ) from exc


def iter_parquet(path: Path) -> Iterator[RawRow]:
    """Parquet via pyarrow, in record batches; ``line`` is the 1-based row index.

    Decimals become floats and dates/times ISO strings, so values stay JSON-friendly.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise CatalogError(f"catalog file {str(path)!r} is not readable Parquet: {exc}") from exc
    index = 0
    try:
        for batch in pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            for record in batch.to_pylist():
                index += 1
                yield RawRow(index, {k: _plain(v) for k, v in record.items()})
    except (pa.ArrowException, OSError) as exc:
        raise CatalogError(
            f"catalog file {str(path)!r}: Parquet read failed after row {index}: {exc}"
        ) from exc


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise CatalogError(
                f"catalog file {str(path)!r}: CSV header column {position} has no name"
            )
        if name in seen:
            raise CatalogError(f"catalog file {str(path)!r}: CSV header repeats column {name!r}")
        seen.add(name)


def _plain(value: Any) -> Any:
    """Arrow's Python values made JSON-friendly (recursively for lists and structs)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _json_kind(obj: Any) -> str:
    if isinstance(obj, list):
        return "array"
    if isinstance(obj, str):
        return "string"
    if isinstance(obj, bool):
        return "boolean"
    if obj is None:
        return "null"
    return "number"


def _preview(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.rstrip("\r\n")
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"
