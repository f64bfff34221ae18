"""Run a query set through a search function and score it.

The search function is anything ``(query: EvalQuery, k: int) -> ranked product ids``, e.g.::

    report = evaluate(
        lambda q, k: engine.search(text=q.text, image=q.image, k=k).ids(), queries, k=10
    )
    print(report.to_table(group_by="template"))

Every ranking is cut at ``k`` before scoring, so ``mrr`` and ``map`` are over the top k
(see :mod:`shopsearch.evaluation.metrics` for the definitions and edge cases).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from shopsearch.evaluation.metrics import ranking_metrics
from shopsearch.evaluation.queries import EvalQuery
from shopsearch.types import SearchResult

__all__ = ["EvalReport", "SearchFn", "evaluate", "report_metric_names"]

logger = logging.getLogger(__name__)

SearchFn = Callable[[EvalQuery, int], "Sequence[str] | SearchResult"]
"""``search_fn(query, k)`` -> ranked product ids, best first (a ``SearchResult`` is accepted)."""

MISSING_GROUP = "(missing)"


def report_metric_names(k: int) -> tuple[str, ...]:
    """Metric keys of a report, in table order, excluding ``n_queries``."""
    return (f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"hit@{k}", "mrr", "map")


def _group_label(value: Any) -> str:
    if value is None:
        return MISSING_GROUP
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class EvalReport:
    """Scores for one query set.

    Attributes:
        k: the cut-off every ranking was truncated to.
        metrics: exactly ``ndcg@k, recall@k, precision@k, hit@k, mrr, map`` (means over
            queries, queries without relevant ids count as 0) and ``n_queries``.
        per_query: one dict per query, in query order: ``qid``, ``modality``, ``meta``,
            ``n_relevant``, ``retrieved`` (the ranked ids, up to the evaluation depth; the
            metrics use the top ``k``), ``latency_ms``, ``metrics`` (the same metric keys,
            without ``n_queries``), ``text``, ``image``, ``relevant`` (the relevant ids),
            ``gains`` (graded judgements only) and ``scores`` (aligned with ``retrieved``, when
            the search function returned a ``SearchResult``).
        latency_ms: mean wall time of one ``search_fn`` call, in milliseconds.
    """

    k: int
    metrics: dict[str, float]
    per_query: list[dict[str, Any]]
    latency_ms: float

    @property
    def metric_names(self) -> tuple[str, ...]:
        return report_metric_names(self.k)

    def _aggregate(self, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
        out: dict[str, float] = {
            name: float(np.mean([row["metrics"][name] for row in rows]))
            for name in self.metric_names
        }
        out["n_queries"] = len(rows)
        return out

    def by_group(self, meta_key: str) -> dict[str, dict[str, float]]:
        """Metrics (same keys as :attr:`metrics`) per value of ``meta[meta_key]``.

        Groups are sorted by label. Queries without the key go to ``"(missing)"``; non-string
        values are labelled by their JSON text. ``meta_key="modality"`` groups by
        ``text`` / ``image`` / ``text+image`` unless the queries carry their own ``modality``.
        """
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in self.per_query:
            if meta_key in row["meta"]:
                label = _group_label(row["meta"][meta_key])
            elif meta_key == "modality":
                label = row["modality"]
            else:
                label = MISSING_GROUP
            groups.setdefault(label, []).append(row)
        return {label: self._aggregate(groups[label]) for label in sorted(groups)}

    def to_dict(self, per_query: bool = True) -> dict[str, Any]:
        latencies = [row["latency_ms"] for row in self.per_query]
        out: dict[str, Any] = {
            "k": self.k,
            "metrics": dict(self.metrics),
            "latency_ms": {
                "mean": self.latency_ms,
                "p50": float(np.percentile(latencies, 50)),
                "p95": float(np.percentile(latencies, 95)),
            },
        }
        if per_query:
            out["per_query"] = self.per_query
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        """Inverse of :meth:`to_dict` (``per_query`` required); raises ``ValueError`` naming a
        missing key."""
        for key in ("k", "metrics", "per_query"):
            if key not in data:
                raise ValueError(f"evaluation results need the key {key!r}")
        rows = list(data["per_query"])
        latency = data.get("latency_ms", {})
        mean = latency.get("mean") if isinstance(latency, dict) else latency
        if mean is None:
            mean = float(np.mean([r.get("latency_ms", 0.0) for r in rows])) if rows else 0.0
        return cls(k=int(data["k"]), metrics=dict(data["metrics"]), per_query=rows, latency_ms=float(mean))

    def to_json(self, indent: int | None = 2, per_query: bool = True) -> str:
        """JSON text of :meth:`to_dict` (UTF-8 characters kept as is)."""
        return json.dumps(self.to_dict(per_query=per_query), ensure_ascii=False, indent=indent)

    def to_table(self, group_by: str | None = None) -> str:
        """Plain aligned text: one row for all queries, then one per group if ``group_by``."""
        header = ["group", "n_queries", *self.metric_names]
        sections = [("all", self.metrics)]
        if group_by is not None:
            sections += [(f"{group_by}={label}", m) for label, m in self.by_group(group_by).items()]
        rows = [header] + [
            [label, str(int(m["n_queries"]))] + [f"{m[name]:.4f}" for name in self.metric_names]
            for label, m in sections
        ]
        widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
        lines = [
            "  ".join(
                cell.ljust(widths[col]) if col == 0 else cell.rjust(widths[col])
                for col, cell in enumerate(row)
            ).rstrip()
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"mean latency: {self.latency_ms:.1f} ms/query")
        return "\n".join(lines)


def _ranked_ids(result: Sequence[str] | SearchResult, qid: str) -> tuple[list[str], list[float] | None]:
    """The ranked ids, and their scores when ``result`` is a ``SearchResult``."""
    scores = [float(hit.score) for hit in result.hits] if isinstance(result, SearchResult) else None
    ids = result.ids() if isinstance(result, SearchResult) else result
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(
            f"search_fn must return a list of product ids for query {qid!r}, "
            f"got {type(ids).__name__}"
        )
    bad = [pid for pid in ids if not isinstance(pid, str)]
    if bad:
        raise TypeError(
            f"search_fn returned non-string ids for query {qid!r} (e.g. {bad[0]!r}); "
            f"product ids are strings"
        )
    return list(ids), scores


def evaluate(
    search_fn: SearchFn,
    queries: Sequence[EvalQuery],
    k: int = 10,
    *,
    progress: bool = False,
    depth: int | None = None,
) -> EvalReport:
    """Search every query with ``search_fn(query, depth)`` and score the rankings at ``k``.

    ``depth`` (default ``k``, at least ``k``) is how many results are asked for and kept in
    ``per_query[i]["retrieved"]`` (for recall@k curves and TREC runs); the metrics always use
    the top ``k`` only. A ranking longer than ``depth`` is truncated (with a warning). An
    exception from ``search_fn`` propagates with a note naming the query id.

    Raises:
        ValueError: ``queries`` is empty, ``k`` is not an integer >= 1 or ``depth`` < ``k``.
        TypeError: ``search_fn`` returned something other than a list of string ids.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if depth is None:
        depth = k
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < k:
        raise ValueError(f"depth must be an integer >= k ({k}), got {depth!r}")
    if not queries:
        raise ValueError("evaluate() needs at least one query")

    rankings: list[list[str]] = []
    score_lists: list[list[float] | None] = []
    latencies: list[float] = []
    too_long = 0
    for query in tqdm(queries, desc="evaluate", unit="query", disable=not progress):
        start = time.perf_counter()
        try:
            result = search_fn(query, depth)
        except Exception as exc:
            exc.add_note(f"while searching evaluation query {query.qid!r}")
            raise
        latencies.append((time.perf_counter() - start) * 1000.0)
        ids, scores = _ranked_ids(result, query.qid)
        if len(ids) > depth:
            too_long += 1
            ids = ids[:depth]
            scores = scores[:depth] if scores is not None else None
        rankings.append(ids)
        score_lists.append(scores)
    if too_long:
        logger.warning(
            "search_fn returned more than %s ids for %d queries; cut at %d",
            f"k={depth}" if depth == k else f"depth={depth}", too_long, depth,
        )

    scores_at_k = ranking_metrics([ids[:k] for ids in rankings], [q.judgements for q in queries], k)
    names = report_metric_names(k)
    per_query: list[dict[str, Any]] = []
    for i, (query, ids, latency) in enumerate(zip(queries, rankings, latencies, strict=True)):
        row: dict[str, Any] = {
            "qid": query.qid,
            "modality": query.modality,
            "meta": query.meta,
            "n_relevant": len(query.relevant),
            "retrieved": ids,
            "latency_ms": latency,
            "metrics": {name: float(scores_at_k[name][i]) for name in names},
            "text": query.text,
            "image": query.image,
            "relevant": list(query.relevant),
        }
        if query.gains is not None:
            row["gains"] = dict(query.gains)
        if score_lists[i] is not None:
            row["scores"] = score_lists[i]
        per_query.append(row)
    metrics: dict[str, float] = {name: float(scores_at_k[name].mean()) for name in names}
    metrics["n_queries"] = len(queries)
    return EvalReport(
        k=k, metrics=metrics, per_query=per_query, latency_ms=float(np.mean(latencies))
    )
