"""The two real sample catalogs load with the default mapping and no rejects.

Skipped when the shared data folder (env ``SHOPSEARCH_DATA``) is absent.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from shopsearch.catalog import FieldMapping, load_catalog
from tests.optional import unavailable

logger = logging.getLogger(__name__)


def _catalog(data_dir: Path, name: str) -> Path:
    path = data_dir / name / "products.jsonl"
    if not path.is_file():
        unavailable("data", f"{path} not found")
    return path


def test_fashion_catalog_loads_with_defaults(data_dir: Path) -> None:
    path = _catalog(data_dir, "fashion")
    started = time.perf_counter()
    result = load_catalog(path, check_images=True)
    elapsed = time.perf_counter() - started
    logger.info("fashion catalog with image checks: %.2fs", elapsed)
    assert result.rejects == []
    assert len(result.products) == result.n_rows == 7667
    first = result.products[0]
    assert first.id == "10000" and first.title
    assert first.images == (str(path.parent / "images" / "10000.jpg"),)
    assert first.attributes["master_category"] == "Apparel" and first.attributes["year"] == 2011
    nulls = [p for p in result.products if "base_colour" not in p.attributes]
    assert len(nulls) == 2  # null colours are absent, not rejects
    assert len({p.id for p in result.products}) == 7667
    assert elapsed < 60, f"image checks took {elapsed:.1f}s"


def test_fashion_category_from_columns(data_dir: Path) -> None:
    path = _catalog(data_dir, "fashion")
    mapping = FieldMapping(category_from=("master_category", "sub_category", "article_type"))
    result = load_catalog(path, mapping, check_images=False)
    assert result.rejects == []
    assert result.products[0].category == ("Apparel", "Bottomwear", "Skirts")


def test_grocery_catalog_loads_with_defaults(data_dir: Path) -> None:
    path = _catalog(data_dir, "grocery")
    result = load_catalog(path, check_images=True)
    assert result.rejects == []
    assert len(result.products) == result.n_rows == 81
    first = result.products[0]
    assert first.id == "0"  # integer ids become strings
    assert first.category == ("Fruit",)
    assert first.description and first.images[0].endswith("Golden-Delicious_Iconic.jpg")
    assert "description_sv" not in first.attributes  # null -> absent
    assert first.attributes["coarse_class"] == "Apple"
