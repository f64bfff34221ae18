"""Catalog facts for the shopper simulator: attributes, and business facts real or drawn.

SIMULATION: a product's real ``price``, ``rating`` and ``stock`` are used when the catalog has
them; otherwise they are drawn and the product is marked simulated: price ~ LogNormal(log(median
of its article type, :data:`PRICE_MEDIANS`, default 40), 0.45); rating = 1 + 4 * Beta(6, 2) (mean
4.0); stock = 0 (out of stock) with probability ``p_out_of_stock``, else 1 + Poisson(20); listed
``age`` ~ Exponential(mean 120 days). A hidden per-product ``appeal`` ~ Normal(0, 1) stands for
everything the attributes miss. Price bands are the tertiles of price within an article type
(0 cheap, 1 mid, 2 premium).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from shopsearch.types import Product

__all__ = ["DEFAULT_PRICE_MEDIAN", "PRICE_MEDIANS", "SimCatalog", "seeded_rng"]

PRICE_MEDIANS: dict[str, float] = {
    "Tshirts": 18, "Shirts": 30, "Tops": 22, "Kurtas": 28, "Kurtis": 25, "Dresses": 45, "Skirts": 30,
    "Jeans": 45, "Trousers": 38, "Shorts": 20, "Track Pants": 28, "Capris": 22, "Sweaters": 40,
    "Sweatshirts": 35, "Jackets": 70, "Casual Shoes": 55, "Sports Shoes": 70, "Formal Shoes": 80,
    "Heels": 50, "Flats": 30, "Sandals": 30, "Flip Flops": 12, "Watches": 110, "Handbags": 60,
    "Backpacks": 45, "Wallets": 25, "Belts": 20, "Sunglasses": 45, "Socks": 6, "Briefs": 8,
    "Innerwear Vests": 8, "Trunk": 9, "Caps": 14, "Ties": 18, "Mufflers": 16, "Scarves": 16,
    "Clutches": 40, "Laptop Bag": 55, "Perfume and Body Mist": 35, "Accessory Gift Set": 40,
}
DEFAULT_PRICE_MEDIAN = 40.0
SECONDS_PER_DAY = 86400.0


def seeded_rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded from ``parts`` (strings through CRC32, so stable across processes)."""
    ints = [p if isinstance(p, int) else zlib.crc32(p.encode("utf-8")) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(ints))


class SimCatalog:
    """Per-product attributes and business facts (real where the catalog has them, else drawn)."""

    def __init__(self, products: Sequence[Product], seed: int = 0, p_out_of_stock: float = 0.08) -> None:
        if not products:
            raise ValueError("SimCatalog needs at least one product")
        self.products = list(products)
        self.ids = [p.id for p in products]
        self.pos = {pid: i for i, pid in enumerate(self.ids)}
        n = len(products)
        rng = seeded_rng(seed, "catalog")

        def attr(p: Product, name: str) -> str:
            value = p.attributes.get(name)
            return str(value) if value is not None else ""

        self.article_type = np.array([attr(p, "article_type") or (p.category[-1] if p.category else "")
                                      for p in products], dtype=object)
        self.colour = np.array([attr(p, "base_colour") or attr(p, "colour") or attr(p, "color") for p in products],
                               dtype=object)
        self.gender = np.array([attr(p, "gender") for p in products], dtype=object)
        self.usage = np.array([attr(p, "usage") for p in products], dtype=object)
        self.brand = np.array([(p.brand or (p.title.split()[0] if p.title.split() else "")).lower()
                               for p in products], dtype=object)
        draws_price = np.exp(rng.normal(0.0, 0.45, n))
        draws_rating = 1.0 + 4.0 * rng.beta(6.0, 2.0, n)
        draws_out = rng.random(n) < p_out_of_stock
        draws_stock = 1 + rng.poisson(20.0, n)
        draws_age = rng.exponential(120.0, n)
        self.appeal = rng.normal(0.0, 1.0, n)
        self.price = np.array([p.price if p.price is not None else
                               round(PRICE_MEDIANS.get(str(t), DEFAULT_PRICE_MEDIAN) * d, 2)
                               for p, t, d in zip(products, self.article_type, draws_price)], dtype=np.float64)
        self.rating = np.array([p.rating if p.rating is not None else round(float(r), 1)
                                for p, r in zip(products, draws_rating)], dtype=np.float64)
        self.stock = np.array([p.stock if p.stock is not None else (0 if o else int(s))
                               for p, o, s in zip(products, draws_out, draws_stock)], dtype=np.int64)
        self.age_days = draws_age
        self.simulated = {
            "price": sum(p.price is None for p in products), "rating": sum(p.rating is None for p in products),
            "stock": sum(p.stock is None for p in products), "created_at": n,
        }
        self.band = np.zeros(n, dtype=np.int64)
        for t in set(self.article_type.tolist()):
            idx = np.flatnonzero(self.article_type == t)
            lo, hi = np.quantile(self.price[idx], [1 / 3, 2 / 3])
            self.band[idx] = (self.price[idx] > lo).astype(int) + (self.price[idx] > hi).astype(int)
        self.colours = sorted({c for c in self.colour.tolist() if c})
        self.usages = sorted({u for u in self.usage.tolist() if u})
        self.types = sorted({t for t in self.article_type.tolist() if t})
        self.colour_idx = np.array([self.colours.index(c) if c else -1 for c in self.colour], dtype=np.int64)
        self.usage_idx = np.array([self.usages.index(u) if u else -1 for u in self.usage], dtype=np.int64)
        self.top_brands = [b for b, _ in Counter(b for b in self.brand.tolist() if b).most_common(30)]

    def __len__(self) -> int:
        return len(self.ids)

    def with_facts(self, now: float) -> list[Product]:
        """The products with the (drawn or real) price, rating and stock filled in, and
        ``extra["created_at"]`` (unix seconds: ``now - age``) and ``extra["simulated"]`` naming the
        fields that were drawn rather than taken from the catalog."""
        out = []
        for i, p in enumerate(self.products):
            drawn = [f for f, missing in (("price", p.price is None), ("rating", p.rating is None),
                                          ("stock", p.stock is None)) if missing] + ["created_at"]
            extra = dict(p.extra)
            extra["created_at"] = float(now - self.age_days[i] * SECONDS_PER_DAY)
            extra["simulated"] = drawn
            out.append(replace(p, price=float(self.price[i]), rating=float(self.rating[i]),
                               stock=int(self.stock[i]), extra=extra))
        return out
