"""Configuration: frozen dataclasses for each stage, one settings file, and where the sample
data lives.

A settings file (``shopsearch.toml``, or JSON) holds one table per stage: ``[search]``
(:class:`SearchConfig`), ``[rank]`` (:class:`shopsearch.rank.RankConfig`). :func:`read_section`
reads one table and refuses unknown keys, naming the file, the table and the valid keys, so
``shopsearch serve --config shopsearch.toml`` and the library read the same settings the same way.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

DATA_ENV = "SHOPSEARCH_DATA"


class DataNotFoundError(FileNotFoundError):
    """The sample data directory is missing."""


def sample_data_dir() -> Path:
    """The shared sample data directory (``$SHOPSEARCH_DATA``, default ``../shared/data``).

    The default is resolved against the current directory first and then against the
    repository checkout this package was installed from. Raises :class:`DataNotFoundError`
    naming both the variable and the paths tried.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path.resolve()
        raise DataNotFoundError(f"${DATA_ENV} points to {path}, which is not a directory")
    tried = [Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    for path in tried:
        if path.is_dir():
            return path.resolve()
    raise DataNotFoundError(
        "sample data not found; set the environment variable "
        f"{DATA_ENV} to the folder holding fashion/ and grocery/ (tried: "
        + ", ".join(str(p) for p in tried) + ")"
    )


INDEX_FIELDS: tuple[str, ...] = ("title", "brand", "category", "attributes", "description", "image")
# dense index kinds (shopsearch.index.dense): exact, graph, or compressed codes re-ranked on full precision
DenseKind = Literal["auto", "flat", "hnsw", "fp16", "sq8", "pq"]
DENSE_KINDS: tuple[str, ...] = get_args(DenseKind)
TextVectors = Literal["document", "fields"]
TEXT_VECTORS: tuple[str, ...] = get_args(TextVectors)


def default_cache_path() -> Path:
    """Embedding cache file: ``$SHOPSEARCH_CACHE`` or ``~/.cache/shopsearch/embeddings.sqlite``."""
    env = os.environ.get("SHOPSEARCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "shopsearch" / "embeddings.sqlite"


@dataclass(frozen=True)
class IndexConfig:
    """How ``shopsearch index`` builds an index.

    ``fields`` chooses what is indexed: any of :data:`INDEX_FIELDS`; ``image`` alone gives an
    image-only index (text queries then reach products through the joint model only).
    ``joint_model`` is a model directory, ``"default"`` for the packaged model, or ``None``;
    without one, ``zero_shot`` indexes the ImageNet-label fallback for text->image search.
    """

    fields: tuple[str, ...] = INDEX_FIELDS
    text_model: str = "e5-small"
    # a registry name or a shop image model directory; None: the model `shopsearch train` put
    # beside the joint model (MODEL_DIR/image), else efficientnet-lite0
    image_model: str | None = None
    joint_model: str | None = "default"
    threads: int | None = None
    batch_size: int = 32
    cache_path: Path | None = field(default_factory=default_cache_path)
    hnsw_threshold: int = 100_000
    # compressed kinds keep codes in memory and re-rank on full precision from disk:
    # fp16 (half), sq8 (a quarter), pq (d/8 bytes per vector); see shopsearch.index.dense
    dense_index: DenseKind = "auto"
    # "document": one text vector per product; "fields": one per title / attributes / description,
    # aggregated at query time (SearchConfig.aggregation, SearchConfig.field_weights)
    text_vectors: TextVectors = "document"
    progress: bool = True
    check_images: bool = True
    zero_shot: bool = True  # without a joint model, index ImageNet-label vectors for text->image

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError(f"IndexConfig.fields is empty; choose from {', '.join(INDEX_FIELDS)}")
        bad = [f for f in self.fields if f not in INDEX_FIELDS]
        if bad:
            raise ValueError(
                f"IndexConfig.fields: unknown field(s) {', '.join(map(repr, bad))}; "
                f"valid: {', '.join(INDEX_FIELDS)}"
            )
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"IndexConfig.threads must be >= 1, got {self.threads}")
        if self.batch_size < 1:
            raise ValueError(f"IndexConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.dense_index not in DENSE_KINDS:
            raise ValueError(f"IndexConfig.dense_index must be one of {', '.join(DENSE_KINDS)}, "
                             f"got {self.dense_index!r}")
        if self.text_vectors not in TEXT_VECTORS:
            raise ValueError(f"IndexConfig.text_vectors must be one of {', '.join(TEXT_VECTORS)}, "
                             f"got {self.text_vectors!r}")
        if self.hnsw_threshold < 1:
            raise ValueError(f"IndexConfig.hnsw_threshold must be >= 1, got {self.hnsw_threshold}")

    @property
    def text_fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f != "image")

    @property
    def has_images(self) -> bool:
        return "image" in self.fields


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML (``.toml``) or JSON settings file; ``ValueError`` naming the file
    when it cannot be read as one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"settings file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"settings file {path}: expected a table/object of settings")
    return data


def read_section(path: str | Path, section: str, cls: type) -> dict[str, Any]:
    """The ``[section]`` table of a settings file as keyword arguments for dataclass ``cls``.
    A file without that table but whose keys are all fields of ``cls`` is read whole (a file
    of one stage's settings). Unknown keys raise ``ValueError`` listing the valid ones."""
    data = read_settings_file(path)
    valid = {f.name for f in fields(cls)}
    table = data.get(section)
    if table is None:
        table = data if set(data) <= valid else {}
    if not isinstance(table, Mapping):
        raise ValueError(f"settings file {path}: [{section}] must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - valid)
    if unknown:
        raise ValueError(f"settings file {path}: unknown [{section}] setting(s) {unknown}; "
                         f"valid: {', '.join(sorted(valid))}")
    return dict(table)


FusionMethod = Literal["rrf", "minmax", "zscore", "dbsf"]
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)
ConstraintMode = Literal["boost", "filter", "off"]
CONSTRAINT_MODES: tuple[str, ...] = get_args(ConstraintMode)
Aggregation = Literal["max", "mean"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
SIMILARITY_NAMES: tuple[str, ...] = ("cosine", "dot", "euclidean", "smoothed")


@dataclass(frozen=True)
class SearchConfig:
    """Query-time settings: candidates per signal, RRF constant, per-signal weights, and how
    parsed query constraints act ("boost": ranked up, "filter": hard filters, "off")."""

    candidates: int = 100
    rrf_k: int = 60
    weights: dict[str, float] = field(default_factory=dict)
    fusion: FusionMethod = "rrf"
    constraints: ConstraintMode = "boost"
    constraint_boost: float = 0.05
    composed_text_weight: float = 1.0
    query_cache_size: int = 4096
    # signal -> similarity for its candidates: "cosine" (default), "dot", "euclidean",
    # "smoothed" or "smoothed:ALPHA:BETA"
    similarity: dict[str, str] = field(default_factory=dict)
    # multi-vector products (several photos; per-field text vectors): a product's score is the
    # best of its vectors ("max") or their weighted mean ("mean"; field_weights per text field
    # group title / attributes / description, default 1)
    aggregation: Aggregation = "max"
    field_weights: dict[str, float] = field(default_factory=dict)
    # shoppers' words: the English shopper lexicon and what the titles teach, brands learned from
    # titles, typo correction in the parser, and product type first. False reads queries in the
    # catalogue's own words only (the behaviour before; kept for comparison)
    shopper_words: bool = True
    # threads of the text model at query time (0: one per CPU). One query is a small job and a
    # service answers several at once: a second thread per query cost more CPU than it saved
    # (benchmarks/results/e5_onnx.md) and competes with the other requests for the cores
    text_threads: int = 1

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"SearchConfig.candidates must be >= 1, got {self.candidates}")
        if self.rrf_k < 0:
            raise ValueError(f"SearchConfig.rrf_k must be >= 0, got {self.rrf_k}")
        if isinstance(self.text_threads, bool) or not isinstance(self.text_threads, int) or self.text_threads < 0:
            raise ValueError(f"SearchConfig.text_threads must be an integer >= 0 (0: one per CPU), "
                             f"got {self.text_threads!r}")
        if self.fusion not in FUSION_METHODS:
            raise ValueError(f"SearchConfig.fusion must be one of {', '.join(FUSION_METHODS)}, got {self.fusion!r}")
        if self.constraints not in CONSTRAINT_MODES:
            raise ValueError(f"SearchConfig.constraints must be one of {CONSTRAINT_MODES}, got {self.constraints!r}")
        if not self.constraint_boost >= 0:
            raise ValueError(f"SearchConfig.constraint_boost must be >= 0, got {self.constraint_boost}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"SearchConfig.aggregation must be one of {', '.join(AGGREGATIONS)}, "
                             f"got {self.aggregation!r}")
        for name, w in self.field_weights.items():
            if not w >= 0:
                raise ValueError(f"SearchConfig.field_weights[{name!r}] must be >= 0, got {w}")
        for signal, spec in self.similarity.items():
            if spec.partition(":")[0] not in SIMILARITY_NAMES:
                raise ValueError(f"SearchConfig.similarity[{signal!r}]: unknown similarity {spec!r}; "
                                 f"valid: {', '.join(SIMILARITY_NAMES)} (smoothed:ALPHA:BETA)")
        for name, w in self.weights.items():
            if not w >= 0:
                raise ValueError(f"SearchConfig.weights[{name!r}] must be >= 0, got {w}")

    @classmethod
    def load(cls, path: str | Path) -> SearchConfig:
        """The ``[search]`` table of a settings file (TOML or JSON; see :func:`read_section`)."""
        return cls(**read_section(path, "search", cls))
