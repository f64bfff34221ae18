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
