"""Image references: resolving them to absolute paths/URLs and checking local files cheaply."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm import tqdm

logger = logging.getLogger(__name__)

_URL_SCHEMES = ("http://", "https://")

# Image decoding is bounded wherever images come from (catalog files, live updates, shoppers'
# uploads): only these Pillow formats are parsed at all, and size is checked before decoding.
ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})
# The plugins Image.open may try (MPO files are opened by the JPEG plugin, not by a plugin of their own).
OPEN_FORMATS: tuple[str, ...] = tuple(sorted(ALLOWED_FORMATS - {"MPO"}))
MAX_PIXELS = 40_000_000
MAX_BYTES = 30 * 1024 * 1024


def is_url(ref: str) -> bool:
    """True for http(s) URLs (kept as they are, never fetched here)."""
    return ref.lower().startswith(_URL_SCHEMES)


def resolve_image(ref: str, base_dir: Path) -> str:
    """An absolute local path (relative refs are taken from ``base_dir``) or the URL unchanged.

    Raises ``ValueError`` for URL schemes other than http(s).
    """
    ref = ref.strip()
    if is_url(ref):
        return ref
    if "://" in ref:
        scheme = ref.split("://", 1)[0]
        raise ValueError(
            f"unsupported image URL scheme {scheme!r}; allowed: http, https or a local path"
        )
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return os.path.normpath(path)


def check_image(path: str, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> str | None:
    """Why the local image at ``path`` is unusable, or None if Pillow can read it.

    Cheap on purpose: ``Image.open`` parses the header and ``verify()`` checks what the
    format plugin can check without decoding pixels (PNG CRCs, for instance). Only the
    :data:`ALLOWED_FORMATS` plugins are tried; files over ``max_bytes`` or ``max_pixels`` are
    refused before any decoding.
    """
    p = Path(path)
    if not p.exists():
        return "image file not found"
    if not p.is_file():
        return "image path is not a file"
    size = p.stat().st_size
    if size > max_bytes:
        return f"image file of {size} bytes exceeds the {max_bytes}-byte limit"
    try:
        with Image.open(p, formats=OPEN_FORMATS) as im:
            if im.width * im.height > max_pixels:
                return f"image of {im.width}x{im.height} exceeds {max_pixels} pixels"
            im.verify()
    # Pillow's plugins raise many exception types on corrupt input (OSError, SyntaxError,
    # struct.error, IndexError, DecompressionBombError...); any of them means "not usable".
    except Exception as exc:
        return f"image not decodable by Pillow ({type(exc).__name__}: {exc})"
    return None


def check_images(
    paths: Sequence[str], *, workers: int | None = None, progress: bool = False
) -> list[str | None]:
    """:func:`check_image` for each path, in a thread pool (I/O bound), results in input order."""
    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="catalog-img") as pool:
        results = pool.map(check_image, paths)
        return list(
            tqdm(
                results, total=len(paths), desc="checking images", unit="img", disable=not progress
            )
        )
