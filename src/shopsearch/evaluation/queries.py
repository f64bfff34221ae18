"""Evaluation query sets: JSONL files of queries with their relevant product ids.

One JSON object per line::

    {"qid": "q1", "query": "红色连衣裙", "relevant": ["p12", "p40"], "template": "colour"}
    {"qid": "q2", "image": "imgs/q2.jpg", "relevant": [1031]}
    {"qid": "q3", "query": "same but blue", "image": "imgs/q3.jpg", "relevant": ["p7"]}

* ``qid`` (string or integer, non-empty, unique in the file) and ``relevant`` (a list of product
  ids; integers are turned into strings) are required; an empty ``relevant`` list is allowed and
  such a query scores 0 on every metric. For graded relevance ``relevant`` may instead be an
  object ``{"p12": 2, "p40": 1}`` (id -> gain >= 0; gain 0 means judged not relevant); nDCG
  then uses the gains and every other metric uses gain > 0.
* At least one of ``query`` (text) and ``image`` is required. ``image`` is a path relative to
  the queries file (made absolute, and it must exist) or an http(s) URL (kept as is).
* Every other key (``template``, ``attributes``, ...) is kept in :attr:`EvalQuery.meta` so that
  results can be broken down by query type.

Blank lines are skipped. All problems in a file are collected and raised together as one
:class:`QueryFileError` (a ``ValueError``), each naming ``file:line`` and the field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsearch.jsonl import read_jsonl

__all__ = ["EvalQuery", "QueryFileError", "load_queries"]

logger = logging.getLogger(__name__)

_KNOWN_KEYS = frozenset({"qid", "query", "image", "relevant"})


@dataclass(frozen=True)
class EvalQuery:
    """One judged query.

    ``text`` and/or ``image`` is set (``image`` is an absolute path or an http(s) URL);
    ``relevant`` holds the relevant product ids, de-duplicated, in file order; ``meta`` holds
    the line's extra keys. ``gains`` is set for graded judgements (TREC qrels, or a
    ``relevant`` object): id -> gain, including judged non-relevant ids with gain 0.
    """

    qid: str
    relevant: tuple[str, ...]
    text: str | None = None
    image: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    gains: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.qid, str) or not self.qid.strip():
            raise ValueError(f"EvalQuery.qid must be a non-empty string, got {self.qid!r}")
        if self.text is None and self.image is None:
            raise ValueError(f"EvalQuery {self.qid!r} needs text, image or both")

    @property
    def judgements(self) -> dict[str, float] | tuple[str, ...]:
        """What the metrics score against: ``gains`` when graded, else ``relevant``."""
        return self.gains if self.gains is not None else self.relevant

    @property
    def modality(self) -> str:
        """``"text"``, ``"image"`` or ``"text+image"``."""
        if self.text is not None and self.image is not None:
            return "text+image"
        return "text" if self.text is not None else "image"

    def to_dict(self) -> dict[str, Any]:
        return {
            "qid": self.qid,
            "query": self.text,
            "image": self.image,
            "relevant": dict(self.gains) if self.gains is not None else list(self.relevant),
            **self.meta,
        }


class QueryFileError(ValueError):
    """A queries file had bad lines; ``problems`` lists each as ``"file:line: field 'x': why"``."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listing = "\n  ".join(problems)
        super().__init__(f"{len(problems)} problem(s) in queries file {path}:\n  {listing}")


