"""A seeded shopper simulator over a catalog: users, sessions, clicks and graded relevance.

SIMULATION, not real behaviour: there is no real interaction log, so ranking is trained and
evaluated on simulated shoppers. Every number that comes out of this module is a simulation
number. All draws are seeded; the same seed gives the same users, sessions and events.

The model (the distributions are stated here and in :class:`SimConfig`):

* **Catalog facts** (:class:`SimCatalog` in :mod:`shopsearch.rank.simcatalog`): a product's
  real price, rating and stock when the catalog has them, else drawn and marked simulated
  (price ~ LogNormal around a per-article-type median, rating = 1 + 4 Beta(6, 2), 8% out of
  stock, listing age ~ Exponential(120 days)); a hidden per-product ``appeal`` ~ Normal(0, 1);
  price bands = tertiles of price within an article type (0 cheap, 1 mid, 2 premium).
* **Users** (:class:`SimUser`). gender Men/Women with probability 1/2 each; colour affinity
  ~ Dirichlet(0.5) over the catalog's colours; article-type interest ~ Dirichlet(0.3 * sqrt of
  the type's catalog count); usage (style) affinity ~ Dirichlet(0.5); preferred price band
  with probabilities (0.4, 0.4, 0.2); 3 liked brands (first title word) among the 30 most common.
* **Relevance** of product p for user u and query q (:meth:`Simulator.grades`): 0 when p's
  article type differs from the query's, its gender is neither the user's nor Unisex, a colour
  named in the query differs, or it is out of stock. Otherwise utility
  ``1.2 colour + 0.8 usage + 0.8 price_fit + 0.6 brand + 0.3 appeal + 0.3 (rating - 4) + 0.2 new``
  (colour/usage: affinity / the user's top affinity; price fit 1 same band, 0.4 adjacent, 0
  else; new: listed under 30 days) and grade 1 + [utility > 1.1] + [utility > 1.7] (1..3).
* **Queries** come from the catalog vocabulary: an article type drawn from the user's
  interests, plus the user's colour (``p_colour``), gender (``p_gender``) and a usage word
  (``p_usage``); a share ``p_chinese`` is written in Chinese through the packaged lexicon.
  Follow-up queries in a session keep the article type with probability 1/2.
* **Clicks**: the position-based model of :mod:`shopsearch.evaluation.clicks`
  (:class:`~shopsearch.evaluation.clicks.PositionBasedModel`). Rank r (1-based) is examined with
  probability ``(1 / r) ** eta``; an examined result is clicked with probability
  ``p_nonrel + (p_rel - p_nonrel) * grade / 3`` plus Normal(0, ``noise``) noise. A click leads to
  add-to-cart with ``p_cart * grade / 3``, a purchase after it with ``p_purchase``, a like with
  ``p_like`` when grade >= 2; an examined, not-clicked, irrelevant result is disliked with
  ``p_dislike``. Every shown result is logged as an impression with its 0-based position.
* **Randomised logging** (``shuffle_prob``, ``shuffle_top``): a share of searches shows ``k``
  random results of the top ``shuffle_top`` in random order, so the log can tell position bias
  from relevance (:func:`shopsearch.rank.ltr.estimate_propensities`).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.evaluation.clicks import PositionBasedModel
from shopsearch.evaluation.metrics import ndcg_at_k
from shopsearch.rank.events import Event
from shopsearch.rank.simcatalog import PRICE_MEDIANS, SECONDS_PER_DAY, SimCatalog, seeded_rng

__all__ = [
    "PRICE_MEDIANS",
    "QueryOutcome",
    "SearchFn",
    "SimCatalog",
    "SimConfig",
    "SimQuery",
    "SimSession",
    "SimUser",
    "Simulator",
    "plain_search",
    "simulate_log",
]

logger = logging.getLogger(__name__)

SearchFn = Callable[[str, str | None, str | None, int], Sequence[str]]
"""``search(text, user_id, session_id, k)`` -> ranked product ids, best first."""

_USER_GENDERS = ("Men", "Women")
MAX_GRADE = 3  # grades are 0..3 (Simulator.grades); click relevance is grade / MAX_GRADE


@dataclass(frozen=True)
class SimConfig:
    """Simulator parameters; see the module docstring for the model they drive."""

    k: int = 10
    eta: float = 1.0
    p_rel: float = 0.9
    p_nonrel: float = 0.03
    noise: float = 0.05
    p_cart: float = 0.35
    p_purchase: float = 0.4
    p_like: float = 0.2
    p_dislike: float = 0.1
    p_colour: float = 0.3
    p_gender: float = 0.2
    p_usage: float = 0.1
    p_chinese: float = 0.15
    p_out_of_stock: float = 0.08
    queries_per_session: tuple[int, int] = (1, 3)
    min_type_products: int = 15
    shuffle_prob: float = 0.0
    shuffle_top: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p_rel", "p_nonrel", "p_cart", "p_purchase", "p_like", "p_dislike", "p_colour",
                     "p_gender", "p_usage", "p_chinese", "p_out_of_stock", "shuffle_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SimConfig.{name} must be a probability in [0, 1], got {value!r}")
        if self.k < 1:
            raise ValueError(f"SimConfig.k must be >= 1, got {self.k!r}")
        if self.eta < 0 or self.noise < 0:
            raise ValueError(f"SimConfig.eta and noise must be >= 0, got {self.eta!r}, {self.noise!r}")
        lo, hi = self.queries_per_session
        if not 1 <= lo <= hi:
            raise ValueError(f"SimConfig.queries_per_session must be (lo, hi) with 1 <= lo <= hi, got {lo, hi}")


@dataclass(frozen=True)
class SimUser:
    """Latent preferences of one simulated shopper."""

    user_id: str
    gender: str
    colour_aff: np.ndarray = field(repr=False)
    type_pref: np.ndarray = field(repr=False)
    usage_aff: np.ndarray = field(repr=False)
    price_band: int = 1
    brands: tuple[str, ...] = ()

    def describe(self, catalog: SimCatalog, top: int = 3) -> dict[str, Any]:
        """The user's strongest preferences, readable (for reports and debugging)."""
        def best(values: np.ndarray, names: Sequence[str]) -> list[str]:
            return [names[i] for i in np.argsort(-values)[:top] if i < len(names)]

        return {"user_id": self.user_id, "gender": self.gender, "colours": best(self.colour_aff, catalog.colours),
                "types": best(self.type_pref, catalog.types), "usages": best(self.usage_aff, catalog.usages),
                "price_band": ("cheap", "mid", "premium")[self.price_band], "brands": list(self.brands)}


