"""Training texts in shoppers' wording: partial texts rewritten the way people type.

A partial text names facet values in catalogue words ("Men Casual Black Tshirts"); its shopper
variant says the same with the English shopper lexicon read backwards ("black tee for guys",
"everyday tshirt mens black"): each catalogue term becomes one of the phrases that mean it,
modifiers change order, most variants are lower case, "for" comes and goes, and a few carry a
typo. The variant keeps its text's constraint (it describes the same products), so the
multi-positive loss is unchanged. Nothing here reads evaluation queries: the phrases come from
the lexicon, the facet values from the catalogue.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from shopsearch.preprocess.shopper import ShopperLexicon
from shopsearch.training.texts import FIELDS, TextBank

_KINDS = {"product": ("article", "sub"), "colour": ("colour",), "gender": ("gender",), "usage": ("usage",),
          "season": ("season",)}


def phrases_by_term(lexicon: ShopperLexicon) -> dict[tuple[str, str], list[str]]:
    """(facet, catalogue term in lower case) -> the shopper phrases whose first meaning it is
    ("sneakers" says Casual Shoes; "smart casual" does not say Casual)."""
    out: dict[tuple[str, str], list[str]] = {}
    for entry in lexicon.entries:
        if not entry.terms:
            continue
        for facet in _KINDS.get(entry.kind, ()):
            out.setdefault((facet, entry.terms[0].lower()), []).append(entry.phrase)
    return out


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:  # a dropped letter
        return word[:i] + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # two letters swapped


def shopper_variant(named: dict[str, str], phrases: dict[tuple[str, str], list[str]], rng: random.Random,
                    typo_prob: float = 0.15) -> str:
    """One shopper-worded text for the facet values ``named`` (facet -> catalogue value)."""
    def say(facet: str, value: str) -> str:
        options = phrases.get((facet, value.lower()), [])
        return rng.choice(options) if options and rng.random() < 0.75 else value

    noun_facet = "article" if "article" in named else "sub"
    modifiers = [say(f, named[f]) for f in ("colour", "usage", "season") if f in named]
    rng.shuffle(modifiers)
    words = [*modifiers, say(noun_facet, named[noun_facet])]
    if "gender" in named:
        who = say("gender", named["gender"])
        if who.lower() in {"men", "women", "boys", "girls", "unisex"} and rng.random() < 0.5:
            who = f"for {who}"
        if rng.random() < 0.5 and not who.startswith("for "):
            words.insert(0, who)
        else:
            words.append(who)
    text = " ".join(words)
    if rng.random() < 0.7:
        text = text.lower()
    if rng.random() < typo_prob:
        parts = text.split()
        k = rng.randrange(len(parts))
        parts[k] = _typo(parts[k], rng)
        text = " ".join(parts)
    return text


def add_shopper_variants(bank: TextBank, lexicon: ShopperLexicon, seed: int, share: float = 1 / 3,
                         offset: int = 0) -> tuple[list[str], np.ndarray]:
    """Shopper-worded variants of a seeded ``share`` of the partial texts: (new texts, index of
    each bank text's variant or -1). Variant ``k`` gets text index ``offset + k`` (``offset``:
    how many texts come before them, bank texts and other variants)."""
    rng = random.Random(seed + 7919)
    phrases = phrases_by_term(lexicon)
    decode = {f: {code: value for value, code in bank.vocab[f].items()} for f in FIELDS}
    extra: list[str] = []
    alt = np.full(len(bank.texts), -1, dtype=np.int64)
    columns: Sequence[str] = FIELDS
    for j, (text, kind) in enumerate(zip(bank.texts, bank.kinds)):
        if kind != "partial" or rng.random() >= share:
            continue
        row = bank.constraints[j]
        named = {f: decode[f][int(row[c])] for c, f in enumerate(columns)
                 if row[c] >= 0 and f in ("article", "sub", "gender", "season", "usage", "colour")}
        if "article" not in named and "sub" not in named:
            continue
        variant = shopper_variant(named, phrases, rng)
        if variant != text:
            alt[j] = offset + len(extra)
            extra.append(variant)
    return extra, alt
