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


def check_image(path: str) -> str | None:
    """Why the local image at ``path`` is unusable, or None if Pillow can read it.

    Cheap on purpose: ``Image.open`` parses the header and ``verify()`` checks what the
    format plugin can check without decoding pixels (PNG CRCs, for instance).
    """
    p = Path(path)
    if not p.exists():
        return "image file not found"
    if not p.is_file():
        return "image path is not a file"
    try:
        with Image.open(p) as im:
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
