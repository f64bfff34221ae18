"""FieldMapping: defaults, validation, TOML/JSON files and ``--map key=value`` pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopsearch.catalog import FieldMapping, load_mapping


def test_defaults_map_product_fields_and_aliases() -> None:
    m = FieldMapping()
    assert m.sources("id") == ("id", "product_id", "sku")
    assert m.sources("title") == ("title", "name")
    assert "image" in m.sources("images") and "image_url" in m.sources("images")
    assert m.required == ("id",)
    assert m.rating_range == (0.0, 5.0)
    assert m.attributes is None
    assert m.declared_columns() == ()


def test_strings_become_tuples_and_required_always_has_id() -> None:
    m = FieldMapping.from_dict({"title": "productDisplayName", "required": ["price"]})
    assert m.title == ("productDisplayName",)
    assert m.required == ("id", "price")
    assert m.declared_columns() == ("productDisplayName",)


def test_unknown_key_names_key_and_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown field mapping key 'titel'") as info:
        FieldMapping.from_dict({"titel": "x"})
    assert "valid keys: id, title" in str(info.value)
    assert "category_from" in str(info.value)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"id": []}, "'id' needs at least one source column"),
        ({"title": 3}, "'title' must be a string or a list of strings"),
        ({"title": [""]}, "empty name"),
        ({"required": ["colour"]}, "unknown product field 'colour'"),
        ({"rating_range": [5, 0]}, "rating_range"),
        ({"rating_range": [0]}, "rating_range"),
        ({"rating_range": [0, "inf"]}, "rating_range"),
        ({"rating_range": [0, 10 ** 400]}, "rating_range"),  # beyond any float (found by hypothesis)
        ({"list_separator": ""}, "list_separator"),
        ({"title": "x", "description": "x"}, "column 'x' feeds both 'title' and 'description'"),
        ({"title": "x", "attributes": ["x"]}, "listed in 'attributes' but also feeds 'title'"),
        ({"extra": ["a"], "exclude": ["a"]}, "listed in both 'extra' and 'exclude'"),
        ({"attributes": ["a"], "extra": ["a"]}, "listed in both 'attributes' and 'extra'"),
        ({"category_from": ["a"], "exclude": ["a"]}, "'category_from' and 'exclude'"),
    ],
)
def test_invalid_mappings_raise(data: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FieldMapping.from_dict(data)


def test_require_searchable_must_be_bool() -> None:
    with pytest.raises(TypeError, match="require_searchable"):
        FieldMapping.from_dict({"require_searchable": "no"})


def test_naming_a_default_alias_elsewhere_removes_it_from_the_defaults() -> None:
    m = FieldMapping(exclude=("name",), attributes=("sku", "colour"))
    assert m.title == ("title",)
    assert m.id == ("id", "product_id")


def test_an_explicit_source_takes_a_column_from_the_defaults() -> None:
    m = FieldMapping(title=("sku",))
    assert m.id == ("id", "product_id")
    with pytest.raises(ValueError, match="column 'x' feeds both 'title' and 'brand'"):
        FieldMapping(title=("x",), brand=("x",))


def test_category_from_may_name_the_category_column() -> None:
    m = FieldMapping.from_dict({"category_from": ["category", "coarse_class"]})
    assert m.sources("category") == ()


def test_to_dict_round_trip() -> None:
    m = FieldMapping.from_dict(
        {
            "title": "t",
            "category_from": ["a", "b"],
            "attributes": ["a", "c"],
            "rating_range": [1, 10],
        }
    )
    assert FieldMapping.from_dict(m.to_dict()) == m
    assert json.loads(json.dumps(m.to_dict()))["rating_range"] == [1.0, 10.0]


def test_load_mapping_toml(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(
        'title = "productDisplayName"\n'
        'category_from = ["master_category", "sub_category", "article_type"]\n'
        'exclude = ["internal_note"]\n'
        "rating_range = [0, 10]\n"
        'list_separator = ";"\n'
        "require_searchable = false\n",
        encoding="utf-8",
    )
    m = load_mapping(path)
    assert m.title == ("productDisplayName",)
    assert m.category_from == ("master_category", "sub_category", "article_type")
    assert m.exclude == ("internal_note",)
    assert m.rating_range == (0.0, 10.0)
    assert m.list_separator == ";"
    assert m.require_searchable is False


def test_load_mapping_json(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"id": "sku", "images": ["img1", "img2"], "attributes": None}))
    m = load_mapping(path)
    assert m.id == ("sku",)
    assert m.images == ("img1", "img2")
    assert m.attributes is None


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_load_mapping_unknown_key(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mapping{suffix}"
    path.write_text('colour = "x"\n' if suffix == ".toml" else '{"colour": "x"}')
    with pytest.raises(ValueError, match=r"unknown field mapping key 'colour'.*valid keys: id"):
        load_mapping(path)


def test_load_mapping_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        load_mapping(tmp_path / "missing.toml")
    bad_ext = tmp_path / "mapping.yaml"
    bad_ext.write_text("title: x")
    with pytest.raises(ValueError, match=r"allowed: \.toml, \.json"):
        load_mapping(bad_ext)
    broken = tmp_path / "mapping.toml"
    broken.write_text("title = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_mapping(broken)
    not_table = tmp_path / "mapping.json"
    not_table.write_text("[1, 2]")
    with pytest.raises(ValueError, match="table/object"):
        load_mapping(not_table)


def test_from_pairs() -> None:
    m = FieldMapping.from_pairs(
        [
            "title=productDisplayName",
            "images=img_col",
            "images=img_col2, img_col3",
            "category_from=a,b,c",
            "brand=",
            "rating_range=0,10",
            "require_searchable=false",
            "list_separator=;",
        ]
    )
    assert m.title == ("productDisplayName",)
    assert m.images == ("img_col", "img_col2", "img_col3")
    assert m.category_from == ("a", "b", "c")
    assert m.brand == ()
    assert m.rating_range == (0.0, 10.0)
    assert m.require_searchable is False
    assert m.list_separator == ";"
    assert m.description == FieldMapping().description  # untouched keys keep defaults


def test_from_pairs_on_top_of_a_base_mapping() -> None:
    base = FieldMapping(category_from=("a", "b"))
    m = FieldMapping.from_pairs(["title=t"], base=base)
    assert m.category_from == ("a", "b") and m.title == ("t",)


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        (["title"], "expects key=value"),
        (["=x"], "expects key=value"),
        (["titel=x"], "unknown field mapping key 'titel'; valid keys: id"),
        (["require_searchable=maybe"], "true or false"),
        (["list_separator=;", "list_separator=,"], "given twice"),
        (["rating_range=a,b"], "rating_range"),
    ],
)
def test_from_pairs_errors(pairs: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FieldMapping.from_pairs(pairs)
