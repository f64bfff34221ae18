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
    """Open an index directory for searching (see :class:`shopsearch.retrieve.engine.Engine`)."""
    from shopsearch.retrieve.engine import Engine

    return Engine.load(index_dir, **kwargs)
