"""Filtered dense search (an ``allowed`` mask): through the FAISS structure with a selector when
that pays, exactly otherwise, and never fewer than k hits when k allowed products exist."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

from shopsearch.index.aggregate import no_hits
from shopsearch.index.dense import (
    CODES_FILTER_SHARE,
    FAR_WIDEN,
    GRAPH_FILTER_COST,
    MAX_FILTER_EF,
    DenseIndex,
    DenseParams,
    structure_filter_pays,
)


def _unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact(vecs: np.ndarray, rows: np.ndarray, allowed: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    """Naive reference: each allowed product's best vector, top k products."""
    best: dict[int, float] = {}
    for r, s in zip(rows.tolist(), (vecs @ q).tolist()):
        if allowed[r] and s > best.get(r, -np.inf):
            best[r] = s
    return [r for r, _ in sorted(best.items(), key=lambda kv: -kv[1])[:k]]


class Call(NamedTuple):
    want: int
    params: Any  # faiss.SearchParameters with a selector, or None for a plain walk
    post_filtered: bool  # the plain walk's hits filtered by the vector mask


def _record_structure_calls(index: DenseIndex, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Records each FAISS-structure search of ``index``."""
    calls: list[Call] = []
    original = index._index_top

    def spy(q: np.ndarray, want: int, k: int, params: Any = None, vector_mask: Any = None) -> Any:
        calls.append(Call(want, params, vector_mask is not None))
        return original(q, want, k, params, vector_mask)

    monkeypatch.setattr(index, "_index_top", spy)
    return calls


def test_structure_filter_pays_rule() -> None:
    ef = 128
    n = 1_000_000
    # HNSW: the allowed vectors times their share against GRAPH_FILTER_COST units of efSearch
    assert structure_filter_pays("hnsw", n - 1, n, ef)
    assert structure_filter_pays("hnsw", n // 10, n, ef)
    assert not structure_filter_pays("hnsw", n // 100, n, ef)  # 10,000 x 1% = 100 < 10 x 128
    edge = int(np.ceil(np.sqrt(GRAPH_FILTER_COST * ef * n)))
    assert structure_filter_pays("hnsw", edge, n, ef) and not structure_filter_pays("hnsw", edge - 1, n, ef)
    # codes: a share of the vectors, whatever the size
    for kind in ("fp16", "sq8"):
        assert structure_filter_pays(kind, int(CODES_FILTER_SHARE * n), n, ef)
        assert not structure_filter_pays(kind, int(CODES_FILTER_SHARE * n) - 1, n, ef)
    # exact search is the scan; IndexPQ takes no selector; nothing allowed: nothing to search
    for kind in ("flat", "pq"):
        assert not structure_filter_pays(kind, n, n, ef)
    assert not structure_filter_pays("hnsw", 0, n, ef) and not structure_filter_pays("hnsw", 0, 0, ef)


def _check(index: DenseIndex, vecs: np.ndarray, rows: np.ndarray, allowed: np.ndarray,
           queries: np.ndarray, min_recall: float) -> None:
    """Every query: k distinct allowed products, best first, with exact scores; mean recall
    against the naive reference at least ``min_recall``."""
    hits = []
    for q in queries:
        got, scores = index.search(q, 10, allowed)
        assert len(got) == 10 and len(set(got.tolist())) == 10 and allowed[got].all()
        for p, s in zip(got, scores):  # a product scores its best vector, exactly
            assert s == pytest.approx(float((vecs[rows == p] @ q).max()), abs=1e-5)
        assert np.all(np.diff(scores) <= 1e-6)
        hits.append(len(set(got.tolist()) & set(_exact(vecs, rows, allowed, q, 10))) / 10)
    assert np.mean(hits) >= min_recall


@pytest.mark.parametrize("kind", ["sq8", "fp16"])
def test_codes_scan_with_a_selector_under_a_broad_filter(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    vecs = _unit(4000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind=kind))
    calls = _record_structure_calls(index, monkeypatch)
    allowed = np.random.default_rng(1).random(len(vecs)) < 0.7
    _check(index, vecs, rows, allowed, _unit(30, seed=2), 0.95)
    assert len(calls) == 30 and all(c.params is not None and c.params.sel is not None for c in calls)


def test_hnsw_broad_filter_keeps_the_plain_walks_allowed_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    vecs = _unit(4000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="hnsw"))
    calls = _record_structure_calls(index, monkeypatch)
    allowed = np.random.default_rng(1).random(len(vecs)) < 0.7
    _check(index, vecs, rows, allowed, _unit(30, seed=2), 0.95)
    assert calls == [Call(128, None, True)] * 30  # one plain walk of ef_search vectors each


def test_hnsw_walk_with_a_selector_when_few_allowed_are_near(monkeypatch: pytest.MonkeyPatch) -> None:
    vecs = _unit(4000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="hnsw", ef_search=16))
    calls = _record_structure_calls(index, monkeypatch)
    allowed = np.random.default_rng(3).random(len(vecs)) < 0.3  # ~5 of a 16-vector plain walk
    queries = _unit(30, seed=4)
    _check(index, vecs, rows, allowed, queries, 0.95)
    walks = [c for c in calls if c.params is not None]
    assert walks and all(c.params.sel is not None for c in walks)
    assert {c.params.efSearch for c in walks} == {int(np.ceil(16 * len(vecs) / allowed.sum()))}


def test_hnsw_walks_far_wider_when_no_allowed_vector_is_near(monkeypatch: pytest.MonkeyPatch) -> None:
    # half the vectors allowed, on the far side of a hyperplane from every query
    vecs = _unit(24_000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="hnsw", ef_search=64))
    calls = _record_structure_calls(index, monkeypatch)
    u = _unit(1, seed=5)[0]
    allowed = vecs @ u < 0
    r = _unit(10, seed=6)
    r -= np.outer(r @ u, u)
    queries = (0.9 * u + 0.436 * r / np.linalg.norm(r, axis=1, keepdims=True)).astype(np.float32)
    _check(index, vecs, rows, allowed, queries, 0.9)
    far = int(np.ceil(64 * FAR_WIDEN * len(vecs) / allowed.sum()))
    assert far <= MAX_FILTER_EF
    assert [c.params.efSearch for c in calls if c.params is not None] == [far] * len(queries)
    assert len(calls) == 2 * len(queries)  # the plain walk (nothing allowed near), then the far walk


def test_one_retired_product_never_comes_back_and_the_rest_is_unchanged() -> None:
    vecs = _unit(4000)
    index = DenseIndex(vecs, np.arange(len(vecs)), len(vecs), DenseParams(kind="hnsw"))
    for q in _unit(20, seed=3):
        free, _ = index.search(q, 10)
        alive = np.ones(len(vecs), bool)
        alive[free[0]] = False  # retire the best hit
        got, _ = index.search(q, 10, alive)
        assert free[0] not in got.tolist() and len(got) == 10
        assert got.tolist()[:9] == free.tolist()[1:]


def test_narrow_filter_is_scanned_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    vecs = _unit(4000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="hnsw"))
    calls = _record_structure_calls(index, monkeypatch)
    allowed = np.zeros(len(vecs), bool)
    allowed[np.random.default_rng(4).choice(len(vecs), 300, replace=False)] = True  # 300 x 7.5% < 640
    q = _unit(1, seed=5)[0]
    assert index.search(q, 10, allowed)[0].tolist() == _exact(vecs, rows, allowed, q, 10)
    assert all(c.params is None for c in calls)  # at most the plain walk; no selector walk


def test_no_plain_walk_when_it_would_rarely_hold_k_and_no_selector_walk_pays(
        monkeypatch: pytest.MonkeyPatch) -> None:
    vecs = _unit(4000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="hnsw", ef_search=16))
    calls = _record_structure_calls(index, monkeypatch)
    allowed = np.zeros(len(vecs), bool)
    allowed[np.random.default_rng(15).choice(len(vecs), 400, replace=False)] = True  # ~1.6 of a 16-walk
    assert not structure_filter_pays("hnsw", 400, len(vecs), 16)
    for q in _unit(5, seed=16):
        assert index.search(q, 10, allowed)[0].tolist() == _exact(vecs, rows, allowed, q, 10)
    assert calls == []


def test_structure_finding_too_few_falls_back_to_the_exact_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    vecs = _unit(4000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="hnsw", ef_search=16))
    calls: list[int] = []

    def starved(q: np.ndarray, want: int, k: int, params: Any = None, vector_mask: Any = None) -> Any:
        calls.append(want)
        return no_hits()  # as walks that reach no allowed vector

    monkeypatch.setattr(index, "_index_top", starved)
    allowed = np.random.default_rng(6).random(len(vecs)) < 0.8
    q = _unit(1, seed=7)[0]
    assert index.search(q, 10, allowed)[0].tolist() == _exact(vecs, rows, allowed, q, 10)
    assert calls == [16, 10, 40, 160]  # plain walk; the far walk, two wider asks at most; then exact


def test_multi_vector_products_under_a_broad_filter() -> None:
    vecs = _unit(4000, seed=8)
    rows = np.random.default_rng(9).integers(0, 800, len(vecs))  # ~5 photos per product
    index = DenseIndex(vecs, rows, 800, DenseParams(kind="hnsw"))
    for share in (0.8, 0.2):
        allowed = np.random.default_rng(10).random(800) < share
        _check(index, vecs, rows, allowed, _unit(20, seed=11), 0.9)


def test_pq_takes_no_selector_and_scans_exactly() -> None:
    vecs = _unit(3000)
    rows = np.arange(len(vecs))
    index = DenseIndex(vecs, rows, len(vecs), DenseParams(kind="pq"))
    allowed = np.random.default_rng(12).random(len(vecs)) < 0.9
    q = _unit(1, seed=13)[0]
    assert index.search(q, 10, allowed)[0].tolist() == _exact(vecs, rows, allowed, q, 10)


def test_appends_keep_the_product_mask_right() -> None:
    vecs = _unit(4000)
    index = DenseIndex(vecs, np.arange(len(vecs)), len(vecs), DenseParams(kind="hnsw"))
    extra = _unit(200, seed=14)
    index.append(extra, np.arange(4000, 4200), 4200)  # new products, one vector each
    allowed = np.ones(4200, bool)
    allowed[::3] = False
    q = extra[1]  # product 4001 (allowed) is its own best match
    got, _ = index.search(q, 10, allowed)
    assert got[0] == 4001 and allowed[got].all()
    # a second photo of an existing product: vector 4200 belongs to product 5, which is filtered out
    index.append(q[None] * 1.0, np.array([5]), 4200)
    allowed[5] = False
    got, _ = index.search(q, 10, allowed)
    assert 5 not in got.tolist() and allowed[got].all() and len(got) == 10
    allowed[5] = True
    got, scores = index.search(q, 10, allowed)
    assert set(got[:2].tolist()) == {5, 4001} and scores[0] == pytest.approx(1.0, abs=1e-5)
