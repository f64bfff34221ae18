"""shopsearch: cross-modal product search for e-commerce.

Quick start::

    import shopsearch
    engine = shopsearch.load("fx-index")
    result = engine.search(text="red summer dress", k=10)
    for hit in result.hits:
        print(hit.product_id, hit.score, hit.product.title)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopsearch.types import Hit, Product, Reject, SearchResult

__version__ = "0.1.0"
__all__ = ["Hit", "Product", "Reject", "SearchResult", "__version__", "load"]

if TYPE_CHECKING:
    from shopsearch.retrieve.engine import Engine


def load(index_dir: Any, **kwargs: Any) -> Engine:
    """Open an index directory for searching (see :class:`shopsearch.retrieve.engine.Engine`).

    The backend follows the index's manifest: a local index (products and FAISS vectors in the
    directory, updates in its write-ahead log) opens with :meth:`Engine.load`; an index kept in
    PostgreSQL + Milvus opens as a replica (:mod:`shopsearch.scale.replica`). Keyword arguments:
    ``config`` (:class:`~shopsearch.config.SearchConfig`), ``verify``, ``encoders``.
    """
    from pathlib import Path

    from shopsearch.index.manifest import read_manifest, resolve_version
    from shopsearch.retrieve.engine import Engine
    from shopsearch.retrieve.loading import uses_external_stores

    if uses_external_stores(read_manifest(resolve_version(Path(index_dir)))):
        from shopsearch.scale.replica import open_replica

        return open_replica(index_dir, **kwargs)
    return Engine.load(index_dir, **kwargs)
