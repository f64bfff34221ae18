"""The engine's parts: the catalogue state and its change records, the write path as a
component, the backend chosen by the manifest, and retrieval never importing the scale-out
backends (issue 17)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import shopsearch
from shopsearch.index.dense import DenseIndex
from shopsearch.index.manifest import MANIFEST_NAME, IndexFormatError, Manifest, resolve_version
from shopsearch.retrieve.engine import Engine
from shopsearch.retrieve.state import CatalogState, LiveCatalog
from shopsearch.types import Product

RETRIEVE = Path(shopsearch.__file__).parent / "retrieve"


def _state(n: int = 3) -> CatalogState:
    manifest = Manifest(1, "test", "now", ("title",), {}, {"products": n})
    products = [Product(id=f"p{i}", title=f"Red Shirt {i}") for i in range(n)]
    vectors = np.eye(n, 4, dtype=np.float32)
    dense = {"text": DenseIndex(vectors, np.arange(n, dtype=np.int64), n)}
    return CatalogState.create(manifest, products, dense, None, shopper_words=False)


def test_apply_upsert_retires_the_old_position_and_appends_vectors() -> None:
    from shopsearch.index.wal import encode_array

    state = _state()
    vec = np.array([[0, 0, 0, 1]], dtype=np.float32)
    state.apply({"op": "upsert", "products": [Product(id="p1", title="Blue Shirt").to_dict()],
                 "vectors": {"text": {"rows": [0], "data": encode_array(vec)}}})
    assert state.positions["p1"] == 3 and not state.alive[1] and state.size == 3
    assert state.product("p1").title == "Blue Shirt"
    assert state.dense["text"].n_products == 4
    np.testing.assert_array_equal(state.dense["text"].vectors_of(3), vec)


def test_apply_meta_in_place_and_delete() -> None:
    state = _state()
    state.apply({"op": "meta", "products": [Product(id="p0", title="Red Shirt 0", price=5.0).to_dict()]})
    assert state.positions["p0"] == 0 and state.product("p0").price == 5.0
    state.apply({"op": "delete", "ids": ["p2", "unknown"]})
    assert state.product("p2") is None and state.size == 2 and not state.alive[2]
    with pytest.raises(ValueError, match="unknown update record 'merge'"):
        state.apply({"op": "merge"})


def test_live_catalog_bumps_the_generation_per_change() -> None:
    catalog = LiveCatalog(_state())
    catalog.apply([{"op": "delete", "ids": ["p0"]}, {"op": "delete", "ids": ["p1"]}])
    assert catalog.generation == 1 and catalog.state.size == 1


def test_an_engine_without_a_write_path_only_reads() -> None:
    engine = Engine(LiveCatalog(_state()))
    assert engine.product("p1") is not None and engine.size == 3
    engine.refresh()
    with pytest.raises(RuntimeError, match="not loaded from an index directory"):
        engine.upsert([Product(id="p9", title="x")])
    with pytest.raises(RuntimeError, match="not loaded from an index directory"):
        engine.delete(["p1"])


def test_engine_load_refuses_an_index_in_external_stores(tiny_index: Path, tmp_path: Path) -> None:
    """A PostgreSQL + Milvus index opens through shopsearch.load (the facade picks the backend);
    the engine itself does not know that backend."""
    index = Path(shutil.copytree(tiny_index, tmp_path / "idx"))
    path = resolve_version(index) / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["settings"]["stores"] = {"products": "postgres", "vectors": "milvus"}
    path.write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match=r"external stores .*shopsearch\.load"):
        Engine.load(index, verify=False)


def test_retrieve_never_imports_scale() -> None:
    """Data flows one way: the scale-out backends build on retrieval, not the reverse (lazy
    imports included)."""
    offenders = []
    for path in sorted(RETRIEVE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("shopsearch.scale")]
    assert offenders == []
