"""Systems under evaluation: named engine configurations, parsed from the command line.

A system is written ``NAME`` (the engine's defaults), ``NAME=JSON`` or ``NAME=@file.json``,
where the JSON object mixes:

* :class:`~shopsearch.config.SearchConfig` fields (``candidates``, ``rrf_k``, ``fusion``,
  ``constraint_boost``...): the engine is loaded with that config;
* ``Engine.search`` options (``signals``, ``constraints``, ``weights``, ``filters``);
* ``shuffle_top``: shuffle the top N of every ranking (seeded by ``seed`` and the qid), a
  deliberately worse system for checking that an evaluation can tell systems apart.

Example: ``--system bm25='{"signals": ["lexical"], "constraints": "off"}' --system fusion``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.config import SearchConfig
from shopsearch.evaluation.queries import EvalQuery
from shopsearch.types import SearchResult

__all__ = ["EngineSystems", "SystemSpec", "parse_system", "shuffle_top"]

SEARCH_KEYS = frozenset({"signals", "constraints", "weights", "filters", "fusion"})
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(SearchConfig))
SPECIAL_KEYS = frozenset({"shuffle_top", "seed"})


@dataclass(frozen=True)
class SystemSpec:
    """A named system: engine config overrides, search options, optional top-N shuffle."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    shuffle_top: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() for ch in self.name):
            raise ValueError(f"system name must be non-empty without whitespace, got {self.name!r}")
        if self.shuffle_top < 0:
            raise ValueError(f"system {self.name!r}: shuffle_top must be >= 0, got {self.shuffle_top}")

    def search_config(self, base: SearchConfig = SearchConfig()) -> SearchConfig:
        return dataclasses.replace(base, **self.config) if self.config else base

    def to_dict(self) -> dict[str, Any]:
        out = {**self.config, **self.search}
        if self.shuffle_top:
            out.update(shuffle_top=self.shuffle_top, seed=self.seed)
        return out


def parse_system(text: str) -> SystemSpec:
    """``NAME``, ``NAME=JSON`` or ``NAME=@path.json`` -> :class:`SystemSpec` (errors name the key)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep:
        return SystemSpec(name=name)
    raw = raw.strip()
    if raw.startswith("@"):
        raw = Path(raw[1:]).read_text(encoding="utf-8")
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"system {name!r}: invalid JSON ({exc.msg}): {raw[:80]!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"system {name!r}: expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - SEARCH_KEYS - CONFIG_KEYS - SPECIAL_KEYS
    if unknown:
        valid = sorted(SEARCH_KEYS | CONFIG_KEYS | SPECIAL_KEYS)
        raise ValueError(f"system {name!r}: unknown key(s) {sorted(unknown)}; valid: {', '.join(valid)}")
    config = {k: v for k, v in obj.items() if k in CONFIG_KEYS and k not in SEARCH_KEYS}
    search = {k: v for k, v in obj.items() if k in SEARCH_KEYS}
    spec = SystemSpec(name=name, config=config, search=search,
                      shuffle_top=int(obj.get("shuffle_top", 0)), seed=int(obj.get("seed", 0)))
    spec.search_config()  # validate the config fields now
    return spec


def _rng_for(seed: int, qid: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{seed}:{qid}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def shuffle_top(ids: Sequence[Any], n: int, seed: int, qid: str) -> list[Any]:
    """``ids`` with its first ``n`` items permuted (deterministic in ``seed`` and ``qid``)."""
    head = list(ids[:n])
    order = _rng_for(seed, qid).permutation(len(head))
    return [head[i] for i in order] + list(ids[n:])


class EngineSystems:
    """Loads one engine per distinct search config and makes search functions for systems.

    Engines are warmed up when loaded and, unless a system sets ``query_cache_size``, run
    without the query-embedding cache, so that every system pays for its own query encoding
    and latencies are comparable across systems. ``products`` collects
    ``{id: {"title", "image"}}`` of every product returned, for reports.
    """

    def __init__(self, index_dir: str | Path, filters: Any = None, base: SearchConfig | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.filters = filters
        # a system's fields apply on top of ``base`` (a settings file's [search] table)
        self.base = dataclasses.replace(base if base is not None else SearchConfig(), query_cache_size=0)
        self._engines: dict[str, Any] = {}
        self.products: dict[str, dict[str, Any]] = {}

    def engine(self, spec: SystemSpec) -> Any:
        import shopsearch

        key = json.dumps(spec.config, sort_keys=True)
        if key not in self._engines:
            engine = shopsearch.load(self.index_dir, config=spec.search_config(self.base))
            engine.warmup()
            self._engines[key] = engine
        return self._engines[key]

    def _remember(self, result: SearchResult) -> None:
        for hit in result.hits:
            if hit.product_id not in self.products and hit.product is not None:
                p = hit.product
                self.products[p.id] = {"title": p.title, "image": p.images[0] if p.images else None}

    def search_fn(self, spec: SystemSpec) -> Callable[[EvalQuery, int], SearchResult]:
        """``fn(query, k) -> SearchResult`` for ``spec`` (usable as a :data:`SearchFn`)."""
        engine = self.engine(spec)
        options = dict(spec.search)
        filters = options.pop("filters", self.filters)

        def run(query: EvalQuery, k: int) -> SearchResult:
            result = engine.search(text=query.text, image=query.image, k=k, filters=filters, facets=False, **options)
            if spec.shuffle_top:
                result = dataclasses.replace(result, hits=shuffle_top(result.hits, spec.shuffle_top, spec.seed,
                                                                      query.qid))
            self._remember(result)
            return result

        return run
