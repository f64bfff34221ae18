"""``shopsearch train-ranker``: fit the collaborative, graph and learned rankers from the event log.

Steps (:func:`train_ranker`):

1. The logged searches (impression batches of one session and query, :func:`.ltr.group_searches`)
   are split by time: the last ``ltr_fraction`` of them train the LambdaMART model; the events
   before that split train the CF and graph models whose scores are LTR features. (Scoring a
   search with CF/graph models that saw its own clicks would teach LTR to over-trust them.)
2. Each LTR search is replayed: :meth:`shopsearch.rank.Ranker.features` computes the features of
   the shown products as of the search's time (``now = ts``), with the session's earlier
   feedback replayed into the ranker's session state first.
3. Position bias: examination propensities are estimated from all logged searches
   (:func:`.ltr.estimate_propensities`); labelled rows weigh ``1 / propensity``.
4. CF and graph models are refitted on the whole log for serving, and all three are written
   into ``out_dir`` (``cf/``, ``graph/``, ``ltr/``) with a model card ``model.json``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shopsearch.rank.cf import CFModel
from shopsearch.rank.events import Event, EventLog
from shopsearch.rank.graph import GraphModel
from shopsearch.rank.ltr import LTRModel, Propensities, estimate_propensities, group_searches, ipw_weights

__all__ = ["train_ranker"]

logger = logging.getLogger(__name__)

# Personal scores whose scale depends on the model behind them (refitted on the whole log for
# serving) or on the user: the learned ranker sees them as z-scores within the list.
LIST_NORMALIZED: tuple[str, ...] = ("cf", "graph", "profile_sim", "session_sim")


def train_ranker(
    log: EventLog | str | Path, index_dir: str | Path | None, out_dir: str | Path, *, engine: Any = None,
    config: Any = None, product_info: Mapping[str, Mapping[str, Any]] | None = None, ltr_fraction: float = 0.5,
    max_searches: int = 3000, position_bias: Literal["ipw", "none"] = "ipw", num_boost_round: int = 300,
    valid_fraction: float = 0.2,
    cf_params: Mapping[str, Any] | None = None, graph_params: Mapping[str, Any] | None = None,
    note: str | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Train CF, graph and LambdaMART models from ``log`` for the index at ``index_dir``.

    ``engine`` may pass a loaded engine instead of ``index_dir``; ``config`` is the
    :class:`~shopsearch.rank.config.RankConfig` whose features are computed (its ``ltr``
    component is ignored); ``product_info`` per-product business facts (as for the Ranker);
    ``max_searches`` caps the replayed LTR searches (a seeded sample, those with any click
    first); the newest ``valid_fraction`` of them choose the number of boosting rounds (early
    stopping on their nDCG@10). Returns the model card (also written to ``out_dir/model.json``).
    """
    import shopsearch
    from shopsearch.rank.config import RankConfig
    from shopsearch.rank.profile import product_features
    from shopsearch.rank.ranker import Ranker

    if not 0.0 < ltr_fraction < 1.0:
        raise ValueError(f"ltr_fraction must be in (0, 1), got {ltr_fraction!r}")
    if position_bias not in ("ipw", "none"):
        raise ValueError(f"position_bias must be 'ipw' or 'none', got {position_bias!r}")
    t0 = time.perf_counter()
    event_log = log if isinstance(log, EventLog) else EventLog(log)
    if not isinstance(log, EventLog) and not Path(log).is_file():
        raise FileNotFoundError(f"event log not found: {log}")
    if engine is None:
        if index_dir is None:
            raise ValueError("train_ranker needs index_dir or engine")
        engine = shopsearch.load(index_dir)
    events = event_log.read()
    groups = group_searches(events)
    if not groups:
        raise ValueError(f"the log {event_log.path} has no searches (impressions with a session and a query)")
    alive = np.flatnonzero(engine.alive)
    product_ids = [engine.products[i].id for i in alive]
    feats = product_features(engine.dense, len(engine.products))[alive]
    cut = float(np.quantile([g.ts for g in groups], 1.0 - ltr_fraction))
    early = [e for e in events if e.ts < cut]
    late = [g for g in groups if g.ts >= cut and len(g.product_ids) > 1]
    cf_kw = {"seed": seed, **(cf_params or {})}
    graph_kw = {"seed": seed, **(graph_params or {})}
    base = config if config is not None else RankConfig()
    feature_config = RankConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                                   "components": tuple(c for c in base.components if c != "ltr")})

    selected = _select(late, max_searches, seed)
    logger.info("train-ranker: %d events, %d searches; CF/graph features from %d events before %s, LTR on %d "
                "searches", len(events), len(groups), len(early), _iso(cut), len(selected))
    with tempfile.TemporaryDirectory(prefix="shopsearch-rank-") as tmp:
        stage = Path(tmp)
        CFModel.fit(early, product_ids, now=cut, **cf_kw).save(stage / "cf")
        GraphModel.fit(early, product_ids, feats, now=cut, **graph_kw).save(stage / "graph")
        as_of = _LogAsOf(event_log)
        ranker = Ranker(engine, log=as_of, models_dir=stage, config=feature_config, product_info=product_info)
        names, X, y, sizes, kept = _replay(ranker, as_of, events, selected)
    propensities = estimate_propensities(groups)
    weights = ipw_weights(kept, propensities) if position_bias == "ipw" else np.ones(len(y))
    if not kept or max(y) == 0:
        raise ValueError("no logged search after the time split has a click; cannot learn a ranker "
                         "(log more searches or lower ltr_fraction)")
    relative = [f for f in LIST_NORMALIZED if f in names]
    ltr = LTRModel.fit(X, y, sizes, names, weights, num_boost_round=num_boost_round, list_normalized=relative,
                       valid_fraction=valid_fraction, seed=seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cf = CFModel.fit(events, product_ids, **cf_kw)
    cf.save(out / "cf")
    graph = GraphModel.fit(events, product_ids, feats, **graph_kw)
    graph.save(out / "graph")
    ltr.save(out / "ltr")
    card = _card(event_log, engine, events, groups, kept, cut, propensities, position_bias, cf, graph, ltr, note,
                 time.perf_counter() - t0)
    (out / "model.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    logger.info("train-ranker: wrote %s in %.1fs", out, card["seconds"])
    return card


def _select(groups: list[Any], limit: int, seed: int) -> list[Any]:
    """At most ``limit`` searches: all with a label first (seeded sample when too many), in time order."""
    labelled = [g for g in groups if max(g.labels) > 0]
    rest = [g for g in groups if max(g.labels) == 0]
    rng = np.random.default_rng(seed)
    pick = labelled if len(labelled) <= limit else [labelled[i] for i in sorted(rng.choice(len(labelled), limit,
                                                                                          replace=False))]
    room = limit - len(pick)
    if room > 0 and rest:
        # a few unclicked searches keep the model honest about lists nobody liked (no gradient in
        # lambdarank, but they do no harm and keep group statistics realistic)
        pick += [rest[i] for i in sorted(rng.choice(len(rest), min(room, len(rest) // 10), replace=False))]
    return sorted(pick, key=lambda g: g.ts)


class _LogAsOf:
    """A read-only view of an event log that ends at ``now`` (exclusive): replayed searches see
    only the history that existed when they happened, whatever the ranker asks for."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.now = float("inf")

    def read(self, **kw: Any) -> list[Event]:
        until = kw.pop("until", None)
        bound = self.now if until is None else min(self.now, float(until))
        return self.log.read(until=bound if bound != float("inf") else None, **kw)


def _replay(ranker: Any, as_of: _LogAsOf, events: list[Event], groups: list[Any]) -> tuple[
        list[str], np.ndarray, list[int], list[int], list[Any]]:
    """Features of each group's shown products as of its time, session feedback replayed first."""
    feedback: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.session_id is not None and e.event != "impression":
            feedback[e.session_id].append(e)
    applied: dict[str, int] = defaultdict(int)
    names: list[str] = []
    rows: list[np.ndarray] = []
    labels: list[int] = []
    sizes: list[int] = []
    kept: list[Any] = []
    for g in groups:
        if g.session_id is not None:
            todo = feedback.get(g.session_id, [])
            i = applied[g.session_id]
            while i < len(todo) and todo[i].ts < g.ts:
                e = todo[i]
                ranker.sessions.update(g.session_id, lambda state, e=e: state.feedback(e.event, e.product_id), e.ts)
                i += 1
            applied[g.session_id] = i
        ids = [p for p in g.product_ids if ranker.engine.product(p) is not None]
        if len(ids) < 2:
            continue
        as_of.now = g.ts
        names, X = ranker.features(g.query, ids, user_id=g.user_id, session_id=g.session_id, now=g.ts)
        rows.append(X)
        labels.extend(g.labels[g.product_ids.index(p)] for p in ids)
        sizes.append(len(ids))
        kept.append(_restrict(g, ids))
    X_all = np.concatenate(rows) if rows else np.zeros((0, len(names)), np.float32)
    return names, X_all, labels, sizes, kept


def _restrict(g: Any, ids: list[str]) -> Any:
    from shopsearch.rank.ltr import SearchGroup

    idx = [g.product_ids.index(p) for p in ids]
    return SearchGroup(g.user_id, g.session_id, g.query, g.ts, ids, [g.positions[i] for i in idx],
                       [g.labels[i] for i in idx])


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def _card(log: EventLog, engine: Any, events: list[Event], groups: list[Any], kept: list[Any], cut: float,
          propensities: Propensities, position_bias: str, cf: CFModel, graph: GraphModel, ltr: LTRModel,
          note: str | None, seconds: float) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for e in events:
        counts[e.event] += 1
    return {
        "created_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "note": note,
        "log": str(log.path),
        "index": str(getattr(engine, "path", None)),
        "events": dict(counts),
        "users": len({e.user_id for e in events if e.user_id}),
        "searches": len(groups),
        "split": {"ltr_from": _iso(cut), "ltr_searches": len(kept), "ltr_rows": sum(len(g.product_ids) for g in kept)},
        "position_bias": {"method": position_bias, "propensities": propensities.to_dict()},
        "cf": {"users": len(cf.user_ids), **cf.params},
        "graph": {"users": len(graph.user_ids), **graph.params},
        "ltr": {"features": ltr.feature_names, **ltr.meta},
        "seconds": round(seconds, 1),
    }
