"""JSON Lines files, read one way: query sets, interleaving logs, event logs.

:func:`read_jsonl` yields every non-blank line with its 1-based line number, parsed, or with
the reason it could not be parsed, so each caller can report every bad line of a file at once
(and keep the good ones) in its own terms. A UTF-8 byte-order mark is accepted. Catalogs have
their own streaming reader with previews for the reject file
(:func:`shopsearch.catalog.readers.iter_jsonl`).

This module sits below every stage (it imports nothing of shopsearch).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class JsonLine:
    """Line ``lineno`` of a file: its parsed ``value``, or ``error`` (then ``value`` is None);
    ``text`` is the line as read, without its line break."""

    lineno: int
    value: Any
    error: str | None = None
    text: str = ""


def read_jsonl(path: str | Path) -> Iterator[JsonLine]:
    """The non-blank lines of ``path``, in order. Errors: "invalid JSON: MESSAGE (column N)";
    numbers too long or nesting too deep for Python: "unusable JSON: ...". A file that cannot
    be opened or decoded as UTF-8 raises (``OSError``, ``UnicodeDecodeError``)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            text = line.rstrip("\r\n")
            try:
                yield JsonLine(lineno, json.loads(line), None, text)
            except json.JSONDecodeError as exc:
                yield JsonLine(lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})", text)
            except (ValueError, RecursionError) as exc:
                yield JsonLine(lineno, None, f"unusable JSON: {exc or 'nested too deeply'}", text)
