"""The real packaged encoders on real catalog images (skipped without the sample data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shopsearch.encode import create_encoder, list_models, model_info
from shopsearch.encode.cache import EmbeddingCache, image_key, text_key


@pytest.fixture(scope="module")
def text_encoder():  # type: ignore[no-untyped-def]
    return create_encoder("e5-small")


@pytest.fixture(scope="module")
def image_encoder():  # type: ignore[no-untyped-def]
    return create_encoder("efficientnet-lite0", threads=2)


def test_registry() -> None:
    assert {m.name for m in list_models()} >= {"e5-small", "efficientnet-lite0"}
    assert model_info("e5-small").dim == 384
    with pytest.raises(ValueError, match=r"unknown model 'clip'.*e5-small"):
        create_encoder("clip")


def test_text_encoder_shapes_and_ranking(text_encoder) -> None:  # type: ignore[no-untyped-def]
    docs = text_encoder.embed_texts(["Men Black Leather Formal Shoes", "Women Pink Floral Summer Dress"])
    assert docs.shape == (2, 384) and docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)
    q = text_encoder.embed_queries(["black shoes for men", "粉色连衣裙"])
    sims = q @ docs.T
    assert sims[0, 0] > sims[0, 1]
    assert sims[1, 1] > sims[1, 0]  # Chinese query finds the English dress
    assert text_encoder.embed_texts([]).shape == (0, 384)


def _fashion(data_dir: Path, n: int) -> list[dict]:
    rows = []
    with open(data_dir / "fashion" / "products.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rows.append(json.loads(line))
            if len(rows) == n:
                break
    return rows


def test_image_encoder_on_real_photos(image_encoder, text_encoder, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _fashion(data_dir, 40)
    paths = [str(data_dir / "fashion" / r["image"]) for r in rows]
    feats = image_encoder.embed_images(paths)
    assert feats.shape == (40, 1280) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, rtol=1e-5)
    # one batch (a query's photo: decoded inline, no decode thread) gives the same features
    np.testing.assert_allclose(image_encoder.embed_images(paths[:3]), feats[:3], atol=1e-5)
    # same article type photos are closer than different ones, on average
    types = np.array([r["article_type"] for r in rows])
    sims = feats @ feats.T
    same = (types[:, None] == types[None, :]) & ~np.eye(40, dtype=bool)
    diff = types[:, None] != types[None, :]
    assert sims[same].mean() > sims[diff].mean() + 0.05
    # ImageNet logits: T-shirt photos have "jersey, T-shirt" (610) among their top-5 classes
    tshirts = [p for p, r in zip(paths, rows) if r["article_type"] == "Tshirts"]
    _, logits = image_encoder.embed_with_logits(tshirts)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert len(tshirts) >= 5 and (top5 == 610).any(axis=1).mean() >= 0.8


def test_cache_reuses_vectors(tmp_path: Path, text_encoder) -> None:  # type: ignore[no-untyped-def]
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    calls = []

    def fn(items: list) -> np.ndarray:  # type: ignore[type-arg]
        calls.append(len(items))
        return text_encoder.embed_texts(items)

    texts = ["red dress", "blue jeans", "red dress"]
    keys = [text_key("e5-small", "doc", t) for t in texts]
    first = cache.embed(keys, texts, 384, fn)
    second = cache.embed(keys, texts, 384, fn)
    assert calls == [2]  # duplicates computed once, second run fully cached
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first[0], first[2])
    img = tmp_path / "a.bin"
    img.write_bytes(b"abc")
    assert image_key("m", str(img)) == image_key("m", b"abc") != image_key("m2", b"abc")


def test_onnx_backend_matches_pytorch_on_real_photos(data_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSEARCH_MODELS", str(tmp_path))  # a fresh export, not a cached one
    rows = _fashion(data_dir, 24)
    paths = [str(data_dir / "fashion" / r["image"]) for r in rows]
    onnx = create_encoder("efficientnet-lite0", backend="onnx")
    torch_ = create_encoder("efficientnet-lite0", backend="torch")
    assert onnx.backend == "onnx" and torch_.backend == "torch"
    assert list(tmp_path.glob("efficientnet-lite0-*.onnx"))
    a, la = onnx.embed_with_logits(paths)
    b, lb = torch_.embed_with_logits(paths)
    assert float(np.min(np.sum(a * b, axis=1))) >= 0.995  # both L2-normalised: dot = cosine
    assert (la.argmax(1) == lb.argmax(1)).all()
