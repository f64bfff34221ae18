"""Property-based tests (hypothesis): catalog loaders, the query parser and fusion take any
Unicode, any number and any JSON shape without crashing; bad input gives the documented error.

Example counts are bounded for CI (``SHOPSEARCH_HYPOTHESIS_EXAMPLES``, default 150 per
property); ``benchmarks/fuzz.py`` runs the same properties with many more.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.optional import need_module

# ruff: noqa: E402
# (the imports below the check need the dev extra: a missing one skips the module, or fails it
# when SHOPSEARCH_REQUIRE names the part; tests/optional.py)
hypothesis = need_module("dev", "hypothesis", module_level=True)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopsearch.catalog import CatalogError, load_catalog
from shopsearch.catalog.mapping import FieldMapping
from shopsearch.catalog.validate import validate_row
from shopsearch.preprocess.query import ParsedQuery, QueryParser
from shopsearch.retrieve.fusion import FUSION_METHODS, fuse, normalize_scores
from shopsearch.types import Product

EXAMPLES = int(os.environ.get("SHOPSEARCH_HYPOTHESIS_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

# -- strategies -----------------------------------------------------------------------------

# mixed scripts, emoji, combining marks, controls, surrogates are left out of str (not encodable)
WEIRD_CHARS = st.sampled_from(list("aZ9 \t\n\r\x00\x01\x1b\x7f\u0085\u00a0\u200b\u200d\u2028\u2029\ufeff\ufffd"
                                   "红色连衣裙男士元以下¥￥€$ـعربيةहिन्दीไทย한국어😀👗🏽‍♀️\u0301\u0336"
                                   "0123456789.-~<>=%+,;:'\"\\/{}[]"))
TEXT = st.one_of(st.text(max_size=60), st.text(WEIRD_CHARS, max_size=80),
                 st.builds(lambda s, n: s * n, st.text(WEIRD_CHARS, min_size=1, max_size=5),
                           st.integers(1, 3000)))
NUMBERS = st.one_of(st.integers(), st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0, 2 ** 63]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(TEXT, inner, max_size=5)), max_leaves=20)
KEYS = st.sampled_from(["id", "title", "name", "price", "brand", "category", "image", "images", "description",
                        "rating", "stock", "attributes", "extra", "gender", "base_colour", "currency", "url"])
ROWS = st.dictionaries(st.one_of(KEYS, TEXT), JSON_VALUES, max_size=8)


def _check_load(path: Path) -> None:
    """The documented contract: either CatalogError, or a CatalogLoad whose rows are accounted for."""
    try:
        loaded = load_catalog(path, check_images=False)
    except CatalogError:
        return
    assert loaded.n_rows == len(loaded.products) + loaded.n_rejected_rows
    for p in loaded.products:
        assert isinstance(p, Product) and p.id
        assert p.price is None or math.isfinite(p.price)
        json.dumps(p.to_dict(), ensure_ascii=False)  # what the index stores must serialise
    for r in loaded.rejects:
        assert r.field and r.reason


# -- catalog loaders --------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.one_of(ROWS, JSON_VALUES), max_size=6))
def test_jsonl_any_json_shapes(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        _check_load(path)


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([".jsonl", ".csv"]))
def test_catalog_any_bytes(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"c{suffix}"
        path.write_bytes(data)
        _check_load(path)


@SETTINGS
@given(st.sampled_from(["[" * 5000, "{\"a\":" * 5000, '{"id": 1' + "0" * 5000 + "}", '{"id": "x", "price": 1e999}',
                        '{"id": "x", "price": NaN}', '{"id": "x", "title": "\\ud800"}', '\ufeff{"id": "x"}']),
       st.integers(1, 3))
def test_jsonl_pathological_lines(line: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.jsonl"
        path.write_text((line + "\n") * n + '{"id": "ok", "title": "fine"}\n', encoding="utf-8")
        loaded = load_catalog(path, check_images=False)
        assert [p.id for p in loaded.products][-1:] == ["ok"]


@SETTINGS
@given(st.lists(st.text(WEIRD_CHARS, min_size=1, max_size=8), min_size=1, max_size=5, unique=True),
       st.lists(st.lists(st.one_of(TEXT, NUMBERS.map(str)), min_size=0, max_size=6), max_size=5))
def test_csv_any_cells(header: list[str], rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.csv"
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8", errors="surrogatepass")
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return
        _check_load(path)


@SETTINGS
@given(ROWS)
def test_validate_row_any_row(row: dict[str, Any]) -> None:
    outcome = validate_row(row, line=1, file="f", mapping=FieldMapping(), base_dir=Path("/nonexistent"))
    if not outcome.rejects:
        p = Product(**outcome.fields)
        json.dumps(p.to_dict(), ensure_ascii=False)
        assert p.price is None or math.isfinite(p.price)


@SETTINGS
@given(st.dictionaries(TEXT, JSON_VALUES, max_size=4))
def test_field_mapping_any_table(table: dict[str, Any]) -> None:
    with contextlib.suppress(ValueError, TypeError):  # the documented errors of a bad mapping
        FieldMapping.from_dict(table)


# -- query parser -------------------------------------------------------------------------------

_PARSER = None


def _parser() -> QueryParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = QueryParser({"base_colour": ["Red", "Black", "Navy Blue"], "gender": ["Men", "Women"],
                               "article_type": ["Tshirts", "Formal Shoes", "Handbags"], "brand": ["Nike", "李宁"]},
                              cheap_price=20.0, expensive_price=200.0)
    return _PARSER


@SETTINGS
@given(TEXT)
def test_query_parser_any_text(text: str) -> None:
    parsed = _parser().parse(text)
    assert isinstance(parsed, ParsedQuery) and parsed.original == text
    json.dumps(parsed.to_dict(), ensure_ascii=False, allow_nan=False)
    for c in parsed.constraints:
        c.as_filter()
        if c.op in ("le", "ge"):
            assert math.isfinite(c.value)  # type: ignore[arg-type]
        if c.op == "range":
            lo, hi = c.value  # type: ignore[misc]
            assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi


DIGITS = st.one_of(st.text("0123456789.", max_size=40), st.integers(300, 500).map(lambda n: "9" * n),
                  st.integers(1, 400).map(lambda n: "1" + "0" * n + ".5"))


@SETTINGS
@given(st.sampled_from(["under ", "between ", "from $", "低于", "", "over "]), DIGITS,
       st.sampled_from(["", " and ", "-", "元以下", " to 9"]), DIGITS)
def test_query_parser_huge_numbers(pre: str, a: str, mid: str, b: str) -> None:
    parsed = _parser().parse(f"red shoes {pre}{a}{mid}{b}")
    json.dumps(parsed.to_dict(), allow_nan=False)


# -- fusion ---------------------------------------------------------------------------------------

SCORES = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                            st.sampled_from([math.nan, math.inf, -math.inf, 3.4e38, -3.4e38, 0.0])),
                  max_size=30)


@st.composite
def rankings(draw: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in draw(st.lists(st.sampled_from(["text", "image", "joint", "lexical"]), unique=True, max_size=4)):
        scores = draw(SCORES)
        positions = draw(st.lists(st.integers(0, 40), min_size=len(scores), max_size=len(scores)))
        out[name] = (np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float32))
    return out


@SETTINGS
@given(rankings(), st.sampled_from(FUSION_METHODS),
       st.one_of(st.none(), st.dictionaries(st.sampled_from(["text", "image", "joint", "lexical"]),
                                            st.floats(allow_nan=True, allow_infinity=True))),
       st.one_of(st.integers(-5, 10 ** 6), st.just(60)))
def test_fusion_any_scores(rk: dict, method: str, weights: dict | None, rrf_k: int) -> None:
    try:
        fused = fuse(rk, method, weights, rrf_k=rrf_k)
    except ValueError as exc:  # the documented error: bad weights or rrf_k, named
        assert "weight" in str(exc) or "rrf_k" in str(exc) or "k " in str(exc), exc
        return
    ids = [p for p, _, _ in fused]
    assert len(ids) == len(set(ids))  # each document once
    assert set(ids) == {int(p) for pos, _ in rk.values() for p in pos}
    scores = [s for _, s, _ in fused]
    assert all(math.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert repr(fuse(rk, method, weights, rrf_k=rrf_k)) == repr(fused)  # deterministic


@SETTINGS
@given(SCORES, st.sampled_from(["minmax", "zscore", "dbsf"]))
def test_normalize_scores_finite(scores: list[float], method: str) -> None:
    out = normalize_scores(np.asarray(scores, dtype=np.float32), method)
    assert out.shape == (len(scores),)
    assert np.all(np.isfinite(out))


# -- image decoding and the update log on arbitrary bytes ---------------------------------------

def _image_bytes() -> st.SearchStrategy[bytes]:
    from PIL import Image

    def encode(fmt: str, w: int, h: int, cut: int, flip: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (w % 255, h % 255, 9)).save(buf, fmt)
        data = bytearray(buf.getvalue())
        if flip and len(data) > 20:
            data[flip % len(data)] ^= 0xFF
        return bytes(data[: len(data) - cut % max(1, len(data))] if cut else data)

    return st.one_of(st.binary(max_size=300),
                     st.builds(encode, st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM"]),
                               st.integers(1, 64), st.integers(1, 64), st.integers(0, 200), st.integers(0, 400)))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt files it is fed
@SETTINGS
@given(_image_bytes())
def test_load_image_any_bytes(data: bytes) -> None:
    from shopsearch.preprocess.image import ImageError, load_image

    try:
        img = load_image(data, max_pixels=10_000, max_bytes=100_000)
    except ImageError:
        return
    assert img.mode == "RGB" and img.width * img.height <= 10_000


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=40), JSON_VALUES.map(lambda v: json.dumps(v).encode())), max_size=6),
       st.booleans())
def test_wal_prefix_any_bytes(lines: list[bytes], newline_at_end: bool) -> None:
    from shopsearch.index.wal import WalCorruptError, complete_prefix

    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    try:
        prefix, records = complete_prefix(data)
    except WalCorruptError:
        return
    assert data.startswith(prefix) and prefix.count(b"\n") == len(records)
    assert all(isinstance(r, dict) for r in records)
    assert b"\n" not in data[len(prefix):]  # only an unterminated tail is left out
