"""Phone-photo augmentation: what a shopper's phone in a shop does to a studio product image.

The shop image model (:mod:`shopsearch.training.image_model`) learns from a catalogue's own
photos. Products with several photos give real positives; every photo also gets seeded
augmented views, which are the only positives a one-photo product has. Each view applies, in
order (probabilities and ranges are :class:`PhotoAugment`'s fields):

* a random resized crop of the white-padded square (a part of the product, off centre);
* a horizontal flip;
* a rotation (a phone held askew), the corners filled white;
* a perspective warp (a product seen from the side or from above);
* brightness, contrast and saturation jitter (shop lighting);
* Gaussian blur (motion, focus);
* JPEG re-encoding at a low quality (messaging apps, old phones).

Pillow and numpy only (no torchvision), so training needs nothing beyond the ``[train]`` extra.
Every function takes a ``random.Random`` so a seed reproduces the same views.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from shopsearch.preprocess.image import pad_to_square, to_array

WHITE = (255, 255, 255)


@dataclass(frozen=True)
class PhotoAugment:
    """Ranges and probabilities of the phone-photo augmentations (see the module docstring)."""

    crop_scale: tuple[float, float] = (0.35, 1.0)  # share of the square's area kept
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_prob: float = 0.5
    rotate_prob: float = 0.7
    rotate_degrees: float = 20.0
    perspective_prob: float = 0.3
    perspective_shift: float = 0.12  # corners move up to this share of the side
    jitter: float = 0.3  # brightness, contrast, saturation factors in [1 - j, 1 + j]
    blur_prob: float = 0.3
    blur_radius: tuple[float, float] = (0.3, 1.5)
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"PhotoAugment.crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")
        for name in ("flip_prob", "rotate_prob", "perspective_prob", "blur_prob", "jpeg_prob"):
            p = getattr(self, name)
            if not 0 <= p <= 1:
                raise ValueError(f"PhotoAugment.{name} must be in [0, 1], got {p}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"PhotoAugment.jitter must be in [0, 1), got {self.jitter}")
        qlo, qhi = self.jpeg_quality
        if not 1 <= qlo <= qhi <= 95:
            raise ValueError(f"PhotoAugment.jpeg_quality must satisfy 1 <= lo <= hi <= 95, got {self.jpeg_quality}")

    def view(self, img: Image.Image, size: int, rng: random.Random) -> np.ndarray:
        """One augmented view of ``img``: uint8 (size, size, 3)."""
        im = random_resized_crop(pad_to_square(img), self.crop_scale, self.crop_ratio, rng)
        if rng.random() < self.flip_prob:
            im = ImageOps.mirror(im)
        if rng.random() < self.rotate_prob:
            angle = rng.uniform(-self.rotate_degrees, self.rotate_degrees)
            im = im.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=WHITE)
        if rng.random() < self.perspective_prob:
            im = perspective(im, self.perspective_shift, rng)
        im = im.resize((size, size), Image.Resampling.BICUBIC)
        j = self.jitter
        im = ImageEnhance.Brightness(im).enhance(rng.uniform(1 - j, 1 + j))
        im = ImageEnhance.Contrast(im).enhance(rng.uniform(1 - j, 1 + j))
        im = ImageEnhance.Color(im).enhance(rng.uniform(1 - j, 1 + j))
        if rng.random() < self.blur_prob:
            im = im.filter(ImageFilter.GaussianBlur(rng.uniform(*self.blur_radius)))
        if rng.random() < self.jpeg_prob:
            im = jpeg(im, rng.randint(*self.jpeg_quality))
        return np.asarray(im.convert("RGB"), dtype=np.uint8)

    def views(self, img: Image.Image, size: int, n: int, rng: random.Random) -> np.ndarray:
        """The plain view (exactly the index's preprocessing) then ``n`` augmented views:
        uint8 (n + 1, size, size, 3)."""
        return np.stack([to_array(img, size)] + [self.view(img, size, rng) for _ in range(n)])


def random_resized_crop(
    img: Image.Image, scale: tuple[float, float], ratio: tuple[float, float], rng: random.Random,
) -> Image.Image:
    """A crop covering a random share ``scale`` of the area with aspect ratio in ``ratio``."""
    w, h = img.size
    area = rng.uniform(*scale) * w * h
    aspect = float(np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]))))
    cw = max(1, min(w, round((area * aspect) ** 0.5)))
    ch = max(1, min(h, round((area / aspect) ** 0.5)))
    x0 = rng.randint(0, w - cw)
    y0 = rng.randint(0, h - ch)
    return img.crop((x0, y0, x0 + cw, y0 + ch))


def perspective_coefficients(
    quad: list[tuple[float, float]], size: tuple[int, int],
) -> tuple[float, ...]:
    """Pillow's 8 PERSPECTIVE coefficients that map the output rectangle ``size`` onto the
    input quadrilateral ``quad`` (top-left, top-right, bottom-right, bottom-left)."""
    w, h = size
    corners = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    a, b = [], []
    for (x, y), (u, v) in zip(corners, quad):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        b.append(u)
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.append(v)
    return tuple(float(c) for c in np.linalg.solve(np.asarray(a, float), np.asarray(b, float)))


def perspective(img: Image.Image, shift: float, rng: random.Random) -> Image.Image:
    """Each corner pulled inwards by up to ``shift`` of the side: a product seen at an angle."""
    w, h = img.size

    def d(side: int) -> float:
        return rng.uniform(0, shift) * side

    quad = [(d(w), d(h)), (w - d(w), d(h)), (w - d(w), h - d(h)), (d(w), h - d(h))]
    return img.transform((w, h), Image.Transform.PERSPECTIVE, perspective_coefficients(quad, (w, h)),
                         Image.Resampling.BILINEAR, fillcolor=WHITE)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """``img`` after a JPEG round trip at ``quality``."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")
