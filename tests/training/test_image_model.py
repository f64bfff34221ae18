"""The shop image model: losses against hand-computed values, augmentation, a tiny training run
made here (real packaged EfficientNet-Lite0, photos drawn with Pillow), ONNX parity, and an
index that refuses a retrained model."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("torch")

import torch

from shopsearch.encode.image_effnet import EfficientNetEncoder
from shopsearch.encode.shop_image import ImageModelError, ShopImageEncoder, is_image_model_dir
from shopsearch.training.image_losses import batch_hard_triplet, proxy_softmax
from shopsearch.training.image_model import (
    ImageTrainConfig,
    Photo,
    export_image_model,
    fit_image_model,
    full_network,
    product_top1,
    should_train,
    validation_photos,
)
from shopsearch.training.photo_augment import PhotoAugment, perspective_coefficients
from shopsearch.types import Product

# ----------------------------------------------------------------------------- losses


def test_proxy_softmax_matches_hand_computation() -> None:
    emb = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    proxies = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # normalised inside: (1, 0), (0, 1)
    labels = torch.tensor([0, 1])
    scale, margin = 10.0, 0.2
    # sample 0: cos (1, 0), target 0 -> logits 10*(0.8, 0); sample 1: cos (0.6, 0.8) -> 10*(0.6, 0.6)
    l0 = -math.log(math.exp(8.0) / (math.exp(8.0) + math.exp(0.0)))
    l1 = -math.log(math.exp(6.0) / (math.exp(6.0) + math.exp(6.0)))
    got = proxy_softmax(emb, labels, proxies, scale=scale, margin=margin)
    assert float(got) == pytest.approx((l0 + l1) / 2, abs=1e-5)


def test_batch_hard_triplet_matches_hand_computation() -> None:
    s = 1 / math.sqrt(2)
    emb = torch.tensor([[1.0, 0.0], [s, s], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    margin = 0.2
    # distances 1 - cos: d01 = 1 - s, d02 = 1, d03 = 2, d12 = 1 - s, d13 = 1 + s, d23 = 1
    # anchor 0: pos d01 = 0.2929, nearest neg d02 = 1 -> 0
    # anchor 1: pos 0.2929, nearest neg d12 = 0.2929 -> relu(0 + 0.2) = 0.2
    # anchor 2: pos d23 = 1, nearest neg d12 = 0.2929 -> 1 - 0.2929 + 0.2 = 0.9071
    # anchor 3: pos d23 = 1, nearest neg d13 = 1.7071 -> 0
    expected = (0 + 0.2 + (1 - (1 - s) + 0.2) + 0) / 4
    assert float(batch_hard_triplet(emb, labels, margin)) == pytest.approx(expected, abs=1e-5)


def test_triplet_anchor_without_positive_adds_zero() -> None:
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [0.9, 0.3], [0.0, 1.0]]), dim=-1)
    labels = torch.tensor([0, 0, 1])  # product 1 has a single view: no positive for anchor 2
    full = batch_hard_triplet(emb, labels, 0.5)
    two = batch_hard_triplet(emb[:2], labels[:2], 0.5)  # no negatives at all: zero
    assert float(two) == 0.0
    assert float(full) >= 0.0


# ----------------------------------------------------------------------------- augmentation


def test_perspective_identity_and_views_are_seeded() -> None:
    coeffs = perspective_coefficients([(0, 0), (10, 0), (10, 20), (0, 20)], (10, 20))
    np.testing.assert_allclose(coeffs, [1, 0, 0, 0, 1, 0, 0, 0], atol=1e-9)
    img = Image.new("RGB", (120, 80), (255, 255, 255))
    ImageDraw.Draw(img).rectangle([20, 10, 90, 70], fill=(200, 30, 30))
    aug = PhotoAugment()
    a = aug.views(img, 64, 3, random.Random(7))
    b = aug.views(img, 64, 3, random.Random(7))
    assert a.shape == (4, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[1], a[2])
    with pytest.raises(ValueError, match="crop_scale"):
        PhotoAugment(crop_scale=(0.0, 1.0))


# ----------------------------------------------------------------------------- data rules


def _photo_set(folder: Path, n_products: int = 5, per_product: int = 4) -> list[Photo]:
    """Products that differ in shape and colour, each photographed a few times (shifted, scaled)."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = [(200, 30, 30), (30, 60, 200), (30, 160, 60), (230, 200, 40), (120, 40, 160)]
    rng = random.Random(0)
    photos = []
    for label in range(n_products):
        for k in range(per_product):
            img = Image.new("RGB", (96, 96), (235 + rng.randint(0, 20),) * 3)
            d = ImageDraw.Draw(img)
            o = rng.randint(0, 12)
            box = [10 + o, 14 + o, 70 + o, 80 + o]
            if label % 2:
                d.ellipse(box, fill=colours[label])
            else:
                d.rectangle(box, fill=colours[label])
            path = folder / f"p{label}-{k}.png"
            img.save(path)
            photos.append(Photo(str(path), label))
    return photos


