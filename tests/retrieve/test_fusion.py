from __future__ import annotations

import numpy as np
import pytest

from shopsearch.retrieve.fusion import reciprocal_rank_fusion


def _r(pos: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(pos, np.int64), np.linspace(1, 0.5, len(pos)).astype(np.float32)


def test_rrf_matches_hand_computation() -> None:
    # a: [1, 2, 3]; b: [3, 1]; k = 60
    # doc1: 1/61 + 1/62 ; doc3: 1/63 + 1/61 ; doc2: 1/62
    fused = reciprocal_rank_fusion({"a": _r([1, 2, 3]), "b": _r([3, 1])}, k=60)
    got = {p: s for p, s, _ in fused}
    assert got[1] == pytest.approx(1 / 61 + 1 / 62)
    assert got[3] == pytest.approx(1 / 63 + 1 / 61)
    assert got[2] == pytest.approx(1 / 62)
    assert [p for p, _, _ in fused] == [1, 3, 2]
    assert fused[0][2] == {"a": (1.0, 1), "b": (pytest.approx(0.5), 2)}


def test_rrf_weights_and_tie_break() -> None:
    # equal single-list contributions tie; the better single rank wins, then position
    fused = reciprocal_rank_fusion({"a": _r([5]), "b": _r([4])}, k=0)
    assert [p for p, _, _ in fused] == [4, 5]
    fused = reciprocal_rank_fusion({"a": _r([5]), "b": _r([4])}, k=0, weights={"a": 2.0})
    assert [p for p, _, _ in fused] == [5, 4]
    assert fused[0][1] == pytest.approx(2.0)


def test_rrf_empty() -> None:
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"a": _r([])}) == []


def test_normalisations_hand_computed() -> None:
    from shopsearch.retrieve.fusion import normalize_scores

    s = np.array([3.0, 1.0, 2.0])
    np.testing.assert_allclose(normalize_scores(s, "minmax"), [1.0, 0.0, 0.5])
    # mean 2, population std sqrt(2/3)
    sd = (2 / 3) ** 0.5
    np.testing.assert_allclose(normalize_scores(s, "zscore"), [1 / sd, -1 / sd, 0.0])
    # dbsf: bounds 2 -/+ 3 sd; (3 - (2 - 3sd)) / 6sd = (1 + 3sd) / 6sd
    np.testing.assert_allclose(normalize_scores(s, "dbsf"), [(1 + 3 * sd) / (6 * sd), (3 * sd - 1) / (6 * sd), 0.5])
    np.testing.assert_allclose(normalize_scores(np.array([5.0, 5.0]), "minmax"), [1.0, 1.0])
    np.testing.assert_allclose(normalize_scores(np.array([5.0, 5.0]), "zscore"), [0.0, 0.0])
    with pytest.raises(ValueError, match="unknown score normalisation"):
        normalize_scores(s, "softmax")


def test_linear_fusion_hand_computed() -> None:
    from shopsearch.retrieve.fusion import fuse

    a = (np.array([1, 2, 3]), np.array([0.9, 0.5, 0.1], np.float32))  # minmax: 1, 0.5, 0
    b = (np.array([3, 1]), np.array([10.0, 6.0], np.float32))  # minmax: 1, 0
    fused = fuse({"a": a, "b": b}, "minmax", weights={"b": 2.0})
    got = {p: s for p, s, _ in fused}
    # doc1: 1 + 2*0 = 1; doc2: 0.5; doc3: 0 + 2*1 = 2
    assert got == pytest.approx({1: 1.0, 2: 0.5, 3: 2.0})
    assert [p for p, _, _ in fused] == [3, 1, 2]
    assert fused[0][2] == {"a": (pytest.approx(0.1), 3), "b": (10.0, 1)}
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse({"a": a}, "borda")


def test_fused_arrays_are_the_candidates_and_resort_with_the_same_ties() -> None:
    from shopsearch.retrieve.fusion import fuse, fuse_arrays

    rankings = {"a": _r([7, 2, 9, 4]), "b": _r([2, 5, 7]), "c": _r([4])}
    arrays = fuse_arrays(rankings, "rrf", {"b": 0.5}, 10)
    assert arrays.candidates() == fuse(rankings, "rrf", {"b": 0.5}, 10)
    assert arrays.candidates(1, 3) == arrays.candidates()[1:3]
    assert arrays.candidates(5, 99) == []
    assert arrays.signals(0) == arrays.candidates()[0].signals
    # a boost that ties every candidate: the best single rank decides, then the position
    flat = arrays.sorted(np.zeros(len(arrays)))
    assert flat.positions.tolist() == [2, 4, 7, 5, 9]  # ranks: 2 (b1), 4 (c1), 7 (a1), 5 (b2), 9 (a3)
    assert flat.signals(0) == {"a": (pytest.approx(1 - 0.5 / 3), 2), "b": (1.0, 1)}
