"""The int8 image encoder (dynamic quantisation): parity with fp32 on real catalog photos,
retrieval quality on a fixed subset of the fashion catalog, and that an index records it.

Quality in CI: the full-catalog check (nDCG@10 of the fused dev queries, int8 vs fp32, full
re-index of 7,667 photos with both encoders) takes minutes on two cores and is recorded in
``benchmarks/results/speed_int8_quality.md``. Here the signal int8 can change, the joint
text->image search, is scored on a fixed subset (every 8th product, ~960 photos) with the dev
queries, for both encoders, in well under a minute.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import shopsearch
from devkit.catalogs import tiny_rows, write_catalog
from shopsearch.config import IndexConfig
from shopsearch.encode import create_encoder
from shopsearch.encode.joint import JointEncoder
from shopsearch.encode.registry import feature_space
from shopsearch.evaluation.metrics import ndcg_at_k
from shopsearch.index.builder import build_index
from shopsearch.index.manifest import read_manifest, resolve_version

INT8 = "efficientnet-lite0-int8"


@pytest.fixture(scope="module")
def encoders():  # type: ignore[no-untyped-def]
    return create_encoder("efficientnet-lite0", threads=2), create_encoder(INT8, threads=2)


def _products(data_dir: Path) -> list[dict]:
    lines = (data_dir / "fashion" / "products.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_int8_parity_on_catalog_photos(encoders, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    fp32, int8 = encoders
    assert int8.precision == "int8" and int8.backend == "onnx" and int8.name == INT8
    rows = _products(data_dir)[::640][:12]  # 12 photos spread over the catalog
    paths = [str(data_dir / "fashion" / r["image"]) for r in rows]
    a, b = fp32.embed_images(paths), int8.embed_images(paths)
    assert b.shape == (12, 1280) and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-5)
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.98, cos
    assert not np.allclose(a, b)  # really a different (quantised) network


def test_int8_joint_retrieval_quality_on_a_subset(encoders, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    fp32, int8 = encoders
    products = _products(data_dir)[::8]
    ids = [p["id"] for p in products]
    paths = [str(data_dir / "fashion" / p["image"]) for p in products]
    joint = JointEncoder.load(image_encoder=fp32)
    queries = []
    for line in (data_dir / "fashion" / "queries_dev.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        relevant = set(q["relevant"]) & set(ids)
        if relevant:
            queries.append((q["query"], relevant))
    assert len(queries) >= 100
    qvecs = joint.embed_queries([q for q, _ in queries])
    ndcg = {}
    for name, enc in (("fp32", fp32), ("int8", int8)):
        backbone = enc.embed_images(paths)
        docs = joint.project_images(joint.image_features_from(backbone, paths))
        ranked = np.argsort(-(qvecs @ docs.T), axis=1)[:, :10]
        ndcg[name] = float(np.mean([ndcg_at_k([ids[i] for i in r], rel, 10) for r, (_, rel) in zip(ranked, queries)]))
    # the bar: within 1% of fp32 (relative)
    assert ndcg["int8"] >= 0.99 * ndcg["fp32"], ndcg


def test_index_records_int8_encoder_and_queries_use_it(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))
    out = tmp_path / "idx"
    build_index(catalog, out, IndexConfig(image_model=INT8, cache_path=None, progress=False))
    manifest = read_manifest(resolve_version(out))
    assert manifest.encoders["image"].name == INT8
    engine = shopsearch.load(out)
    result = engine.search(image=str(tmp_path / "shop" / "images" / "p3.png"), k=3)
    assert result.hits[0].product_id == "p3"
    assert engine.encoders.get("image").name == INT8 and engine.encoders.get("image").precision == "int8"
    assert feature_space(INT8) == "efficientnet-lite0"
    assert "joint" in manifest.encoders  # the fp32-trained joint model accepts the int8 features


def test_int8_needs_onnx() -> None:
    from shopsearch.encode.image_effnet import EfficientNetEncoder

    with pytest.raises(ValueError, match="ONNX Runtime only"):
        EfficientNetEncoder(backend="torch", precision="int8")
    with pytest.raises(ValueError, match="precision must be fp32 or int8"):
        EfficientNetEncoder(precision="fp8")  # type: ignore[arg-type]


def test_int8_index_never_reuses_fp32_joint_features_from_the_cache(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))
    cache = tmp_path / "cache.sqlite"
    joint = {}
    for name in ("efficientnet-lite0", INT8):
        out = tmp_path / name
        build_index(catalog, out, IndexConfig(image_model=name, cache_path=cache, progress=False))
        joint[name] = np.load(resolve_version(out) / "dense" / "joint.vectors.npy")
    assert not np.allclose(joint["efficientnet-lite0"], joint[INT8])
    assert np.sum(joint["efficientnet-lite0"] * joint[INT8], axis=1).min() > 0.95
