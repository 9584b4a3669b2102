"""The uplift intervals checked against independent computations: Newcombe (1998) and Wilson (1927) written out
here from the papers' formulas with scipy's normal quantile, Welch's interval against scipy's own t-test and a
hand formula; the published example of Newcombe's Table II."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sst

from kehu.campaigns.stats import mean_interval, newcombe_difference, wald_difference, welch_difference, wilson
from kehu.errors import InvalidInput

Z = sst.norm.ppf(0.975)


def _wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    # Wilson (1927): the roots of (p̂ − p)² = z² p (1 − p) / n.
    a = 1 + Z**2 / n
    b = -(2 * x / n + Z**2 / n)
    c = (x / n) ** 2
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("x", "n"), [(0, 10), (1, 29), (81, 263), (620, 5600), (10, 10)])
def test_wilson_matches_the_quadratic_roots(x: int, n: int) -> None:
    iv = wilson(x, n)
    low, high = _wilson_by_hand(x, n)
    assert iv.estimate == pytest.approx(x / n)
    assert iv.low == pytest.approx(max(low, 0.0), abs=1e-12)
    assert iv.high == pytest.approx(min(high, 1.0), abs=1e-12)


def test_newcombe_matches_a_hand_computation() -> None:
    x1, n1, x2, n2 = 620, 5600, 34, 1381
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson_by_hand(x1, n1)
    l2, u2 = _wilson_by_hand(x2, n2)
    d = p1 - p2
    expected = (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    iv = newcombe_difference(x1, n1, x2, n2)
    assert iv.estimate == pytest.approx(d)
    assert (iv.low, iv.high) == pytest.approx(expected, abs=1e-12)
    assert iv.excludes_zero


def test_newcombe_reproduces_newcombe_1998_table_ii() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, example (a): 56/70 − 48/80, method 10 gives
    # 0.0524 to 0.3339.
    iv = newcombe_difference(56, 70, 48, 80)
    assert iv.low == pytest.approx(0.0524, abs=5e-4)
    assert iv.high == pytest.approx(0.3339, abs=5e-4)
    # Example (h): 0/10 − 0/20 gives −0.1611 to 0.2775.
    iv = newcombe_difference(0, 10, 0, 20)
    assert iv.low == pytest.approx(-0.1611, abs=5e-4)
    assert iv.high == pytest.approx(0.2775, abs=5e-4)


def test_wald_difference_by_hand() -> None:
    iv = wald_difference(30, 200, 10, 150)
    p1, p2 = 0.15, 10 / 150
    half = Z * math.sqrt(p1 * (1 - p1) / 200 + p2 * (1 - p2) / 150)
    assert (iv.low, iv.high) == pytest.approx((p1 - p2 - half, p1 - p2 + half))


def test_welch_matches_scipy_and_a_hand_formula() -> None:
    rng = np.random.default_rng(7)
    a = np.where(rng.random(900) < 0.12, rng.gamma(2.0, 15_000, 900), 0).round()
    b = np.where(rng.random(250) < 0.05, rng.gamma(2.0, 14_000, 250), 0).round()
    iv = welch_difference(a, b)
    ci = sst.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (iv.low, iv.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = sst.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert iv.estimate == pytest.approx(a.mean() - b.mean())
    assert (iv.low, iv.high) == pytest.approx((a.mean() - b.mean() - half, a.mean() - b.mean() + half))


def test_mean_interval_matches_scipy() -> None:
    values = np.array([0, 0, 0, 12_000, 0, 30_000, 0, 5_000], dtype=float)
    iv = mean_interval(values)
    low, high = sst.t.interval(0.95, values.size - 1, loc=values.mean(), scale=sst.sem(values))
    assert (iv.low, iv.high) == pytest.approx((low, high))


def test_edge_cases() -> None:
    assert wilson(0, 0).estimate is None
    assert newcombe_difference(1, 10, 0, 0).low is None
    assert welch_difference(np.array([1.0]), np.array([2.0, 3.0])).low is None
    assert welch_difference(np.array([]), np.array([2.0])).estimate is None
    same = welch_difference(np.zeros(5), np.zeros(7))
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    assert not same.excludes_zero
    flipped = newcombe_difference(1, 10, 5, 10).scaled(-1)
    assert flipped.low is not None and flipped.high is not None and flipped.low <= flipped.high
    with pytest.raises(InvalidInput, match="not a share"):
        wilson(5, 3)
    with pytest.raises(InvalidInput, match="confidence"):
        wilson(1, 3, confidence=1.5)
