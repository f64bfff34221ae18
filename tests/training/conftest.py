"""Fixtures for training tests: fake backbones and a tiny catalogue drawn with Pillow.

The fakes carry the registry names and dims of the real backbones (so model directories
written with them validate), but cost microseconds: words hash into a bag-of-words vector,
images become their downsampled pixels.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shopsearch.encode.base import l2_normalize
from shopsearch.preprocess.image import ImageInput, load_image
from shopsearch.types import Product

RGB = {"Red": (200, 30, 30), "Blue": (30, 60, 200), "Green": (30, 160, 60), "Black": (20, 20, 20)}
TYPES = {  # shape -> (master, sub, article)
    "shirt": ("Apparel", "Topwear", "Tshirts"),
    "shoe": ("Footwear", "Shoes", "Casual Shoes"),
    "bag": ("Accessories", "Bags", "Handbags"),
}


class FakeTextEncoder:
    """Bag of hashed words, 384-d, named like the real e5 backbone."""

    name = "e5-small"
    dim = 384

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            self.seen.append(t)
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        return l2_normalize(out)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)


class FakeImageEncoder:
    """Downsampled pixels padded to 1280-d, named like the real EfficientNet backbone."""

    name = "efficientnet-lite0"
    dim = 1280

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        out = np.zeros((len(images), self.dim), np.float32)
        for i, im in enumerate(images):
            small = load_image(im).resize((16, 16))
            out[i, :768] = np.asarray(small, np.float32).reshape(-1) / 255.0
        return l2_normalize(out)


def draw(path: Path, colour: str, shape: str) -> None:
    img = Image.new("RGB", (64, 64), (255, 255, 255))
    d = ImageDraw.Draw(img)
    rgb = RGB[colour]
    if shape == "shirt":
        d.polygon([(14, 12), (50, 12), (60, 26), (50, 30), (50, 58), (14, 58), (14, 30), (4, 26)],
                  fill=rgb)
    elif shape == "shoe":
        d.rectangle([6, 36, 58, 50], fill=rgb)
        d.ellipse([6, 22, 34, 50], fill=rgb)
    else:
        d.rectangle([14, 24, 50, 58], fill=rgb)
        d.arc([22, 8, 42, 34], 180, 360, fill=rgb, width=4)
    img.save(path)


def make_products(folder: Path) -> list[Product]:
    """24 products: 4 colours x 3 types x 2 genders, each with a drawn image."""
    folder.mkdir(parents=True, exist_ok=True)
    products = []
    for colour in RGB:
        for shape, (master, sub, article) in TYPES.items():
            for gender in ("Men", "Women"):
                pid = f"{colour}-{shape}-{gender}".lower()
                path = folder / f"{pid}.png"
                draw(path, colour, shape)
                products.append(Product(
                    id=pid, title=f"{gender} {colour} {article}", category=(master, sub, article),
                    attributes={"gender": gender, "base_colour": colour, "season": "Summer",
                                "usage": "Casual"},
                    images=(str(path),),
                ))
    return products


@pytest.fixture(scope="session")
def tiny_products(tmp_path_factory: pytest.TempPathFactory) -> list[Product]:
    return make_products(tmp_path_factory.mktemp("tiny-shop"))


@pytest.fixture()
def fake_text() -> FakeTextEncoder:
    return FakeTextEncoder()


@pytest.fixture()
def fake_image() -> FakeImageEncoder:
    return FakeImageEncoder()
