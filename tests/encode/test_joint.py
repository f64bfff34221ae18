"""JointEncoder: numpy heads equal the torch heads, the packaged default model, zero-shot."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from shopsearch.encode.base import l2_normalize
from shopsearch.encode.joint import (
    JointEncoder,
    ModelFormatError,
    ZeroShotLabelScorer,
    default_model_dir,
    imagenet_labels,
    project,
)
from shopsearch.preprocess.color import COLOR_DIM


class _Text:
    name, dim = "e5-small", 384

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % self.dim] += 1
        return l2_normalize(out)

    embed_texts = embed_queries


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_numpy_projection_matches_torch_head(kind: str) -> None:
    torch = pytest.importorskip("torch")
    from shopsearch.training.heads import build_head, export_head

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(7, 20)).astype(np.float32)
    head = build_head(kind, 20, 8, 16, feats.mean(0), feats.std(0) + 0.1)
    if kind == "mlp":
        torch.nn.init.normal_(head.fc2.weight)  # make the MLP branch count
    head.eval()
    with torch.no_grad():
        want = head(torch.from_numpy(feats)).numpy()
    got = project(export_head(head, "image"), "image", feats)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_default_model_loads_and_matches_registry() -> None:
    path = default_model_dir()
    assert (path / "config.json").is_file(), f"no packaged default model at {path}"
    assert (path / "MODEL_CARD.md").is_file()
    text = _Text()
    enc = JointEncoder.load(text_encoder=text)
    assert enc.text_backbone == "e5-small" and enc.image_backbone == "efficientnet-lite0"
    assert enc.dim > 0 and enc.name and enc.version
    z = enc.embed_queries(["藏青色双肩包", "Navy Blue Backpacks"])
    assert z.shape == (2, enc.dim) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(z[0], z[1], atol=1e-6)  # same text after lexicon normalisation
    assert text.seen[0] == "Navy Blue Backpacks"
    feats = np.zeros((3, enc.image_feature_dim), np.float32)
    assert enc.project_images(feats).shape == (3, enc.dim)
    with pytest.raises(ValueError, match="image features must have shape"):
        enc.project_images(np.zeros((3, 5), np.float32))


def test_default_model_refuses_wrong_backbone() -> None:
    wrong = _Text()
    wrong.dim = 768
    with pytest.raises(ModelFormatError, match="384-d"):
        JointEncoder.load(text_encoder=wrong)


def test_zero_shot_image_vectors_follow_labels_and_colour() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000 and labels[610] == "T-shirt"
    zs = ZeroShotLabelScorer(text_encoder=_Text(), image_encoder=object(), top_k=3,
                             color_weight=0.0)
    logits = np.full((2, 1000), -10.0, np.float32)
    logits[0, 610] = 10.0  # T-shirt
    logits[1, labels.index("sandal")] = 10.0
    vec = zs.image_vectors(logits)
    assert vec.shape == (2, 384)
    scores = zs.embed_queries(["T-shirt"]) @ vec.T
    assert scores[0, 0] > scores[0, 1]
    red = np.zeros((2, COLOR_DIM), np.float32)
    red[:, 0] = 1.0  # first chromatic bin: dark red
    with_colour = ZeroShotLabelScorer(text_encoder=_Text(), image_encoder=object(), top_k=3,
                                      color_weight=1.0).image_vectors(logits, red)
    assert with_colour.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(with_colour, axis=1), 1.0, atol=1e-5)
