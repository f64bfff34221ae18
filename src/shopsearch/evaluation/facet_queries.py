"""Query files whose relevance is stated as facet values, resolved against a catalogue.

One JSON object per line (the natural-wording sets in ``benchmarks/queries/``)::

    {"qid": "nen_001", "query": "red t shirt", "match": {"base_colour": ["Red"], "article_type": ["Tshirts"]}}
    {"qid": "ben_004", "query": "puma tees for men", "brand": ["Puma"], "match": {...}}

A product is relevant when, for every field in ``match``, its value (an attribute, or the
product field of that name) is one of the listed values, and, when ``brand`` is given, its
title starts with one of the brand spellings (case-insensitive, whole words). Relevance is
resolved against whichever product list is searched, so the same file scores a full
catalogue or a held-out part of it. Other keys (``phenomena``...) are kept in ``meta``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shopsearch.evaluation.queries import EvalQuery, QueryFileError
from shopsearch.jsonl import read_jsonl
from shopsearch.types import Product


def _value(product: Product, fld: str) -> Any:
    if fld in product.attributes:
        return product.attributes[fld]
    return getattr(product, fld, None)


def relevant_ids(products: Sequence[Product], match: dict[str, list[str]], brands: Sequence[str] = ()) -> list[str]:
    """Ids of the ``products`` that satisfy ``match`` (and start their title with a brand)."""
    brand_re = None
    if brands:
        alts = "|".join(re.escape(b.casefold()) for b in brands)
        brand_re = re.compile(rf"^(?:{alts})(?![0-9a-z])")
    out = []
    for p in products:
        if all(_value(p, f) in wanted for f, wanted in match.items()) and (
                brand_re is None or brand_re.match(p.title.casefold())):
            out.append(p.id)
    return out


def load_facet_queries(path: str | Path, products: Sequence[Product], *, min_relevant: int = 1) -> list[EvalQuery]:
    """The queries of ``path`` with relevance resolved over ``products``; queries with fewer
    than ``min_relevant`` relevant products among them are left out."""
    path = Path(path)
    out: list[EvalQuery] = []
    errors: list[str] = []
    for line in read_jsonl(path):
        lineno = line.lineno
        if line.error is not None:
            errors.append(f"{path}:{lineno}: {line.error}")
            continue
        try:
            row = line.value
            match = {str(k): list(v) for k, v in row["match"].items()}
            brands = row.get("brand") or []
            brands = [brands] if isinstance(brands, str) else list(brands)
            qid, text = str(row["qid"]), str(row["query"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            errors.append(f"{path}:{lineno}: {exc!r}")
            continue
        rel = relevant_ids(products, match, brands)
        if len(rel) >= min_relevant:
            meta = {k: v for k, v in row.items() if k not in ("qid", "query")}
            out.append(EvalQuery(qid=qid, relevant=tuple(rel), text=text, meta=meta))
    if errors:
        raise QueryFileError(str(path), errors)
    return out
