"""CSV and Parquet round trips: catalogs written with csv / pyarrow load like JSONL ones."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopsearch.catalog import CatalogError, FieldMapping, load_catalog

MakeImage = Callable[..., Path]

HEADER = ["id", "title", "price", "rating", "stock", "images", "category", "colour", "note"]


def write_csv(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# -- CSV -------------------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path, make_image: MakeImage) -> None:
    make_image("a.jpg")
    make_image("b.jpg")
    path = write_csv(
        tmp_path / "products.csv",
        [
            ["1", "Shirt", "19.90", "4.5", "3", "a.jpg|b.jpg", "Apparel|Topwear", "Red", ""],
            ["2", "Mug", "", "", "", "https://x.example/m.jpg", "Home > Kitchen", "", "fragile"],
            ["0003", "Hat", "5", "0", "0", " a.jpg ", "Hats", "Blue", ""],
        ],
    )
    result = load_catalog(path)
    assert result.rejects == [] and result.n_rows == 3
    shirt, mug, hat = result.products
    assert (shirt.price, shirt.rating, shirt.stock) == (19.9, 4.5, 3)
    assert isinstance(shirt.stock, int)
    assert shirt.images == (str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"))
    assert shirt.category == ("Apparel", "Topwear")
    assert shirt.attributes == {"colour": "Red"}  # empty cells are missing
    assert (mug.price, mug.rating, mug.stock) == (None, None, None)
    assert mug.images == ("https://x.example/m.jpg",)
    assert mug.category == ("Home", "Kitchen")
    assert mug.attributes == {"note": "fragile"}
    assert hat.id == "0003"  # CSV ids stay text: leading zeros survive
    assert (hat.price, hat.rating, hat.stock) == (5.0, 0.0, 0)


def test_csv_line_numbers_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        "id,title,price\n"  # line 1
        "a,Good,1\n"  # line 2
        "b,Bad price,abc\n"  # line 3
        "\n"  # line 4: blank
        'c,"Multi\nline title",2\n'  # lines 5-6
        "d,Too,many,cells\n"  # line 7
        "a,Duplicate,3\n"  # line 8
        "e,,-1\n"  # line 9: no title and a negative price
        ",No id,4\n",  # line 10
        encoding="utf-8",
    )
    result = load_catalog(path, check_images=False)
    assert [p.id for p in result.products] == ["a", "c"]
    assert result.products[1].title == "Multi\nline title"
    assert [(r.line, r.field) for r in result.rejects] == [
        (3, "price"),
        (7, "row"),
        (8, "id"),
        (9, "price"),
        (9, "title/description/images"),
        (10, "id"),
    ]
    assert "4 cells but the header has 3" in result.rejects[1].reason
    assert "first seen on line 2" in result.rejects[2].reason
    assert result.n_rows == 7  # the blank line is not a row


def test_csv_custom_list_separator(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        [["1", "T", "", "", "", "/a.jpg;/b.jpg", "A;B", "", ""]],
    )
    (p,) = load_catalog(path, FieldMapping(list_separator=";"), check_images=False).products
    assert p.images == ("/a.jpg", "/b.jpg") and p.category == ("A", "B")


def test_csv_attributes_stay_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [["1", "T", "", "", "", "", "", "007", ""]])
    (p,) = load_catalog(path, check_images=False).products
    assert p.attributes == {"colour": "007"}


def test_csv_with_bom_and_header_only(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,title\nx,Y\n".encode())
    assert [p.id for p in load_catalog(path, check_images=False).products] == ["x"]
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,title\n")
    assert load_catalog(header_only).n_rows == 0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"id,title,id\n1,a,2\n", "repeats column 'id'"),
        (b"id,,title\n1,,a\n", "column 2 has no name"),
        (b"id,title\n1,caf\xe9\n", "not valid UTF-8"),
    ],
)
def test_csv_unusable_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=match):
        load_catalog(path, check_images=False)


def test_csv_with_mapping(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "styles.csv",
        [["10", "Tee", "Apparel", "Topwear", "Tshirts"]],
        header=["styleId", "productDisplayName", "masterCategory", "subCategory", "articleType"],
    )
    mapping = FieldMapping.from_pairs(
        [
            "id=styleId",
            "title=productDisplayName",
            "category_from=masterCategory,subCategory,articleType",
        ]
    )
    (p,) = load_catalog(path, mapping).products
    assert (p.id, p.title, p.category) == ("10", "Tee", ("Apparel", "Topwear", "Tshirts"))
    assert p.attributes["articleType"] == "Tshirts"


# -- Parquet ---------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path: Path, make_image: MakeImage) -> None:
    make_image("a.jpg")
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "title": ["Shirt", "Mug", None, "Hat"],
            "price": pa.array([9.5, None, -1.0, 2.0], pa.float64()),
            "images": [["a.jpg"], ["https://x.example/m.jpg"], [], ["a.jpg", "missing.jpg"]],
            "category": [["Apparel", "Tops"], [], None, ["Hats"]],
            "attributes": [{"size": "M", "fit": None}, None, None, {"size": "L", "fit": "slim"}],
            "year": pa.array([2011, None, 2012, 2013], pa.int32()),
        }
    )
    path = tmp_path / "products.parquet"
    pq.write_table(table, path, row_group_size=2)
    result = load_catalog(path)
    assert result.n_rows == 4
    shirt, mug = result.products
    assert (shirt.id, shirt.title, shirt.price) == ("1", "Shirt", 9.5)
    assert shirt.images == (str(tmp_path / "a.jpg"),)
    assert shirt.category == ("Apparel", "Tops")
    assert shirt.attributes == {"size": "M", "year": 2011}
    assert (mug.id, mug.price, mug.images) == ("2", None, ("https://x.example/m.jpg",))
    # row numbers are 1-based row indexes
    assert [(r.line, r.field, r.product_id) for r in result.rejects] == [
        (3, "price", "3"),
        (3, "title/description/images", "3"),  # no title and an empty image list
        (4, "images", "4"),
    ]


def test_parquet_duplicate_ids_name_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"sku": ["a", "b", "a"], "name": ["x", "y", "z"]}), path)
    result = load_catalog(path)
    assert [p.title for p in result.products] == ["x", "y"]
    (r,) = result.rejects
    assert (r.line, r.field) == (3, "id") and "first seen on row 1" in r.reason


def test_parquet_decimals_and_dates(tmp_path: Path) -> None:
    import datetime as dt
    import decimal

    table = pa.table(
        {
            "id": ["a"],
            "title": ["t"],
            "price": pa.array([decimal.Decimal("12.34")], pa.decimal128(10, 2)),
            "added": pa.array([dt.date(2024, 1, 31)], pa.date32()),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    (p,) = load_catalog(path).products
    assert p.price == pytest.approx(12.34)
    assert p.attributes == {"added": "2024-01-31"}


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(CatalogError, match="not readable Parquet"):
        load_catalog(path)
