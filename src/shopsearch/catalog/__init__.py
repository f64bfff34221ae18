"""Catalog stage: load JSONL/CSV/Parquet catalogs into validated products, with rejects.

>>> from shopsearch.catalog import load_catalog, load_mapping    # doctest: +SKIP
>>> result = load_catalog("products.jsonl", load_mapping("mapping.toml"))  # doctest: +SKIP
>>> result.products, result.rejects                               # doctest: +SKIP
"""

from __future__ import annotations

from shopsearch.catalog.errors import CatalogError
from shopsearch.catalog.loaders import CatalogLoad, load_catalog
from shopsearch.catalog.mapping import FieldMapping, load_mapping

__all__ = ["CatalogError", "CatalogLoad", "FieldMapping", "load_catalog", "load_mapping"]
