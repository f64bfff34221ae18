"""Service settings: one frozen dataclass, read from the environment by the CLI entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

API_KEY_ENV = "SHOPSEARCH_API_KEY"
INDEX_ENV = "SHOPSEARCH_INDEX_DIR"
MiB = 1024 * 1024


def _api_key_from_env() -> str | None:
    return os.environ.get(API_KEY_ENV) or None


@dataclass(frozen=True)
class Settings:
    """How the HTTP service runs. Every limit is enforced with a 4xx that names it.

    ``api_key`` protects the write endpoints (default: ``$SHOPSEARCH_API_KEY``; unset means
    writes are refused). ``data_dir`` holds the feedback database (default: the index
    directory). ``cors_origins`` is empty by default: browsers may call the API only from the
    page the service itself serves.
    """

    index_dir: Path
    api_key: str | None = field(default_factory=_api_key_from_env, repr=False)
    data_dir: Path | None = None
    max_body_bytes: int = 12 * MiB
    max_image_bytes: int = 10 * MiB
    max_image_pixels: int = 25_000_000
    max_audio_bytes: int = 4 * MiB
    max_audio_seconds: float = 15.0
    max_text_chars: int = 500
    max_k: int = 100
    max_page: int = 100
    max_batch: int = 1000
    cors_origins: tuple[str, ...] = ()
    voice: bool = True
    voice_threads: int = 2
    warmup: bool = True
    experiment: Path | None = None  # JSON file of a split-traffic A/B experiment (see evaluation.abtest)
    rank: bool = True  # rerank with shopsearch.rank (business signals, personal and session features)
    ranker_dir: Path | None = None  # models from `shopsearch train-ranker` (cf/, graph/, ltr/)
    rank_config: Path | None = None  # TOML/JSON RankConfig (weights, stock policy, boost rules)
    search_config: Path | None = None  # TOML/JSON settings file; its [search] table is the SearchConfig
    log_impressions: bool = True  # log shown results as impression events when a user or session is known
    min_free_bytes: int = 64 * MiB  # /health says degraded when the index or data folder has less free space
    header_timeout_s: float = 10.0  # a connection that has not sent a request's headers by then is closed

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        for name in ("experiment", "rank_config", "search_config"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        for name in ("max_body_bytes", "max_image_bytes", "max_image_pixels", "max_audio_bytes",
                     "max_text_chars", "max_k", "max_page", "max_batch", "voice_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Settings.{name} must be a positive integer, got {value!r}")
        for name in ("max_audio_seconds", "header_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Settings.{name} must be > 0, got {getattr(self, name)!r}")
        if isinstance(self.min_free_bytes, bool) or not isinstance(self.min_free_bytes, int) or self.min_free_bytes < 0:
            raise ValueError(f"Settings.min_free_bytes must be an integer >= 0, got {self.min_free_bytes!r}")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ValueError("Settings.api_key must be at least 8 characters")

    @property
    def feedback_path(self) -> Path:
        """The interaction log (:class:`shopsearch.rank.events.EventLog`)."""
        from shopsearch.rank.events import LOG_NAME

        return (self.data_dir or self.index_dir) / LOG_NAME

    @property
    def sessions_path(self) -> Path:
        """Multi-turn session state, shared by the worker processes."""
        return (self.data_dir or self.index_dir) / "sessions.sqlite"

    @property
    def patch_lock_path(self) -> Path:
        """The lock file that makes a product's read-change-write (``PATCH``) one at a time
        across the worker processes."""
        return (self.data_dir or self.index_dir) / "patch.lock"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from ``SHOPSEARCH_*`` variables (``SHOPSEARCH_INDEX_DIR``,
        ``SHOPSEARCH_MAX_K``...), then ``overrides``. Used by multi-worker servers, where each
        worker process builds its own app."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"SHOPSEARCH_{f.name.upper()}")
            if raw is None or f.name == "api_key":
                continue
            if f.name in ("index_dir", "data_dir", "ranker_dir", "rank_config", "search_config", "experiment"):
                values[f.name] = Path(raw)
            elif f.name == "cors_origins":
                values[f.name] = tuple(o.strip() for o in raw.split(",") if o.strip())
            elif f.name in ("voice", "warmup", "rank", "log_impressions"):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.name in ("max_audio_seconds", "header_timeout_s"):
                values[f.name] = float(raw)
            else:
                values[f.name] = int(raw)
        values.update(overrides)
        if "index_dir" not in values:
            raise ValueError(f"no index directory: set ${INDEX_ENV}")
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The inverse of :meth:`from_env` (without the API key, which stays in its own variable)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key" or value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            out[f"SHOPSEARCH_{f.name.upper()}"] = str(value)
        return out
