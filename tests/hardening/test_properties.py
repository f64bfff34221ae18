"""Property-based tests (hypothesis): catalog loaders, the query parser and fusion take any
Unicode, any number and any JSON shape; bad input gives the documented error, and what comes
out keeps its contract: every row accounted for, products that survive their own serialisation,
mappings that round-trip, parsed constraints that name the vocabulary and the numbers written,
fused lists without duplicates in score order, normalised scores in the same order.

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
import re
import tempfile
import unicodedata
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


def _check_product(p: Product) -> None:
    """What the index stores survives its own serialisation: the JSON of ``to_dict`` read back
    with ``from_dict`` is the same product (compared as JSON text: NaN in free-form extras
    never equals itself)."""
    assert isinstance(p, Product) and p.id.strip()
    assert p.price is None or (math.isfinite(p.price) and p.price >= 0)
    text = json.dumps(p.to_dict(), ensure_ascii=False, sort_keys=True)
    again = Product.from_dict(json.loads(text))
    assert json.dumps(again.to_dict(), ensure_ascii=False, sort_keys=True) == text


def _check_load(path: Path) -> None:
    """The documented contract: either CatalogError, or a CatalogLoad whose rows are accounted
    for, with unique ids, each product intact through its serialisation."""
    try:
        loaded = load_catalog(path, check_images=False)
    except CatalogError as exc:
        assert str(exc)
        return
    assert loaded.n_rows == len(loaded.products) + loaded.n_rejected_rows
    ids = [p.id for p in loaded.products]
    assert len(ids) == len(set(ids))  # a duplicate id is a reject, never a second product
    for p in loaded.products:
        _check_product(p)
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
    if outcome.rejects:
        assert all(r.field and r.reason and r.line == 1 for r in outcome.rejects)
        return
    _check_product(Product(**outcome.fields))


MAPPING_VALUES = st.one_of(TEXT, st.lists(TEXT, max_size=3), st.booleans(), st.lists(NUMBERS, min_size=2, max_size=2),
                           JSON_VALUES)


@SETTINGS
@given(st.dictionaries(st.one_of(st.sampled_from(FieldMapping.keys()), TEXT), MAPPING_VALUES, max_size=5))
def test_field_mapping_any_table_round_trips(table: dict[str, Any]) -> None:
    """A table is refused with the documented error (an unknown key always by name), or gives a
    mapping that its own ``to_dict`` (also through JSON) turns back into an equal mapping."""
    valid = set(FieldMapping.keys())
    unknown = [k for k in table if k not in valid]
    try:
        mapping = FieldMapping.from_dict(table)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        if unknown:
            assert isinstance(exc, ValueError) and "valid keys" in str(exc) and repr(sorted(unknown)[0]) in str(exc)
        return
    assert not unknown
    assert FieldMapping.from_dict(mapping.to_dict()) == mapping
    assert FieldMapping.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping


# -- query parser -------------------------------------------------------------------------------

_PARSER = None
VOCABULARY = {"base_colour": ["Red", "Black", "Navy Blue"], "gender": ["Men", "Women"],
              "article_type": ["Tshirts", "Formal Shoes", "Handbags"], "brand": ["Nike", "李宁"]}
CHEAP, EXPENSIVE = 20.0, 200.0


def _parser() -> QueryParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = QueryParser(VOCABULARY, cheap_price=CHEAP, expensive_price=EXPENSIVE)
    return _PARSER


def _numbers_in(text: str) -> set[float]:
    """Every number written in ``text`` (after NFKC, as the parser reads it), starting at any
    digit: "10.5.3" holds 10.5, 0.5, 5.3 and 3."""
    out = set()
    for s in re.findall(r"(?=(\d+(?:\.\d+)?))", unicodedata.normalize("NFKC", text)):
        with contextlib.suppress(ValueError, OverflowError):
            out.add(float(s))
    return out


def _check_parse(text: str) -> ParsedQuery:
    """The parser's contract on any text: deterministic and JSON-ready; an attribute constraint
    names catalogue values of its fields (``value`` is the first); a price bound is finite,
    >= 0, ordered, and one of the numbers written or the cheap/expensive price."""
    parsed = _parser().parse(text)
    assert isinstance(parsed, ParsedQuery) and parsed.original == text
    assert _parser().parse(text).to_dict() == parsed.to_dict()
    json.dumps(parsed.to_dict(), ensure_ascii=False, allow_nan=False)
    for c in parsed.constraints:
        assert c.as_filter()
        if c.op in ("eq", "ne"):
            assert c.values and len(c.values) == len(c.fields) and c.value == c.values[0]
            assert all(v in VOCABULARY[f] for f, v in zip(c.fields, c.values)), c
            continue
        bounds = c.value if isinstance(c.value, tuple) else (c.value,)
        assert c.fields == ("price",) and len(bounds) == (2 if c.op == "range" else 1), c
        assert all(isinstance(b, float) and math.isfinite(b) and b >= 0 for b in bounds), c
        assert bounds == tuple(sorted(bounds)), c
        assert set(bounds) <= _numbers_in(text) | {CHEAP, EXPENSIVE}, c
    return parsed


@SETTINGS
@given(TEXT)
def test_query_parser_any_text(text: str) -> None:
    _check_parse(text)


DIGITS = st.one_of(st.text("0123456789.", max_size=40), st.integers(300, 500).map(lambda n: "9" * n),
                  st.integers(1, 400).map(lambda n: "1" + "0" * n + ".5"))


@SETTINGS
@given(st.sampled_from(["under ", "between ", "from $", "低于", "", "over "]), DIGITS,
       st.sampled_from(["", " and ", "-", "元以下", " to 9"]), DIGITS)
def test_query_parser_huge_numbers(pre: str, a: str, mid: str, b: str) -> None:
    parsed = _check_parse(f"red shoes {pre}{a}{mid}{b}")
    assert ("base_colour", "eq", "Red") in {(c.fields[0], c.op, c.value) for c in parsed.constraints}


QUERY_WORDS = st.lists(st.sampled_from(["red ", "nike ", "under ", "50 ", "men ", "not ", "tshirt ", "cheap ",
                                        "between ", "and ", "9 ", "navy blue ", "handbags ", "李宁", "低于", "元",
                                        "-", "3.5 ", "over ", "women ", "formal shoes ", "black "]),
                       max_size=12).map("".join)


@SETTINGS
@given(QUERY_WORDS)
def test_query_parser_shopper_words(text: str) -> None:
    """The same contract on queries made of the vocabulary and price words (where constraints
    are found, unlike in random text)."""
    _check_parse(text)


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
def test_normalize_scores_finite_and_order_preserving(scores: list[float], method: str) -> None:
    """Finite, in [0, 1] for minmax and dbsf, and in the order of the input: NaN and -inf rank
    as the lowest finite score, +inf as the highest (the documented convention)."""
    raw = np.asarray(scores, dtype=np.float32)
    out = normalize_scores(raw, method)
    assert out.shape == (len(scores),)
    assert np.all(np.isfinite(out))
    if method in ("minmax", "dbsf"):
        assert np.all((out >= 0) & (out <= 1))
    finite = np.isfinite(raw)
    if not finite.any():
        return
    key = np.where(np.isnan(raw), -np.inf, raw.astype(np.float64))
    key = np.clip(key, raw[finite].min(), raw[finite].max())
    order = np.argsort(key, kind="stable")
    assert np.all(np.diff(out[order]) >= -1e-12)  # a higher score never normalises lower
    for i, j in zip(*np.nonzero(key[:, None] == key[None, :])):
        assert out[i] == out[j]  # equal scores, equal normalised scores


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
