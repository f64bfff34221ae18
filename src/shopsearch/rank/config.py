"""Ranking settings: which components run, their weights, decay, stock policy, boost rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from shopsearch.config import read_section

COMPONENTS: tuple[str, ...] = ("business", "profile", "session", "cf", "graph", "ltr")
StockPolicy = Literal["demote", "filter", "keep"]
STOCK_POLICIES: tuple[str, ...] = get_args(StockPolicy)

# How much each event says about a shopper's taste (profile and session vectors, popularity).
EVENT_WEIGHTS: dict[str, float] = {
    "impression": 0.0, "click": 1.0, "add_to_cart": 2.0, "purchase": 3.0, "like": 3.0, "dislike": -3.0,
}

# Hand-tuned linear weights over the ranker's features (used when no learned ranker is loaded).
# Personal features (profile_sim, session_sim, cf, graph) are standardised inside the candidate
# list and scaled by 0.1 first, so their weight is the score moved per 10 standard deviations.
DEFAULT_WEIGHTS: dict[str, float] = {
    # retrieval: the fused score over the best one; with RRF neighbouring ranks differ by ~1%, so
    # a rank term (1 / log2(rank + 2)) keeps a clear first match first against small boosts
    "retrieval": 1.0,
    "retrieval_rank": 0.5,
    "constraint_match": 0.3,  # share of the parsed constraints met (colour, gender, type...)
    "price_fit": 0.3,
    "rating": 0.03,
    "popularity": 0.05,
    "in_stock": 0.1,
    "freshness": 0.01,
    "rule_boost": 1.0,
    "profile_sim": 1.0,
    "user_price_fit": 0.15,
    "session_sim": 2.0,
    "cf": 0.5,
    "graph": 0.5,
}


@dataclass(frozen=True)
class BoostRule:
    """"Boost brand X in category Y": products matching ``match`` get ``weight`` added to their
    ranking score when the search matches ``when`` (empty: always).

    ``when`` is tested against the query's parsed constraints (``{"article_type": "Shoes"}``
    holds when the query asked for shoes) or, with ``scope="product"``, against the product
    itself. Filters use the engine's filter syntax (``{"brand": "Nike"}``, ``{"price": {"le": 50}}``).
    """

    name: str
    match: Mapping[str, Any]
    weight: float
    when: Mapping[str, Any] = field(default_factory=dict)
    scope: Literal["query", "product"] = "query"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"boost rule: name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.match, Mapping) or not self.match:
            raise ValueError(f"boost rule {self.name!r}: match must be a non-empty mapping of filters")
        if not isinstance(self.when, Mapping):
            raise ValueError(f"boost rule {self.name!r}: when must be a mapping of filters")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight):
            raise ValueError(f"boost rule {self.name!r}: weight must be a finite number, got {self.weight!r}")
        if self.scope not in ("query", "product"):
            raise ValueError(f"boost rule {self.name!r}: scope must be 'query' or 'product', got {self.scope!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BoostRule:
        unknown = set(d) - {"name", "match", "weight", "when", "scope"}
        if unknown:
            raise ValueError(f"boost rule: unknown key(s) {sorted(unknown)}; allowed: name, match, weight, when, scope")
        return cls(name=d.get("name", ""), match=d.get("match") or {}, weight=d.get("weight", 0.0),
                   when=d.get("when") or {}, scope=d.get("scope", "query"))


@dataclass(frozen=True)
class RankConfig:
    """How the ranker orders the top fused candidates.

    ``components`` switches parts on (drop one to ablate it); ``depth`` is how many fused
    candidates are reranked; ``weights`` override :data:`DEFAULT_WEIGHTS`; ``half_life_days``
    decays history (profile, popularity, collaborative models); ``out_of_stock`` demotes,
    filters or keeps products with ``stock == 0``; ``rules`` are business boost rules.
    """

    components: tuple[str, ...] = COMPONENTS
    depth: int = 100
    weights: Mapping[str, float] = field(default_factory=dict)
    half_life_days: float = 30.0
    popularity_half_life_days: float = 7.0
    out_of_stock: StockPolicy = "demote"
    rules: tuple[BoostRule, ...] = ()
    session_ttl_s: float = 6 * 3600.0
    rocchio: tuple[float, float, float] = (1.0, 0.75, 1.0)  # query, liked/clicked, disliked
    profile_history: int = 500  # most recent events per user used for the profile

    def __post_init__(self) -> None:
        bad = [c for c in self.components if c not in COMPONENTS]
        if bad:
            raise ValueError(f"unknown ranking component(s) {bad}; valid: {', '.join(COMPONENTS)}")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth must be a positive integer, got {self.depth!r}")
        unknown = set(self.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown ranking weight(s) {sorted(unknown)}; valid: {', '.join(DEFAULT_WEIGHTS)}")
        for name, value in (("half_life_days", self.half_life_days),
                            ("popularity_half_life_days", self.popularity_half_life_days),
                            ("session_ttl_s", self.session_ttl_s)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if self.out_of_stock not in STOCK_POLICIES:
            raise ValueError(f"out_of_stock must be one of {', '.join(STOCK_POLICIES)}, got {self.out_of_stock!r}")

    def weight(self, feature: str) -> float:
        return float(self.weights.get(feature, DEFAULT_WEIGHTS.get(feature, 0.0)))

    def uses(self, component: str) -> bool:
        return component in self.components

    @classmethod
    def load(cls, path: str | Path) -> RankConfig:
        """The ``[rank]`` table of a settings file (TOML or JSON; or the whole file when it holds
        ranking settings only, see :func:`shopsearch.config.read_section`): the fields above,
        with ``rules`` as a list of tables."""
        data = read_section(path, "rank", cls)
        if "components" in data:
            data["components"] = tuple(data["components"])
        if "rocchio" in data:
            data["rocchio"] = tuple(float(x) for x in data["rocchio"])
        data["rules"] = tuple(BoostRule.from_dict(r) for r in data.get("rules", ()))
        return cls(**data)
