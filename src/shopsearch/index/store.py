"""Product store: the embedded SQLite table of validated products, in index row order."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from shopsearch.types import Product

STORE_NAME = "products.sqlite"


def write_products(path: Path, products: Sequence[Product]) -> None:
    """Write ``products`` (row i = index position i) into a new SQLite file at ``path``."""
    db = sqlite3.connect(str(path))
    try:
        db.execute("CREATE TABLE products (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL)")
        with db:
            db.executemany(
                "INSERT INTO products (idx, id, data) VALUES (?, ?, ?)",
                ((i, p.id, json.dumps(p.to_dict(), ensure_ascii=False)) for i, p in enumerate(products)),
            )
    finally:
        db.close()


def read_products(path: Path) -> list[Product]:
    """All products in index row order."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT idx, data FROM products ORDER BY idx").fetchall()
    finally:
        db.close()
    products = [Product.from_dict(json.loads(data)) for _, data in rows]
    if any(idx != i for i, (idx, _) in enumerate(rows)):
        raise ValueError(f"{path}: product rows are not contiguous")
    return products
