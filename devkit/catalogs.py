"""Tiny catalogues drawn with Pillow (coloured shirts, shoes and bags), for tests and benchmarks.

``tiny_rows`` is the eight-product catalogue of the tests' ``tiny_index`` fixture and of the
crash-safety and fuzzing benchmarks; ``write_catalog`` writes rows as a JSONL catalogue.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

__all__ = ["COLOURS", "draw_product", "tiny_rows", "write_catalog"]

COLOURS = {"Red": (200, 30, 30), "Blue": (30, 60, 200), "Green": (30, 160, 60), "Black": (20, 20, 20),
           "White": (245, 245, 245), "Yellow": (230, 210, 40)}


def draw_product(path: Path, colour: str, shape: str) -> None:
    img = Image.new("RGB", (96, 96), (255, 255, 255))
    d = ImageDraw.Draw(img)
    rgb = COLOURS[colour]
    if shape == "shirt":
        d.polygon([(20, 20), (76, 20), (90, 40), (76, 46), (76, 86), (20, 86), (20, 46), (6, 40)], fill=rgb)
    elif shape == "shoe":
        d.rectangle([10, 55, 86, 75], fill=rgb)
        d.ellipse([10, 35, 50, 75], fill=rgb)
    else:
        d.ellipse([18, 18, 78, 78], fill=rgb)
    img.save(path)


def write_catalog(folder: Path, rows: list[dict], name: str = "catalog.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_rows(folder: Path) -> list[dict]:
    """Eight products: coloured shirts, shoes and bags, with images drawn in ``folder/images``."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    specs = [
        ("p1", "Red Cotton Tshirt for Men", "Red", "shirt", "Men", 19.0),
        ("p2", "Blue Denim Shirt for Women", "Blue", "shirt", "Women", 39.0),
        ("p3", "Black Leather Formal Shoes", "Black", "shoe", "Men", 120.0),
        ("p4", "White Running Sports Shoes", "White", "shoe", "Women", 80.0),
        ("p5", "Green Canvas Tote Bag", "Green", "bag", "Women", 25.0),
        ("p6", "Yellow Summer Tshirt", "Yellow", "shirt", "Women", 15.0),
        ("p7", "Black Crew Neck Tshirt", "Black", "shirt", "Men", 22.0),
        ("p8", "Red Party Handbag", "Red", "bag", "Women", 60.0),
    ]
    rows = []
    for pid, title, colour, shape, gender, price in specs:
        draw_product(folder / "images" / f"{pid}.png", colour, shape)
        rows.append({"id": pid, "title": title, "gender": gender, "base_colour": colour,
                     "article_type": shape, "price": price, "image": f"images/{pid}.png"})
    return rows
