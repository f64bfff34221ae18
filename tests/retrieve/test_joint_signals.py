"""The packaged joint text-image model inside an index: text->image, composed queries, mismatches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import shopsearch
from devkit.catalogs import tiny_rows, write_catalog
from shopsearch.config import IndexConfig
from shopsearch.index.builder import build_index
from shopsearch.index.manifest import IndexFormatError, resolve_version


@pytest.fixture(scope="module")
def joint_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("joint")
    catalog = write_catalog(root / "shop", tiny_rows(root / "shop"))
    build_index(catalog, root / "idx", IndexConfig(fields=("image",), cache_path=root / "c.sqlite", progress=False))
    return root / "idx"


def test_image_only_index_answers_text_through_the_joint_model(joint_index: Path) -> None:
    engine = shopsearch.load(joint_index)
    assert engine.manifest.encoders["joint"].name == "fashion-joint-v1"
    result = engine.search(text="red tshirt", k=8)
    assert "joint" in result.signals_used and "lexical" not in result.signals_used
    assert len(result.hits) == 8
    photo = joint_index.parent / "shop" / "images" / "p2.png"
    composed = engine.search(text="in red", image=str(photo), k=3)
    assert {"image", "joint_image", "composed"} <= set(composed.signals_used)
    assert engine.search(image=str(photo), k=1).ids() == ["p2"]


def test_joint_version_mismatch_is_refused(joint_index: Path, tmp_path: Path) -> None:
    idx = Path(shutil.copytree(joint_index, tmp_path / "idx"))
    manifest = resolve_version(idx) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["encoders"]["joint"]["version"] = "0.1"
    manifest.write_text(json.dumps(data))
    engine = shopsearch.load(idx, verify=False)
    with pytest.raises(IndexFormatError, match="joint encoder mismatch"):
        engine.search(text="red tshirt")


def test_zero_shot_fallback_without_a_joint_model(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))
    build_index(catalog, tmp_path / "idx", IndexConfig(fields=("image",), joint_model=None,
                                                       cache_path=tmp_path / "c.sqlite", progress=False))
    engine = shopsearch.load(tmp_path / "idx")
    assert "zeroshot" in engine.manifest.encoders and "joint" not in engine.manifest.encoders
    result = engine.search(text="shoes", k=8, constraints="off")
    assert result.signals_used == ("zeroshot",) and len(result.hits) == 8


def test_warmup_runs_a_text_and_a_photo_query_end_to_end(joint_index: Path) -> None:
    # the first shopper should not wait for the joint heads to be built (importing onnx) or
    # for the ONNX sessions' first runs: warm-up does them
    engine = shopsearch.load(joint_index)
    joint = engine.encoders.get("joint")
    assert not joint._sessions
    engine.warmup()
    assert {"text", "image"} <= set(joint._sessions)
    assert engine.search(text="red tshirt", k=2).hits  # and nothing of the catalogue changed
