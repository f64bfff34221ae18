"""load_catalog on JSONL: mapping rules, every error class, rejects, strict mode."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shopsearch.catalog import CatalogError, CatalogLoad, FieldMapping, load_catalog
from shopsearch.types import Reject

WriteJsonl = Callable[..., Path]
MakeImage = Callable[..., Path]


def load_rows(
    write_jsonl: WriteJsonl, rows: list[Any], mapping: FieldMapping | None = None, **kw: Any
) -> CatalogLoad:
    kw.setdefault("check_images", False)
    return load_catalog(write_jsonl(rows), mapping, **kw)


def only_reject(result: CatalogLoad) -> Reject:
    assert len(result.rejects) == 1, result.rejects
    return result.rejects[0]


# -- good rows ---------------------------------------------------------------------------------


def test_full_row_maps_every_field(write_jsonl: WriteJsonl, make_image: MakeImage) -> None:
    make_image("img/a.jpg")
    make_image("img/b.png")
    row = {
        "id": "p1",
        "title": "  Red Dress ",
        "description": "A dress",
        "brand": "Acme",
        "category": "Apparel > Dresses > Maxi",
        "price": 19.5,
        "currency": "EUR",
        "rating": 4.5,
        "stock": 3,
        "images": ["img/a.jpg", "img/b.png"],
        "colour": "Red",
        "year": 2011,
        "weight": 0.5,
        "tags": ["summer", "sale"],
        "on_sale": True,
        "dims": {"w": 1},
        "note": None,
        "empty": "",
    }
    result = load_rows(write_jsonl, [row], check_images=True)
    assert result.rejects == [] and result.n_rows == 1
    (p,) = result.products
    assert p.id == "p1" and p.title == "Red Dress" and p.description == "A dress"
    assert p.brand == "Acme" and p.currency == "EUR"
    assert p.category == ("Apparel", "Dresses", "Maxi")
    assert (p.price, p.rating, p.stock) == (19.5, 4.5, 3)
    base = Path(result.source).parent
    assert p.images == (str(base / "img" / "a.jpg"), str(base / "img" / "b.png"))
    # scalar leftovers are attributes; null/empty are absent; non-scalars and bools go to extra
    assert p.attributes == {"colour": "Red", "year": 2011, "weight": 0.5}
    assert p.extra == {"tags": ["summer", "sale"], "on_sale": True, "dims": {"w": 1}}
    assert Path(result.source).is_absolute() and result.source.endswith("products.jsonl")


def test_aliases(write_jsonl: WriteJsonl) -> None:
    rows = [
        {"sku": 7, "name": "Mug", "image_url": "https://cdn.example.com/m.jpg"},
        {"product_id": "x", "title": "T", "name": "kept as attribute", "image_path": "/abs/x.jpg"},
    ]
    result = load_rows(write_jsonl, rows)
    a, b = result.products
    assert (a.id, a.title, a.images) == ("7", "Mug", ("https://cdn.example.com/m.jpg",))
    assert (b.id, b.title, b.images) == ("x", "T", ("/abs/x.jpg",))
    assert b.attributes == {"name": "kept as attribute"}


def test_single_image_column_and_images_column_both_feed_images(write_jsonl: WriteJsonl) -> None:
    rows = [{"id": "1", "images": ["/a.jpg", "/b.jpg"], "image": "/a.jpg", "image_url": "/c.jpg"}]
    (p,) = load_rows(write_jsonl, rows).products
    assert p.images == ("/a.jpg", "/b.jpg", "/c.jpg")  # in mapping order, duplicates dropped


def test_null_means_absent(write_jsonl: WriteJsonl) -> None:
    rows = [{"id": "1", "title": "t", "base_colour": None, "price": None, "brand": None}]
    (p,) = load_rows(write_jsonl, rows).products
    assert p.attributes == {} and p.price is None and p.brand is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, "0"), (10000, "10000"), (" a1 ", "a1"), (3.0, "3"), ("10000", "10000")],
)
def test_ids_accepted(write_jsonl: WriteJsonl, raw: Any, expected: str) -> None:
    (p,) = load_rows(write_jsonl, [{"id": raw, "title": "t"}]).products
    assert p.id == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (True, "boolean"),
        (1.5, "fractional part"),
        (["a"], "a list"),
        ({"a": 1}, "an object"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
    ],
)
def test_ids_rejected(write_jsonl: WriteJsonl, raw: Any, reason: str) -> None:
    result = load_rows(write_jsonl, [{"id": raw, "title": "t"}])
    r = only_reject(result)
    assert result.products == []
    assert (r.field, r.line, r.product_id) == ("id", 1, None)
    assert reason in r.reason


def test_missing_id(write_jsonl: WriteJsonl) -> None:
    r = only_reject(load_rows(write_jsonl, [{"title": "t"}]))
    assert r.field == "id" and "required field 'id' is missing" in r.reason
    assert "id, product_id, sku" in r.reason


def test_duplicate_ids_keep_the_first(write_jsonl: WriteJsonl) -> None:
    rows = [
        {"id": "a", "title": "first"},
        {"id": "b", "title": "other"},
        {"id": "a", "title": "second"},
        {"id": "a", "title": "third"},
        {"id": 5, "title": "int"},
        {"id": "5", "title": "same id as a string"},
    ]
    result = load_rows(write_jsonl, rows)
    assert [p.title for p in result.products] == ["first", "other", "int"]
    assert [(r.line, r.field, r.product_id) for r in result.rejects] == [
        (3, "id", "a"),
        (4, "id", "a"),
        (6, "id", "5"),
    ]
    assert all("first seen on line" in r.reason for r in result.rejects)
    assert "line 1" in result.rejects[0].reason and "line 5" in result.rejects[2].reason


# -- type and range errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("price", "abc", "price must be a number"),
        ("price", -1, "price must be >= 0"),
        ("price", float("nan"), "finite"),
        ("price", float("inf"), "finite"),
        ("price", [1], "price must be a number, got a list"),
        ("price", True, "boolean"),
        ("rating", [4], "rating must be a number, got a list"),
        ("rating", 5.5, "within [0, 5]"),
        ("rating", -0.1, "within [0, 5]"),
        ("rating", float("nan"), "finite"),
        ("stock", -2, "stock must be >= 0"),
        ("stock", 2.5, "whole number"),
        ("stock", "many", "stock must be a number"),
        ("title", ["a"], "expected text, got a list"),
        ("title", {"en": "a"}, "expected text, got an object"),
        ("title", True, "boolean"),
        ("brand", ["x"], "expected text"),
        ("category", {"a": 1}, "category must be a string path or a list"),
        ("category", ["a", ["b"]], "category levels must be strings"),
        ("images", 5, "images must be a string or a list"),
        ("images", ["/a.jpg", 3], "image entries must be strings"),
        ("images", "ftp://host/a.jpg", "unsupported image URL scheme 'ftp'"),
    ],
)
def test_bad_values_are_rejected(
    write_jsonl: WriteJsonl, field: str, raw: Any, reason: str
) -> None:
    row = {"id": "p", "description": "searchable", field: raw}
    result = load_rows(write_jsonl, [row, {"id": "ok", "title": "fine"}])
    r = only_reject(result)
    assert (r.field, r.line, r.product_id) == (field, 1, "p")
    assert reason in r.reason
    assert [p.id for p in result.products] == ["ok"]  # the good row is kept


def test_reject_value_is_shown_and_truncated(write_jsonl: WriteJsonl) -> None:
    result = load_rows(
        write_jsonl,
        [{"id": "a", "title": "t", "price": "x" * 1000}, {"id": "b", "title": "t", "rating": [9]}],
    )
    first, second = result.rejects
    assert first.value is not None and len(first.value) == 200 and first.value.endswith("…")
    assert second.value == "[9]"


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("title", 42, "42"),
        ("title", 1.5, "1.5"),
        ("price", "12.50", 12.5),
        ("price", 0, 0.0),
        ("rating", "5", 5.0),
        ("stock", "3", 3),
        ("stock", 4.0, 4),
        ("currency", "usd", "usd"),
    ],
)
def test_coercions(write_jsonl: WriteJsonl, field: str, raw: Any, expected: Any) -> None:
    (p,) = load_rows(write_jsonl, [{"id": "p", "description": "d", field: raw}]).products
    value = getattr(p, field)
    assert value == expected and type(value) is type(expected)


def test_rating_range_is_configurable(write_jsonl: WriteJsonl) -> None:
    rows = [{"id": "a", "title": "t", "rating": 8}, {"id": "b", "title": "t", "rating": 11}]
    result = load_rows(write_jsonl, rows, FieldMapping(rating_range=(0, 10)))
    assert [p.id for p in result.products] == ["a"]
    assert "within [0, 10]" in only_reject(result).reason


def test_empty_strings_are_absent_for_non_id_fields(write_jsonl: WriteJsonl) -> None:
    (p,) = load_rows(write_jsonl, [{"id": "a", "title": "t", "price": "", "brand": " "}]).products
    assert p.price is None and p.brand is None


# -- presence rules --------------------------------------------------------------------------


def test_nothing_searchable_is_rejected(write_jsonl: WriteJsonl) -> None:
    rows = [
        {"id": "a", "price": 3, "colour": "red"},
        {"id": "b", "title": "t"},
        {"id": "c", "description": "d"},
        {"id": "d", "image": "https://x/y.jpg"},
    ]
    result = load_rows(write_jsonl, rows)
    r = only_reject(result)
    assert (r.line, r.field) == (1, "title/description/images") and "nothing searchable" in r.reason
    assert [p.id for p in result.products] == ["b", "c", "d"]


def test_searchable_rule_can_be_switched_off(write_jsonl: WriteJsonl) -> None:
    result = load_rows(write_jsonl, [{"id": "a"}], FieldMapping(require_searchable=False))
    assert [p.id for p in result.products] == ["a"]


def test_required_fields_are_configurable(write_jsonl: WriteJsonl) -> None:
    mapping = FieldMapping(required=("price", "category"))
    rows = [
        {"id": "a", "title": "t", "price": 1, "category": "A/B"},
        {"id": "b", "title": "t", "category": "A"},
        {"id": "c", "title": "t", "price": 2},
    ]
    result = load_rows(write_jsonl, rows, mapping)
    assert [p.id for p in result.products] == ["a"]
    assert [(r.line, r.field) for r in result.rejects] == [(2, "price"), (3, "category")]
    assert "required field 'price' is missing" in result.rejects[0].reason


def test_several_problems_in_one_row_are_all_reported(write_jsonl: WriteJsonl) -> None:
    rows = [
        {"id": "a", "title": ["x"], "price": "abc", "rating": 9, "stock": -1},
        {"id": "b", "title": "good"},
    ]
    result = load_rows(write_jsonl, rows)
    assert [p.id for p in result.products] == ["b"]
    assert [r.field for r in result.rejects] == ["title", "price", "rating", "stock"]
    assert {r.line for r in result.rejects} == {1}
    assert result.n_rejected_rows == 1


# -- unparseable lines ---------------------------------------------------------------------------


def test_bad_json_lines_and_blank_lines(write_jsonl: WriteJsonl) -> None:
    rows = [
        {"id": "a", "title": "t"},
        "",
        "{not json",
        "[1, 2]",
        "   ",
        '"just a string"',
        {"id": "b", "title": "t"},
    ]
    result = load_rows(write_jsonl, rows)
    assert [p.id for p in result.products] == ["a", "b"]
    assert [(r.line, r.field) for r in result.rejects] == [(3, "row"), (4, "row"), (6, "row")]
    assert "not valid JSON" in result.rejects[0].reason
    assert result.rejects[0].value == "{not json"
    assert "JSON array, not an object" in result.rejects[1].reason
    assert "JSON string" in result.rejects[2].reason
    assert result.n_rows == 5  # blank lines are not rows


def test_invalid_utf8_line_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": "a", "title": "t"}\n{"id": "b", "title": "\xff"}\n')
    result = load_catalog(path, check_images=False)
    assert [p.id for p in result.products] == ["a"]
    r = only_reject(result)
    assert (r.line, r.field) == (2, "row") and "UTF-8" in r.reason


def test_ndjson_extension(tmp_path: Path) -> None:
    path = tmp_path / "p.ndjson"
    path.write_text('{"id": "a", "title": "t"}\n')
    assert [p.id for p in load_catalog(path, check_images=False).products] == ["a"]


# -- category ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A > B > C", ("A", "B", "C")),
        ("A/B/C", ("A", "B", "C")),
        ("A > B/C", ("A", "B/C")),
        ("Fruit", ("Fruit",)),
        (["A", " B ", ""], ("A", "B")),
        (" > ", ()),
    ],
)
def test_category_paths(write_jsonl: WriteJsonl, raw: Any, expected: tuple[str, ...]) -> None:
    (p,) = load_rows(write_jsonl, [{"id": "a", "title": "t", "category": raw}]).products
    assert p.category == expected


def test_category_separator_is_configurable(write_jsonl: WriteJsonl) -> None:
    mapping = FieldMapping(category_separators=("::",))
    (p,) = load_rows(
        write_jsonl, [{"id": "a", "title": "t", "category": "A::B/C"}], mapping
    ).products
    assert p.category == ("A", "B/C")


def test_category_from_columns_keeps_them_as_attributes(write_jsonl: WriteJsonl) -> None:
    mapping = FieldMapping(category_from=("master", "sub", "kind"))
    rows = [
        {"id": "a", "title": "t", "master": "Apparel", "sub": "Topwear", "kind": "Tshirts"},
        {"id": "b", "title": "t", "master": "Apparel", "sub": None, "kind": "Socks"},
        {"id": "c", "title": "t", "master": "Apparel", "sub": ["x"]},
    ]
    result = load_rows(write_jsonl, rows, mapping)
    a, b = result.products
    assert a.category == ("Apparel", "Topwear", "Tshirts")
    assert a.attributes == {"master": "Apparel", "sub": "Topwear", "kind": "Tshirts"}
    assert b.category == ("Apparel", "Socks")
    r = only_reject(result)
    assert (r.line, r.field) == (3, "category") and "column 'sub'" in r.reason


# -- attributes, extra, exclude, renames -------------------------------------------------------


def test_nested_attributes_object(write_jsonl: WriteJsonl) -> None:
    rows = [
        {"id": "a", "title": "t", "attributes": {"size": "M", "colour": "red"}, "colour": "blue"},
        {"id": "b", "title": "t", "attributes": {"size": ["M", "L"]}},
        {"id": "c", "title": "t", "attributes": "size=M"},
    ]
    result = load_rows(write_jsonl, rows)
    (a,) = result.products
    assert a.attributes == {"size": "M", "colour": "blue"}  # a top-level column wins
    assert [(r.line, r.field) for r in result.rejects] == [
        (2, "attributes.size"),
        (3, "attributes"),
    ]


def test_attribute_whitelist_extra_and_exclude(write_jsonl: WriteJsonl) -> None:
    mapping = FieldMapping(attributes=("colour", "size"), extra=("raw",), exclude=("secret",))
    rows = [
        {
            "id": "a",
            "title": "t",
            "colour": "red",
            "size": 40,
            "season": "Summer",
            "raw": {"k": [1]},
            "secret": "x",
        },
        {"id": "b", "title": "t", "colour": ["red", "blue"]},
    ]
    result = load_rows(write_jsonl, rows, mapping)
    (a,) = result.products
    assert a.attributes == {"colour": "red", "size": 40}
    assert a.extra == {"season": "Summer", "raw": {"k": [1]}}  # not whitelisted -> extra
    r = only_reject(result)
    assert (r.line, r.field) == (2, "colour") and "str, int or float" in r.reason


def test_explicit_rename(write_jsonl: WriteJsonl) -> None:
    mapping = FieldMapping.from_pairs(["title=productDisplayName", "images=img_col", "id=styleId"])
    rows = [{"styleId": 1, "productDisplayName": "Shirt", "title": "ignored?", "img_col": "/a.jpg"}]
    (p,) = load_rows(write_jsonl, rows, mapping).products
    assert (p.id, p.title, p.images) == ("1", "Shirt", ("/a.jpg",))
    assert p.attributes == {"title": "ignored?"}  # an unmapped column is still kept


def test_mapped_column_no_row_has_is_a_warning(
    write_jsonl: WriteJsonl, caplog: pytest.LogCaptureFixture
) -> None:
    mapping = FieldMapping(title=("productDisplayName", "title"), extra=("nope",))
    with caplog.at_level(logging.WARNING, logger="shopsearch.catalog"):
        result = load_rows(write_jsonl, [{"id": "a", "title": "t"}], mapping)
    assert [p.title for p in result.products] == ["t"]
    (warning,) = result.warnings
    assert "productDisplayName, nope" in warning
    assert "productDisplayName" in caplog.text


def test_no_id_column_warns(write_jsonl: WriteJsonl) -> None:
    result = load_rows(write_jsonl, [{"styleId": "a", "title": "t"}])
    assert result.products == [] and result.rejects[0].field == "id"
    assert any("no row has an id column" in w for w in result.warnings)


# -- images --------------------------------------------------------------------------------------


def test_image_problems(write_jsonl: WriteJsonl, make_image: MakeImage, tmp_path: Path) -> None:
    make_image("good.jpg")
    make_image("good2.png")
    (tmp_path / "fake.jpg").write_text("not an image")
    (tmp_path / "folder.jpg").mkdir()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(make_image("full.png").read_bytes()[:40])
    rows = [
        {"id": "ok", "title": "t", "image": "good.jpg"},
        {"id": "missing", "title": "t", "image": "nope.jpg"},
        {"id": "dir", "title": "t", "image": "folder.jpg"},
        {"id": "fake", "title": "t", "image": "fake.jpg"},
        {"id": "trunc", "title": "t", "image": "truncated.png"},
        {"id": "second", "title": "t", "images": ["good.jpg", "nope2.jpg"]},
        {"id": "url", "title": "t", "images": ["https://example.invalid/a.jpg", "good2.png"]},
        {"id": "abs", "title": "t", "image": str(tmp_path / "good2.png")},
    ]
    result = load_rows(write_jsonl, rows, check_images=True)
    assert [p.id for p in result.products] == ["ok", "url", "abs"]
    url = result.products[1]
    assert url.images == ("https://example.invalid/a.jpg", str(tmp_path / "good2.png"))
    reasons = {r.product_id: r.reason for r in result.rejects}
    assert [r.line for r in result.rejects] == [2, 3, 4, 5, 6]
    assert all(r.field == "images" for r in result.rejects)
    assert reasons["missing"].startswith("image file not found")
    assert reasons["dir"].startswith("image path is not a file")
    assert reasons["fake"].startswith("image not decodable by Pillow")
    assert reasons["trunc"].startswith("image not decodable by Pillow")
    assert "nope2.jpg" in reasons["second"]  # a bad secondary image rejects the row
    assert result.rejects[0].value == str(tmp_path / "nope.jpg")


def test_images_not_checked_when_switched_off(write_jsonl: WriteJsonl, tmp_path: Path) -> None:
    result = load_rows(write_jsonl, [{"id": "a", "image": "nope.jpg"}], check_images=False)
    assert result.products[0].images == (str(tmp_path / "nope.jpg"),)


def test_image_checks_keep_file_order(write_jsonl: WriteJsonl, make_image: MakeImage) -> None:
    rows = []
    for i in range(60):
        if i % 7 == 3:
            rows.append({"id": str(i), "image": f"missing/{i}.jpg"})
        else:
            make_image(f"imgs/{i}.jpg", color=(i * 4, 0, 0))
            rows.append({"id": str(i), "image": f"imgs/{i}.jpg"})
    result = load_rows(write_jsonl, rows, check_images=True, workers=8)
    bad = [i for i in range(60) if i % 7 == 3]
    assert [p.id for p in result.products] == [str(i) for i in range(60) if i not in bad]
    assert [r.line for r in result.rejects] == [i + 1 for i in bad]


# -- the deliberately broken catalog -----------------------------------------------------------


def test_broken_catalog_keeps_every_good_row(
    write_jsonl: WriteJsonl, make_image: MakeImage, tmp_path: Path
) -> None:
    make_image("a.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    rows: list[Any] = [
        {"id": "1", "title": "good one", "image": "a.jpg", "price": 5},  # line 1
        {"id": "2", "title": "bad price", "price": "abc"},  # line 2
        "",  # line 3: blank
        {"id": "1", "title": "dup of 1"},  # line 4
        "{oops",  # line 5
        {"id": "3", "description": "good three", "rating": "4.5"},  # line 6
        {"id": "4", "title": "bad image", "image": "broken.jpg"},  # line 7
        {"title": "no id"},  # line 8
        {"id": "5", "title": "neg stock", "stock": -3, "rating": 7},  # line 9
        {"id": "6", "image": "a.jpg"},  # line 10: image only, fine
        {"id": "7"},  # line 11: nothing searchable
        {"id": 8.25, "title": "fraction id"},  # line 12
        {"id": "9", "title": "good nine", "category": "A > B"},  # line 13
    ]
    result = load_rows(write_jsonl, rows, check_images=True)
    assert [p.id for p in result.products] == ["1", "3", "6", "9"]
    assert [(r.line, r.field) for r in result.rejects] == [
        (2, "price"),
        (4, "id"),
        (5, "row"),
        (7, "images"),
        (8, "id"),
        (9, "rating"),
        (9, "stock"),
        (11, "title/description/images"),
        (12, "id"),
    ]
    assert result.n_rows == 12
    assert result.n_rows == len(result.products) + result.n_rejected_rows
    assert "first seen on line 1" in result.rejects[1].reason
    assert all(r.file == result.source for r in result.rejects)


# -- strict, write_rejects, file-level errors -----------------------------------------------------


def test_strict_raises_with_the_count(write_jsonl: WriteJsonl) -> None:
    rows = [{"id": str(i), "title": "t", "price": -i} for i in range(1, 9)]
    rows.insert(0, {"id": "0", "title": "ok", "price": 0})
    with pytest.raises(CatalogError, match="8 of 9 rows rejected") as info:
        load_rows(write_jsonl, rows, strict=True)
    message = str(info.value)
    assert "(8 problems in total)" in message and "... and 3 more" in message
    assert ":2 (id 1): field 'price'" in message


def test_strict_passes_a_clean_catalog(write_jsonl: WriteJsonl) -> None:
    result = load_rows(write_jsonl, [{"id": "a", "title": "t"}], strict=True)
    assert len(result.products) == 1


def test_write_rejects(write_jsonl: WriteJsonl, tmp_path: Path) -> None:
    result = load_rows(write_jsonl, [{"id": "a", "price": "abc", "title": "t"}, "[]"])
    out = result.write_rejects(tmp_path / "out" / "rejects.jsonl")
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [r.to_dict() for r in result.rejects]
    assert lines[0] == {
        "file": result.source,
        "line": 1,
        "field": "price",
        "reason": "price must be a number, got text that is not numeric",
        "product_id": "a",
        "value": "abc",
    }
    assert lines[1]["line"] == 2 and lines[1]["field"] == "row"


def test_write_rejects_empty(write_jsonl: WriteJsonl, tmp_path: Path) -> None:
    out = load_rows(write_jsonl, [{"id": "a", "title": "t"}]).write_rejects(tmp_path / "r.jsonl")
    assert out.read_text() == ""


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "missing.jsonl")
    with pytest.raises(CatalogError, match="not a file"):
        load_catalog(tmp_path)
    odd = tmp_path / "products.xml"
    odd.write_text("<x/>")
    with pytest.raises(CatalogError, match=r"unknown extension '\.xml'; allowed: \.jsonl"):
        load_catalog(odd)
    assert issubclass(CatalogError, ValueError)


def test_empty_catalog(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    result = load_catalog(path)
    assert (result.n_rows, result.products, result.rejects) == (0, [], [])
    assert result.warnings == ("the catalog has no rows",)


def test_products_are_finite(write_jsonl: WriteJsonl) -> None:
    (p,) = load_rows(write_jsonl, [{"id": "a", "title": "t", "price": 1e308}]).products
    assert p.price is not None and math.isfinite(p.price)
