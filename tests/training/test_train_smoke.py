"""Training end to end on a tiny drawn catalogue with fake backbones; model dir round trip."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from shopsearch.encode.joint import JointEncoder, ModelFormatError
from shopsearch.training.cli import add_train_parser, config_from_args
from shopsearch.training.config import TrainConfig
from shopsearch.training.pipeline import train

from .conftest import FakeImageEncoder, FakeTextEncoder

CFG = TrainConfig(epochs=4, batch_size=16, rounds=2, dim=16, hidden=32, val_fraction=0.25,
                  dropout=0.1, shopper_prob=0.5,  # the shopper-worded variants take part
                  patience=10, max_val_queries=50)


def _train(products, out: Path, **kw) -> object:  # type: ignore[no-untyped-def]
    return train(products, out, kw.pop("config", CFG), name="tiny", version="0.1",
                 command="pytest", catalog="tiny", text_encoder=FakeTextEncoder(),
                 image_encoder=FakeImageEncoder(), **kw)


@pytest.fixture(scope="module")
def model_dir(tiny_products, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("model") / "tiny"
    _train(tiny_products, out)
    return out


def test_model_dir_contents(model_dir: Path) -> None:
    for name in ("config.json", "heads.npz", "training.json", "MODEL_CARD.md"):
        assert (model_dir / name).is_file(), name
    record = json.loads((model_dir / "training.json").read_text())
    assert record["command"] == "pytest"
    assert len(record["data_sha256"]) == 64
    assert record["n_train_products"] + record["n_val_products"] == 24
    assert record["history"] and "val_ndcg@10" in record["val_metrics"]
    config = json.loads((model_dir / "config.json").read_text())
    assert config["image_extras"] == ["color-hsv-v1"] and config["dim"] == 16


def test_round_trip_embeds(model_dir: Path, tiny_products) -> None:  # type: ignore[no-untyped-def]
    text = FakeTextEncoder()
    enc = JointEncoder.load(model_dir, text_encoder=text, image_encoder=FakeImageEncoder())
    assert (enc.name, enc.version, enc.dim) == ("tiny", "0.1", 16)
    assert (enc.text_backbone, enc.image_backbone) == ("e5-small", "efficientnet-lite0")
    images = [p.images[0] for p in tiny_products[:5]]
    feats = enc.image_features(images)
    assert feats.shape == (5, 1280 + 54) and feats.dtype == np.float32
    zi = enc.embed_images(images)
    assert zi.shape == (5, 16) and zi.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(zi, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc.project_images(feats), zi, atol=1e-6)
    zq = enc.embed_queries(["男士红色T恤", "Red Tshirts"])
    assert zq.shape == (2, 16)
    assert text.seen[-2:] == ["Men Red Tshirts", "Red Tshirts"]  # lexicon normalisation
    assert enc.embed_texts(["Red Tshirts"]).shape == (1, 16)


def test_training_is_deterministic(tiny_products, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(epochs=2, batch_size=16, rounds=1, dim=8, hidden=16, val_fraction=0.25,
                      head="linear", loss="triplet", max_val_queries=20)
    a = _train(tiny_products, tmp_path / "a", config=cfg)
    b = _train(tiny_products, tmp_path / "b", config=cfg)
    for key in a.params:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a.params[key], b.params[key])  # type: ignore[attr-defined]
    with np.load(tmp_path / "a" / "heads.npz") as npz:
        assert sorted(npz.files) == sorted(a.params)  # type: ignore[attr-defined]


def test_trained_heads_beat_chance(tiny_products, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(epochs=30, batch_size=24, rounds=4, dim=16, hidden=32, val_fraction=0.25,
                      patience=30, lr=3e-3, dropout=0.0)
    _train(tiny_products, tmp_path / "m", config=cfg)
    enc = JointEncoder.load(tmp_path / "m", text_encoder=FakeTextEncoder(),
                            image_encoder=FakeImageEncoder())
    zi = enc.embed_images([p.images[0] for p in tiny_products])
    colours = ["Red", "Blue", "Green", "Black"]
    top6 = np.argsort(-(enc.embed_queries(colours) @ zi.T), axis=1)[:, :6]
    precision = np.mean([[tiny_products[j].attributes["base_colour"] == c for j in row]
                         for row, c in zip(top6, colours)])
    assert precision >= 0.5  # 6 of 24 products per colour: chance is 0.25


def test_existing_dir_needs_force(tiny_products, model_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileExistsError, match="already holds a model"):
        _train(tiny_products, model_dir)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "x.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a joint model directory"):
        _train(tiny_products, other)


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    dst.mkdir()
    for f in model_dir.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 99}, "format version 99"),
        ({"format": "other"}, "format 'other'"),
        ({"text_backbone": {"name": "e5-small", "dim": 512}}, "384-d here"),
        ({"image_backbone": {"name": "resnet50", "dim": 2048}}, "unknown model 'resnet50'"),
        ({"image_extras": []}, r"image.w has shape \(1334, 16\)"),
        ({"image_extras": ["sift"]}, "unknown image feature extras"),
    ],
)
def test_mismatch_refused(model_dir: Path, tmp_path: Path, change: dict, message: str) -> None:
    d = _copy(model_dir, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(change)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match=message):
        JointEncoder.load(d)


def test_wrong_backbone_instance_refused(model_dir: Path) -> None:
    other = FakeTextEncoder()
    other.name = "e5-large"
    with pytest.raises(ModelFormatError, match="text backbone 'e5-small'"):
        JointEncoder.load(model_dir, text_encoder=other)


def test_missing_files_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"no config\.json"):
        JointEncoder.load(tmp_path)
    d = _copy(model_dir, tmp_path)
    (d / "heads.npz").unlink()
    with pytest.raises(ModelFormatError, match=r"missing heads\.npz"):
        JointEncoder.load(d)


def test_cli_parser_maps_flags_to_config() -> None:
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["train", "c.jsonl", "--out", "m", "--epochs", "7", "--head", "linear",
                              "--loss", "triplet", "--no-color", "--seed", "3"])
    cfg = config_from_args(args)
    assert (cfg.epochs, cfg.head, cfg.loss, cfg.color, cfg.seed) == (7, "linear", "triplet", False, 3)
    assert args.func.__name__ == "run_train"
