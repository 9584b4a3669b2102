"""Gamma-Gamma: published values of Fader, Hardie & Lee (2005, JMR), numerical checks, recovery, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from kehu.errors import ConvergenceError, InvalidInput, NotFitted
from kehu.models.gamma_gamma import (
    GammaGammaModel,
    conditional_expected_spend,
    log_likelihood,
    log_likelihood_gradient,
    log_likelihood_hessian,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def repeat_buyers() -> pd.DataFrame:
    df = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    return df[df["x"] > 0]


@pytest.fixture(scope="module")
def fitted(repeat_buyers: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(repeat_buyers["x"], repeat_buyers["zbar"])


def theta(model: GammaGammaModel) -> np.ndarray:
    return np.array([model.params_[k] for k in ("p", "q", "v")])


def test_params_match_fader_hardie_lee_2005_jmr(fitted: GammaGammaModel) -> None:
    # The paper reports 15.44 for v; on this CSV's spends (rounded to cents) the MLE is 15.4477.
    assert fitted.params_ == pytest.approx({"p": 6.25, "q": 3.74, "v": 15.44}, abs=0.01)
    assert (fitted.n_customers_, fitted.converged_) == (946, True)
    assert fitted.n_pairs_ <= 946


def test_log_likelihood_is_the_density_of_the_mean_spend(repeat_buyers: pd.DataFrame, fitted: GammaGammaModel) -> None:
    p, q, v = theta(fitted)
    x, m = repeat_buyers["x"].to_numpy(float), repeat_buyers["zbar"].to_numpy()
    by_hand = np.sum(
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + p * x * np.log(x)
        + (p * x - 1) * np.log(m)
        - (p * x + q) * np.log(v + x * m)
    )
    assert fitted.log_likelihood_ == pytest.approx(by_hand, abs=1e-8)
    assert log_likelihood(theta(fitted), x, m) == pytest.approx(by_hand, abs=1e-8)


@pytest.mark.parametrize("params", [np.array([6.25, 3.74, 15.44]), np.array([0.7, 1.5, 80.0]), np.array([20, 9, 3.0])])
def test_gradient_matches_finite_differences(repeat_buyers: pd.DataFrame, params: np.ndarray) -> None:
    args = (repeat_buyers["x"], repeat_buyers["zbar"])
    steps = np.diag(1e-5 * params)
    numeric = [(log_likelihood(params + e, *args) - log_likelihood(params - e, *args)) / (2 * e.sum()) for e in steps]
    assert log_likelihood_gradient(params, *args) == pytest.approx(numeric, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize("params", [np.array([6.25, 3.74, 15.44]), np.array([0.7, 1.5, 80.0]), np.array([20, 9, 3.0])])
def test_hessian_matches_finite_differences_of_the_gradient(repeat_buyers: pd.DataFrame, params: np.ndarray) -> None:
    args = (repeat_buyers["x"], repeat_buyers["zbar"])
    steps = np.diag(1e-5 * params)
    numeric = np.column_stack(
        [
            (log_likelihood_gradient(params + e, *args) - log_likelihood_gradient(params - e, *args)) / (2 * e.sum())
            for e in steps
        ]
    )
    analytic = log_likelihood_hessian(params, *args)
    assert np.array_equal(analytic, analytic.T)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-5)


def test_expected_spend_equals_the_formula_on_random_customers() -> None:
    rng = np.random.default_rng(5)
    x = np.where(rng.random(10_000) < 0.3, 0, rng.integers(1, 200, 10_000)).astype(float)
    m = np.where(x > 0, np.round(rng.gamma(2.0, 20.0, 10_000), 2) + 0.01, np.nan)  # m of non-repeat buyers unused
    model = GammaGammaModel()
    model.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    by_hand = np.where(x > 0, (15.44 + x * np.nan_to_num(m)) * 6.25 / (6.25 * x + 3.74 - 1), model.mean_spend_)
    assert model.expected_spend(x, m) == pytest.approx(by_hand, rel=1e-12)


def test_expected_spend_is_a_weighted_average_of_population_and_own_mean(fitted: GammaGammaModel) -> None:
    p, q, v = theta(fitted)
    x, m = np.array([1, 2, 10, 0]), np.array([20.0, 50.0, 9.99, 0.0])
    weight = p * x / (p * x + q - 1)
    by_hand = (1 - weight) * p * v / (q - 1) + weight * m
    assert fitted.expected_spend(x, m) == pytest.approx(by_hand, rel=1e-12)
    assert conditional_expected_spend(theta(fitted), x, m) == pytest.approx(by_hand, rel=1e-12)
    assert fitted.mean_spend_ == pytest.approx(p * v / (q - 1), rel=1e-15)
    assert fitted.expected_spend([0], [123.0])[0] == pytest.approx(fitted.mean_spend_)  # m ignored without repeats


def test_currency_unit_scales_v_only(repeat_buyers: pd.DataFrame, fitted: GammaGammaModel) -> None:
    cents = GammaGammaModel().fit(repeat_buyers["x"], repeat_buyers["zbar"] * 100)
    assert cents.params_["v"] == pytest.approx(100 * fitted.params_["v"], rel=1e-6)
    assert (cents.params_["p"], cents.params_["q"]) == pytest.approx(
        (fitted.params_["p"], fitted.params_["q"]), rel=1e-6
    )
    assert cents.log_likelihood_ == pytest.approx(fitted.log_likelihood_ - 946 * np.log(100), abs=1e-6)


def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(19)
    p, q, v, n = 6.0, 4.0, 15.0, 100_000
    x = rng.integers(1, 12, size=n)
    nu = rng.gamma(q, 1 / v, size=n)
    m = np.round(rng.gamma(p * x, 1 / (nu * x)), 2)  # mean of x Gamma(p, nu) values, in cents
    model = GammaGammaModel().fit(x, m)
    for name, value in {"p": p, "q": q, "v": v}.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name], name


def test_fit_takes_repeat_buyers_only() -> None:
    with pytest.raises(
        InvalidInput,
        match=r"repeat buyers only, but 2 customer\(s\) have frequency 0 \(first at "
        r"position 1\); pass only customers with frequency > 0",
    ):
        GammaGammaModel().fit([1, 0, 2, 0], [10.0, 0.0, 5.0, 0.0])


@pytest.mark.parametrize(
    ("frequency", "monetary", "match"),
    [
        ([1, 2, 3], [10.0, 0.0, -5.0], r"monetary must be > 0 .*: 2 row\(s\) have monetary <= 0 \(first at position 1"),
        ([1, 2], [10.0], r"one value per customer, got lengths 2 and 1"),
        ([], [], r"frequency and monetary are empty"),
        ([1, 2], [10.0, np.nan], r"monetary has 1 missing or infinite value\(s\) for repeat buyers"),
        ([1, 2.5], [10.0, 3.0], r"frequency must hold whole numbers"),
        ([1, -1], [10.0, 3.0], r"frequency has 1 negative value"),
    ],
)
def test_bad_inputs_are_rejected(frequency: list, monetary: list, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        GammaGammaModel().fit(frequency, monetary)


def test_methods_require_fit() -> None:
    model = GammaGammaModel()
    with pytest.raises(NotFitted, match=r"GammaGammaModel is not fitted; call fit\(frequency, monetary\) first"):
        model.expected_spend([1], [10.0])
    with pytest.raises(NotFitted, match=r"GammaGammaModel is not fitted"):
        _ = model.mean_spend_


def test_mean_spend_needs_q_above_one() -> None:
    model = GammaGammaModel()
    model.params_ = {"p": 2.0, "q": 0.8, "v": 10.0}
    with pytest.raises(ConvergenceError, match=r"q = 0.8 <= 1, so the mean spend p·v/\(q-1\) does not exist"):
        _ = model.mean_spend_
    with pytest.raises(ConvergenceError, match=r"does not exist"):
        model.expected_spend([0, 1], [0.0, 10.0])
    assert model.expected_spend([1], [10.0])[0] == pytest.approx((10 + 10) * 2 / (2 + 0.8 - 1))


def test_fit_that_does_not_converge_raises(repeat_buyers: pd.DataFrame) -> None:
    with pytest.raises(ConvergenceError, match=r"Gamma-Gamma fit did not converge after 1 iterations.*remove outliers"):
        GammaGammaModel(max_iter=1).fit(repeat_buyers["x"], repeat_buyers["zbar"])
    with pytest.raises(InvalidInput, match=r"max_iter must be a positive integer"):
        GammaGammaModel(max_iter=0).fit([1], [1.0])
