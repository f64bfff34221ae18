"""Significance tests for paired per-query scores and for click preferences, in pure NumPy.

* :func:`paired_t_test` - Student's t on the per-query differences, with a t confidence interval.
* :func:`randomization_test` - Fisher's paired randomisation (sign-flip) test of the mean
  difference (Smucker, Allan & Carterette 2007 recommend it for IR).
* :func:`bootstrap_test` - percentile bootstrap confidence interval of the mean difference and
  a shift-method bootstrap p-value.
* :func:`sign_test` - exact two-sided binomial test of wins vs losses (ties dropped), used for
  interleaving preferences; :func:`binomial_test` for any success probability (A/B rates).
* :func:`holm` - Holm-Bonferroni adjustment when one baseline is compared with many systems.

The Student t distribution is computed here (regularised incomplete beta, Lentz continued
fraction), so no SciPy is needed at run time; the tests check it against SciPy.
Every Monte-Carlo test takes a ``seed`` and is deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "BootstrapResult",
    "TTestResult",
    "binomial_test",
    "bootstrap_test",
    "holm",
    "paired_t_test",
    "randomization_test",
    "sign_test",
    "t_cdf",
    "t_ppf",
]

_CHUNK = 2_000_000  # elements per Monte-Carlo block (16 MB of float64)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` > 0 degrees of freedom."""
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    if t * t < df:  # near the centre: P(|T| < |t|) directly, without cancellation
        inner = 0.5 * _betainc(0.5, df / 2.0, t * t / (df + t * t))
        return 0.5 + inner if t > 0 else 0.5 - inner
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(q: float, df: float) -> float:
    """Inverse of :func:`t_cdf` (quantile), by bisection to ~1e-12."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > q:
        lo *= 2.0
    while t_cdf(hi, df) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def _diffs(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"paired scores must be 1-D, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in length: {x.shape[0]} vs {y.shape[0]}")
    if x.size < 2:
        raise ValueError(f"a paired test needs at least 2 queries, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("paired scores must be finite")
    return y - x


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


@dataclass(frozen=True)
class TTestResult:
    """Paired t-test of ``b - a``: mean difference, t statistic, two-sided p, t interval."""

    mean_diff: float
    t: float
    df: int
    p_value: float
    ci_low: float
    ci_high: float


def paired_t_test(a: ArrayLike, b: ArrayLike, confidence: float = 0.95) -> TTestResult:
    """Two-sided paired t-test of mean(b - a) = 0 over aligned per-query scores.

    When every difference is the same the variance is 0: p is 1 if that difference is 0,
    else 0, and the interval collapses to the difference.
    """
    _check_confidence(confidence)
    d = _diffs(a, b)
    n = d.size
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0 or sd < 1e-15 * max(1.0, abs(mean)):
        return TTestResult(mean, 0.0 if mean == 0 else math.copysign(math.inf, mean), n - 1,
                           1.0 if mean == 0 else 0.0, mean, mean)
    se = sd / math.sqrt(n)
    t = mean / se
    p = _betainc((n - 1) / 2.0, 0.5, (n - 1) / (n - 1 + t * t))  # two-sided tail, no cancellation
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * se
    return TTestResult(mean, t, n - 1, min(1.0, p), mean - half, mean + half)


def _sign_flip_means(d: NDArray[np.float64], n_samples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    out = np.empty(n_samples, dtype=np.float64)
    step = max(1, _CHUNK // d.size)
    for start in range(0, n_samples, step):
        m = min(step, n_samples - start)
        signs = rng.integers(0, 2, size=(m, d.size), dtype=np.int8) * 2 - 1
        out[start:start + m] = (signs * d).mean(axis=1)
    return out


def randomization_test(a: ArrayLike, b: ArrayLike, n_samples: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomisation test of mean(b - a): the p-value.

    Under the null each query's two scores are exchangeable, so the sign of its difference is
    flipped at random ``n_samples`` times; p = (1 + #(|mean*| >= |mean|)) / (1 + n_samples).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    d = _diffs(a, b)
    observed = abs(float(d.mean()))
    means = _sign_flip_means(d, n_samples, np.random.default_rng(seed))
    extreme = int((np.abs(means) >= observed - 1e-12).sum())
    return (extreme + 1) / (n_samples + 1)


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap of mean(b - a): percentile interval and two-sided p (shift method)."""

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float


def bootstrap_test(
    a: ArrayLike, b: ArrayLike, n_samples: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> BootstrapResult:
    """Resample queries with replacement ``n_samples`` times.

    The interval is the percentile interval of the resampled mean differences; the p-value
    resamples the differences shifted to mean 0 and counts |mean*| >= |observed mean|.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    _check_confidence(confidence)
    d = _diffs(a, b)
    rng = np.random.default_rng(seed)
    means = np.empty(n_samples, dtype=np.float64)
    step = max(1, _CHUNK // d.size)
    for start in range(0, n_samples, step):
        m = min(step, n_samples - start)
        idx = rng.integers(0, d.size, size=(m, d.size))
        means[start:start + m] = d[idx].mean(axis=1)
    observed = float(d.mean())
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    shifted = means - observed
    extreme = int((np.abs(shifted) >= abs(observed) - 1e-12).sum())
    return BootstrapResult(observed, float(low), float(high), (extreme + 1) / (n_samples + 1))


def binomial_test(successes: int, trials: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test: P(outcomes no more likely than ``successes``) under ``p``.

    Same definition as SciPy's ``binomtest(...).pvalue`` (probabilities summed with a 1e-7
    relative tolerance). Returns 1.0 for zero trials.
    """
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if successes > trials:
        raise ValueError(f"successes ({successes}) must be <= trials ({trials})")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    n = int(trials)
    if n == 0:
        return 1.0
    i = np.arange(n, dtype=np.float64)
    steps = np.log((n - i) / (i + 1.0)) + math.log(p / (1.0 - p))
    logpmf = np.concatenate([[n * math.log1p(-p)], n * math.log1p(-p) + np.cumsum(steps)])
    observed = logpmf[int(successes)]
    mask = logpmf <= observed + math.log1p(1e-7)
    top = float(logpmf[mask].max())
    total = math.exp(top) * float(np.exp(logpmf[mask] - top).sum())
    return min(1.0, total)


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test of wins vs losses (binomial, p = 0.5); ties are left out.

    Returns 1.0 when there are no decided pairs.
    """
    for name, value in (("wins", wins), ("losses", losses)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return binomial_test(int(wins), int(wins) + int(losses), 0.5)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given), for many-vs-one comparisons."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
