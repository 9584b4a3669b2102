"""Interval estimates for campaign uplift and survey scores (pure functions, 95% by default).

* A share (conversion, CSAT): the **Wilson score interval** (Wilson 1927), which stays inside [0, 1] and behaves at
  0 or n successes, unlike the Wald interval.
* A difference of two shares (treatment − holdout conversion): **Newcombe's hybrid score interval** (Newcombe 1998,
  method 10), built from the two Wilson intervals; it has close to nominal coverage for small counts and shares near
  0, which is where campaign conversions live. The Wald interval is given beside it for reference.
* A difference of two means (revenue per customer): **Welch's t interval** with the Welch–Satterthwaite degrees of
  freedom, which does not assume equal variances (a campaign's treatment arm usually has the larger one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from kehu.errors import InvalidInput


@dataclass(frozen=True)
class Interval:
    """An estimate with its lower and upper bound; ``None`` bounds when there is not enough data."""

    estimate: float | None
    low: float | None
    high: float | None

    @property
    def excludes_zero(self) -> bool:
        """True when both bounds are known and on the same side of 0 (the effect is significant at this level)."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0

    def scaled(self, factor: float) -> Interval:
        """The interval multiplied by ``factor`` (e.g. a per-customer difference times the treated customers)."""

        def mul(v: float | None) -> float | None:
            return None if v is None else v * factor

        if factor < 0:
            return Interval(mul(self.estimate), mul(self.high), mul(self.low))
        return Interval(mul(self.estimate), mul(self.low), mul(self.high))


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence {confidence} must be between 0 and 1, e.g. 0.95")
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """The share ``successes / n`` with its Wilson score interval.

    ``n == 0`` gives an interval of ``None`` values; ``successes`` must be in ``0..n``.
    """
    if n < 0 or successes < 0 or successes > n:
        raise InvalidInput(f"{successes} successes out of {n} is not a share; need 0 <= successes <= n")
    if n == 0:
        return Interval(None, None, None)
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """``x1/n1 − x2/n2`` with Newcombe's hybrid score interval (method 10 of Newcombe 1998).

    With Wilson bounds (l1, u1) and (l2, u2) of the two shares p1, p2 and d = p1 − p2:
    lower = d − sqrt((p1 − l1)² + (u2 − p2)²), upper = d + sqrt((u1 − p1)² + (p2 − l2)²).
    Either arm empty gives ``None`` values.
    """
    a, b = wilson(x1, n1, confidence), wilson(x2, n2, confidence)
    if a.estimate is None or b.estimate is None:
        return Interval(None, None, None)
    assert a.low is not None and a.high is not None and b.low is not None and b.high is not None
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, low, high)


def wald_difference(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """``x1/n1 − x2/n2`` with the Wald interval d ± z·sqrt(p1(1−p1)/n1 + p2(1−p2)/n2) (for reference only: too
    narrow when a share is near 0 or 1)."""
    if n1 <= 0 or n2 <= 0:
        return Interval(None, None, None)
    p1, p2 = x1 / n1, x2 / n2
    half = _z(confidence) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Interval(p1 - p2, p1 - p2 - half, p1 - p2 + half)


def welch_difference(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Interval:
    """mean(``a``) − mean(``b``) with Welch's t interval.

    se = sqrt(s_a²/n_a + s_b²/n_b) with sample variances (ddof 1); degrees of freedom by Welch–Satterthwaite:
    df = se⁴ / ((s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1)). Fewer than 2 values in an arm gives ``None``
    bounds (the estimate is still given when both arms have a value). When both arms have no variance at all the
    interval is the point itself.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return Interval(None, None, None)
    d = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Interval(d, None, None)
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se2 = va + vb
    if se2 == 0:
        return Interval(d, d, d)
    df = se2 * se2 / (va * va / (a.size - 1) + vb * vb / (b.size - 1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) * math.sqrt(se2)
    return Interval(d, d - half, d + half)


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> Interval:
    """The mean of ``values`` with its t interval mean ± t(n−1)·s/√n; ``None`` bounds with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return Interval(None, None, None)
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, None, None)
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, values.size - 1)) * float(values.std(ddof=1)) / math.sqrt(
        values.size)
    return Interval(mean, mean - half, mean + half)
