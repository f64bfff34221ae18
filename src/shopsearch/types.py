"""Core records that flow through every stage: Product, Reject, Hit, SearchResult.

Data moves one way (catalog -> preprocess -> encode -> index -> retrieve -> rank -> serve);
these records are what crosses the stage boundaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

AttributeValue = str | int | float

# Top-level product fields that filters and field mappings may name directly.
PRODUCT_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "description",
    "brand",
    "category",
    "attributes",
    "price",
    "currency",
    "rating",
    "stock",
    "images",
    "extra",
)


@dataclass(frozen=True)
class Product:
    """One validated catalog product.

    ``images`` holds absolute local paths or http(s) URLs, in catalogue order (the first is the
    main photo). ``category`` is a path from the root, e.g. ``("Apparel", "Topwear", "Tshirts")``.
    ``attributes`` are free key -> value pairs (``{"base_colour": "Black"}``); ``extra`` keeps
    source fields that are not searched but should travel with the product.
    """

    id: str
    title: str = ""
    description: str = ""
    brand: str | None = None
    category: tuple[str, ...] = ()
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    price: float | None = None
    currency: str | None = None
    rating: float | None = None
    stock: int | None = None
    images: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"Product.id must be a non-empty string, got {self.id!r}")
        if self.price is not None and (math.isnan(self.price) or self.price < 0):
            raise ValueError(f"Product.price must be >= 0, got {self.price!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "brand": self.brand,
            "category": list(self.category),
            "attributes": dict(self.attributes),
            "price": self.price,
            "currency": self.currency,
            "rating": self.rating,
            "stock": self.stock,
            "images": list(self.images),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Product:
        """Inverse of :meth:`to_dict` for records this package wrote itself."""
        return cls(
            id=data["id"],
            title=data.get("title") or "",
            description=data.get("description") or "",
            brand=data.get("brand"),
            category=tuple(data.get("category") or ()),
            attributes=dict(data.get("attributes") or {}),
            price=data.get("price"),
            currency=data.get("currency"),
            rating=data.get("rating"),
            stock=data.get("stock"),
            images=tuple(data.get("images") or ()),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True)
class Reject:
    """A catalog row that failed validation: where it was, which field, and why."""

    file: str
    line: int
    field: str
    reason: str
    product_id: str | None = None
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "reason": self.reason,
            "product_id": self.product_id,
            "value": self.value,
        }

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        pid = f" (id {self.product_id})" if self.product_id else ""
        return f"{where}{pid}: field '{self.field}': {self.reason}"


@dataclass(frozen=True)
class Hit:
    """One ranked result. ``signals`` maps signal name -> (raw score, 1-based rank)."""

    product_id: str
    score: float
    product: Product | None = None
    signals: dict[str, tuple[float, int]] = field(default_factory=dict)
    explain: dict[str, Any] | None = None  # the ranker's trace: features, rules fired, score parts

    def to_dict(self, with_product: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "product_id": self.product_id,
            "score": self.score,
            "signals": {k: {"score": s, "rank": r} for k, (s, r) in self.signals.items()},
        }
        if self.explain is not None:
            out["explain"] = self.explain
        if with_product and self.product is not None:
            out["product"] = self.product.to_dict()
        return out


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits for one query, plus what was searched and how long it took."""

    hits: list[Hit]
    took_ms: float
    signals_used: tuple[str, ...] = ()
    total_candidates: int = 0
    offset: int = 0
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    parsed: dict[str, Any] | None = None
    session: dict[str, Any] | None = None  # multi-turn state (chips) when searching in a session

    def ids(self) -> list[str]:
        return [h.product_id for h in self.hits]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "took_ms": self.took_ms,
            "signals_used": list(self.signals_used),
            "total_candidates": self.total_candidates,
            "offset": self.offset,
            "facets": {k: [[v, c] for v, c in vs] for k, vs in self.facets.items()},
            "parsed": self.parsed,
            "session": self.session,
        }

    @property
    def total(self) -> int:
        """Number of matching products (the fused candidate set after filters)."""
        return self.total_candidates
