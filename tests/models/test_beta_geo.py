"""BG/NBD: published values of Fader, Hardie & Lee (2005), numerical checks, simulation recovery, validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special

import kehu.models.beta_geo
import kehu.sample
from kehu.errors import ConvergenceError, InvalidInput, NotFitted
from kehu.models.beta_geo import (
    BetaGeoModel,
    conditional_expected_purchases,
    distinct_rows,
    log_likelihood,
    log_likelihood_gradient,
    log_likelihood_hessian,
    probability_alive,
    unconditional_expected_purchases,
)
from kehu.models.summary import summary_from_transactions

DATA = Path(__file__).parent / "data"
CDNOW_MASTER = Path(kehu.sample.__file__).parent / "cdnow" / "CDNOW_master.txt"
PUBLISHED = np.array([0.243, 4.414, 0.793, 2.426])  # r, alpha, a, b (weeks)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(DATA / "cdnow_customers_summary.csv", index_col="ID")


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def theta(model: BetaGeoModel) -> np.ndarray:
    return np.array([model.params_[k] for k in ("r", "alpha", "a", "b")])


def quadrature_expected_purchases(params: np.ndarray, t: float, x: float, t_x: float, T: float) -> float:
    """E[Y(t) | x, t_x, T] by integrating eq. (8)'s E[X(t) | λ, p] = (1 - e^(-λpt)) / p over the posterior.

    λ is integrated out in closed form (a gamma integral), p numerically: no hypergeometric function involved.
    Both numerator and likelihood are taken relative to (α + T)^-(r + x) · Γ(r + x) α^r / Γ(r).
    """
    r, alpha, a, b = params

    def integrand(p: float) -> float:
        log_prior = (a - 2) * np.log(p) + (b + x - 1) * np.log1p(-p) - special.betaln(a, b)
        return float(np.exp(log_prior) * -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))))

    numerator = integrate.quad(integrand, 0, 1, limit=500, epsabs=0, epsrel=1e-11, points=[1e-6, 1e-3, 0.1])[0]
    log_alive = special.betaln(a, b + x) - special.betaln(a, b)
    log_dead = -np.inf
    if x > 0:
        log_dead = (
            special.betaln(a + 1, b + x - 1) - special.betaln(a, b) + (r + x) * np.log((alpha + T) / (alpha + t_x))
        )
    return numerator / float(np.exp(np.logaddexp(log_alive, log_dead)))


def central_differences(f: Callable[[np.ndarray], float], params: np.ndarray, rel_step: float = 1e-5) -> np.ndarray:
    steps = np.diag(rel_step * params)
    return np.array([(f(params + e) - f(params - e)) / (2 * e.sum()) for e in steps])


def simulate(n: int, r: float, alpha: float, a: float, b: float, seed: int) -> tuple[np.ndarray, ...]:
    """n BG/NBD customers in weeks, with T in whole days 30..540 and purchase times rounded to whole days."""
    rng = np.random.default_rng(seed)
    T_days = rng.integers(30, 541, size=n)
    T = T_days / 7.0
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    purchases = rng.poisson(lam * T)  # while active
    dropout = rng.geometric(p)  # the repeat purchase after which the customer drops out: 1, 2, ...
    x = np.minimum(purchases, dropout)
    # Given k Poisson events in (0, T], the x-th of them happens at T · Beta(x, k - x + 1).
    xs = np.maximum(x, 1)
    t_x = np.where(x > 0, T * rng.beta(xs, np.maximum(purchases - xs + 1, 1)), 0.0)
    return x.astype(float), np.round(t_x * 7.0) / 7.0, T_days / 7.0


# ------------------------------------------------------------------------------------------------ published values


def test_params_match_fader_hardie_lee_2005(fitted: BetaGeoModel) -> None:
    assert fitted.params_ == pytest.approx(dict(zip(("r", "alpha", "a", "b"), PUBLISHED, strict=True)), abs=5e-4)
    assert (fitted.n_customers_, fitted.converged_) == (2357, True)
    assert fitted.n_triples_ < fitted.n_customers_


def test_log_likelihood_matches_fader_hardie_lee_2005(fitted: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    per_customer = log_likelihood(theta(fitted), cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert per_customer == pytest.approx(fitted.log_likelihood_, abs=1e-8)


def test_conditional_expectation_matches_hardie_spreadsheet(fitted: BetaGeoModel) -> None:
    assert conditional_expected_purchases(PUBLISHED, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    assert fitted.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)


def test_unconditional_expectation_matches_hardie_spreadsheet(fitted: BetaGeoModel) -> None:
    t = [0.1429, 1, 3, 31.8571, 32, 78]
    got = fitted.expected_purchases_unconditional(t)
    assert got[:5] == pytest.approx([0.0078, 0.0532, 0.1506, 1.0405, 1.0437], abs=5e-5)
    # Exact at the MLE (see the quadrature test) is 1.85797: the spreadsheet's 1.8576 agrees to 3 decimals only.
    assert got[5] == pytest.approx(1.8576, abs=5e-4)
    assert np.array_equal(got, unconditional_expected_purchases(theta(fitted), t))


def test_holdout_tracking_matches_fader_hardie_lee_2005_section_7() -> None:
    raw = pd.read_csv(
        DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, names=["id", "sid", "day", "cds", "usd"], dtype={"day": str}
    )
    df = summary_from_transactions(
        raw["sid"], raw["day"], observation_end=date(1998, 6, 30), calibration_end=date(1997, 9, 30)
    )
    model = BetaGeoModel().fit(df["frequency"], df["recency"], df["T"])
    # Cumulative repeat purchases to week 78: BG/NBD under-forecasts by about 4 %.
    forecast = model.expected_purchases_unconditional(df["T"] + df["duration_holdout"]).sum()
    actual = (df["frequency"] + df["frequency_holdout"]).sum()
    assert forecast / actual - 1 == pytest.approx(-0.04, abs=0.005)
    # Customers without calibration repeats: 0.24 holdout purchases each on average, BG/NBD says 0.23 (fig. 4).
    zero = (df["frequency"] == 0).to_numpy()
    expected = model.expected_purchases(39, df["frequency"], df["recency"], df["T"])
    assert df["frequency_holdout"][zero].mean() == pytest.approx(0.24, abs=0.005)
    assert expected[zero].mean() == pytest.approx(0.23, abs=0.005)


# -------------------------------------------------------------------------------------------------------- numerics


@pytest.mark.parametrize(
    ("params", "t", "x", "t_x", "T"),
    [
        (PUBLISHED, 39, 2, 30.43, 38.86),
        (PUBLISHED, 39, 0, 0, 38.86),
        (PUBLISHED, 1, 1, 1.71, 38.86),
        (PUBLISHED, 39, 200, 38, 39),
        (PUBLISHED, 39, 200, 30, 39),
        (PUBLISHED * [1, 7, 1, 1], 365, 200, 2100, 2100),
        (PUBLISHED * [1, 7, 1, 1], 365, 300, 1500, 5000),
    ],
)
def test_conditional_expectation_matches_numerical_integration(
    params: np.ndarray, t: float, x: float, t_x: float, T: float
) -> None:
    expected = quadrature_expected_purchases(params, t, x, t_x, T)
    assert conditional_expected_purchases(params, t, x, t_x, T) == pytest.approx(expected, rel=1e-9)


def test_unconditional_expectation_matches_numerical_integration(fitted: BetaGeoModel) -> None:
    for t in (0.1429, 3.0, 78.0, 520.0):
        expected = quadrature_expected_purchases(theta(fitted), t, 0, 0, 0)
        assert unconditional_expected_purchases(theta(fitted), t) == pytest.approx(expected, rel=1e-9)


def test_probability_alive_closed_form() -> None:
    r, alpha, a, b = PUBLISHED
    by_hand = 1 / (1 + a / (b + 2 - 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    assert probability_alive(PUBLISHED, 2, 30.43, 38.86) == pytest.approx(by_hand, rel=1e-12)
    assert probability_alive(PUBLISHED, [0, 5], [0, 38.86], [38.86, 38.86])[0] == 1.0


@pytest.mark.parametrize("params", [PUBLISHED, np.array([0.5, 3.0, 1.3, 0.7]), np.array([2.0, 0.4, 0.2, 9.0])])
def test_gradient_matches_finite_differences(cdnow: pd.DataFrame, params: np.ndarray) -> None:
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    analytic = log_likelihood_gradient(params, *args)
    numeric = central_differences(lambda p: log_likelihood(p, *args), params)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-5)


def test_gradient_matches_finite_differences_with_weights_and_large_x() -> None:
    x = np.array([0, 1, 3, 200, 200, 350])
    t_x = np.array([0, 10, 500, 2000, 1200, 2990])
    T = np.array([3000, 3000, 700, 2100, 3000, 3000])
    w = np.array([10, 3, 1, 2, 5, 1])
    params = np.array([0.3, 25.0, 0.8, 2.5])
    analytic = log_likelihood_gradient(params, x, t_x, T, w)
    numeric = central_differences(lambda p: log_likelihood(p, x, t_x, T, w), params)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("params", [PUBLISHED, np.array([0.5, 3.0, 1.3, 0.7]), np.array([2.0, 0.4, 0.2, 9.0])])
def test_hessian_matches_finite_differences_of_the_gradient(cdnow: pd.DataFrame, params: np.ndarray) -> None:
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    analytic = log_likelihood_hessian(params, *args)
    numeric = np.column_stack(
        [central_differences(lambda p, i=i: log_likelihood_gradient(p, *args)[i], params) for i in range(4)]
    )
    assert np.array_equal(analytic, analytic.T)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-5)


def test_hessian_matches_finite_differences_with_weights_and_large_x() -> None:
    x = np.array([0, 1, 3, 200, 200, 350])
    t_x = np.array([0, 10, 500, 2000, 1200, 2990])
    T = np.array([3000, 3000, 700, 2100, 3000, 3000])
    w = np.array([10, 3, 1, 2, 5, 1])
    params = np.array([0.3, 25.0, 0.8, 2.5])
    analytic = log_likelihood_hessian(params, x, t_x, T, w)
    numeric = np.column_stack(
        [central_differences(lambda p, i=i: log_likelihood_gradient(p, x, t_x, T, w)[i], params) for i in range(4)]
    )
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def per_customer_reference(params: np.ndarray, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple:
    """P(alive) and eq. (10) evaluated customer by customer, straight from the formulas (Euler-transformed 2F1)."""
    r, alpha, a, b = params
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)
    d = np.log(a) - np.log(b + xs - 1) + (r + xs) * (np.log(alpha + T) - np.log(alpha + t_x))
    alive = special.expit(-np.where(repeat, d, -np.inf))
    c = a + b + x - 1
    hyp = special.hyp2f1(a + b - 1 - r, a - 1, c, t / (alpha + T + t))
    if_alive = c / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (a - 1) * hyp)
    return alive, if_alive * alive


@pytest.mark.parametrize("whole_days", [True, False])
def test_scoring_equals_the_per_customer_formulas_on_random_customers(whole_days: bool) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    T = rng.integers(1, 800, n).astype(float)
    x = np.where(rng.random(n) < 0.4, 0, rng.integers(1, 300, n)).astype(float)
    t_x = np.where(x > 0, np.floor(T * rng.random(n)), 0.0)
    if not whole_days:
        T, t_x = T / 7.0, t_x / 7.0  # weeks: the fallback to hashing
    params = np.array([0.25, 28.0 if whole_days else 4.0, 0.8, 2.5])
    model = BetaGeoModel()
    model.params_ = dict(zip(("r", "alpha", "a", "b"), params, strict=True))
    horizon = 90.0 if whole_days else 13.0
    alive, expected = per_customer_reference(params, horizon, x, t_x, T)
    assert model.probability_alive(x, t_x, T) == pytest.approx(alive, rel=1e-10, abs=1e-300)
    assert model.expected_purchases(horizon, x, t_x, T) == pytest.approx(expected, rel=1e-10, abs=1e-300)
    assert conditional_expected_purchases(params, horizon, x, t_x, T) == pytest.approx(expected, rel=1e-10, abs=1e-300)
    per_customer_t = rng.integers(0, 100, n).astype(float)
    _, varying = per_customer_reference(params, per_customer_t, x, t_x, T)
    assert model.expected_purchases(per_customer_t, x, t_x, T) == pytest.approx(varying, rel=1e-10, abs=1e-300)


def test_stable_at_x_200() -> None:
    days = PUBLISHED * [1, 7, 1, 1]
    for params, t, x, t_x, T in [(PUBLISHED, 52, 200, 38.5, 39.0), (days, 365, 200, 4000, 5000)]:
        values = [
            log_likelihood(params, x, t_x, T),
            *log_likelihood_gradient(params, x, t_x, T),
            conditional_expected_purchases(params, t, x, t_x, T),
            probability_alive(params, x, t_x, T),
        ]
        assert np.all(np.isfinite(values))
    # Alive and buying ~ (r + x) / (alpha + T) a week: close to t · 200 / 39 in the next weeks.
    assert conditional_expected_purchases(PUBLISHED, 1, 200, 39, 39) == pytest.approx(200 / 43.4, rel=0.02)
    # A heavy buyer silent for most of the period is almost surely gone, without overflow.
    assert probability_alive(days, 300, 1500, 5000) < 1e-100


def test_time_unit_days_scales_alpha_only(cdnow: pd.DataFrame, fitted: BetaGeoModel) -> None:
    days = BetaGeoModel(time_unit="days").fit(cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert days.params_["alpha"] == pytest.approx(7 * fitted.params_["alpha"], rel=1e-6)
    for name in ("r", "a", "b"):
        assert days.params_[name] == pytest.approx(fitted.params_[name], rel=1e-6)
    # The likelihood is a density in the x purchase times: rescaling time by 7 shifts it by -log(7) per purchase.
    shift = -np.log(7) * cdnow["frequency"].sum()
    assert days.log_likelihood_ == pytest.approx(fitted.log_likelihood_ + shift, abs=1e-6)
    assert days.standard_errors_["alpha"] == pytest.approx(7 * fitted.standard_errors_["alpha"], rel=1e-4)
    # Forecasts agree when the horizon is converted too.
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    args_days = (cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert days.expected_purchases(273, *args_days) == pytest.approx(fitted.expected_purchases(39, *args), rel=1e-6)


@pytest.mark.parametrize("shift", [0.0, 1e6, 0.5])
def test_distinct_rows_of_whole_and_fractional_columns(shift: float) -> None:
    # Whole numbers in a narrow range take the arithmetic path, anything else (0.5, a wide range) the hash path.
    rng = np.random.default_rng(3)
    cols = [rng.integers(0, 5, 5000).astype(float), rng.integers(-3, 40, 5000) + shift, rng.integers(0, 3, 5000) * 1e9]
    cols[1][7] = -0.0
    uniques, counts, inverse = distinct_rows(*cols)
    for u, col in zip(uniques, cols, strict=True):
        assert np.array_equal(u[inverse], col)
    assert counts.sum() == 5000 and len(counts) == len(np.unique(np.column_stack(cols), axis=0))
    assert np.array_equal(counts, np.bincount(inverse))
    first_rows = np.sort(np.unique(inverse, return_index=True)[1])
    assert np.array_equal(inverse[first_rows], np.arange(len(counts)))  # numbered in order of first appearance


def test_distinct_triples_with_counts_equal_per_customer_likelihood(cdnow: pd.DataFrame) -> None:
    cols = [cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    uniques, counts, inverse = distinct_rows(*cols)
    for u, col in zip(uniques, cols, strict=True):
        assert np.array_equal(u[inverse], col)
    assert counts.sum() == len(cdnow) and len(counts) == len(np.unique(np.column_stack(cols), axis=0))
    assert log_likelihood(PUBLISHED, *uniques, counts) == pytest.approx(log_likelihood(PUBLISHED, *cols), rel=1e-13)


def test_standard_errors_from_inverse_hessian(cdnow: pd.DataFrame, fitted: BetaGeoModel) -> None:
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    th = theta(fitted)
    hess = np.column_stack(
        [
            (log_likelihood_gradient(th + e, *args) - log_likelihood_gradient(th - e, *args)) / (2 * e.sum())
            for e in np.diag(1e-4 * th)
        ]
    )
    se = np.sqrt(np.diag(np.linalg.inv(-(hess + hess.T) / 2)))
    assert list(fitted.standard_errors_.values()) == pytest.approx(se, rel=1e-4)
    assert np.all(se > 0)


# ---------------------------------------------------------------------------------------------------- model methods


def test_scoring_matches_pure_functions_per_customer(cdnow: pd.DataFrame, fitted: BetaGeoModel) -> None:
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    th = theta(fitted)
    assert fitted.expected_purchases(10, x, t_x, T) == pytest.approx(
        conditional_expected_purchases(th, 10, x, t_x, T), rel=1e-14
    )
    per_customer_t = np.arange(len(x)) % 52
    assert fitted.expected_purchases(per_customer_t, x, t_x, T) == pytest.approx(
        conditional_expected_purchases(th, per_customer_t, x, t_x, T), rel=1e-14, abs=1e-300
    )
    assert fitted.probability_alive(x, t_x, T) == pytest.approx(probability_alive(th, x, t_x, T), rel=1e-14)
    assert fitted.expected_purchases(0, x, t_x, T) == pytest.approx(np.zeros(len(x)), abs=1e-12)


def test_recovers_simulated_parameters() -> None:
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    x, t_x, T = simulate(1_000_000, *truth.values(), seed=20050301)
    model = BetaGeoModel().fit(x, t_x, T)
    assert model.n_customers_ == 1_000_000 and model.n_triples_ < 400_000
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name], name
    alive = model.probability_alive(x, t_x, T)
    assert alive.shape == (1_000_000,) and np.all((alive >= 0) & (alive <= 1))


def test_start_from_a_subsample_fit_gives_the_same_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    x, t_x, T = simulate(300_000, 0.25, 4.0, 0.8, 2.5, seed=11)
    warm = BetaGeoModel().fit(x, t_x, T)
    monkeypatch.setattr(kehu.models.beta_geo, "_WARM_START", 10**9)  # no subsample: start from all parameters = 1
    cold = BetaGeoModel().fit(x, t_x, T)
    assert warm.params_ == pytest.approx(cold.params_, rel=1e-9)
    assert warm.standard_errors_ == pytest.approx(cold.standard_errors_, rel=1e-6)
    assert warm.log_likelihood_ == pytest.approx(cold.log_likelihood_, abs=1e-6)


def test_full_cdnow_log_matches_independent_nelder_mead_fit() -> None:
    raw = pd.read_csv(
        CDNOW_MASTER,
        sep=r"\s+",
        skiprows=1,
        header=None,
        names=["id", "day", "cds", "usd"],
        dtype={"id": str, "day": str},
    )
    # x, t_x and T straight from the log: one purchase per customer and day, time in days / 7, calibration to 97-09-30.
    raw["date"] = pd.to_datetime(raw["day"], format="%Y%m%d")
    days = raw[["id", "date"]].drop_duplicates()
    g = days.groupby("id")["date"]
    first = g.min()
    cal = days[days["date"] <= pd.Timestamp("1997-09-30")].groupby("id")["date"]
    x = (cal.size() - 1).to_numpy(float)
    t_x = ((cal.max() - first).dt.days / 7).to_numpy()
    T = ((pd.Timestamp("1997-09-30") - first).dt.days / 7).to_numpy()
    assert len(x) == 23_570

    summary = summary_from_transactions(
        raw["id"], raw["day"], observation_end=date(1998, 6, 30), calibration_end=date(1997, 9, 30)
    )
    assert np.array_equal(summary["frequency"], x) and np.allclose(summary["recency"], t_x)
    model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])

    def negative_log_likelihood(log_params: np.ndarray) -> float:  # eq. (6) as ln A1 + ln A2 + ln(A3 + δ A4)
        r, alpha, a, b = np.exp(log_params)
        ln_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        ln_a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
        ln_a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            ln_a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
        return float(-np.sum(ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)))

    options = {"xatol": 1e-8, "fatol": 1e-8, "maxiter": 10_000, "maxfev": 20_000}
    start = np.zeros(4)
    for _ in range(2):  # a restart from the first answer guards against a collapsed simplex
        start = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead", options=options).x
    independent = np.exp(start)
    assert theta(model) == pytest.approx(independent, rel=5e-4)
    assert model.log_likelihood_ == pytest.approx(-negative_log_likelihood(start), abs=1e-4)


def test_methods_require_fit() -> None:
    model = BetaGeoModel()
    for call in (
        lambda: model.expected_purchases(1, [1], [1], [2]),
        lambda: model.probability_alive([1], [1], [2]),
        lambda: model.expected_purchases_unconditional([1]),
    ):
        with pytest.raises(NotFitted, match=r"BetaGeoModel is not fitted; call fit\(frequency, recency, T\) first"):
            call()


def test_hyper_parameters_are_keyword_only_and_stored_as_given() -> None:
    model = BetaGeoModel(time_unit="days", tol=1e-6, max_iter=50)
    assert (model.time_unit, model.tol, model.max_iter) == ("days", 1e-6, 50)
    with pytest.raises(TypeError):
        BetaGeoModel("days")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_unit": "months"}, r"time_unit must be 'days' or 'weeks', got 'months'"),
        ({"tol": 0}, r"tol must be a positive number, got 0"),
        ({"max_iter": 0}, r"max_iter must be a positive integer, got 0"),
    ],
)
def test_bad_hyper_parameters_are_rejected_by_fit(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        BetaGeoModel(**kwargs).fit([1], [1], [2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "match"),
    [
        ([1, 2], [1], [2, 3], r"one value per customer, got lengths 2, 1 and 2"),
        ([], [], [], r"frequency, recency and T are empty: pass at least one customer"),
        ([1, np.nan], [1, 1], [2, 2], r"frequency has 1 missing or infinite value\(s\) \(first at position 1\)"),
        ([1, 1], [1, 1], [2, np.inf], r"T has 1 missing or infinite value\(s\) \(first at position 1\)"),
        ([1, 1], [-1, 1], [2, 2], r"recency has 1 negative value\(s\) \(first at position 0: -1\)"),
        ([-2, 1], [1, 1], [2, 2], r"frequency has 1 negative value\(s\)"),
        ([1, 2], [3, 1], [2, 2], r"recency > T for 1 customer\(s\) \(first at position 0: recency=3, T=2\)"),
        ([0, 1], [1, 1], [2, 2], r"frequency is 0 but recency > 0 for 1 customer\(s\) \(first at position 0"),
        ([1.5, 1], [1, 1], [2, 2], r"frequency must hold whole numbers of repeat purchases, got 1.5 at position 0"),
        (["a"], [1], [2], r"frequency must be numeric"),
        ([[1, 2]], [[1, 1]], [[2, 2]], r"frequency must be one-dimensional"),
    ],
)
def test_bad_inputs_are_rejected(frequency: list, recency: list, T: list, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        BetaGeoModel().fit(frequency, recency, T)
    scorer = BetaGeoModel()
    scorer.params_ = dict(zip(("r", "alpha", "a", "b"), PUBLISHED, strict=True))
    with pytest.raises(InvalidInput, match=match):
        scorer.probability_alive(frequency, recency, T)


def test_scoring_validates_inputs(fitted: BetaGeoModel) -> None:
    with pytest.raises(InvalidInput, match=r"recency > T"):
        fitted.probability_alive([1], [5], [4])
    with pytest.raises(InvalidInput, match=r"t has 1 negative value"):
        fitted.expected_purchases(-1, [1], [1], [2])
    with pytest.raises(InvalidInput, match=r"t must be one number or one per customer, got 2 values for 3 customers"):
        fitted.expected_purchases([1, 2], [1, 1, 1], [1, 1, 1], [2, 2, 2])


def test_fit_that_does_not_converge_raises() -> None:
    x, t_x, T = simulate(20_000, 0.25, 4.0, 0.8, 2.5, seed=1)
    with pytest.raises(ConvergenceError, match=r"did not converge after 1 iterations.*check the time unit"):
        BetaGeoModel(max_iter=1).fit(x, t_x, T)
    with pytest.raises(ConvergenceError, match=r"no customer has a repeat purchase"):
        BetaGeoModel().fit([0, 0, 0], [0, 0, 0], [5, 6, 7])
    # Every repeat buyer bought at the very end: no sign of drop-out, so p -> 0 (a -> 0 or b -> infinity).
    with pytest.raises(ConvergenceError, match=r"BG/NBD fit (did not converge|ended at a point)"):
        BetaGeoModel().fit([1, 2, 3, 0] * 50, [10, 10, 10, 0] * 50, [10, 10, 10, 10] * 50)
