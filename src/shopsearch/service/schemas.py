"""Request and response models of the HTTP API (pydantic lives only at this edge)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shopsearch.retrieve.paging import SortOrder

Language = Literal["auto", "zh", "en"]
EventType = Literal["impression", "click", "add_to_cart", "purchase", "like", "dislike"]
FilterSpec = dict[str, Any] | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Strict):
    """A search. At least one of ``text``, ``image`` (base64 or a data: URL) or an ``audio``
    upload (multipart only). ``filters``: ``{"gender": "Men", "price": {"lt": 200}}`` or
    ``["gender=Men", "price<200"]``. ``page`` is 1-based, ``k`` hits per page.

    A search ranks its turn once (the top 300 products). With a ``session_id`` the ranking is kept:
    a further page, or ``same_turn``, is answered from it, and ``filters`` narrow it (so a facet
    click never reorders what was shown); without one, ``filters`` restrict the whole catalogue."""

    text: str | None = Field(None, description="query text, Chinese or English")
    image: str | None = Field(None, description="query photo, base64 (or a data: URL)")
    filters: FilterSpec | None = None
    k: int = Field(10, ge=1, description="hits per page")
    page: int = Field(1, ge=1, description="1-based page number")
    user_id: str | None = Field(None, max_length=128)
    session_id: str | None = Field(None, max_length=128)
    explain: bool = Field(False, description="include per-signal scores and ranks")
    language: Language = Field("auto", description="spoken language of an audio query")
    constraints: Literal["boost", "filter", "off"] | None = Field(
        None, description="what the understood parts of the query (colour, gender, price...) do: "
        "rank matching products up (boost, the default), filter, or nothing (off)")
    sort: SortOrder = Field("relevance", description="order of the ranked list: relevance, price_asc, "
                            "price_desc or newest (the sorts a result list supports are in `sorts`)")
    loose: bool = Field(False, description="list loose matches even when nothing matches the query well "
                        "(the relevance floor otherwise answers no hits with `weak: true`)")
    same_turn: bool = Field(False, description="with session_id: a facet click or sort of the turn already "
                            "shown; answered from that turn's stored ranking (as any page > 1 is), so what was "
                            "shown keeps its order")


class ProductOut(BaseModel):
    id: str
    title: str
    description: str
    brand: str | None
    category: list[str]
    attributes: dict[str, str | int | float]
    price: float | None
    currency: str | None
    rating: float | None
    stock: int | None
    images: list[str] = Field(description="image URLs: served by this service or external")


class SignalOut(BaseModel):
    score: float
    rank: int


class HitOut(BaseModel):
    rank: int
    product_id: str
    score: float
    product: ProductOut
    signals: dict[str, SignalOut] | None = None
    explain: dict[str, Any] | None = Field(None, description="the ranker's trace: features, contributions, rules")


class FacetValue(BaseModel):
    value: str
    count: int


class ParsedChip(BaseModel):
    model_config = ConfigDict(extra="allow")
    field: str
    value: Any = None
    text: str = ""


class TranscriptOut(BaseModel):
    text: str
    language: str
    duration_s: float
    took_ms: float


class SearchResponse(BaseModel):
    hits: list[HitOut]
    total: int = Field(description="products in the ranked list, filters applied (the list holds at most the "
                       "top 300: pages of one query never change it)")
    page: int
    k: int
    pages: int
    facets: dict[str, list[FacetValue]]
    parsed: dict[str, Any] | None = Field(None, description="query understanding (chips)")
    transcript: TranscriptOut | None = None
    took_ms: float = Field(description="engine time")
    server_ms: float = Field(description="time in the service, decoding included")
    signals_used: list[str]
    experiment: dict[str, str] | None = Field(None, description="split-traffic experiment and arm, when one runs")
    session: SessionOut | None = Field(None, description="multi-turn state when searching with a session_id")
    weak: bool = Field(False, description="no good match: nothing in the query matched a product or was "
                       "understood (the relevance floor); search again with loose=true for the closest products")
    sorts: list[str] = Field(default_factory=lambda: ["relevance"], description="sorts these results support")
    suggestions: list[str] = Field(default_factory=list, description="queries to try when there are no hits")


class SuggestResponse(BaseModel):
    q: str
    suggestions: list[str]


class ProductWrite(BaseModel):
    """A catalog row, validated like a row of a catalog file (any columns; unknown scalar
    columns become attributes)."""

    model_config = ConfigDict(extra="allow")


class BatchRequest(_Strict):
    upsert: list[dict[str, Any]] = Field(default_factory=list, description="catalog rows")
    delete: list[str] = Field(default_factory=list, description="product ids")


class Reject(BaseModel):
    index: int | None = None
    product_id: str | None = None
    field: str
    reason: str


class WriteResponse(BaseModel):
    upserted: int = 0
    deleted: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    rejects: list[Reject] = Field(default_factory=list)
    product: ProductOut | None = None


class FeedbackEvent(_Strict):
    event: EventType
    product_id: str = Field(min_length=1, max_length=128)
    user_id: str | None = Field(None, max_length=128)
    session_id: str | None = Field(None, max_length=128)
    query: str | None = Field(None, max_length=500)
    position: int | None = Field(None, ge=1, le=100_000)
    value: float | None = Field(None, ge=0, le=1e9, description="e.g. the price of a purchase")
    ts: float | None = Field(None, ge=0, le=1e11, description="client time, seconds since epoch")


class FeedbackBatch(_Strict):
    events: list[FeedbackEvent] = Field(min_length=1, max_length=1000)


class FeedbackResponse(BaseModel):
    stored: int


class SessionChip(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: Literal["constraint", "required", "anchor", "hidden"]
    label: str


class SessionOut(BaseModel):
    session_id: str
    turns: list[str]
    base: str
    chips: list[SessionChip]
    liked: list[str]
    disliked: list[str]
    note: str | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="'degraded': searches are answered but something cannot be stored (see problems)")
    problems: list[str] = Field(default_factory=list, description="what is degraded, in words")
    products: int
    signals: list[str]
    version: str
    voice: str = Field(description="'available' or why voice search cannot run")
