from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import shopsearch
from devkit.catalogs import tiny_rows, write_catalog
from shopsearch.config import IndexConfig
from shopsearch.index.builder import build_index
from shopsearch.index.manifest import IndexFormatError, read_manifest, resolve_version


def test_manifest_round_trip(tiny_index: Path) -> None:
    version = resolve_version(tiny_index)
    manifest = read_manifest(version)
    assert manifest.format_version == 1
    assert manifest.counts["products"] == 8 and manifest.counts["rejects"] == 0
    assert manifest.encoders["text"].name == "e5-small" and manifest.encoders["text"].dim == 384
    assert manifest.encoders["image"].dim == 1280
    assert "products.sqlite" in manifest.files and "dense/text.vectors.npy" in manifest.files
    assert json.loads(manifest.to_json())["fields"] == list(manifest.fields)
    assert (tiny_index / "rejects.jsonl").read_text() == ""


def _copy_index(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_refuses_format_and_encoder_mismatch(tiny_index: Path, tmp_path: Path) -> None:
    idx = _copy_index(tiny_index, tmp_path / "idx")
    manifest_path = resolve_version(idx) / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["encoders"]["text"]["dim"] = 768
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match="dim 384 here but the index was built with dim 768"):
        shopsearch.load(idx)
    data["encoders"]["text"]["dim"] = 384
    data["encoders"]["image"]["name"] = "resnet-9000"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match=r"resnet-9000.*valid models"):
        shopsearch.load(idx)
    data["format_version"] = 99
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match="format version 99"):
        shopsearch.load(idx)


def test_refuses_damaged_files(tiny_index: Path, tmp_path: Path) -> None:
    idx = _copy_index(tiny_index, tmp_path / "idx")
    vec = resolve_version(idx) / "dense" / "text.vectors.npy"
    arr = np.load(vec)
    arr[0, 0] += 1
    np.save(vec, arr)
    with pytest.raises(IndexFormatError, match=r"text\.vectors\.npy: checksum mismatch"):
        shopsearch.load(idx)


def test_refuses_non_index(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match="does not exist"):
        shopsearch.load(tmp_path / "nope")
    with pytest.raises(IndexFormatError, match="not a shopsearch index"):
        shopsearch.load(tmp_path)


def test_broken_rows_are_reported_and_good_rows_kept(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    rows = tiny_rows(shop)
    (shop / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    bad = [
        {"id": "p1", "title": "duplicate of p1"},
        {"id": "n1", "title": "Negative price", "price": -5},
        {"id": "n2", "title": "Missing image", "image": "images/missing.png"},
        {"id": "n3", "title": "Broken image", "image": "images/broken.jpg"},
        {"title": "no id at all"},
        {"id": "n4", "title": "Bad rating", "rating": "excellent"},
    ]
    catalog = write_catalog(shop, rows[:4] + bad + rows[4:])
    report = build_index(catalog, tmp_path / "idx",
                         IndexConfig(joint_model=None, zero_shot=False, cache_path=tmp_path / "c.sqlite",
                                     progress=False))
    assert report.n_products == 8
    lines = sorted({r.line for r in report.rejects})
    assert lines == [5, 6, 7, 8, 9, 10]
    fields = {r.line: r.field for r in report.rejects}
    assert fields[5] == "id" and fields[6] == "price" and fields[7] == "images" and fields[8] == "images"
    assert fields[9] == "id" and fields[10] == "rating"
    written = [json.loads(x) for x in (tmp_path / "idx" / "rejects.jsonl").read_text().splitlines()]
    assert sorted({w["line"] for w in written}) == lines
    engine = shopsearch.load(tmp_path / "idx")
    assert sorted(p.id for p in engine.products) == [f"p{i}" for i in range(1, 9)]


_BUILD = """
import sys
from shopsearch.config import IndexConfig
from shopsearch.index.builder import build_index
build_index(sys.argv[1], sys.argv[2], IndexConfig(joint_model=None, zero_shot=False, cache_path=None, progress=False,
            batch_size=4))
"""


def test_crash_during_indexing_keeps_previous_index(tiny_index: Path, tmp_path: Path) -> None:
    idx = _copy_index(tiny_index, tmp_path / "idx")
    before = resolve_version(idx).name
    shop = tmp_path / "big"
    rows = []
    for i in range(80):  # enough images that encoding takes several seconds
        for r in tiny_rows(shop):
            r = dict(r, id=f"{r['id']}-{i}")
            rows.append(r)
    catalog = write_catalog(shop, rows)
    proc = subprocess.Popen([sys.executable, "-c", _BUILD, str(catalog), str(idx)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(idx.glob(".tmp-v-*")):
        time.sleep(0.02)
    assert list(idx.glob(".tmp-v-*")), "the build never started writing"
    time.sleep(1.0)  # into the encoding phase
    assert proc.poll() is None, "the build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert resolve_version(idx).name == before
    engine = shopsearch.load(idx)
    assert len(engine.products) == 8
    assert engine.search(text="red tshirt", k=3).hits
    # the next build cleans up the half-written version
    build_index(write_catalog(tmp_path / "shop2", tiny_rows(tmp_path / "shop2")), idx,
                IndexConfig(joint_model=None, zero_shot=False, cache_path=None, progress=False))
    assert not list(idx.glob(".tmp-v-*"))
    assert [p.name for p in idx.glob("v-*")] == [resolve_version(idx).name]


def test_a_shop_image_model_runs_once_per_photo_and_feeds_the_joint_model(tmp_path: Path) -> None:
    """encode_products with a shop image model (``.backbone``) and a joint model on that backbone:
    the joint model reads the backbone features kept from the shop model's one pass per photo."""
    from shopsearch.index.builder import encode_products
    from shopsearch.types import Product

    class Backbone:
        name, dim = "efficientnet-lite0", 4

        def embed_images(self, items: list[str]) -> np.ndarray:  # pragma: no cover - must not run
            raise AssertionError(f"backbone ran again on {items}")

    class ShopModel:
        name, version, dim = "shop", "1", 2
        backbone = Backbone()

        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        def run(self, items: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            self.calls.append(list(items))
            feats = np.array([[float(len(p)), 1.0, 2.0, 3.0] for p in items], dtype=np.float32)
            return feats[:, :2], feats, np.zeros((len(items), 1))

    class Joint:
        name, version, image_backbone, image_feature_dim = "joint", "1", "efficientnet-lite0", 4

        def image_features_from(self, base: np.ndarray, items: list[str]) -> np.ndarray:
            return base * 10

        def project_images(self, feats: np.ndarray) -> np.ndarray:
            return feats[:, :3]

    shop = ShopModel()
    products = [Product(id="a", title="A", images=("x.png",)), Product(id="b", title="B", images=("yy.png", "z.png"))]
    out = encode_products(products, [], True, {"image": shop, "joint": Joint()}, cache=None)
    assert shop.calls == [["x.png", "yy.png", "z.png"]]
    vectors, rows = out.vectors["joint"]
    assert rows.tolist() == [0, 1, 1]
    np.testing.assert_allclose(vectors[:, 0], [50.0, 60.0, 50.0])
