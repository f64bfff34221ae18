"""Where an index keeps its products and vectors: embedded files or external services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

PRODUCT_STORES: tuple[str, ...] = ("sqlite", "postgres")
VECTOR_STORES: tuple[str, ...] = ("faiss", "milvus")
POSTGRES_ENV = "SHOPSEARCH_POSTGRES_DSN"
MILVUS_ENV = "SHOPSEARCH_MILVUS_URI"


@dataclass(frozen=True)
class StoreConfig:
    """Backends of an index.

    ``products``: "sqlite" (a file in the index version, the default) or "postgres"
    (``postgres_dsn``, or ``$SHOPSEARCH_POSTGRES_DSN``). ``vectors``: "faiss" (files in the
    index version, the default) or "milvus" (``milvus_uri``, or ``$SHOPSEARCH_MILVUS_URI``).
    Milvus needs PostgreSQL: the ordered change log that replicas follow lives there.
    ``namespace`` prefixes every table row and collection of this index, so several indexes
    share one cluster. ``sync_interval`` (seconds) is how often a replica polls the change log;
    ``pool_size`` caps the PostgreSQL connections of one process.
    """

    products: Literal["sqlite", "postgres"] = "sqlite"
    vectors: Literal["faiss", "milvus"] = "faiss"
    postgres_dsn: str | None = None
    milvus_uri: str | None = None
    namespace: str = "shopsearch"
    pool_size: int = 4
    sync_interval: float = 0.5
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128

    def __post_init__(self) -> None:
        if self.products not in PRODUCT_STORES:
            raise ValueError(f"StoreConfig.products must be one of {', '.join(PRODUCT_STORES)}, got {self.products!r}")
        if self.vectors not in VECTOR_STORES:
            raise ValueError(f"StoreConfig.vectors must be one of {', '.join(VECTOR_STORES)}, got {self.vectors!r}")
        if self.vectors == "milvus" and self.products != "postgres":
            raise ValueError("StoreConfig.vectors='milvus' needs products='postgres' (the change log that "
                             "replicas follow lives in PostgreSQL)")
        if self.products == "postgres" and self.vectors != "milvus":
            raise ValueError("StoreConfig.products='postgres' is supported with vectors='milvus' only; "
                             "use sqlite+faiss for a single machine")
        if not self.namespace.replace("_", "").isalnum() or not self.namespace[0].isalpha():
            raise ValueError(f"StoreConfig.namespace must be letters, digits and _ starting with a letter, "
                             f"got {self.namespace!r}")
        if self.pool_size < 1:
            raise ValueError(f"StoreConfig.pool_size must be >= 1, got {self.pool_size}")
        if not self.sync_interval > 0:
            raise ValueError(f"StoreConfig.sync_interval must be > 0, got {self.sync_interval}")
        for name in ("hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"StoreConfig.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def remote(self) -> bool:
        """True when the index lives in external services rather than in its folder."""
        return self.products != "sqlite"

    def dsn(self) -> str:
        dsn = os.environ.get(POSTGRES_ENV) or self.postgres_dsn
        if not dsn:
            raise ValueError(f"the PostgreSQL product store needs a DSN: StoreConfig.postgres_dsn or ${POSTGRES_ENV}")
        return dsn

    def uri(self) -> str:
        uri = os.environ.get(MILVUS_ENV) or self.milvus_uri
        if not uri:
            raise ValueError(f"the Milvus vector store needs a URI: StoreConfig.milvus_uri or ${MILVUS_ENV}")
        return uri

    def to_manifest(self) -> dict[str, Any]:
        """What the index manifest records (the DSN without its password: pass that through
        ``PGPASSWORD`` or ``~/.pgpass``)."""
        return {"products": self.products, "vectors": self.vectors, "namespace": self.namespace,
                "postgres_dsn": _without_password(self.dsn()), "milvus_uri": self.uri(),
                "hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "sync_interval": self.sync_interval, "pool_size": self.pool_size}

    @classmethod
    def from_manifest(cls, data: dict[str, Any], **overrides: Any) -> StoreConfig:
        keys = ("products", "vectors", "namespace", "postgres_dsn", "milvus_uri", "hnsw_m", "ef_construction",
                "ef_search", "sync_interval", "pool_size")
        values = {k: data[k] for k in keys if k in data}
        values.update(overrides)
        return cls(**values)


def _without_password(dsn: str) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:  # pragma: no cover - psycopg is part of the scale extra
        return dsn
    parts = conninfo_to_dict(dsn)
    parts.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in parts.items()})
