"""Colour histograms of the product pixels: the colour signal ImageNet features mostly miss.

Product packshots sit on a (near) white background, so the product pixels are those that
differ from white. Their colours are binned in HSV (a perceptual space: hue separates colour
names, saturation/value separate "navy" from "blue" and black/grey/white from colours):
chromatic pixels by hue x saturation x value, achromatic pixels by value alone. The
histogram is normalised to sum 1 and square-rooted (Hellinger), so dot products compare
colour distributions; the foreground fraction is appended (white products show little
foreground).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from shopsearch.preprocess.image import ImageInput, load_image

HUE_BINS = 12
SAT_BINS = 2
VAL_BINS = 2
GREY_BINS = 5
COLOR_DIM = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS + 1
"""Length of :func:`color_histogram` vectors (53)."""

_SIZE = 64
_BACKGROUND_DELTA = 28  # a pixel is product when some channel is this far below white
_MIN_FOREGROUND = 0.02  # below this fraction, use every pixel (e.g. a white shirt on white)
_CHROMA_SAT = 0.18
_CHROMA_VAL = 0.12


def color_histogram(image: Image.Image | np.ndarray) -> np.ndarray:
    """HSV histogram of the product pixels of one RGB image; float32 (COLOR_DIM,).

    ``image`` is a PIL image or a uint8 (H, W, 3) array. Layout: ``HUE_BINS * SAT_BINS *
    VAL_BINS`` chromatic bins, ``GREY_BINS`` achromatic value bins, then the foreground
    fraction. The histogram part is square-rooted and has unit L2 norm.
    """
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image array must be uint8 (H, W, 3), got {image.dtype} {tuple(image.shape)}"
            )
        image = Image.fromarray(image)
    small = image.convert("RGB").resize((_SIZE, _SIZE), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.int16).reshape(-1, 3)
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32).reshape(-1, 3) / 255.0
    fg = (255 - rgb.min(axis=1)) > _BACKGROUND_DELTA
    frac = float(fg.mean())
    if frac < _MIN_FOREGROUND:
        fg = np.ones_like(fg)
    h, s, v = hsv[fg, 0], hsv[fg, 1], hsv[fg, 2]
    chroma = (s >= _CHROMA_SAT) & (v >= _CHROMA_VAL)
    hist = np.zeros(COLOR_DIM - 1, dtype=np.float32)
    hb = np.minimum((h[chroma] * HUE_BINS).astype(np.int64), HUE_BINS - 1)
    sb = np.minimum(((s[chroma] - _CHROMA_SAT) / (1 - _CHROMA_SAT) * SAT_BINS).astype(np.int64),
                    SAT_BINS - 1)
    vb = np.minimum((v[chroma] * VAL_BINS).astype(np.int64), VAL_BINS - 1)
    np.add.at(hist, (hb * SAT_BINS + sb) * VAL_BINS + vb, 1.0)
    gb = np.minimum((v[~chroma] * GREY_BINS).astype(np.int64), GREY_BINS - 1)
    np.add.at(hist, HUE_BINS * SAT_BINS * VAL_BINS + gb, 1.0)
    hist = np.sqrt(hist / max(hist.sum(), 1.0))
    hist /= max(float(np.linalg.norm(hist)), 1e-12)
    return np.concatenate([hist, np.array([frac], dtype=np.float32)]).astype(np.float32)


def color_histograms(images: Sequence[ImageInput]) -> np.ndarray:
    """:func:`color_histogram` for many images (paths, bytes or PIL); float32 (n, COLOR_DIM)."""
    out = np.empty((len(images), COLOR_DIM), dtype=np.float32)
    for i, im in enumerate(images):
        out[i] = color_histogram(im if isinstance(im, Image.Image) else load_image(im))
    return out