def test_validation_split_rules(tmp_path: Path) -> None:
    photos = _photo_set(tmp_path, n_products=5, per_product=4)
    train, val, kind = validation_photos(photos, 0.25, seed=0)
    assert kind == "held-out photos"
    assert sorted(train + val) == list(range(len(photos))) and not set(train) & set(val)
    assert {photos[i].label for i in val} == set(range(5))  # one held-out photo per product
    single = [Photo(f"x{i}.png", i) for i in range(30)]
    train, val, kind = validation_photos(single, 0.1, seed=0)
    assert kind == "augmented views" and train == list(range(30)) and len(val) == 20


def test_should_train_needs_shop_photos() -> None:
    one = [Product(id=str(i), title="t", images=("a.jpg",)) for i in range(100)]
    several = [Product(id=str(i), title="t", images=("a.jpg", "b.jpg")) for i in range(30)]
    assert should_train(one)[0] is False
    assert should_train(one[:70] + several)[0] is True


def test_product_top1_uses_best_photo() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    gallery = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.0, 1.0]])
    assert product_top1(q, np.array([0, 1]), gallery, np.array([0, 0, 1])) == 1.0
    assert product_top1(q, np.array([1, 0]), gallery, np.array([0, 0, 1])) == 0.0


# ----------------------------------------------------------------------------- tiny run, export


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Photo], Path, object]:
    root = tmp_path_factory.mktemp("shop-photos")
    photos = _photo_set(root / "photos")
    config = ImageTrainConfig(epochs=2, views=1, batch_size=16, val_fraction=0.25, dim=32, threads=2)
    fit = fit_image_model(photos, config, progress=False)
    out = export_image_model(fit, config, root / "model", name="tiny-image", version="0.1", command="pytest")
    return photos, out, fit


