"""Vector hits -> product scores, shared by every vector index (FAISS in :mod:`shopsearch.index.dense`,
Milvus in :mod:`shopsearch.scale.milvus`), so both rank products alike.

A product may own several vectors (one per photo): ``rows[i]`` (int64) is the product position of
vector i. An index finds vectors; these functions turn vector scores into product scores:

* :func:`best_per_product`: a product scores the best of its vectors (``aggregation="max"``);
  ties go to the lower vector offset, so equal products rank in position order on every backend.
* :func:`mean_per_product`: a product scores the mean of its vectors (``aggregation="mean"``).
* :func:`rescore_products`: candidate products re-scored by another similarity (best vector
  each) and re-sorted.
* :func:`overfetch` and :func:`fetch_products`: how many vectors to ask an index for so that k
  distinct products come back, and the loop that asks again (x4, up to a limit) when duplicates
  of one product or a post-filter left fewer than k.

Every result is a :class:`ProductHits` (positions int64 (m,), scores float32 (m,)), best first,
one entry per product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GROWTH",
    "ProductHits",
    "best_per_product",
    "fetch_products",
    "mean_per_product",
    "no_hits",
    "overfetch",
    "rescore_products",
]

GROWTH = 4  # fetch_products asks for this many times more vectors each time too few products came back


class ProductHits(NamedTuple):
    """Products best first: ``positions`` int64 (m,), ``scores`` float32 (m,)."""

    positions: NDArray[np.int64]
    scores: NDArray[np.float32]


def no_hits() -> ProductHits:
    return ProductHits(np.empty(0, np.int64), np.empty(0, np.float32))


def best_per_product(rows: NDArray[np.int64], scores: ArrayLike, k: int, ordered: bool = False) -> ProductHits:
    """Max-aggregate vector scores per product; top k products, best first (ties: lower vector
    offset first). ``ordered``: the scores are sorted best first already. Only the top vectors
    are partitioned out and sorted (``argpartition``), not all of them: if the t best vectors
    cover k products, those are the k best products."""
    scores = np.asarray(scores)
    n = rows.size
    if n == 0:
        return no_hits()
    t = n if ordered else min(n, 2 * k)
    while True:
        if ordered:
            top = np.arange(t)
        elif t < n:
            top = np.argpartition(scores, n - t)[n - t:]
            top = top[np.lexsort((top, -scores[top]))]  # best first, ties by offset (stable)
        else:
            top = np.argsort(-scores, kind="stable")
        r = rows[top]
        _, first = np.unique(r, return_index=True)
        if first.size >= k or t >= n:
            first.sort()
            first = first[:k]
            return ProductHits(r[first].astype(np.int64), np.asarray(scores[top[first]], dtype=np.float32))
        t = min(n, t * 4)


def mean_per_product(rows: NDArray[np.int64], scores: ArrayLike, k: int) -> ProductHits:
    """Mean-aggregate vector scores per product (in float64); top k products, best first (ties:
    lower position first)."""
    if rows.size == 0:
        return no_hits()
    sums = np.bincount(rows, weights=np.asarray(scores, dtype=np.float64))
    counts = np.bincount(rows)
    present = np.flatnonzero(counts)
    means = sums[present] / counts[present]
    order = np.argsort(-means, kind="stable")[:k]
    return ProductHits(present[order].astype(np.int64), means[order].astype(np.float32))


def rescore_products(positions: NDArray[np.int64], rows: NDArray[np.int64], scores: ArrayLike) -> ProductHits:
    """Candidate ``positions`` scored by the best of their vectors' ``scores`` (vector i belongs
    to ``rows[i]``), re-sorted best first (ties keep the candidates' order); a candidate without
    a vector scores -inf."""
    if len(positions) == 0:
        return ProductHits(positions, np.empty(0, np.float32))
    best = np.full(int(max(positions.max(), rows.max() if len(rows) else 0)) + 1, -np.inf)
    if len(rows):
        np.maximum.at(best, rows, np.asarray(scores, dtype=np.float64))
    out = best[positions]
    order = np.argsort(-out, kind="stable")
    return ProductHits(positions[order], out[order].astype(np.float32))


def overfetch(k: int, vectors_per_product: float, limit: int) -> int:
    """Vectors to fetch for k products: ``ceil(k * vectors_per_product)``, plus k more when
    products own several vectors (their best vectors crowd the top), at most ``limit``."""
    per_product = max(1.0, float(vectors_per_product))
    return min(limit, int(np.ceil(k * per_product)) + (k if per_product > 1 else 0))


def fetch_products(fetch: Callable[[int], tuple[ProductHits, bool]], k: int, want: int, limit: int) -> ProductHits:
    """``fetch(want)`` -> (products, exhausted), called with ``want`` growing x :data:`GROWTH` (at
    most ``limit``) until it yields k products, says the index has nothing more (``exhausted``),
    or ``want`` reached ``limit``. Returns the last products."""
    while True:
        hits, exhausted = fetch(want)
        if len(hits.positions) >= k or exhausted or want >= limit:
            return hits
        want = min(limit, want * GROWTH)
