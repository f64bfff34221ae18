"""Shared fixtures: the sample-data location and tiny catalogs drawn with Pillow."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devkit.catalogs import draw_product, tiny_rows, write_catalog
from shopsearch.config import DataNotFoundError, sample_data_dir
from tests.optional import check_marks, needs, register, unavailable

# Debian's chromium, driven by playwright (never a downloaded browser), with the flags that keep
# it off the network.
CHROMIUM = os.environ.get("SHOPSEARCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
needs_chromium = needs(
    "browser", None if Path(CHROMIUM).exists() or shutil.which(CHROMIUM)
    else f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
)


def pytest_configure(config: pytest.Config) -> None:
    register(config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_marks(item)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared sample data; tests that need it skip with the reason when it is absent (fail when
    ``SHOPSEARCH_REQUIRE`` names ``data``)."""
    try:
        return sample_data_dir()
    except DataNotFoundError as exc:
        unavailable("data", str(exc))


@pytest.fixture()
def tiny_catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "shop", tiny_rows(tmp_path / "shop"))


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real index (packaged encoders, no joint model) over the tiny catalog, built once."""
    from shopsearch.config import IndexConfig
    from shopsearch.index.builder import build_index

    root = tmp_path_factory.mktemp("tiny")
    catalog = write_catalog(root / "shop", tiny_rows(root / "shop"))
    out = root / "index"
    config = IndexConfig(joint_model=None, zero_shot=False, cache_path=root / "cache.sqlite", progress=False)
    build_index(catalog, out, config)
    return out


def shop_rows(folder: Path) -> list[dict]:
    """Twenty products for ranking and multi-turn tests: dresses, T-shirts and shoes in several
    colours, for women and men, casual/sports/party, with prices, ratings and stock."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    specs = [  # id, kind, shape, colour, gender, usage, price, stock
        ("d1", "Dress", "bag", "Red", "Women", "Casual", 49.0, 5),
        ("d2", "Dress", "bag", "Red", "Women", "Party", 89.0, 3),
        ("d3", "Dress", "bag", "Black", "Women", "Casual", 59.0, 4),
        ("d4", "Dress", "bag", "Blue", "Women", "Casual", 39.0, 6),
        ("d5", "Dress", "bag", "Red", "Women", "Sports", 45.0, 2),
        ("d6", "Dress", "bag", "Black", "Women", "Party", 120.0, 1),
        ("t1", "Tshirt", "shirt", "Red", "Men", "Casual", 19.0, 10),
        ("t2", "Tshirt", "shirt", "Red", "Women", "Casual", 21.0, 10),
        ("t3", "Tshirt", "shirt", "Red", "Women", "Sports", 29.0, 10),
        ("t4", "Tshirt", "shirt", "Black", "Men", "Sports", 25.0, 10),
        ("t5", "Tshirt", "shirt", "White", "Women", "Sports", 24.0, 10),
        ("t6", "Tshirt", "shirt", "Blue", "Men", "Casual", 18.0, 10),
        ("t7", "Tshirt", "shirt", "Red", "Men", "Sports", 27.0, 10),
        ("t8", "Tshirt", "shirt", "Black", "Women", "Casual", 16.0, 10),
        ("s1", "Shoes", "shoe", "Black", "Men", "Casual", 120.0, 4),
        ("s2", "Shoes", "shoe", "White", "Women", "Sports", 80.0, 4),
        ("s3", "Shoes", "shoe", "Red", "Women", "Sports", 70.0, 4),
        ("s4", "Shoes", "shoe", "Black", "Women", "Casual", 65.0, 4),
        ("s5", "Shoes", "shoe", "Red", "Men", "Sports", 90.0, 4),
        ("s6", "Shoes", "shoe", "Blue", "Men", "Sports", 75.0, 4),
    ]
    rows = []
    for i, (pid, kind, shape, colour, gender, usage, price, stock) in enumerate(specs):
        draw_product(folder / "images" / f"{pid}.png", colour, shape)
        rows.append({"id": pid, "title": f"{colour} {usage} {kind} for {gender}", "gender": gender,
                     "base_colour": colour, "article_type": kind, "usage": usage, "price": price,
                     "stock": stock, "rating": 3.0 + (i % 5) * 0.4, "image": f"images/{pid}.png"})
    return rows


@pytest.fixture(scope="session")
def shop_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real index (packaged encoders and the default joint model) over :func:`shop_rows`."""
    from shopsearch.config import IndexConfig
    from shopsearch.index.builder import build_index

    root = tmp_path_factory.mktemp("shop")
    catalog = write_catalog(root / "shop", shop_rows(root / "shop"))
    out = root / "index"
    config = IndexConfig(zero_shot=False, cache_path=root / "cache.sqlite", progress=False)
    build_index(catalog, out, config)
    return out
