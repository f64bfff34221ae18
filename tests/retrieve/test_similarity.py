from __future__ import annotations

import math

import numpy as np
import pytest

from shopsearch.retrieve.similarity import Similarity, cosine, dot, euclidean, smoothed

Q = np.array([3.0, 4.0])  # |q| = 5
M = np.array([[3.0, 4.0], [4.0, -3.0], [0.0, 0.0], [6.0, 8.0]])


def test_hand_computed() -> None:
    np.testing.assert_allclose(dot(Q, M), [25, 0, 0, 50])
    np.testing.assert_allclose(cosine(Q, M), [1, 0, 0, 1])
    # |q - m|: 0, sqrt(1 + 49), 5, 5
    np.testing.assert_allclose(euclidean(Q, M), [1, 1 / (1 + math.sqrt(50)), 1 / 6, 1 / 6])
    # (q.m + 1) / (|q||m| + 2): 26/27, 1/27, 1/2, 51/52
    np.testing.assert_allclose(smoothed(Q, M, alpha=1.0, beta=2.0), [26 / 27, 1 / 27, 0.5, 51 / 52])
    np.testing.assert_allclose(Similarity("smoothed", 1.0, 2.0)(Q, M), [26 / 27, 1 / 27, 0.5, 51 / 52])


def test_unknown_and_bad_parameters() -> None:
    with pytest.raises(ValueError, match="unknown similarity 'manhattan'"):
        Similarity("manhattan")
    with pytest.raises(ValueError, match="beta >= 0"):
        Similarity("smoothed", beta=-1)


def test_engine_rescoring_with_configured_similarity(tiny_index) -> None:  # type: ignore[no-untyped-def]
    import shopsearch
    from shopsearch.config import SearchConfig

    cos = shopsearch.load(tiny_index).search(text="black shoes", k=8, signals=["text"])
    euc = shopsearch.load(tiny_index, config=SearchConfig(similarity={"text": "euclidean"})).search(
        text="black shoes", k=8, signals=["text"])
    # normalised vectors: same order, scores 1 / (1 + sqrt(2 - 2 cos))
    assert euc.ids() == cos.ids()
    for a, b in zip(cos.hits, euc.hits):
        assert b.signals["text"][0] == pytest.approx(1 / (1 + math.sqrt(max(0.0, 2 - 2 * a.signals["text"][0]))),
                                                     abs=1e-4)
    with pytest.raises(ValueError, match="unknown similarity"):
        SearchConfig(similarity={"text": "jaccard"})