def test_tiny_training_run(trained) -> None:  # type: ignore[no-untyped-def]
    photos, out, fit = trained
    assert fit.val_kind == "held-out photos" and fit.views == 1
    assert [row["epoch"] for row in fit.history] == [0, 1, 2]
    assert all(np.isfinite(row["loss"]) for row in fit.history[1:])
    assert fit.history[2]["loss"] < fit.history[1]["loss"] * 1.5
    for name in ("config.json", "model.onnx", "training.json", "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    assert is_image_model_dir(out)
    record = json.loads((out / "training.json").read_text())
    assert record["photos"] == len(photos) and record["command"] == "pytest"


def test_onnx_parity_with_torch_and_frozen_backbone(trained) -> None:  # type: ignore[no-untyped-def]
    photos, out, fit = trained
    enc = ShopImageEncoder(out)
    paths = [p.path for p in photos[:6]]
    emb, feats, logits = enc.run(paths)
    assert emb.shape == (6, 32) and feats.shape == (6, 1280) and logits.shape == (6, 1000)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # torch reference of the exported network on the same pixels
    from shopsearch.encode.image_effnet import IMAGE_SIZE
    from shopsearch.preprocess.image import load_image, to_array

    px = np.stack([to_array(load_image(p), IMAGE_SIZE) for p in paths])
    x = torch.from_numpy((px.transpose(0, 3, 1, 2).astype(np.float32) - 127.0) / 128.0)
    with torch.inference_mode():
        ref_emb, _, _ = full_network(fit.state, 32, 15)(x)
    cos = (emb * ref_emb.numpy()).sum(axis=1)
    assert cos.min() >= 0.9999
    # the frozen branch is the packaged EfficientNet-Lite0, unchanged
    base, base_logits = EfficientNetEncoder(backend="onnx").embed_with_logits(paths)
    assert (feats * base).sum(axis=1).min() >= 0.9999
    np.testing.assert_allclose(logits, base_logits, atol=1e-2)
    assert enc.backbone.name == "efficientnet-lite0" and enc.backbone.dim == 1280


def test_bad_model_dirs_refused(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = trained
    with pytest.raises(ImageModelError, match="not a shop image model"):
        ShopImageEncoder(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.onnx").write_bytes((out / "model.onnx").read_bytes())
    cfg = json.loads((out / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(ImageModelError, match="format version 99"):
        ShopImageEncoder(bad)


def _shop_catalog(trained, tmp_path: Path) -> tuple[Path, dict[int, list[str]], Path]:  # type: ignore[no-untyped-def]
    """A copy of the tiny trained model, the photos by product, and a catalogue of the products
    whose first photo is held back (a query photo the index never saw)."""
    import shutil

    photos, out, _ = trained
    model = tmp_path / "model"
    shutil.copytree(out, model)
    by_product: dict[int, list[str]] = {}
    for p in photos:
        by_product.setdefault(p.label, []).append(p.path)
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps({"id": f"p{k}", "title": f"product {k}", "images": v[1:]}) + "\n"
                               for k, v in by_product.items()))
    return model, by_product, catalog


def test_index_uses_model_and_refuses_a_retrained_one(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from shopsearch.config import IndexConfig
    from shopsearch.index.builder import build_index
    from shopsearch.index.manifest import IndexFormatError
    from shopsearch.retrieve.engine import Engine

    photos, _, _ = trained
    model, by_product, catalog = _shop_catalog(trained, tmp_path)
    index = tmp_path / "index"
    build_index(catalog, index, IndexConfig(fields=("title", "image"), image_model=str(model), joint_model=None,
                                            zero_shot=False, cache_path=None, progress=False))
    engine = Engine.load(index)
    assert engine.manifest.encoders["image"].name == "tiny-image"
    assert engine.manifest.settings["image_model"] == str(model.resolve())
    res = engine.search(image=by_product[3][0], k=5, signals=["image"])
    assert res.hits and res.hits[0].product.id == "p3"  # the held-back photo finds its product
    # retrain into the same directory: the index refuses the changed model
    cfg = ImageTrainConfig(epochs=1, views=1, batch_size=16, dim=32, seed=1, threads=2)
    export_image_model(fit_image_model(photos, cfg, progress=False), cfg, model, name="tiny-image",
                       version="0.1", overwrite=True)
    with pytest.raises(IndexFormatError, match="image encoder mismatch"):
        Engine.load(index).search(image=by_product[3][0], k=5, signals=["image"])


CLI = [sys.executable, "-c", "import sys; from shopsearch.cli import main; sys.exit(main(sys.argv[1:]))"]


@pytest.mark.slow
def test_cli_train_then_index(tmp_path: Path) -> None:
    photos = _photo_set(tmp_path / "photos")
    by_product: dict[int, list[str]] = {}
    for p in photos:
        by_product.setdefault(p.label, []).append(p.path)
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps({"id": f"p{k}", "title": f"product {k}", "images": v}) + "\n"
                               for k, v in by_product.items()))
    model = tmp_path / "model"
    run = subprocess.run(
        [*CLI, "train", str(catalog), "--out", str(model), "--no-joint",
         "--image", "yes", "--image-epochs", "1", "--image-views", "1", "--threads", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "trained shop image model" in run.stdout and "validation top-1" in run.stdout
    assert "image model: epoch 1/1" in run.stderr  # epochs print their validation metric
    index = tmp_path / "index"
    run = subprocess.run(
        [*CLI, "index", str(catalog), "--out", str(index), "--fields", "title,image",
         "--image-model", str(model / "image"), "--no-model", "--no-zero-shot", "--no-cache", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    manifest = json.loads(next(index.glob("v-*/manifest.json")).read_text())
    assert manifest["encoders"]["image"]["name"] == "joint-image"


def test_a_photo_alone_searches_the_shop_models_vectors(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With a shop-trained image model, a photo query's default signals are its image vectors: the
    joint model's image side (frozen ImageNet features) is not fused in unless asked for."""
    from shopsearch.config import IndexConfig
    from shopsearch.index.builder import build_index
    from shopsearch.retrieve.engine import Engine

    model, by_product, catalog = _shop_catalog(trained, tmp_path)
    index = tmp_path / "index"
    build_index(catalog, index, IndexConfig(fields=("title", "image"), image_model=str(model), zero_shot=False,
                                            cache_path=None, progress=False))  # with the packaged joint model
    engine = Engine.load(index)
    assert "joint" in engine.dense
    photo = by_product[3][0]
    assert engine.search(image=photo, k=5).signals_used == ("image",)
    assert set(engine.search(image=photo, k=5, signals=["image", "joint_image"]).signals_used) == {
        "image", "joint_image"}
