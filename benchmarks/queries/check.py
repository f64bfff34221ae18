"""Validate the hand-written natural-wording query sets in this folder and print counts.

Usage:  python benchmarks/queries/check.py [-v]

Data: ``$SHOPSEARCH_DATA`` (the folder holding ``fashion/``), default ``../shared/data``
relative to the repository root. Exit status 1 when any check fails.

Checks, per line of every file:
  * JSON object with ``qid``, ``query``, ``match``, ``phenomena`` (and optional ``brand``);
  * ``qid`` unique over all files and carrying the file's prefix;
  * ``match`` fields are facet fields and every listed value exists in the catalogue;
  * ``brand`` (string or list) occurs at the start of >= 20 catalogue titles, and only
    in the brand files or the validation files;
  * ``phenomena`` tags come from the vocabulary below;
  * at least 3 relevant products (relevance rule below);
  * English files hold no CJK characters, Chinese files at least one;
  * no query string equals a catalogue title or a facet-value phrase built from one
    product's facets ("Black Tshirts for Men", "Men Casual Shoes", "Jeans", ...);
  * no query string (case-folded, whitespace removed) appears twice, in particular
    never both in a test file and in a validation file.

Relevance: a product is relevant when, for every field in ``match``, its value is one of
the listed values, and, when ``brand`` is given, its title starts with (one of) the brand
string(s), case-insensitively, followed by a non-alphanumeric character or the end.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import itertools
import json
import os
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA_ENV = "SHOPSEARCH_DATA"

FILES = {
    # name: (prefix, language, split, brand_allowed)
    "natural_en.jsonl": ("nen_", "en", "test", False),
    "natural_zh.jsonl": ("nzh_", "zh", "test", False),
    "brand_en.jsonl": ("ben_", "en", "test", True),
    "brand_zh.jsonl": ("bzh_", "zh", "test", True),
    "validation_en.jsonl": ("ven_", "en", "validation", True),
    "validation_zh.jsonl": ("vzh_", "zh", "validation", True),
    "validation2_zh.jsonl": ("v2zh_", "zh", "validation", True),
    "validation3_zh.jsonl": ("v3zh_", "zh", "validation", True),
}
MIN_COUNTS = {
    "natural_en.jsonl": 320,
    "natural_zh.jsonl": 160,
    "brand_en.jsonl": 60,
    "brand_zh.jsonl": 60,
    "validation_en.jsonl": 100,
    "validation_zh.jsonl": 50,
    "validation2_zh.jsonl": 100,
    "validation3_zh.jsonl": 150,
}
FIELDS = ("gender", "master_category", "sub_category", "article_type", "base_colour", "season", "usage")
PHENOMENA = {
    # wording
    "synonym",
    "slang",
    "us_english",
    "uk_english",
    "indian_english",
    "split_compound",
    "hyphenated",
    "joined",
    "plural",
    "singular",
    "typo",
    "word_order",
    "casing",
    "possessive",
    "abbreviation",
    # what the query asks for
    "gender_phrase",
    "kids",
    "occasion",
    "weather",
    "material_word",
    "style_word",
    "colour_shade",
    "subtype",
    "broad_type",
    "catalogue_gap",
    "brand",
    "plain",
    # Chinese
    "zh_brand",
    "mixed_script",
    "zh_spacing",
    "zh_colloquial",
    "zh_synonym",
}
MIN_RELEVANT = 3
MIN_BRAND_TITLES = 20
CJK = re.compile(r"[\u3400-\u9fff]")


def data_dir() -> Path:
    env = os.environ.get(DATA_ENV)
    path = Path(env).expanduser() if env else ROOT.parent / "shared" / "data"
    products = path / "fashion" / "products.jsonl"
    if not products.is_file():
        how = f"${DATA_ENV}={env}" if env else f"the default {path} (set ${DATA_ENV} to override)"
        sys.exit(f"error: fashion catalogue not found: {products} does not exist ({how})")
    return path


def norm(text: str) -> str:
    """Case-folded, whitespace-collapsed form used for title / facet-phrase equality."""
    return " ".join(text.casefold().split())


def squash(text: str) -> str:
    """Case-folded, all whitespace removed: the key for duplicate detection across files."""
    return "".join(text.casefold().split())


def brand_re(brands: list[str]) -> re.Pattern:
    alts = "|".join(re.escape(b.casefold()) for b in brands)
    return re.compile(rf"^(?:{alts})(?![0-9a-z])")


def facet_phrases(rows: list[dict]) -> set[str]:
    """Phrases a generator builds from one product's facet values: every single value, and
    the shapes of the project's attribute-combination queries (``queries_dev.jsonl``) and
    close variants ("Black Tshirts for Men", "Men Casual Shoes", "Summer Casual Tshirts")."""
    out: set[str] = set()
    for r in rows:
        g, a, s = r["gender"], r["article_type"], r["sub_category"]
        c, se, u = r["base_colour"] or "", r["season"] or "", r["usage"] or ""
        for f in FIELDS:
            if r.get(f):
                out.add(norm(r[f]))
        out.update(
            norm(p)
            for p in (
                f"{c} {a}",
                f"{g} {c} {a}",
                f"{a} for {g}",
                f"{c} {a} for {g}",
                f"{g} {a}",
                f"{se} {u} {a}",
                f"{u} {a}",
                f"{se} {a}",
                f"{u} {a} for {g}",
                f"{g} {u} {a}",
                f"{c} {a} {g}",
                f"{a} {g}",
                f"{c} {s}",
            )
        )
    return out


def zh_facet_phrases(rows: list[dict]) -> tuple[set[str], str]:
    """The Chinese counterparts: the same shapes rendered through the project's benchmark
    translation table ``benchmarks/_zh_queries.py`` (gender, season, usage, colour, type, joined
    without spaces), so a natural Chinese query never equals a templated one. Skipped, with a
    note, when that file is absent."""
    path = ROOT / "benchmarks" / "_zh_queries.py"
    if not path.is_file():
        return set(), f"note: {path} not found; Chinese facet-phrase check skipped"
    spec = importlib.util.spec_from_file_location("_zh_queries_for_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    table, order = mod.ZH, mod.ORDER
    shapes = [
        ("article_type",),
        ("sub_category",),
        ("gender",),
        ("base_colour",),
        ("usage",),
        ("season",),
        ("base_colour", "article_type"),
        ("gender", "article_type"),
        ("gender", "base_colour", "article_type"),
        ("usage", "article_type"),
        ("season", "article_type"),
        ("season", "usage", "article_type"),
        ("gender", "usage", "article_type"),
        ("base_colour", "sub_category"),
        ("gender", "sub_category"),
        ("gender", "season", "usage", "article_type"),
    ]
    out: set[str] = set()
    for r in rows:
        for shape in shapes:
            parts = [table.get(f, {}).get(r.get(f)) for f in order if f in shape]
            if parts and all(parts):
                out.add(squash("".join(parts)))
    return out, f"Chinese facet phrases from {path.relative_to(ROOT)}: {len(out)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="list every query with its relevant count")
    args = ap.parse_args()

    products = data_dir() / "fashion" / "products.jsonl"
    rows = [json.loads(line) for line in products.open(encoding="utf-8") if line.strip()]
    values = {f: {r[f] for r in rows if r.get(f) is not None} for f in FIELDS}
    titles = {norm(r["title"]) for r in rows}
    phrases = facet_phrases(rows)
    folded_titles = [r["title"].casefold() for r in rows]
    zh_phrases, zh_note = zh_facet_phrases(rows)

    errors: list[str] = []
    seen_qid: dict[str, str] = {}
    seen_query: dict[str, tuple[str, str]] = {}
    per_file: dict[str, list[tuple[dict, int]]] = {}

    for name, (prefix, lang, split, brand_ok) in FILES.items():
        path = HERE / name
        if not path.is_file():
            errors.append(f"{name}: missing")
            continue
        items: list[tuple[dict, int]] = []
        for lineno, line in enumerate(path.open(encoding="utf-8"), 1):
            where = f"{name}:{lineno}"
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: bad JSON ({exc})")
                continue
            extra = set(q) - {"qid", "query", "match", "phenomena", "brand"}
            missing = {"qid", "query", "match", "phenomena"} - set(q)
            if extra or missing:
                errors.append(f"{where}: keys missing {sorted(missing)} / unexpected {sorted(extra)}")
                continue
            qid, text, match, tags = q["qid"], q["query"], q["match"], q["phenomena"]
            where = f"{name}:{lineno} {qid} {text!r}"
            if not (isinstance(qid, str) and qid.startswith(prefix)):
                errors.append(f"{where}: qid must start with {prefix}")
            if qid in seen_qid:
                errors.append(f"{where}: qid also in {seen_qid[qid]}")
            seen_qid[qid] = name
            if not (isinstance(text, str) and text.strip() and text == text.strip()):
                errors.append(f"{where}: query must be a non-empty string without outer spaces")
                continue
            has_cjk = bool(CJK.search(text))
            if lang == "en" and has_cjk:
                errors.append(f"{where}: CJK characters in an English file")
            if lang == "zh" and not has_cjk:
                errors.append(f"{where}: no Chinese characters in a Chinese file")
            if norm(text) in titles:
                errors.append(f"{where}: equals a catalogue title")
            if norm(text) in phrases:
                errors.append(f"{where}: equals a facet-value phrase")
            if lang == "zh" and squash(text) in zh_phrases:
                errors.append(f"{where}: equals a templated Chinese facet phrase (benchmarks/_zh_queries.py)")
            key = squash(text)
            if key in seen_query:
                other, other_split = seen_query[key]
                kind = "test and validation" if other_split != split else "twice"
                errors.append(f"{where}: same string {kind} (also in {other})")
            seen_query[key] = (name, split)
            if not (isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags)):
                errors.append(f"{where}: phenomena must be a non-empty list of strings")
                continue
            unknown = [t for t in tags if t not in PHENOMENA]
            if unknown:
                errors.append(f"{where}: phenomena not in the vocabulary: {unknown}")
            if len(set(tags)) != len(tags):
                errors.append(f"{where}: repeated phenomenon tag")
            if not (isinstance(match, dict) and match):
                errors.append(f"{where}: match must be a non-empty object")
                continue
            bad = False
            for f, vals in match.items():
                if f not in FIELDS:
                    errors.append(f"{where}: unknown match field {f!r}")
                    bad = True
                    continue
                if not (isinstance(vals, list) and vals and len(set(vals)) == len(vals)):
                    errors.append(f"{where}: match[{f!r}] must be a non-empty list without repeats")
                    bad = True
                    continue
                for v in vals:
                    if v not in values[f]:
                        errors.append(f"{where}: {f}={v!r} is not a catalogue value")
                        bad = True
            brands = q.get("brand")
            rx = None
            if brands is not None:
                if not brand_ok:
                    errors.append(f"{where}: brand only belongs in brand_* or validation_* files")
                brands = [brands] if isinstance(brands, str) else brands
                if not (isinstance(brands, list) and brands and all(isinstance(b, str) and b for b in brands)):
                    errors.append(f"{where}: brand must be a string or a list of strings")
                    bad = True
                else:
                    rx = brand_re(brands)
                    n_titles = sum(1 for t in folded_titles if rx.match(t))
                    if n_titles < MIN_BRAND_TITLES:
                        errors.append(f"{where}: brand {brands} starts only {n_titles} titles (< {MIN_BRAND_TITLES})")
                    if "brand" not in tags and "zh_brand" not in tags:
                        errors.append(f"{where}: brand query without a brand/zh_brand tag")
            elif name.startswith("brand_"):
                errors.append(f"{where}: brand file line without brand")
            if bad:
                continue
            n = sum(
                1
                for r, t in zip(rows, folded_titles)
                if all(r.get(f) in vals for f, vals in match.items()) and (rx is None or rx.match(t))
            )
            if n < MIN_RELEVANT:
                errors.append(f"{where}: only {n} relevant products (< {MIN_RELEVANT})")
            items.append((q, n))
        per_file[name] = items

    print(f"catalogue: {products} ({len(rows)} products)")
    print(zh_note + "\n")
    print(f"{'file':<22}{'queries':>8}{'brand':>7}{'min rel':>9}{'median':>8}{'max':>7}")
    for name, items in per_file.items():
        counts = [n for _, n in items]
        nb = sum(1 for q, _ in items if "brand" in q)
        if counts:
            print(f"{name:<22}{len(items):>8}{nb:>7}{min(counts):>9}{statistics.median(counts):>8g}{max(counts):>7}")
        if len(items) < MIN_COUNTS[name]:
            errors.append(f"{name}: {len(items)} queries (< {MIN_COUNTS[name]})")
    print("\nphenomena (queries tagged) per file:")
    tag_counts = {
        name: collections.Counter(t for q, _ in items for t in q["phenomena"]) for name, items in per_file.items()
    }
    all_tags = sorted(set(itertools.chain.from_iterable(tag_counts.values())))
    short = [n.split(".")[0] for n in per_file]
    print(f"{'tag':<16}" + "".join(f"{s:>15}" for s in short))
    for t in all_tags:
        print(f"{t:<16}" + "".join(f"{tag_counts[n][t]:>15}" for n in per_file))
    print("\nmatch fields used per file:")
    print(f"{'field':<16}" + "".join(f"{s:>15}" for s in short))
    for f in FIELDS:
        print(f"{f:<16}" + "".join(f"{sum(1 for q, _ in per_file[n] if f in q['match']):>15}" for n in per_file))
    if args.verbose:
        for name, items in per_file.items():
            print(f"\n== {name}")
            for q, n in items:
                print(f"{q['qid']:<9}{n:>5}  {q['query']}")
    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
