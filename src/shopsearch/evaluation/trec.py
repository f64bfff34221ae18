"""TREC formats: qrels, runs and topics, so results can be checked with trec_eval.

* qrels: ``qid 0 docid relevance`` per line (whitespace separated; relevance an integer, 0 =
  judged not relevant).
* run: ``qid Q0 docid rank score tag`` per line, the standard 6 columns. trec_eval ranks by
  score (descending; ties broken by docid descending) and ignores the rank column, so
  :func:`write_run` writes strictly decreasing scores: the engine's scores when they already
  are, else ``n - rank + 1``. :func:`read_run` orders the same way trec_eval does.
* topics: ``qid<TAB>query text`` per line (the common TSV form of TREC-style topics).

Readers collect every bad line and raise one :class:`TrecFormatError` naming ``file:line``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from shopsearch.evaluation.queries import EvalQuery

__all__ = [
    "TrecFormatError",
    "apply_qrels",
    "read_qrels",
    "read_run",
    "read_topics",
    "topics_to_queries",
    "write_qrels",
    "write_run",
]

logger = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]
Run = dict[str, list[tuple[str, float]]]


class TrecFormatError(ValueError):
    """A TREC file had bad lines; ``problems`` lists each as ``file:line: why``."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path, self.problems = path, problems
        listing = "\n  ".join(problems[:50]) + ("\n  ..." if len(problems) > 50 else "")
        super().__init__(f"{len(problems)} problem(s) in {path}:\n  {listing}")


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield lineno, line


def read_qrels(path: str | Path) -> Qrels:
    """``{qid: {docid: relevance}}`` from a qrels file; a repeated (qid, docid) keeps the last."""
    path = Path(path)
    out: Qrels = {}
    problems: list[str] = []
    for lineno, line in _lines(path):
        parts = line.split()
        if len(parts) != 4:
            problems.append(f"{path}:{lineno}: expected 4 columns 'qid iter docid relevance', got {len(parts)}")
            continue
        qid, _, docid, rel = parts
        try:
            value = int(rel)
        except ValueError:
            problems.append(f"{path}:{lineno}: relevance must be an integer, got {rel!r}")
            continue
        out.setdefault(qid, {})[docid] = value
    if problems:
        raise TrecFormatError(str(path), problems)
    if not out:
        raise TrecFormatError(str(path), [f"{path}: no judgements in file"])
    return out


def write_qrels(queries: Iterable[EvalQuery], path: str | Path) -> None:
    """Write the judgements of ``queries`` as qrels (graded gains are rounded to integers)."""
    lines = []
    for q in queries:
        judged = q.gains if q.gains is not None else dict.fromkeys(q.relevant, 1)
        lines += [f"{q.qid} 0 {pid} {round(g)}" for pid, g in judged.items()]
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_run(path: str | Path) -> Run:
    """``{qid: [(docid, score), ...]}``, each list in trec_eval order (score desc, docid desc)."""
    path = Path(path)
    out: Run = {}
    problems: list[str] = []
    for lineno, line in _lines(path):
        parts = line.split()
        if len(parts) != 6:
            problems.append(f"{path}:{lineno}: expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}")
            continue
        try:
            score = float(parts[4])
        except ValueError:
            problems.append(f"{path}:{lineno}: score must be a number, got {parts[4]!r}")
            continue
        if not math.isfinite(score):
            problems.append(f"{path}:{lineno}: score must be finite, got {parts[4]!r}")
            continue
        out.setdefault(parts[0], []).append((parts[2], score))
    if problems:
        raise TrecFormatError(str(path), problems)
    for qid, docs in out.items():
        docs.sort(key=lambda d: (d[1], d[0]), reverse=True)
        unique: dict[str, float] = {}
        for docid, score in docs:
            unique.setdefault(docid, score)
        out[qid] = list(unique.items())
    return out


def _check_tag(tag: str) -> str:
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(f"run tag must be non-empty without whitespace, got {tag!r}")
    return tag


def write_run(
    rankings: Mapping[str, Sequence[str]],
    path: str | Path,
    tag: str = "shopsearch",
    scores: Mapping[str, Sequence[float] | None] | None = None,
) -> int:
    """Write ``{qid: ranked ids}`` as a 6-column TREC run; returns the number of lines.

    ``scores[qid]`` (aligned with the ids) is written when strictly decreasing; otherwise the
    score column is ``n - rank + 1`` so that trec_eval keeps the given order. Ids and qids
    must not contain whitespace.
    """
    _check_tag(tag)
    lines: list[str] = []
    for qid, ids in rankings.items():
        if not qid or any(ch.isspace() for ch in qid):
            raise ValueError(f"TREC runs need qids without whitespace, got {qid!r}")
        given = None if scores is None else scores.get(qid)
        usable = (
            given is not None and len(given) == len(ids)
            and all(math.isfinite(s) for s in given)
            and all(x > y for x, y in itertools.pairwise(given))
        )
        n = len(ids)
        for rank, pid in enumerate(ids, start=1):
            if not pid or any(ch.isspace() for ch in pid):
                raise ValueError(f"TREC runs need ids without whitespace, got {pid!r} (query {qid!r})")
            score = given[rank - 1] if usable and given is not None else float(n - rank + 1)
            lines.append(f"{qid} Q0 {pid} {rank} {float(score)!r} {tag}")
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def read_topics(path: str | Path) -> dict[str, str]:
    """``{qid: text}`` from a ``qid<TAB>text`` file."""
    path = Path(path)
    out: dict[str, str] = {}
    problems: list[str] = []
    for lineno, line in _lines(path):
        qid, sep, text = line.rstrip("\r\n").partition("\t")
        if not sep or not qid.strip() or not text.strip():
            problems.append(f"{path}:{lineno}: expected 'qid<TAB>query text'")
        elif qid.strip() in out:
            problems.append(f"{path}:{lineno}: duplicate qid {qid.strip()!r}")
        else:
            out[qid.strip()] = text.strip()
    if problems:
        raise TrecFormatError(str(path), problems)
    return out


def apply_qrels(queries: Sequence[EvalQuery], qrels: Qrels) -> list[EvalQuery]:
    """Queries with their judgements replaced by ``qrels`` (graded; missing qid -> none).

    Logs a warning for queries without judgements and for judged qids that are not queries.
    """
    out = []
    for q in queries:
        judged = qrels.get(q.qid, {})
        gains = {pid: float(max(rel, 0)) for pid, rel in judged.items()}
        relevant = tuple(pid for pid, g in gains.items() if g > 0)
        out.append(EvalQuery(qid=q.qid, relevant=relevant, text=q.text, image=q.image, meta=q.meta, gains=gains))
    unjudged = [q.qid for q in queries if q.qid not in qrels]
    if unjudged:
        logger.warning("%d queries have no qrels (they score 0), e.g. %s", len(unjudged), unjudged[:5])
    extra = sorted(set(qrels) - {q.qid for q in queries})
    if extra:
        logger.warning("%d judged qids are not in the queries, e.g. %s", len(extra), extra[:5])
    return out


def topics_to_queries(topics: Mapping[str, str]) -> list[EvalQuery]:
    """Text queries without judgements (combine with :func:`apply_qrels`)."""
    return [EvalQuery(qid=qid, relevant=(), text=text) for qid, text in topics.items()]
