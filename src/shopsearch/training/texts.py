"""Training texts made from product fields, with the rule that says which products they fit.

Every product yields its title, its description (when it has one) and *partial texts* made from
subsets of its facets ("Black Tshirts", "Men Casual Shirts", "Summer Sports Shoes for Women").
A partial text describes every product that shares the facet values it names, so each text
carries a constraint — facet -> value code, ``-1`` = any — and a text is a positive for every
product that satisfies it (multi-positive training). Nothing here reads evaluation queries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shopsearch.types import Product

FIELDS: tuple[str, ...] = (
    "id", "title", "article", "sub", "gender", "season", "usage", "colour",
)
"""Constraint fields, in column order of :attr:`TextBank.constraints`."""

_FACET_KEYS: dict[str, tuple[str, ...]] = {
    "gender": ("gender",),
    "season": ("season",),
    "usage": ("usage", "occasion"),
    "colour": ("base_colour", "colour", "color", "base_color"),
}
_CATEGORY_KEYS: dict[str, tuple[str, ...]] = {
    "article": ("article_type", "product_type", "type"),
    "sub": ("sub_category", "subcategory"),
}
_MODIFIERS: tuple[str, ...] = ("gender", "season", "usage", "colour")
_DESCRIPTION_WORDS = 40

TextKind = str  # "title" | "description" | "partial"


def product_facets(product: Product) -> dict[str, str]:
    """The facets training texts are made of: article/sub type, gender, season, usage, colour.

    The type comes from the category path (leaf = article, parent = sub) or, when the
    catalogue has no path, from attributes named like ``article_type``/``sub_category``.
    Missing facets are left out.
    """
    facets: dict[str, str] = {}
    attrs: dict[str, object] = {k.lower(): v for k, v in product.attributes.items()}
    cat = [c for c in product.category if c]
    if cat:
        facets["article"] = cat[-1]
        if len(cat) >= 2:
            facets["sub"] = cat[-2]
    for facet, keys in _CATEGORY_KEYS.items():
        if facet not in facets:
            value = _first_text(attrs, keys)
            if value:
                facets[facet] = value
    for facet, keys in _FACET_KEYS.items():
        value = _first_text(attrs, keys)
        if value:
            facets[facet] = value
    if facets.get("sub") == facets.get("article"):
        facets.pop("sub", None)
    return facets


def _first_text(attrs: dict[str, object], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def partial_texts(facets: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Every partial text of one product: (text, the facets it names).

    One product type (article or sub) plus any subset of gender/season/usage/colour, in the
    order a shopper types them ("Men Summer Casual Black Tshirts"); texts that name a gender
    also come in the "... for Men" form.
    """
    out: list[tuple[str, dict[str, str]]] = []
    present = [m for m in _MODIFIERS if m in facets]
    for type_facet in ("article", "sub"):
        if type_facet not in facets:
            continue
        noun = facets[type_facet]
        for r in range(len(present) + 1):
            for subset in itertools.combinations(present, r):
                named = {type_facet: noun, **{m: facets[m] for m in subset}}
                words = [facets[m] for m in ("season", "usage", "colour") if m in subset]
                body = " ".join([*words, noun])
                if "gender" in subset:
                    out.append((f"{facets['gender']} {body}", named))
                    out.append((f"{body} for {facets['gender']}", named))
                else:
                    out.append((body, named))
    return out


@dataclass
class TextBank:
    """All training texts of a catalogue and the codes to match them against products.

    ``texts``: unique strings. ``kinds``: one of title/description/partial per text.
    ``constraints``: int32 (n_texts, len(FIELDS)), value codes or -1 (any).
    ``product_codes``: int32 (n_products, len(FIELDS)), each product's own value codes.
    ``product_texts``: per product, int64 indices of the texts made from it (all positives).
    """

    texts: list[str]
    kinds: list[TextKind]
    constraints: np.ndarray
    product_codes: np.ndarray
    product_texts: list[np.ndarray]
    vocab: dict[str, dict[str, int]]

    def positives(self, product_idx: np.ndarray, text_idx: np.ndarray) -> np.ndarray:
        """bool (len(product_idx), len(text_idx)): does text j describe product i.

        One field at a time on (products, texts) planes, skipping fields no text constrains:
        the same answer as ``np.all((t < 0) | (t == p), axis=-1)`` over a (products, texts,
        fields) cube, several times faster (training asks this once per batch).
        """
        p = self.product_codes[product_idx]
        t = self.constraints[text_idx]
        out = np.ones((len(p), len(t)), dtype=bool)
        for col in range(t.shape[1]):
            want = t[:, col]
            named = want >= 0
            if named.any():
                out &= ~named[None, :] | (want[None, :] == p[:, col, None])
        return out


def build_text_bank(products: Sequence[Product]) -> TextBank:
    """Titles, descriptions and partial texts for ``products`` (deduplicated by string)."""
    vocab: dict[str, dict[str, int]] = {f: {} for f in FIELDS}

    def code(field: str, value: str) -> int:
        table = vocab[field]
        return table.setdefault(value, len(table))

    codes = np.full((len(products), len(FIELDS)), -1, dtype=np.int32)
    texts: list[str] = []
    kinds: list[TextKind] = []
    constraints: list[np.ndarray] = []
    index: dict[str, int] = {}
    product_texts: list[np.ndarray] = []

    def add(text: str, kind: TextKind, named: dict[str, str]) -> int:
        if text in index:
            return index[text]
        row = np.full(len(FIELDS), -1, dtype=np.int32)
        for field, value in named.items():
            row[FIELDS.index(field)] = code(field, value)
        index[text] = len(texts)
        texts.append(text)
        kinds.append(kind)
        constraints.append(row)
        return index[text]

    for i, product in enumerate(products):
        facets = product_facets(product)
        codes[i, FIELDS.index("id")] = code("id", product.id)
        title = " ".join(product.title.split())
        if title:
            codes[i, FIELDS.index("title")] = code("title", title)
        for field, value in facets.items():
            codes[i, FIELDS.index(field)] = code(field, value)
        own: list[int] = []
        if title:
            own.append(add(title, "title", {"title": title}))
        desc = " ".join(product.description.split()[:_DESCRIPTION_WORDS])
        if desc and desc != title:
            own.append(add(desc, "description", {"id": product.id}))
        for text, named in partial_texts(facets):
            own.append(add(text, "partial", named))
        product_texts.append(np.array(sorted(set(own)), dtype=np.int64))
    return TextBank(
        texts=texts,
        kinds=kinds,
        constraints=np.stack(constraints) if constraints else np.zeros((0, len(FIELDS)), np.int32),
        product_codes=codes,
        product_texts=product_texts,
        vocab=vocab,
    )
