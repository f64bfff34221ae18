"""Fixtures for the catalog tests: tiny catalogs and images drawn with Pillow in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """Draw a small image file (a coloured square with a circle) under tmp_path."""

    def make(name: str = "img.jpg", color: tuple[int, int, int] = (200, 30, 30)) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (16, 16), color)
        ImageDraw.Draw(img).ellipse((3, 3, 12, 12), fill=(255, 255, 255))
        img.save(path)
        return path

    return make


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write rows to a JSONL file: dicts are dumped, strings are written as raw lines."""

    def write(rows: Iterable[dict[str, Any] | str], name: str = "products.jsonl") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
        return path

    return write