@dataclass(frozen=True)
class SimQuery:
    """A query as typed (``text``) and the intent behind it."""

    text: str
    article_type: str
    colour: str | None = None
    gender: str | None = None
    usage: str | None = None
    lang: str = "en"


@dataclass(frozen=True)
class SimSession:
    """A planned session: who, when, which queries (fixed before any ranking is seen)."""

    user_id: str
    session_id: str
    start_ts: float
    queries: tuple[SimQuery, ...]


@dataclass(frozen=True)
class QueryOutcome:
    """What happened on one query: the ranking shown, the clicks, and nDCG@k of the ranking."""

    user_id: str
    session_id: str
    query: str
    ranking: tuple[str, ...]
    clicked: tuple[int, ...]
    ndcg: float
    events: tuple[Event, ...] = field(default=(), repr=False)


class Simulator:
    """Simulated users and sessions over a :class:`SimCatalog`; see the module docstring."""

    def __init__(self, catalog: SimCatalog, config: SimConfig = SimConfig()) -> None:
        self.catalog = catalog
        self.config = config
        self.users: dict[str, SimUser] = {}
        from shopsearch.preprocess.lexicon import default_lexicon

        self._lexicon = default_lexicon()
        counts = Counter(catalog.article_type.tolist())
        self._type_weight = np.array([math.sqrt(counts[t]) for t in catalog.types])
        self._grade_cache: dict[tuple[str, SimQuery], np.ndarray] = {}
        self.click_model = PositionBasedModel(p_rel=config.p_rel, p_nonrel=config.p_nonrel, eta=config.eta)

    # -- users and sessions ---------------------------------------------------------------------
    def make_users(self, n: int, prefix: str = "u") -> list[SimUser]:
        """Draw ``n`` users ``{prefix}0000``... (seeded by the config seed and the prefix)."""
        c = self.catalog
        out = []
        for i in range(n):
            uid = f"{prefix}{i:04d}"
            rng = seeded_rng(self.config.seed, "user", uid)
            user = SimUser(
                user_id=uid, gender=_USER_GENDERS[int(rng.integers(0, 2))],
                colour_aff=rng.dirichlet(np.full(len(c.colours), 0.5)),
                type_pref=rng.dirichlet(0.3 * self._type_weight),
                usage_aff=rng.dirichlet(np.full(max(1, len(c.usages)), 0.5)),
                price_band=int(rng.choice(3, p=[0.4, 0.4, 0.2])),
                brands=tuple(str(b) for b in rng.choice(c.top_brands, size=min(3, len(c.top_brands)),
                                                          replace=False)) if c.top_brands else (),
            )
            self.users[uid] = user
            out.append(user)
        return out

    def _allowed_gender(self, user: SimUser) -> np.ndarray:
        g = self.catalog.gender
        return (g == user.gender) | (g == "Unisex") | (g == "")

    def make_query(self, user: SimUser, rng: np.random.Generator, article_type: str | None = None) -> SimQuery:
        """One query for ``user``: an article type it likes (or ``article_type``) and maybe
        colour / gender / usage words, in English or (share ``p_chinese``) Chinese."""
        c, cfg = self.catalog, self.config
        ok = self._allowed_gender(user) & (c.stock > 0)
        if article_type is None:
            counts = Counter(c.article_type[ok].tolist())
            eligible = np.array([counts[t] >= cfg.min_type_products for t in c.types])
            if not eligible.any():
                eligible = np.array([counts[t] > 0 for t in c.types])
            p = user.type_pref * eligible
            article_type = c.types[int(rng.choice(len(c.types), p=p / p.sum()))]
        of_type = ok & (c.article_type == article_type)
        colour = usage = gender = None
        if rng.random() < cfg.p_colour:
            present = Counter(c.colour[of_type].tolist())
            p = np.array([user.colour_aff[j] if present[name] >= 3 else 0.0 for j, name in enumerate(c.colours)])
            if p.sum() > 0:
                colour = c.colours[int(rng.choice(len(c.colours), p=p / p.sum()))]
        if rng.random() < cfg.p_usage and c.usages:
            present = Counter(c.usage[of_type].tolist())
            p = np.array([user.usage_aff[j] if present[name] >= 3 else 0.0 for j, name in enumerate(c.usages)])
            if p.sum() > 0:
                usage = c.usages[int(rng.choice(len(c.usages), p=p / p.sum()))]
        if rng.random() < cfg.p_gender:
            gender = user.gender
        words = [w for w in (gender, colour, usage, article_type) if w]
        text = " ".join(words).lower()
        lang = "en"
        if rng.random() < cfg.p_chinese:
            zh = self._lexicon.to_chinese(" ".join(words))
            if zh and not any("a" <= ch.lower() <= "z" for ch in zh):
                text, lang = zh, "zh"
        return SimQuery(text=text, article_type=article_type, colour=colour, gender=gender, usage=usage, lang=lang)

    def make_sessions(
        self, users: Iterable[SimUser], per_user: int, start_ts: float, days: float, tag: str = "s",
    ) -> list[SimSession]:
        """``per_user`` sessions for each user at seeded times in [start_ts, start_ts + days),
        ordered by time; session ids ``{user}-{tag}{i}``."""
        out = []
        lo, hi = self.config.queries_per_session
        for user in users:
            rng = seeded_rng(self.config.seed, "sessions", tag, user.user_id)
            times = np.sort(start_ts + rng.random(per_user) * days * SECONDS_PER_DAY)
            for i, t in enumerate(times):
                queries: list[SimQuery] = []
                for _ in range(int(rng.integers(lo, hi + 1))):
                    keep = queries and rng.random() < 0.5
                    queries.append(self.make_query(user, rng, queries[-1].article_type if keep else None))
                out.append(SimSession(user.user_id, f"{user.user_id}-{tag}{i}", float(t), tuple(queries)))
        return sorted(out, key=lambda s: (s.start_ts, s.session_id))

    # -- relevance ------------------------------------------------------------------------------
    def utility(self, user: SimUser) -> np.ndarray:
        """The user's utility for every catalog product, float64 (n_products,), before query matching."""
        c = self.catalog
        colour = np.where(c.colour_idx >= 0, user.colour_aff[c.colour_idx] / user.colour_aff.max(), 0.0)
        usage = np.where(c.usage_idx >= 0, user.usage_aff[np.maximum(c.usage_idx, 0)] / user.usage_aff.max(), 0.0)
        gap = np.abs(c.band - user.price_band)
        price_fit = np.where(gap == 0, 1.0, np.where(gap == 1, 0.4, 0.0))
        brand = np.isin(c.brand, list(user.brands)).astype(np.float64)
        new = (c.age_days < 30).astype(np.float64)
        return (1.2 * colour + 0.8 * usage + 0.8 * price_fit + 0.6 * brand + 0.3 * c.appeal
                + 0.3 * (c.rating - 4.0) + 0.2 * new)

    def grades(self, user_id: str, query: SimQuery) -> np.ndarray:
        """Graded relevance 0..3 of every catalog product for (user, query), int64 (n_products,)."""
        key = (user_id, query)
        cached = self._grade_cache.get(key)
        if cached is not None:
            return cached
        c, user = self.catalog, self.users[user_id]
        match = self._allowed_gender(user) & (c.article_type == query.article_type) & (c.stock > 0)
        if query.colour:
            match &= c.colour == query.colour
        u = self.utility(user)
        grade = np.where(match, 1 + (u > 1.1).astype(np.int64) + (u > 1.7).astype(np.int64), 0)
        if len(self._grade_cache) > 50_000:
            self._grade_cache.clear()
        self._grade_cache[key] = grade
        return grade

    def gains(self, user_id: str, query: SimQuery) -> dict[str, float]:
        """{product id: grade} for the products with grade > 0 (for nDCG)."""
        g = self.grades(user_id, query)
        return {self.catalog.ids[i]: float(g[i]) for i in np.flatnonzero(g)}

    # -- running sessions -----------------------------------------------------------------------
    def run(
        self, sessions: Sequence[SimSession], search: SearchFn, *,
        sink: Callable[[list[Event]], Any] | None = None, k: int | None = None, randomize: bool = False,
    ) -> list[QueryOutcome]:
        """Run ``sessions`` through ``search``; simulate impressions, clicks and the rest.

        Each query's events go to ``sink`` (e.g. ``EventLog.append``) before the next query, so
        a ranker that reads the log reacts within the session. The click noise of a query is
        seeded by (seed, session, query number), so two rankers run on the same sessions see the
        same simulated users (common random numbers). ``randomize`` applies the logging-policy
        randomisation: with probability ``shuffle_prob`` the search is asked for
        ``max(k, shuffle_top)`` results and ``k`` of them, drawn at random, are shown in random
        order (``shuffle_top == k``: the top k shuffled; larger: deeper results explored too).
        """
        k = k or self.config.k
        out = []
        for s in sessions:
            ts = s.start_ts
            for qi, q in enumerate(s.queries):
                rng = seeded_rng(self.config.seed, "clicks", s.session_id, qi)
                explore = randomize and rng.random() < self.config.shuffle_prob
                depth = max(k, self.config.shuffle_top) if explore else k
                ranking = list(dict.fromkeys(search(q.text, s.user_id, s.session_id, depth)))[:depth]
                if explore:
                    ranking = [ranking[j] for j in rng.permutation(len(ranking))[:k]]
                events, clicked, ts = self._interact(s, q, ranking, rng, ts)
                if sink is not None and events:
                    sink(events)
                grades = self.gains(s.user_id, q)
                out.append(QueryOutcome(s.user_id, s.session_id, q.text, tuple(ranking), tuple(clicked),
                                        ndcg_at_k(ranking, grades, k) if grades else 0.0, tuple(events)))
                ts += 20.0
        return out

    def _interact(
        self, s: SimSession, q: SimQuery, ranking: Sequence[str], rng: np.random.Generator, ts: float,
    ) -> tuple[list[Event], list[int], float]:
        cfg, c = self.config, self.catalog
        grade_all = self.grades(s.user_id, q)
        n = len(ranking)
        grades = np.array([grade_all[c.pos[p]] if p in c.pos else 0 for p in ranking], dtype=np.float64)
        # every draw is made for every rank, so the stream is the same whatever the ranking
        u_exam, u_click, u_cart, u_buy, u_like, u_dis = rng.random((6, max(n, 1)))
        noise = rng.normal(0.0, cfg.noise, max(n, 1)) if cfg.noise > 0 else np.zeros(max(n, 1))
        base: dict[str, Any] = {"user_id": s.user_id, "session_id": s.session_id, "query": q.text}
        events = [Event("impression", pid, position=i, ts=ts, **base) for i, pid in enumerate(ranking)]
        seen = self.click_model.browse(grades / MAX_GRADE, u_exam, u_click, noise[:n])
        clicked = []
        for i, pid in enumerate(ranking):
            g = grades[i]
            if not seen.examined[i]:
                continue
            if seen.clicked[i]:
                ts += 5.0
                clicked.append(i)
                events.append(Event("click", pid, position=i, ts=ts, **base))
                if g >= 2 and u_like[i] < cfg.p_like:
                    events.append(Event("like", pid, position=i, ts=ts + 1.0, **base))
                if u_cart[i] < cfg.p_cart * g / 3.0:
                    events.append(Event("add_to_cart", pid, position=i, ts=ts + 2.0, **base))
                    if u_buy[i] < cfg.p_purchase:
                        events.append(Event("purchase", pid, position=i, ts=ts + 3.0,
                                            value=float(c.price[c.pos[pid]]) if pid in c.pos else None, **base))
                ts += 3.0
            elif g == 0 and u_dis[i] < cfg.p_dislike:
                ts += 2.0
                events.append(Event("dislike", pid, position=i, ts=ts, **base))
        return events, clicked, ts + 1.0


