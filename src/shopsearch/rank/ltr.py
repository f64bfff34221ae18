"""Learning to rank from the interaction log: LightGBM LambdaMART with position-bias correction.

Clicks are biased by position: a result at rank 1 is seen far more often than one at rank 8,
so raw clicks mostly teach a model to copy the logged order. The correction here is inverse
propensity weighting (IPW; Joachims, Swaminathan & Schnabel 2017):

* **Propensities** ``theta_k`` (the probability that rank k is examined, relative to rank 1) are
  estimated from the log by EM on the position-based click model (:func:`estimate_propensities`;
  Chuklin, Markov & de Rijke 2015, "Click Models for Web Search", ch. 4): P(click) =
  theta_position * gamma_(query, product). The EM needs the same (query, product) shown at
  different positions: randomised logging (the simulator's ``shuffle_prob``) or different
  rankings of the same query (personalisation, A/B tests) provide it. With too little variation
  the estimate falls back to the assumed model ``theta_k = 1 / k`` and says so.
* **Weights**: a clicked (or better) result at rank k weighs ``1 / theta_k`` (clipped at
  ``max_weight``); others weigh 1. LightGBM's lambdarank objective multiplies each item's
  gradient and hessian by its weight.

Labels per shown product and search: 0 shown only (or disliked), 1 clicked, 2 liked or added to
the cart, 3 purchased (:data:`LABELS`).

:class:`LTRModel` saves the LightGBM text model and a JSON file with the feature names; loading
with ``feature_names`` refuses a mismatch. Requires the ``rank`` extra: ``pip install 'shopsearch[rank]'``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.rank.events import Event

__all__ = [
    "LABELS", "LTRModel", "Propensities", "SearchGroup", "estimate_propensities", "group_searches", "ipw_weights",
]

logger = logging.getLogger(__name__)

LTR_FORMAT = 1
LABELS: dict[str, int] = {"click": 1, "like": 2, "add_to_cart": 2, "purchase": 3}
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10], "learning_rate": 0.05, "num_leaves": 15,
    "min_data_in_leaf": 20, "lambdarank_truncation_level": 20, "feature_fraction": 0.9, "bagging_fraction": 1.0,
    "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1,
}


@dataclass
class SearchGroup:
    """One logged search: who, when, the query, the shown products in order and their labels."""

    user_id: str | None
    session_id: str | None
    query: str
    ts: float
    product_ids: list[str]
    positions: list[int]
    labels: list[int]


def group_searches(events: Iterable[Event]) -> list[SearchGroup]:
    """Logged searches from the events, in time order.

    A search is the impressions of one (session, query) logged at one time (an impression
    batch); its feedback events are the later events of the same session, query and product up
    to the next batch of that (session, query). Impressions without a session or query are skipped.
    """
    groups: list[SearchGroup] = []
    current: dict[tuple[str, str], SearchGroup] = {}
    for e in sorted(events, key=lambda e: e.ts):  # stable: insertion order within a timestamp
        if e.session_id is None or e.query is None:
            continue
        key = (e.session_id, e.query)
        g = current.get(key)
        if e.event == "impression":
            if g is None or g.ts != e.ts:
                g = SearchGroup(e.user_id, e.session_id, e.query, e.ts, [], [], [])
                current[key] = g
                groups.append(g)
            if e.product_id not in g.product_ids:
                g.product_ids.append(e.product_id)
                g.positions.append(e.position if e.position is not None else len(g.positions))
                g.labels.append(0)
        elif g is not None and e.product_id in g.product_ids:
            i = g.product_ids.index(e.product_id)
            if e.event == "dislike":
                g.labels[i] = 0
            else:
                g.labels[i] = max(g.labels[i], LABELS.get(e.event, 0))
    return groups


@dataclass(frozen=True)
class Propensities:
    """Examination propensity per 0-based position relative to position 0, and where it came from."""

    theta: np.ndarray
    method: str
    impressions: int

    def to_dict(self) -> dict[str, Any]:
        return {"theta": [round(float(t), 4) for t in self.theta], "method": self.method,
                "impressions": self.impressions}


def estimate_propensities(
    groups: Sequence[SearchGroup], max_position: int = 10, iterations: int = 300, min_variation: int = 50,
) -> Propensities:
    """Position-based click model EM over the logged searches; ``theta[0] == 1``.

    Only (query, product) pairs shown at two or more positions take part (intervention
    harvesting, Agarwal et al. 2019).

    Falls back to ``1 / (k + 1)`` (method ``"assumed 1/rank"``) when fewer than
    ``min_variation`` (query, product) pairs were shown at two or more positions.
    """
    assumed = 1.0 / np.arange(1, max_position + 1, dtype=np.float64)
    keys: dict[tuple[str, str], int] = {}
    rows_q, rows_p, clicks = [], [], []
    for g in groups:
        for pid, pos, label in zip(g.product_ids, g.positions, g.labels):
            if pos >= max_position:
                continue
            rows_q.append(keys.setdefault((g.query, pid), len(keys)))
            rows_p.append(pos)
            clicks.append(1.0 if label > 0 else 0.0)
    n = len(clicks)
    if n == 0:
        return Propensities(assumed, "assumed 1/rank (no impressions)", 0)
    q, p, c = np.array(rows_q), np.array(rows_p), np.array(clicks)
    positions_of: dict[int, set[int]] = {}
    for qi, pi in zip(q.tolist(), p.tolist()):
        positions_of.setdefault(qi, set()).add(pi)
    varied_keys = np.array([len(positions_of.get(k, ())) > 1 for k in range(len(keys))])
    varied = int(varied_keys.sum())
    if varied < min_variation:
        logger.info("propensities: only %d (query, product) pairs seen at several positions; assuming 1/rank",
                    varied)
        return Propensities(assumed, f"assumed 1/rank (only {varied} pairs seen at several positions)", n)
    # Only pairs seen at several positions tell examination apart from attraction (intervention
    # harvesting); pairs always shown at one position would let the EM trade one for the other.
    keep = varied_keys[q]
    q, p, c = q[keep], p[keep], c[keep]
    _, q = np.unique(q, return_inverse=True)
    n_keys = int(q.max()) + 1
    theta = np.full(max_position, 0.5)
    gamma = np.full(n_keys, 0.5)
    for _ in range(iterations):
        t, gm = theta[p], gamma[q]
        denom = np.maximum(1.0 - t * gm, 1e-12)
        e_exam = c + (1 - c) * t * (1 - gm) / denom
        e_rel = c + (1 - c) * (1 - t) * gm / denom
        theta = np.bincount(p, e_exam, max_position) / np.maximum(np.bincount(p, minlength=max_position), 1)
        gamma = np.bincount(q, e_rel, n_keys) / np.bincount(q, minlength=n_keys)
        theta = np.clip(theta, 1e-4, 1.0)
    rel = theta / theta[0]
    return Propensities(np.clip(rel, 1e-3, None), f"EM on the position-based model ({varied} varied pairs)", n)


def ipw_weights(groups: Sequence[SearchGroup], propensities: Propensities, max_weight: float = 20.0) -> np.ndarray:
    """Per shown product (groups concatenated): ``1 / theta_position`` when labelled > 0, else 1."""
    theta = propensities.theta
    out = []
    for g in groups:
        for pos, label in zip(g.positions, g.labels):
            t = theta[min(pos, len(theta) - 1)]
            out.append(min(max_weight, 1.0 / t) if label > 0 else 1.0)
    return np.array(out, dtype=np.float64)


class LTRModel:
    """A LightGBM LambdaMART model over named features."""

    def __init__(self, booster: Any, feature_names: Sequence[str], meta: Mapping[str, Any] | None = None) -> None:
        self.booster = booster
        self.feature_names = list(feature_names)
        self.meta = dict(meta or {})
        self.list_normalized = [f for f in self.meta.get("list_normalized", []) if f in self.feature_names]

    def _normalize(self, X: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
        """Within-list z-scores (clipped to +-3) of the ``list_normalized`` features, per group."""
        if not self.list_normalized:
            return X
        X = X.copy()
        cols = [self.feature_names.index(f) for f in self.list_normalized]
        start = 0
        for size in sizes:
            block = X[start:start + size, cols]
            sd = block.std(axis=0)
            z = np.divide(block - block.mean(axis=0), sd, out=np.zeros_like(block), where=sd > 1e-9)
            X[start:start + size, cols] = np.clip(z, -3.0, 3.0)
            start += size
        return X

    @classmethod
    def fit(
        cls, X: np.ndarray, y: Sequence[int] | np.ndarray, group_sizes: Sequence[int], feature_names: Sequence[str],
        weights: np.ndarray | None = None, *, params: Mapping[str, Any] | None = None, num_boost_round: int = 200,
        list_normalized: Sequence[str] = (), valid_fraction: float = 0.0, early_stopping_rounds: int = 20,
        seed: int = 0,
    ) -> LTRModel:
        """Fit LambdaMART. ``X`` (n, f) float; ``y`` int labels (n,) in 0..30; ``group_sizes`` rows per
        search, in order, summing to n; ``weights`` (n,) per-row weights (e.g. :func:`ipw_weights`).

        ``list_normalized`` features are replaced by their z-score within each search (and, at
        prediction, within the list passed to :meth:`predict`): for scores whose scale depends on
        the model that produced them (CF, graph), so a refitted model does not shift the trees' cuts.
        ``valid_fraction`` > 0 holds out the last searches (the newest, when groups are in time
        order) and stops boosting when their nDCG@10 has not improved for ``early_stopping_rounds``.
        """
        lgb = _lightgbm()
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        sizes = np.asarray(group_sizes, dtype=np.int64)
        if X.ndim != 2 or X.shape[1] != len(feature_names):
            raise ValueError(f"X must have shape (n, {len(feature_names)}) for the feature names, got {X.shape}")
        if y.shape != (X.shape[0],) or int(sizes.sum()) != X.shape[0] or (sizes < 1).any():
            raise ValueError(f"y ({y.shape}) and group_sizes (sum {int(sizes.sum())}) must match X's {X.shape[0]} rows")
        if weights is not None and np.asarray(weights).shape != (X.shape[0],):
            raise ValueError(f"weights must have shape ({X.shape[0]},), got {np.asarray(weights).shape}")
        if len(set(feature_names)) != len(feature_names):
            raise ValueError(f"feature names must be unique, got {list(feature_names)}")
        unknown = [f for f in list_normalized if f not in feature_names]
        if unknown:
            raise ValueError(f"list_normalized names unknown feature(s) {unknown}; features: {list(feature_names)}")
        X = cls(None, feature_names, {"list_normalized": list(list_normalized)})._normalize(X, sizes.tolist())
        if not 0.0 <= valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
        p = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
        n_valid = round(valid_fraction * len(sizes)) if len(sizes) >= 10 else 0
        cut = int(sizes[:len(sizes) - n_valid].sum())
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        data = lgb.Dataset(X[:cut], label=y[:cut], group=sizes[:len(sizes) - n_valid],
                           weight=None if w is None else w[:cut], feature_name=list(feature_names),
                           free_raw_data=True, params={"verbose": -1})
        callbacks, valid_sets = [], []
        if n_valid:
            valid_sets = [lgb.Dataset(X[cut:], label=y[cut:], group=sizes[len(sizes) - n_valid:],
                                      weight=None if w is None else w[cut:], reference=data)]
            callbacks = [lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)]
        booster = lgb.train(p, data, num_boost_round=num_boost_round, valid_sets=valid_sets, callbacks=callbacks)
        gain = booster.feature_importance(importance_type="gain")
        meta = {"params": dict(p), "num_boost_round": num_boost_round, "list_normalized": list(list_normalized),
                "best_iteration": int(booster.best_iteration or num_boost_round), "valid_groups": n_valid,
                "valid_ndcg@10": (float(booster.best_score["valid_0"]["ndcg@10"]) if n_valid else None),
                "rows": int(X.shape[0]),
                "groups": len(sizes), "importance_gain": {f: round(float(g), 3) for f, g in zip(feature_names, gain)}}
        return cls(booster, feature_names, meta)

    def check_features(self, feature_names: Sequence[str]) -> None:
        """Raise ``ValueError`` unless ``feature_names`` are the model's, in the same order."""
        if list(feature_names) != self.feature_names:
            missing = [f for f in self.feature_names if f not in feature_names]
            extra = [f for f in feature_names if f not in self.feature_names]
            raise ValueError(f"learned ranker feature mismatch: the model was trained on {self.feature_names}, "
                             f"got {list(feature_names)} (missing {missing}, unexpected {extra}); retrain it")

    def predict(self, X: np.ndarray, feature_names: Sequence[str] | None = None) -> np.ndarray:
        """Scores float64 (n,) for ``X`` (n, f) in the model's feature order (checked when named).

        ``X`` is ONE candidate list (the ``list_normalized`` features are z-scored over its rows)."""
        if feature_names is not None:
            self.check_features(feature_names)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X must have shape (n, {len(self.feature_names)}), got {X.shape}")
        if X.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(self._normalize(X, [X.shape[0]]), num_threads=1), dtype=np.float64)

    def save(self, folder: str | Path) -> None:
        """Write ``model.txt`` (LightGBM text format) and ``ltr.json`` (feature names, metadata)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "model.txt"))
        meta = {"format": LTR_FORMAT, "kind": "lightgbm-lambdamart", "feature_names": self.feature_names, **self.meta}
        (folder / "ltr.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, feature_names: Sequence[str] | None = None) -> LTRModel:
        """Load from ``folder``; with ``feature_names``, refuse a model trained on other features."""
        lgb = _lightgbm()
        folder = Path(folder)
        meta_path = folder / "ltr.json"
        if not meta_path.is_file() or not (folder / "model.txt").is_file():
            raise FileNotFoundError(f"no learned ranker in {folder} (need model.txt and ltr.json)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != LTR_FORMAT:
            raise ValueError(f"{meta_path}: learned ranker format {meta.get('format')!r}, this version reads "
                             f"{LTR_FORMAT}")
        booster = lgb.Booster(model_file=str(folder / "model.txt"))
        names = list(meta["feature_names"])
        if booster.feature_name() != names:
            raise ValueError(f"{folder}: model.txt features {booster.feature_name()} differ from ltr.json {names}")
        model = cls(booster, names, {k: v for k, v in meta.items() if k not in ("format", "kind", "feature_names")})
        if feature_names is not None:
            model.check_features(feature_names)
        return model


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as exc:
        raise ImportError(f"learning to rank needs LightGBM ({exc}); pip install 'shopsearch[rank]'") from None
    return lightgbm