def _is_id(value: Any) -> bool:
    # bool is an int subclass but never a sensible id; floats would stringify as "12.0".
    return (isinstance(value, str) and value.strip() != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _parse_line(
    obj: Any, where: str, base: Path, seen_qids: dict[str, str]
) -> tuple[EvalQuery | None, list[str]]:
    """Validate one decoded line; returns the query (None if bad) and its problems."""
    if not isinstance(obj, dict):
        return None, [f"{where}: expected a JSON object, got {type(obj).__name__}"]
    problems: list[str] = []

    def bad(name: str, reason: str) -> None:
        problems.append(f"{where}: field '{name}': {reason}")

    qid: str | None = None
    raw_qid = obj.get("qid")
    if raw_qid is None:
        bad("qid", "missing")
    elif not _is_id(raw_qid):
        bad("qid", f"must be a non-empty string or an integer, got {raw_qid!r}")
    else:
        qid = str(raw_qid)
        if qid in seen_qids:
            bad("qid", f"duplicate {qid!r} (first at {seen_qids[qid]})")
        else:
            seen_qids[qid] = where

    media_error = False
    text = obj.get("query")
    if text is not None and not isinstance(text, str):
        bad("query", f"must be a string, got {type(text).__name__} {text!r}")
        text, media_error = None, True
    elif text is not None and not text.strip():
        text = None

    image = obj.get("image")
    if image is not None and not isinstance(image, str):
        bad("image", f"must be a string path or URL, got {type(image).__name__} {image!r}")
        image, media_error = None, True
    elif image is not None and not image.strip():
        image = None
    elif image is not None and not image.startswith(("http://", "https://")):
        resolved = (base / image).resolve()
        if not resolved.is_file():
            bad("image", f"file not found: {image!r} (looked for {resolved})")
        image = str(resolved)

    if text is None and image is None and not media_error:
        bad("query/image", "a query needs a non-empty 'query' (text), an 'image', or both")

    relevant: list[str] = []
    gains: dict[str, float] | None = None
    raw_rel = obj.get("relevant")
    if raw_rel is None:
        bad("relevant", "missing (use [] for a query with no relevant products)")
    elif isinstance(raw_rel, dict):
        gains = {}
        for pid, value in raw_rel.items():
            if not pid.strip():
                bad("relevant", "ids must be non-empty")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < float("inf")):
                bad("relevant", f"gain for {pid!r} must be a finite number >= 0, got {value!r}")
            else:
                gains[pid] = float(value)
                if value > 0:
                    relevant.append(pid)
    elif not isinstance(raw_rel, list):
        bad("relevant", f"must be a list of product ids or an object id -> gain, got {type(raw_rel).__name__}")
    else:
        for pos, pid in enumerate(raw_rel):
            if not _is_id(pid):
                bad("relevant", f"item {pos} must be a non-empty string or integer id, got {pid!r}")
            else:
                relevant.append(str(pid))

    if problems or qid is None:
        return None, problems
    meta = {key: value for key, value in obj.items() if key not in _KNOWN_KEYS}
    query = EvalQuery(
        qid=qid,
        relevant=tuple(dict.fromkeys(relevant)),
        text=text,
        image=image,
        meta=meta,
        gains=gains,
    )
    return query, []


def load_queries(path: str | Path) -> list[EvalQuery]:
    """Read a JSONL queries file (format in the module docstring).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        QueryFileError: any line is invalid, or the file holds no queries; the message lists
            every problem as ``file:line: field 'name': reason``.
    """
    path = Path(path)
    base = path.resolve().parent
    queries: list[EvalQuery] = []
    problems: list[str] = []
    seen_qids: dict[str, str] = {}
    for line in read_jsonl(path):
        where = f"{path}:{line.lineno}"
        if line.error is not None:
            problems.append(f"{where}: {line.error}")
            continue
        query, line_problems = _parse_line(line.value, where, base, seen_qids)
        problems.extend(line_problems)
        if query is not None:
            queries.append(query)
    if not queries and not problems:
        problems.append(f"{path}: no queries in file")
    if problems:
        raise QueryFileError(str(path), problems)
    n_unjudged = sum(1 for q in queries if not q.relevant)
    if n_unjudged:
        logger.warning(
            "%d of %d queries in %s have no relevant ids; they will score 0",
            n_unjudged,
            len(queries),
            path,
        )
    return queries
