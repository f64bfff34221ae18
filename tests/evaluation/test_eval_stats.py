"""Significance tests: Student t and binomial against SciPy, Monte-Carlo tests, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from shopsearch.evaluation import stats as S

from ._optional import require

scipy_stats = require("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 5, 29, 149])
def test_t_distribution_matches_scipy(df: int) -> None:
    for t in (-12.0, -2.3, -0.4, 0.0, 0.9, 3.1, 40.0):
        assert S.t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-12)
    for q in (0.0005, 0.025, 0.3, 0.5, 0.975, 0.9995):
        assert S.t_ppf(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_t_test_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random(40)
    b = np.clip(a + rng.normal(0.03, 0.15, 40), 0, 1)
    ours = S.paired_t_test(a, b, confidence=0.9)
    ref = scipy_stats.ttest_rel(b, a)
    ci = ref.confidence_interval(0.9)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert ours.df == 39


def test_paired_t_test_zero_variance() -> None:
    same = S.paired_t_test([0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    assert same.p_value == 1.0 and same.mean_diff == 0.0 and same.ci_low == same.ci_high == 0.0
    shifted = S.paired_t_test([0.25, 0.5, 0.75], [0.5, 0.75, 1.0])
    assert shifted.p_value == 0.0 and shifted.mean_diff == pytest.approx(0.25)


@pytest.mark.parametrize(("k", "n", "p"), [(10, 40, 0.5), (0, 5, 0.5), (5, 5, 0.5), (30, 100, 0.4),
                                           (3, 1000, 0.01), (7, 14, 0.5), (612, 1000, 0.6)])
def test_binomial_test_matches_scipy(k: int, n: int, p: float) -> None:
    assert S.binomial_test(k, n, p) == pytest.approx(scipy_stats.binomtest(k, n, p).pvalue, rel=1e-9)


def test_sign_test_hand_computed() -> None:
    # 0 wins, 5 losses: 2 * 0.5**5
    assert S.sign_test(0, 5) == pytest.approx(2 / 32)
    assert S.sign_test(3, 3) == 1.0
    assert S.sign_test(0, 0) == 1.0
    with pytest.raises(ValueError, match="wins"):
        S.sign_test(-1, 3)


def test_randomization_and_bootstrap_are_deterministic_and_sensible() -> None:
    rng = np.random.default_rng(5)
    a = rng.random(150)
    better = np.clip(a + 0.1 + rng.normal(0, 0.05, 150), 0, 1)
    assert S.randomization_test(a, better, 2000, seed=1) == S.randomization_test(a, better, 2000, seed=1)
    assert S.randomization_test(a, better, 2000) < 0.001  # the smallest possible is 1/2001
    boot = S.bootstrap_test(a, better, 2000, seed=3)
    assert boot.ci_low < boot.mean_diff < boot.ci_high
    assert boot.ci_low > 0 and boot.p_value < 0.001
    noise = a + rng.normal(0, 0.05, 150)
    # no real difference: large p-values that agree roughly with the t-test
    p_t = S.paired_t_test(a, noise).p_value
    p_r = S.randomization_test(a, noise, 5000)
    assert abs(p_t - p_r) < 0.05
    same = S.bootstrap_test(a, a, 500)
    assert same.ci_low == same.ci_high == 0.0 and same.p_value == 1.0


def test_input_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        S.paired_t_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        S.randomization_test([1], [2])
    with pytest.raises(ValueError, match="finite"):
        S.bootstrap_test([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="confidence"):
        S.paired_t_test([1, 2], [2, 3], confidence=1.5)


def test_holm_hand_computed() -> None:
    # sorted 0.01, 0.02, 0.04 -> 3*0.01=0.03, 2*0.02=0.04, 1*0.04=0.04 (monotone)
    assert S.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert S.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
