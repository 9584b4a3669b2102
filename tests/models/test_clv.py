"""Customer lifetime value: discounted BG/NBD purchases times Gamma-Gamma spend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kehu.errors import InvalidInput, NotFitted
from kehu.models.beta_geo import BetaGeoModel, conditional_expected_purchases
from kehu.models.clv import DAYS_PER_MONTH, customer_lifetime_value
from kehu.models.gamma_gamma import GammaGammaModel

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")


@pytest.fixture(scope="module")
def models(cdnow: pd.DataFrame) -> tuple[BetaGeoModel, GammaGammaModel]:
    repeat = cdnow[cdnow["x"] > 0]
    return BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"]), GammaGammaModel().fit(repeat["x"], repeat["zbar"])


def published_models() -> tuple[BetaGeoModel, GammaGammaModel]:
    """Models set to the published parameters (Fader, Hardie & Lee 2005) without fitting."""
    beta_geo, gamma_gamma = BetaGeoModel(time_unit="weeks"), GammaGammaModel()
    beta_geo.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    gamma_gamma.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    return beta_geo, gamma_gamma


def columns(df: pd.DataFrame) -> tuple[pd.Series, ...]:
    return df["x"], df["t_x"], df["T"], df["zbar"]


def test_without_discount_equals_expected_purchases_times_spend(
    cdnow: pd.DataFrame, models: tuple[BetaGeoModel, GammaGammaModel]
) -> None:
    beta_geo, gamma_gamma = models
    x, t_x, T, m = columns(cdnow)
    clv = customer_lifetime_value(beta_geo, gamma_gamma, x, t_x, T, m, horizon_months=12, monthly_discount_rate=0)
    purchases = beta_geo.expected_purchases(365.25 / 7, x, t_x, T)
    assert clv == pytest.approx(purchases * gamma_gamma.expected_spend(x, m), rel=1e-12)


def test_hand_computed_value_for_one_customer() -> None:
    # Customer 1 of CDNOW (x = 2, t_x = 30.43, T = 38.86, mean repeat spend 22.35), 3 months at 1 % a month.
    beta_geo, gamma_gamma = published_models()
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    p, q, v = 6.25, 3.74, 15.44
    spend = (v + 2 * 22.35) * p / (p * 2 + q - 1)  # JMR eq. 5
    assert spend == pytest.approx(24.6637, abs=1e-4)
    months = np.array([1, 2, 3]) * DAYS_PER_MONTH / 7
    cumulative = beta_geo.expected_purchases(months, [2, 2, 2], [30.43] * 3, [38.86] * 3)
    increments = np.diff(cumulative, prepend=0.0)
    by_hand = spend * (increments[0] / 1.01 + increments[1] / 1.01**2 + increments[2] / 1.01**3)
    clv = customer_lifetime_value(beta_geo, gamma_gamma, [2], [30.43], [38.86], [22.35], horizon_months=3)
    assert clv[0] == pytest.approx(by_hand, rel=1e-12)
    # The conditional expectations themselves (eq. 10, checked against quadrature in test_beta_geo), pinned here:
    assert cumulative == pytest.approx([0.15986, 0.31250, 0.45868], abs=5e-6)
    assert clv[0] == pytest.approx(11.0935, abs=1e-4)
    assert (r, alpha, a, b) == tuple(beta_geo.params_.values())


@pytest.mark.parametrize("time_unit", ["days", "weeks"])
def test_equals_the_month_by_month_sum_on_random_customers(time_unit: str) -> None:
    # Reference: E[Y(t_m) | x, t_x, T] per customer and month (eq. 10), differenced and discounted one by one.
    beta_geo, gamma_gamma = published_models()
    beta_geo.time_unit = time_unit  # type: ignore[assignment]
    per_day = 1.0 if time_unit == "days" else 1 / 7
    beta_geo.params_["alpha"] *= 7 * per_day
    rng = np.random.default_rng(11)
    n = 5_000
    T = rng.integers(30, 731, n) * per_day
    x = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 250, n)).astype(float)
    t_x = np.where(x > 0, np.round(T * rng.random(n) / per_day) * per_day, 0.0)
    m = np.where(x > 0, np.round(rng.gamma(2.0, 20.0, n), 2) + 0.01, 0.0)
    theta = np.array(list(beta_geo.params_.values()))
    unit_per_month = DAYS_PER_MONTH * per_day
    clv = customer_lifetime_value(beta_geo, gamma_gamma, x, t_x, T, m, horizon_months=13, monthly_discount_rate=0.02)
    previous, by_month = np.zeros(n), np.zeros(n)
    for month in range(1, 14):
        cumulative = conditional_expected_purchases(theta, month * unit_per_month, x, t_x, T)
        by_month += (cumulative - previous) / 1.02**month
        previous = cumulative
    assert clv == pytest.approx(by_month * gamma_gamma.expected_spend(x, m), rel=1e-10, abs=1e-300)


def test_monotone_in_horizon_and_zero_frequency_gets_population_spend(
    cdnow: pd.DataFrame, models: tuple[BetaGeoModel, GammaGammaModel]
) -> None:
    beta_geo, gamma_gamma = models
    args = columns(cdnow)
    values = [customer_lifetime_value(beta_geo, gamma_gamma, *args, horizon_months=h) for h in (1, 2, 6, 12, 36)]
    assert all(np.all(later > earlier) for earlier, later in zip(values, values[1:], strict=False))
    zero = cdnow.index[cdnow["x"] == 0][0]
    row = cdnow.loc[[zero]]
    with_spend = customer_lifetime_value(beta_geo, gamma_gamma, *columns(row), horizon_months=12)
    other_m = customer_lifetime_value(beta_geo, gamma_gamma, row["x"], row["t_x"], row["T"], [999.0])
    purchases = customer_lifetime_value(
        beta_geo, gamma_gamma, row["x"], row["t_x"], row["T"], [0.0], monthly_discount_rate=0
    )
    assert with_spend == pytest.approx(other_m)
    expected = beta_geo.expected_purchases(365.25 / 7, row["x"], row["t_x"], row["T"]) * gamma_gamma.mean_spend_
    assert purchases == pytest.approx(expected, rel=1e-12)


def test_same_value_with_a_model_in_days(cdnow: pd.DataFrame, models: tuple[BetaGeoModel, GammaGammaModel]) -> None:
    beta_geo, gamma_gamma = models
    x, t_x, T, m = columns(cdnow)
    days = BetaGeoModel(time_unit="days").fit(x, t_x * 7, T * 7)
    in_weeks = customer_lifetime_value(beta_geo, gamma_gamma, x, t_x, T, m, horizon_months=24)
    in_days = customer_lifetime_value(days, gamma_gamma, x, t_x * 7, T * 7, m, horizon_months=24)
    assert in_days == pytest.approx(in_weeks, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon_months": 0}, r"horizon_months must be a whole number of months >= 1, got 0"),
        ({"horizon_months": 1.5}, r"horizon_months must be a whole number of months >= 1, got 1.5"),
        ({"horizon_months": True}, r"horizon_months must be a whole number"),
        ({"monthly_discount_rate": -0.01}, r"monthly_discount_rate must be a number in \[0, 1\)"),
        ({"monthly_discount_rate": 1.0}, r"monthly_discount_rate must be a number in \[0, 1\)"),
        ({"monthly_discount_rate": "0.01"}, r"monthly_discount_rate must be a number"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], match: str) -> None:
    beta_geo, gamma_gamma = published_models()
    with pytest.raises(InvalidInput, match=match):
        customer_lifetime_value(beta_geo, gamma_gamma, [1], [1.0], [2.0], [10.0], **kwargs)  # type: ignore[arg-type]


def test_bad_customer_inputs_are_rejected() -> None:
    beta_geo, gamma_gamma = published_models()
    with pytest.raises(InvalidInput, match=r"recency > T"):
        customer_lifetime_value(beta_geo, gamma_gamma, [1], [3.0], [2.0], [10.0])
    with pytest.raises(InvalidInput, match=r"one value per customer, got lengths 2 and 1"):
        customer_lifetime_value(beta_geo, gamma_gamma, [1, 1], [1.0, 1.0], [2.0, 2.0], [10.0])
    with pytest.raises(InvalidInput, match=r"monetary must be > 0 for customers with repeat purchases"):
        customer_lifetime_value(beta_geo, gamma_gamma, [1], [1.0], [2.0], [0.0])


def test_models_must_be_fitted() -> None:
    beta_geo, gamma_gamma = published_models()
    with pytest.raises(NotFitted, match=r"BetaGeoModel is not fitted"):
        customer_lifetime_value(BetaGeoModel(), gamma_gamma, [1], [1.0], [2.0], [10.0])
    with pytest.raises(NotFitted, match=r"GammaGammaModel is not fitted"):
        customer_lifetime_value(beta_geo, GammaGammaModel(), [1], [1.0], [2.0], [10.0])
