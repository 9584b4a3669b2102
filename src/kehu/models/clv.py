"""Customer lifetime value from a fitted BG/NBD model and a fitted Gamma-Gamma model.

Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", JMR 42(4): value is
expected purchases times expected spend per purchase, discounted; here over a finite horizon in monthly steps (the
discrete version used by lifetimes' ``customer_lifetime_value``).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike

from kehu.errors import InvalidInput
from kehu.models.beta_geo import (
    DAYS_PER_UNIT,
    BetaGeoModel,
    FloatArray,
    _as_vector,
    _Customers,
    _params,
    as_rfm_arrays,
)
from kehu.models.gamma_gamma import GammaGammaModel, _check_lengths, _check_monetary

__all__ = ["DAYS_PER_MONTH", "customer_lifetime_value"]

DAYS_PER_MONTH = 365.25 / 12


def customer_lifetime_value(
    beta_geo: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next ``horizon_months`` months.

    CLV = Σ_{m=1..H} (E[Y(t_m) | x, t_x, T] - E[Y(t_{m-1}) | x, t_x, T]) · E[Z | x, m̄] / (1 + d)^m,

    with E[Y(t) | ...] the BG/NBD conditional expectation (Fader, Hardie & Lee 2005, Marketing Science, eq. 10),
    E[Z | x, m̄] the Gamma-Gamma expected spend (Fader, Hardie & Lee 2005, JMR, eq. 5), and t_m = m months expressed
    in the BG/NBD model's time unit (a month is 365.25 / 12 days, a week 7 days). Purchases of month m are
    discounted as if made at its end.

    E[Y(t) | x, t_x, T] is P(alive | x, t_x, T) times an expectation that depends on (x, T) only, so the discounted
    sum over the months is taken on the distinct (x, T) pairs, all horizons at once, and multiplied per customer
    by P(alive) and the expected spend.

    Parameters
    ----------
    beta_geo : BetaGeoModel
        Fitted BG/NBD model; recency and T must be in its ``time_unit``.
    gamma_gamma : GammaGammaModel
        Fitted Gamma-Gamma model.
    frequency, recency, T : array-like
        Per-customer x, t_x and T at the end of the observation period.
    monetary : array-like
        Mean repeat spend m̄ per customer (> 0 where frequency > 0; ignored where frequency is 0, whose customers
        get the population mean spend).
    horizon_months : int, default 12
        Number of months H >= 1.
    monthly_discount_rate : float, default 0.01
        Discount rate d per month, 0 <= d < 1 (0.01 a month is about 12.7 % a year).

    Returns
    -------
    numpy.ndarray
        One value per customer, in the currency unit of ``monetary``. With d = 0 it equals
        E[Y(H months) | ...] · E[Z | ...].

    Raises
    ------
    InvalidInput
        Bad horizon, rate or customer inputs (see :func:`kehu.models.beta_geo.as_rfm_arrays`).
    NotFitted
        Either model is not fitted.
    ConvergenceError
        The Gamma-Gamma mean spend does not exist (q <= 1) but is needed for customers with frequency 0.
    """
    if isinstance(horizon_months, bool) or not isinstance(horizon_months, Integral) or horizon_months < 1:
        raise InvalidInput(f"horizon_months must be a whole number of months >= 1, got {horizon_months!r}")
    if (
        isinstance(monthly_discount_rate, bool)
        or not isinstance(monthly_discount_rate, Real)
        or not 0 <= monthly_discount_rate < 1
    ):
        raise InvalidInput(
            f"monthly_discount_rate must be a number in [0, 1) (e.g. 0.01 for 1 % a month), got "
            f"{monthly_discount_rate!r}"
        )
    r, alpha, a, b = _params(beta_geo._theta())  # raises NotFitted
    gamma_gamma._theta()
    x, t_x, age = as_rfm_arrays(frequency, recency, T)
    m = _as_vector("monetary", monetary)
    _check_lengths(x, m)
    _check_monetary(x, m)
    spend = gamma_gamma._expected_spend(x, m)

    customers = _Customers(x, t_x, age)
    months = np.arange(1, int(horizon_months) + 1)
    unit_per_month = DAYS_PER_MONTH / DAYS_PER_UNIT[beta_geo.time_unit]
    cumulative = customers.expected_if_alive(r, alpha, a, b, months * unit_per_month)  # (x, T) pairs × months
    discount = (1.0 + float(monthly_discount_rate)) ** -months.astype(np.float64)
    per_pair = np.einsum("pm,m->p", np.diff(cumulative, axis=1, prepend=0.0), discount)  # if alive at T
    value = customers.probability_alive(r, alpha, a, b)
    value *= per_pair[customers.pairs[0]]
    value *= spend
    return value
