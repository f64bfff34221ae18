"""Ray batch indexing's fault tolerance on a real Ray head (2 CPUs): a block whose encoding
raised is retried, a dead actor is restarted and its block run again (Ray's own retries),
a block that keeps failing stops the build with the finished blocks kept, and a re-run
resumes from them.

The actor bodies here are test-only stand-ins for :class:`BlockEncoder` (vectors from the
products' ids, no models), passed through ``RayEncoder(block_encoder=...)``; they fail on
purpose, remembering across retries and actor restarts through marker files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shopsearch.config import IndexConfig
from shopsearch.index.builder import BuildReport
from shopsearch.scale.ray_index import RayEncoder
from shopsearch.types import Product
from tests.optional import need_module

# ruff: noqa: E402
# (the import below the check needs the scale extra: a missing one skips the module, or fails it
# when SHOPSEARCH_REQUIRE names the part; tests/optional.py)
need_module("scale", "ray", module_level=True)
from ray import cloudpickle

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors below travel by value

N_PRODUCTS, BLOCK = 10, 2  # five blocks


def _markers(config_dict: dict[str, Any]) -> Path:
    return Path(config_dict["cache_path"]).parent / "markers"


class FakeBlockEncoder:
    """Vectors from product ids (2-d), no models; ``fail(block)`` decides whether to fail."""

    def __init__(self, config_dict: dict[str, Any]) -> None:
        self.markers = _markers(config_dict)

    def refs(self) -> dict[str, tuple[str, int, str]]:
        return {"text": ("fake", 2, "1")}

    def fail(self, block: int) -> None:
        pass

    def encode(self, block: int, products: list[dict[str, Any]]) -> dict[str, Any]:
        self.fail(block)
        with open(self.markers / f"ran-{block}", "a") as fh:
            fh.write(".")
        vecs = np.array([[float(p["id"][1:]), 1.0] for p in products], dtype=np.float32)
        return {"block": block, "vectors": {"text": (vecs, np.arange(len(products)))}, "n_images": 0,
                "skipped_images": 0, "seconds": {"texts": 0.0}, "cache_hits": 0, "cache_misses": 0,
                "pid": os.getpid()}


def _first_time(markers: Path, name: str) -> bool:
    marker = markers / name
    if marker.exists():
        return False
    marker.touch()
    return True


class RaisesOnce(FakeBlockEncoder):
    def fail(self, block: int) -> None:
        if block == 3 and _first_time(self.markers, "raised-3"):
            raise ValueError("a flaky image server")


class DiesOnce(FakeBlockEncoder):
    def fail(self, block: int) -> None:
        if block == 1 and _first_time(self.markers, "died-1"):
            os._exit(1)  # the actor process dies mid-block


class AlwaysRaises(FakeBlockEncoder):
    def fail(self, block: int) -> None:
        if block == 4:
            raise ValueError("block 4 is broken")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[list[Product], IndexConfig, Path]:
    (tmp_path / "markers").mkdir()
    products = [Product(id=f"p{i}", title=f"product {i}") for i in range(N_PRODUCTS)]
    config = IndexConfig(fields=("title",), joint_model=None, zero_shot=False, cache_path=tmp_path / "cache.sqlite",
                         progress=False)
    return products, config, tmp_path / "markers"


def _run(cluster: Any, body: type, products: list[Product], config: IndexConfig, checkpoint: Path,
         max_retries: int = 2) -> tuple[RayEncoder, Any]:
    encoder = RayEncoder(cluster.address, workers=2, block_size=BLOCK, max_retries=max_retries,
                         checkpoint_dir=checkpoint, block_encoder=body)
    pv, refs = encoder(products, config, BuildReport(checkpoint.parent / "idx", "v1", len(products), len(products), []))
    return encoder, (pv, refs)


def _check_vectors(pv: Any) -> None:
    vecs, rows = pv.vectors["text"]
    assert rows.tolist() == list(range(N_PRODUCTS))  # blocks merged in catalogue order
    assert vecs[:, 0].tolist() == [float(i) for i in range(N_PRODUCTS)]


def _runs(markers: Path, block: int) -> int:
    path = markers / f"ran-{block}"
    return len(path.read_text()) if path.exists() else 0


@pytest.mark.parametrize("body, block", [(RaisesOnce, 3), (DiesOnce, 1)], ids=["raises", "actor-dies"])
def test_a_failed_block_is_retried_by_ray(ray_cluster: Any, setup: Any, tmp_path: Path, body: type,
                                          block: int) -> None:
    products, config, markers = setup
    encoder, (pv, refs) = _run(ray_cluster, body, products, config, tmp_path / "blocks")
    _check_vectors(pv)
    assert refs["text"].name == "fake"
    assert encoder.stats["blocks"] == 5 and encoder.stats["skipped"] == 0
    assert sum(encoder.stats["blocks_per_worker"]) == 5
    assert (markers / ("raised-3" if body is RaisesOnce else "died-1")).exists()  # it did fail once
    assert all(_runs(markers, b) == 1 for b in range(5))  # every block finished exactly once


def test_a_block_that_keeps_failing_stops_the_build_and_a_rerun_resumes(ray_cluster: Any, setup: Any,
                                                                         tmp_path: Path) -> None:
    products, config, markers = setup
    checkpoint = tmp_path / "blocks"
    with pytest.raises(RuntimeError, match=r"a block failed after 1 retries; giving up .*block 4 is broken"):
        _run(ray_cluster, AlwaysRaises, products, config, checkpoint, max_retries=1)
    kept = len(list(checkpoint.glob("*.npz")))
    assert 1 <= kept <= 4 and _runs(markers, 4) == 0  # the finished blocks are kept (block 4 never is)
    encoder, (pv, _) = _run(ray_cluster, FakeBlockEncoder, products, config, checkpoint)
    _check_vectors(pv)
    assert encoder.stats["skipped"] == kept and sum(encoder.stats["blocks_per_worker"]) == 5 - kept
    assert _runs(markers, 4) == 1 and sum(_runs(markers, b) for b in range(5)) == 5  # nothing encoded twice