def plain_search(engine: Any) -> SearchFn:
    """The engine's retrieval order (no reranking), cached per query text: the logging policy."""
    cache: dict[tuple[str, int], list[str]] = {}

    def search(text: str, user_id: str | None, session_id: str | None, k: int) -> list[str]:
        key = (text, k)
        if key not in cache:
            cache[key] = engine.search(text, k=k, facets=False, rerank=False).ids()
        return cache[key]

    return search


def simulate_log(
    engine: Any, out: str | Path, *, users: int = 200, sessions: int = 8, days: float = 60.0,
    start_ts: float = 1_767_225_600.0, config: SimConfig = SimConfig(), search: SearchFn | None = None,
) -> dict[str, Any]:
    """Simulate ``users`` x ``sessions`` sessions over ``engine``'s catalog and write the events.

    ``out`` ending in ``.jsonl`` gets JSONL, anything else an :class:`~shopsearch.rank.events.EventLog`
    (SQLite). The search is ``search`` or the engine's plain retrieval (randomised with the
    config's ``shuffle_prob``). A description of the simulation (``simulated: true``, the config,
    the users' preferences) is written next to it as ``<out>.sim.json``. Returns that description.
    """
    from shopsearch.rank.events import EventLog, write_jsonl

    out = Path(out)
    catalog = SimCatalog([p for p, ok in zip(engine.products, engine.alive) if ok], seed=config.seed,
                         p_out_of_stock=config.p_out_of_stock)
    sim = Simulator(catalog, config)
    people = sim.make_users(users)
    planned = sim.make_sessions(people, sessions, start_ts, days, tag="s")
    outcomes = sim.run(planned, search or plain_search(engine), randomize=True)
    events = [e for o in outcomes for e in o.events]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".jsonl", ".ndjson"):
        write_jsonl(events, out)
    else:
        with EventLog(out) as log:
            log.append(events)
    summary = {
        "simulated": True,
        "note": "SIMULATED shoppers (shopsearch.rank.simulate); not real behaviour",
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "users": users, "sessions": len(planned), "queries": len(outcomes),
        "events": dict(Counter(e.event for e in events)),
        "mean_ndcg@k": float(np.mean([o.ndcg for o in outcomes])) if outcomes else 0.0,
        "clicks_per_query": float(np.mean([len(o.clicked) for o in outcomes])) if outcomes else 0.0,
        "simulated_fields": catalog.simulated,
        "user_preferences": [u.describe(catalog) for u in people],
    }
    Path(f"{out}.sim.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                       encoding="utf-8")
    return summary
