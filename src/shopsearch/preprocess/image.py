"""Image loading and the transforms the image encoders need.

Decoding is bounded (pixel count, byte size, format allow-list) because images arrive from
catalog files and from shoppers' uploads alike.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from shopsearch.catalog.images import ALLOWED_FORMATS, MAX_BYTES, MAX_PIXELS, OPEN_FORMATS

logger = logging.getLogger(__name__)

ImageInput = str | Path | bytes | Image.Image

__all__ = ["ALLOWED_FORMATS", "MAX_BYTES", "MAX_PIXELS", "ImageError", "ImageInput", "load_image"]


class ImageError(ValueError):
    """An image could not be read or decoded; the message names the source and the reason."""


def _describe(source: ImageInput) -> str:
    if isinstance(source, (str, Path)):
        return f"image '{source}'"
    if isinstance(source, bytes):
        return f"image upload ({len(source)} bytes)"
    return "image object"


def load_image(source: ImageInput, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> Image.Image:
    """Decode ``source`` (path, raw bytes or PIL image) into an RGB image.

    Raises :class:`ImageError` naming the source when the file is missing, too large, in a
    format outside :data:`ALLOWED_FORMATS`, or not decodable. Transparent pixels become white,
    the usual background of product photos.
    """
    if isinstance(source, Image.Image):
        img = source
    else:
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"{_describe(source)}: file not found")
            size = path.stat().st_size
            if size > max_bytes:
                raise ImageError(f"{_describe(source)}: {size} bytes exceeds the {max_bytes}-byte limit")
            data = path.read_bytes()
        elif isinstance(source, bytes):
            if len(source) > max_bytes:
                raise ImageError(f"{_describe(source)}: exceeds the {max_bytes}-byte limit")
            data = source
        else:
            raise ImageError(f"unsupported image input of type {type(source).__name__}")
        try:
            # Only the allowed plugins may parse the bytes at all (no EPS/Ghostscript, PSD...).
            img = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
            if img.format not in ALLOWED_FORMATS:
                raise ImageError(
                    f"{_describe(source)}: format {img.format} not allowed "
                    f"(allowed: {', '.join(sorted(ALLOWED_FORMATS))})"
                )
            if img.width * img.height > max_pixels:
                raise ImageError(
                    f"{_describe(source)}: {img.width}x{img.height} exceeds {max_pixels} pixels"
                )
            img.load()
        except ImageError:
            raise
        # Pillow's decoders raise many exception types on hostile input (OSError, SyntaxError,
        # struct.error, IndexError, EOFError, DecompressionBombError...): all mean "not decodable".
        except Exception as exc:
            raise ImageError(f"{_describe(source)}: not a decodable image in an allowed format "
                             f"({', '.join(sorted(ALLOWED_FORMATS))}): {exc}") from exc
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB copy of ``img``; alpha is composited onto white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def pad_to_square(img: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Letterbox to a square so the whole product stays in view (no centre crop)."""
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def to_array(img: Image.Image, size: int) -> np.ndarray:
    """Square-pad, resize to ``size`` x ``size`` and return uint8 HWC array (size, size, 3)."""
    img = pad_to_square(img)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)
