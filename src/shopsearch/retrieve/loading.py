"""Reading one version of a local index directory (products in the version's store file,
vectors in FAISS files) into a :class:`~shopsearch.retrieve.state.CatalogState`.

An index whose manifest names external stores (``settings.stores``: PostgreSQL + Milvus) is not
read here: :func:`shopsearch.load` opens those through :mod:`shopsearch.scale.replica`, so this
package never imports the scale-out backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shopsearch.config import SearchConfig
from shopsearch.index.builder import FIELD_ROLE_PREFIX, dense_params
from shopsearch.index.dense import DenseIndex, DenseParams, VectorIndex
from shopsearch.index.lexical import LexicalIndex
from shopsearch.index.manifest import IndexFormatError, Manifest, read_manifest, verify_checksums
from shopsearch.index.store import STORE_NAME, read_products
from shopsearch.retrieve.encoders import check_index_encoders
from shopsearch.retrieve.state import CatalogState

DENSE_ROLES: tuple[str, ...] = ("text", "image", "joint", "zeroshot")  # plus per-field text roles


def manifest_dense_params(manifest: Manifest) -> DenseParams:
    """The dense index settings an index was built with."""
    return dense_params(int(manifest.settings.get("hnsw_threshold", 100_000)),
                        str(manifest.settings.get("dense_index", "auto")))


def dense_roles(manifest: Manifest) -> list[str]:
    """The manifest's vector roles that have a dense index."""
    return [r for r in manifest.encoders if r in DENSE_ROLES or r.startswith(FIELD_ROLE_PREFIX)]


def uses_external_stores(manifest: Manifest) -> bool:
    """Whether the index keeps its products and vectors in external stores (PostgreSQL, Milvus)."""
    return bool(manifest.settings.get("stores"))


def read_index_manifest(index_dir: Path, version: Path, *, verify: bool = True,
                        encoders: Mapping[str, Any] | None = None) -> Manifest:
    """The manifest of ``version``, its checksums verified (``verify``) and its registry encoders
    checked against this installation; ``IndexFormatError`` on any mismatch."""
    manifest = read_manifest(version)
    if verify:
        verify_checksums(version, manifest)
    check_index_encoders(index_dir, manifest, encoders)
    return manifest


def open_version(
    index_dir: Path, version: Path, manifest: Manifest, config: SearchConfig = SearchConfig(),
) -> CatalogState:
    """The catalogue state of a local index ``version`` as built (its update log not applied)."""
    if uses_external_stores(manifest):
        raise IndexFormatError(
            f"index {index_dir} keeps its products and vectors in external stores (PostgreSQL, Milvus); "
            "open it with shopsearch.load()")
    products = read_products(version / STORE_NAME)
    if len(products) != manifest.counts.get("products", -1):
        raise IndexFormatError(f"index {index_dir}: product count does not match the manifest")
    params = manifest_dense_params(manifest)
    dense: dict[str, VectorIndex] = {
        role: DenseIndex.load(version / "dense", role, len(products), params) for role in dense_roles(manifest)
    }
    lexical = LexicalIndex.load(version / "lexical") if (version / "lexical").is_dir() else None
    return CatalogState.create(manifest, products, dense, lexical, shopper_words=config.shopper_words,
                               version_dir=version)
