"""BG/NBD model of repeat purchases: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275-284.

While active, a customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase the customer drops out with
probability p ~ Beta(a, b). Per customer the data are x (repeat purchases), t_x (time of the last repeat purchase,
from the first purchase) and T (time from the first purchase to the end of the observation period), in one time unit
(days or weeks) that fixes the unit of α.

The module-level functions are the paper's formulas, computed in log space and vectorised over customers;
:class:`BetaGeoModel` fits them by maximum likelihood on the distinct (x, t_x, T) triples with their counts, so fitting
and scoring cost grows with the number of distinct triples, not of customers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from kehu.errors import ConvergenceError, InvalidInput, NotFitted

__all__ = [
    "BetaGeoModel",
    "as_rfm_arrays",
    "conditional_expected_purchases",
    "distinct_rows",
    "log_likelihood",
    "log_likelihood_gradient",
    "probability_alive",
    "unconditional_expected_purchases",
]

FloatArray = NDArray[np.float64]
TimeUnit = Literal["days", "weeks"]
PARAM_NAMES = ("r", "alpha", "a", "b")
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}

_NOT_FITTED = "BetaGeoModel is not fitted; call fit(frequency, recency, T) first"
_LOG_BOUND = 23.0  # |log parameter| beyond this (about 1e10 or 1e-10 in scaled time) counts as a runaway fit


# --------------------------------------------------------------------------------------------------- input handling


def _as_vector(name: str, values: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numeric (one number per customer): {exc}") from None
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise InvalidInput(f"{name} must be one-dimensional (one value per customer), got shape {arr.shape}")
    return arr


def _first(mask: NDArray[np.bool_]) -> tuple[int, int]:
    """Number of True entries and the position of the first one."""
    return int(mask.sum()), int(np.argmax(mask))


def _check_finite_nonnegative(name: str, arr: FloatArray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        k, i = _first(bad)
        raise InvalidInput(
            f"{name} has {k} missing or infinite value(s) (first at position {i}); drop or fill those customers first"
        )
    neg = arr < 0
    if neg.any():
        k, i = _first(neg)
        raise InvalidInput(f"{name} has {k} negative value(s) (first at position {i}: {arr[i]:g}); {name} must be >= 0")


def _check_whole(name: str, arr: FloatArray) -> None:
    frac = arr != np.floor(arr)
    if frac.any():
        k, i = _first(frac)
        raise InvalidInput(
            f"{name} must hold whole numbers of repeat purchases, got {arr[i]:g} at position {i} ({k} such "
            f"value(s)); count repeat purchase days (see kehu.models.summary.summary_from_transactions)"
        )


def as_rfm_arrays(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate per-customer (x, t_x, T) inputs and return them as float arrays.

    Parameters
    ----------
    frequency : array-like
        x, the number of repeat purchases (whole numbers >= 0).
    recency : array-like
        t_x, the time of the last repeat purchase measured from the first purchase (0 when x = 0).
    T : array-like
        The customer's age: time from the first purchase to the end of the observation period, >= recency.

    Returns
    -------
    tuple of numpy.ndarray
        x, t_x and T as one-dimensional float64 arrays.

    Raises
    ------
    InvalidInput
        Empty input, arrays of different lengths, non-numeric, missing or negative values, non-integer frequency,
        recency > T, or frequency 0 with recency > 0.
    """
    x = _as_vector("frequency", frequency)
    t_x = _as_vector("recency", recency)
    age = _as_vector("T", T)
    if not (len(x) == len(t_x) == len(age)):
        raise InvalidInput(
            f"frequency, recency and T must have one value per customer, got lengths {len(x)}, {len(t_x)} and "
            f"{len(age)}"
        )
    if len(x) == 0:
        raise InvalidInput("frequency, recency and T are empty: pass at least one customer")
    for name, arr in (("frequency", x), ("recency", t_x), ("T", age)):
        _check_finite_nonnegative(name, arr)
    _check_whole("frequency", x)
    late = t_x > age
    if late.any():
        k, i = _first(late)
        raise InvalidInput(
            f"recency > T for {k} customer(s) (first at position {i}: recency={t_x[i]:g}, T={age[i]:g}); the last "
            f"purchase cannot come after the end of the observation period: measure both from the first purchase, "
            f"in the same time unit"
        )
    orphan = (x == 0) & (t_x > 0)
    if orphan.any():
        k, i = _first(orphan)
        raise InvalidInput(
            f"frequency is 0 but recency > 0 for {k} customer(s) (first at position {i}: recency={t_x[i]:g}); "
            f"frequency must count repeat purchases (after the first one), and recency is 0 without them"
        )
    return x, t_x, age


def distinct_rows(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray, NDArray[np.intp]]:
    """The distinct rows of equally long columns, their counts, and the index that maps rows back.

    Hash-based (``pandas.factorize`` on each column, then on the combined codes), so it is linear in the number of
    rows; ``uniques[j][inverse]`` reproduces ``columns[j]``.

    Parameters
    ----------
    *columns : numpy.ndarray
        One-dimensional arrays of the same length n >= 1.

    Returns
    -------
    uniques : list of numpy.ndarray
        One array per column, of length k (the number of distinct rows), in order of first appearance.
    counts : numpy.ndarray
        How many rows each distinct row stands for (float64, usable as likelihood weights); sums to n.
    inverse : numpy.ndarray
        For each of the n rows, the index of its distinct row.
    """
    if not columns:
        raise InvalidInput("distinct_rows needs at least one column")
    code, _ = pd.factorize(columns[0])
    for col in columns[1:]:
        c, u = pd.factorize(col)
        code, _ = pd.factorize(code.astype(np.int64) * len(u) + c)
    inverse = np.asarray(code, dtype=np.intp)
    k = int(inverse.max()) + 1 if len(inverse) else 0
    first = np.empty(k, dtype=np.intp)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)
    counts = np.bincount(inverse, minlength=k).astype(np.float64)
    return [np.asarray(col)[first] for col in columns], counts, inverse


# ------------------------------------------------------------------------------------------------- pure functions


def _params(params: ArrayLike) -> tuple[float, float, float, float]:
    p = np.asarray(params, dtype=np.float64)
    if p.shape != (4,) or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise InvalidInput(f"BG/NBD params must be four positive numbers (r, alpha, a, b), got {params!r}")
    return float(p[0]), float(p[1]), float(p[2]), float(p[3])


def _log_odds_dead(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """d = log(a / (b + x - 1)) + (r + x) log((alpha + T) / (alpha + t_x)) for x > 0, and -inf for x = 0.

    exp(d) is the ratio of the likelihood's two terms (dropped out after the last purchase vs still active), so
    P(alive) = expit(-d) and the likelihood's mixing weights are expit(-d) and expit(d).
    """
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)
    d = np.log(a) - np.log(b + xs - 1.0) + (r + xs) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, d, -np.inf)


def _wsum(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Σ a·b without BLAS (a threaded BLAS dot is slow on a busy machine for these vector sizes)."""
    return float(np.einsum("i,i->", a, b))


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    return np.array(np.broadcast_to(np.asarray(weights, dtype=np.float64), (n,)))


def _broadcast(*arrays: ArrayLike) -> list[FloatArray]:
    return [np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in arrays])]


class _Design:
    """Weighted (x, t_x, T) rows prepared for fast repeated likelihood evaluations.

    Every term of eq. (6) that depends on x alone is evaluated once per distinct x (with the summed weight), every
    log(α + t) once per distinct time value, and customers without repeat purchases (whose likelihood is a function
    of T only) are summed per distinct T; only the repeat buyers' mixing term is evaluated row by row.
    """

    def __init__(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> None:
        xa, txa, Ta = (np.ravel(v) for v in _broadcast(x, t_x, T))
        w = _weights(weights, len(xa))
        ix, self.xv = pd.factorize(xa)
        self.xv = np.asarray(self.xv, dtype=np.float64)
        self.wx = np.bincount(ix, weights=w, minlength=len(self.xv))
        itime, tv = pd.factorize(np.concatenate([txa, Ta]))
        self.tv = np.asarray(tv, dtype=np.float64)
        itx, iT = itime[: len(xa)], itime[len(xa) :]
        rep = xa > 0
        self.n = float(w.sum())
        self.w0T = np.bincount(iT[~rep], weights=w[~rep], minlength=len(self.tv))  # non-repeat weight per T
        self.w_r, self.x_r, self.ix_r = w[rep], xa[rep], ix[rep]
        self.iT_r, self.itx_r = iT[rep], itx[rep]

    def loglik_and_gradient(self, params: ArrayLike) -> tuple[float, FloatArray]:
        r, alpha, a, b = _params(params)
        n, xv, wx = self.n, self.xv, self.wx
        lat = np.log(alpha + self.tv)
        inv_at = 1.0 / (alpha + self.tv)
        # Terms that depend on x only (plus constants), weighted by the customers with that x.
        xpos = np.where(xv > 0, xv, 1.0)
        log_odds_x = np.log(a) - np.log(b + xpos - 1.0)
        inv_bx1 = 1.0 / (b + xpos - 1.0)
        psi_abx = special.digamma(a + b + xv)
        ll = _wsum(wx, special.gammaln(r + xv) + special.gammaln(b + xv) - special.gammaln(a + b + xv)) + n * float(
            r * np.log(alpha) - special.gammaln(r) - special.gammaln(b) + special.gammaln(a + b)
        )
        g_r = _wsum(wx, special.digamma(r + xv)) + n * float(np.log(alpha) - special.digamma(r))
        g_alpha = n * r / alpha
        g_a = n * float(special.digamma(a + b)) - _wsum(wx, psi_abx)
        g_b = _wsum(wx, special.digamma(b + xv) - psi_abx) + n * float(special.digamma(a + b) - special.digamma(b))
        # Customers without repeat purchases: -r log(alpha + T), per distinct T.
        ll -= r * _wsum(self.w0T, lat)
        g_r -= _wsum(self.w0T, lat)
        g_alpha -= r * _wsum(self.w0T, inv_at)
        # Repeat buyers: -(r + x) log(alpha + T) + log(1 + e^d), row by row.
        w, rx = self.w_r, r + self.x_r
        lT, ltx = lat[self.iT_r], lat[self.itx_r]
        gap = lT - ltx
        d = log_odds_x[self.ix_r] + rx * gap
        e = np.exp(-np.abs(d))
        w_dead = np.where(d >= 0, 1.0, e) / (1.0 + e)  # expit(d), the weight of the "dropped out at t_x" term
        ll += _wsum(w, np.maximum(d, 0.0) + np.log1p(e) - rx * lT)
        ww = w * w_dead
        g_r += _wsum(ww, gap) - _wsum(w, lT)
        g_alpha -= _wsum(w * rx, inv_at[self.iT_r] + w_dead * (inv_at[self.itx_r] - inv_at[self.iT_r]))
        g_a += float(ww.sum()) / a
        g_b -= _wsum(ww, inv_bx1[self.ix_r])
        return ll, np.array([g_r, g_alpha, g_a, g_b])


def log_likelihood(
    params: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> float:
    """Total BG/NBD log-likelihood: Fader, Hardie & Lee (2005), eq. (6), summed over customers.

    L(r, α, a, b | x, t_x, T) = B(a, b + x) / B(a, b) · Γ(r + x) α^r / (Γ(r) (α + T)^(r + x))
    + δ(x > 0) · B(a + 1, b + x - 1) / B(a, b) · Γ(r + x) α^r / (Γ(r) (α + t_x)^(r + x)),

    evaluated as log L = log[first term] + log(1 + e^d), with d the log-ratio of the second term to the first, so it
    stays finite for x in the hundreds and T in the thousands.

    Parameters
    ----------
    params : array-like of 4 floats
        (r, α, a, b), all > 0; α is in the time unit of t_x and T.
    x, t_x, T : array-like
        Repeat purchases, time of the last repeat purchase, and age (broadcast together).
    weights : array-like, optional
        Number of customers each row stands for (distinct triples with their counts); 1 by default.

    Returns
    -------
    float
        Σ weights · log L. Changing the time unit by a factor s (t → s·t, α → s·α) adds -log(s) · Σ weights · x,
        the Jacobian of the x purchase times.
    """
    return _Design(x, t_x, T, weights).loglik_and_gradient(params)[0]


def log_likelihood_gradient(
    params: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> FloatArray:
    """Analytic gradient of :func:`log_likelihood` with respect to (r, α, a, b).

    With the mixing weights w_alive = 1 / (1 + e^d) and w_dead = 1 - w_alive of eq. (6)'s two terms and ψ the
    digamma function, per customer:
    ∂/∂r = ψ(r + x) - ψ(r) + log α - w_alive log(α + T) - w_dead log(α + t_x);
    ∂/∂α = r / α - (r + x) (w_alive / (α + T) + w_dead / (α + t_x));
    ∂/∂a = ψ(a + b) - ψ(a + b + x) + w_dead / a;
    ∂/∂b = ψ(b + x) - ψ(b) + ψ(a + b) - ψ(a + b + x) - w_dead / (b + x - 1).

    Returns
    -------
    numpy.ndarray
        The four partial derivatives of Σ weights · log L.
    """
    return _Design(x, t_x, T, weights).loglik_and_gradient(params)[1]


def probability_alive(params: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(active at T | x, t_x, T): Fader, Hardie & Lee (2005), eq. (A.10) of the technical appendix.

    P = 1 / (1 + δ(x > 0) · a / (b + x - 1) · ((α + T) / (α + t_x))^(r + x)), computed as a logistic function of the
    log-odds, so it does not overflow for large x or T. Customers without repeat purchases are alive with
    probability 1 under BG/NBD (drop-out only happens right after a repeat purchase).

    Returns
    -------
    numpy.ndarray
        Probabilities in [0, 1], broadcast over the inputs.
    """
    r, alpha, a, b = _params(params)
    xa, txa, Ta = _broadcast(x, t_x, T)
    return np.asarray(special.expit(-_log_odds_dead(r, alpha, a, b, xa, txa, Ta)), dtype=np.float64)


def _expected_if_alive(
    r: float, alpha: float, a: float, b: float, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """(a + b + x - 1) / (a - 1) · [1 - ((α + T) / (α + T + t))^(r + x) · 2F1(r + x, b + x; a + b + x - 1; z)].

    z = t / (α + T + t). The hypergeometric factor is rewritten with Euler's transformation
    2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z), which turns the product into
    (1 - z)^(a - 1) · 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z): parameters that no longer grow with x, so no
    overflow at x = 200 and large T. a = 1 exactly (a removable singularity) is nudged by 1e-9.
    """
    if abs(a - 1.0) < 1e-9:
        a = 1.0 + 1e-9
    c = a + b + x - 1.0
    z = t / (alpha + T + t)
    log_1mz = -np.log1p(t / (alpha + T))
    hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return np.asarray(c / (a - 1.0) * (1.0 - np.exp((a - 1.0) * log_1mz) * hyp), dtype=np.float64)


def conditional_expected_purchases(
    params: ArrayLike, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t], Fader, Hardie & Lee (2005), eq. (10).

    E = (a + b + x - 1) / (a - 1) · [1 - ((α + T) / (α + T + t))^(r + x) 2F1(r + x, b + x; a + b + x - 1;
    t / (α + T + t))] / (1 + δ(x > 0) a / (b + x - 1) ((α + T) / (α + t_x))^(r + x)),

    i.e. P(alive) times the expectation for a customer still active at T; the hypergeometric term is evaluated
    after Euler's transformation, stable for x in the hundreds.

    Parameters
    ----------
    params : array-like of 4 floats
        (r, α, a, b).
    t : float or array-like
        Length of the forecast period (>= 0), in the time unit of t_x, T and α.
    x, t_x, T : array-like
        Per-customer repeat purchases, recency and age (broadcast with t).

    Returns
    -------
    numpy.ndarray
        Expected purchase counts; 0 at t = 0.
    """
    r, alpha, a, b = _params(params)
    ta, xa, txa, Ta = _broadcast(t, x, t_x, T)
    alive = special.expit(-_log_odds_dead(r, alpha, a, b, xa, txa, Ta))
    return np.asarray(_expected_if_alive(r, alpha, a, b, ta, xa, Ta) * alive, dtype=np.float64)


def unconditional_expected_purchases(params: ArrayLike, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases of a new customer in (0, t], Fader, Hardie & Lee (2005), eq. (7).

    E[X(t)] = (a + b - 1) / (a - 1) · [1 - (α / (α + t))^r 2F1(r, b; a + b - 1; t / (α + t))].

    Parameters
    ----------
    params : array-like of 4 floats
        (r, α, a, b).
    t : float or array-like
        Time since the first purchase (>= 0), in the unit of α.

    Returns
    -------
    numpy.ndarray
        Expected numbers of repeat purchases.
    """
    r, alpha, a, b = _params(params)
    ta = np.asarray(t, dtype=np.float64)
    zeros = np.zeros_like(ta)
    return np.asarray(_expected_if_alive(r, alpha, a, b, ta, zeros, zeros), dtype=np.float64)


# ------------------------------------------------------------------------------------------------------- the model


def _numeric_hessian(
    grad: Callable[[FloatArray], FloatArray], theta: FloatArray, steps: FloatArray, *, central: bool = True
) -> FloatArray:
    """Central (or, at half the cost, forward) differences of an analytic gradient, symmetrised."""
    hess = np.empty((len(theta), len(theta)))
    base = None if central else grad(theta)
    for i, h in enumerate(steps):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        if base is None:
            down[i] -= h
            hess[:, i] = (grad(up) - grad(down)) / (2.0 * h)
        else:
            hess[:, i] = (grad(up) - base) / h
    return (hess + hess.T) / 2.0


def fit_log_params(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    x0: FloatArray,
    *,
    n: float,
    tol: float,
    max_iter: int,
    model: str,
    hint: str,
) -> FloatArray:
    """Minimise a mean negative log-likelihood over log-parameters with ``scipy.optimize.minimize``.

    Uses the exact-trust-region method (``trust-exact``) with the analytic gradient and a Hessian from central
    differences of that gradient. Shared by the BG/NBD and Gamma-Gamma fits.

    Parameters
    ----------
    objective : callable
        phi -> (f, ∇f) for log-parameters phi, f the mean negative log-likelihood over n customers.
    x0 : numpy.ndarray
        Starting log-parameters.
    n : float
        Number of customers (for the standard errors).
    tol : float
        Convergence when the gradient's norm is at most tol. When the optimiser stops early because rounding
        hides further progress, the fit is accepted if the remaining Newton step is below 1 % of every
        parameter's standard error.
    max_iter : int
        Iteration limit.
    model, hint : str
        Model name and advice for the :class:`ConvergenceError` message.

    Returns
    -------
    numpy.ndarray
        The log-parameters at the optimum.

    Raises
    ------
    ConvergenceError
        No convergence within max_iter iterations, non-finite values, or a parameter running off to 0 or infinity.
    """

    def safe(phi: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(all="ignore"):
            f, g = objective(phi)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            return np.inf, np.zeros_like(phi)
        return f, g

    def hess(phi: FloatArray) -> FloatArray:  # forward differences: only steers the steps, not the optimum
        return _numeric_hessian(lambda p: safe(p)[1], phi, np.full(len(phi), 1e-6), central=False)

    res = optimize.minimize(
        safe, x0, jac=True, hess=hess, method="trust-exact", options={"gtol": tol, "maxiter": max_iter}
    )
    phi = np.asarray(res.x, dtype=np.float64)
    f, g = safe(phi)
    if not np.isfinite(f):
        raise ConvergenceError(f"{model} fit failed: the likelihood is not finite at the optimum; {hint}")
    if np.any(np.abs(phi) > _LOG_BOUND):
        raise ConvergenceError(
            f"{model} fit did not converge: the parameters ran off to 0 or infinity (log-parameters "
            f"{np.round(phi, 1)}); {hint}"
        )
    if res.success:
        return phi
    if res.status == 2 and res.nit < max_iter:  # stopped by rounding: accept a statistically negligible remainder
        with np.errstate(all="ignore"):
            h = _numeric_hessian(lambda p: safe(p)[1], phi, np.full(len(phi), 1e-5))
            try:
                np.linalg.cholesky(h)
                step = np.linalg.solve(h, g)
                se = np.sqrt(np.diag(np.linalg.inv(h)) / n)
                if np.all(np.abs(step) <= 0.01 * se):
                    return phi
            except np.linalg.LinAlgError:
                pass
    raise ConvergenceError(
        f"{model} fit did not converge after {res.nit} iterations (gradient norm {np.linalg.norm(g):.1e} > "
        f"tol={tol:g}; {res.message}); {hint}"
    )


class BetaGeoModel:
    """BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way").

    Parameters
    ----------
    time_unit : {"weeks", "days"}
        Unit of recency and T (and hence of α and of every forecast horizon t). Used by
        :func:`kehu.models.clv.customer_lifetime_value` to turn months into model time.
    tol : float
        Convergence tolerance: the norm of the gradient of the mean negative log-likelihood with respect to the
        log-parameters (time scaled internally so that the largest T is 10).
    max_iter : int
        Maximum number of optimiser iterations.

    Attributes
    ----------
    params_ : dict of str to float
        Maximum-likelihood estimates of r, alpha, a, b (alpha in ``time_unit``).
    standard_errors_ : dict of str to float
        Asymptotic standard errors from the inverse Hessian of the negative log-likelihood at the optimum.
    log_likelihood_ : float
        Total log-likelihood at the optimum (eq. 6 summed over customers, in ``time_unit``).
    n_customers_, n_triples_ : int
        Number of customers, and of distinct (x, t_x, T) triples the fit actually evaluated.
    converged_ : bool
        True after a successful fit (a fit that does not converge raises :class:`ConvergenceError`).

    Examples
    --------
    >>> model = BetaGeoModel(time_unit="weeks").fit(df["frequency"], df["recency"], df["T"])  # doctest: +SKIP
    >>> model.probability_alive(df["frequency"], df["recency"], df["T"])  # doctest: +SKIP
    """

    def __init__(self, *, time_unit: TimeUnit = "weeks", tol: float = 1e-8, max_iter: int = 200) -> None:
        self.time_unit = time_unit
        self.tol = tol
        self.max_iter = max_iter

    def __repr__(self) -> str:
        return f"BetaGeoModel(time_unit={self.time_unit!r}, tol={self.tol!r}, max_iter={self.max_iter!r})"

    # ----------------------------------------------------------------------------------------------------- fitting

    def _check_hyper_parameters(self) -> None:
        if self.time_unit not in DAYS_PER_UNIT:
            raise InvalidInput(f"time_unit must be 'days' or 'weeks', got {self.time_unit!r}")
        if not (isinstance(self.tol, int | float) and self.tol > 0):
            raise InvalidInput(f"tol must be a positive number, got {self.tol!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise InvalidInput(f"max_iter must be a positive integer, got {self.max_iter!r}")

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        """Fit r, α, a, b by maximum likelihood (eq. 6) on the distinct (x, t_x, T) triples.

        Parameters
        ----------
        frequency : array-like
            x, repeat purchases per customer (whole numbers; same-day purchases merged).
        recency : array-like
            t_x, time of the last repeat purchase from the first purchase, in ``time_unit``.
        T : array-like
            Age: time from the first purchase to the end of the calibration period, in ``time_unit``.

        Returns
        -------
        BetaGeoModel
            self, fitted.

        Raises
        ------
        InvalidInput
            Bad inputs (see :func:`as_rfm_arrays`) or hyper-parameters.
        ConvergenceError
            The optimiser did not converge or a parameter ran off to 0 or infinity.
        """
        self._check_hyper_parameters()
        x, t_x, age = as_rfm_arrays(frequency, recency, T)
        (ux, utx, uT), counts, _ = distinct_rows(x, t_x, age)
        n = float(counts.sum())
        if not np.any(ux > 0):
            raise ConvergenceError(
                "BG/NBD fit is impossible: no customer has a repeat purchase (all frequency are 0); check that "
                "frequency counts repeat purchases and use a longer calibration period or more data"
            )
        # Conditioning: optimise in a time unit where the largest age is 10, starting from all parameters = 1.
        scale = float(uT.max()) / 10.0 if uT.max() > 0 else 1.0
        stx, sT = utx / scale, uT / scale

        scaled = _Design(ux, stx, sT, counts)

        def objective(phi: FloatArray) -> tuple[float, FloatArray]:
            theta = np.exp(phi)
            ll, g = scaled.loglik_and_gradient(theta)
            return -ll / n, -g * theta / n

        hint = (
            f"check the time unit ({self.time_unit!r}) of recency and T, remove test orders and outliers (customers "
            f"with implausibly many purchases), use more data, or raise max_iter (now {self.max_iter})"
        )
        phi = fit_log_params(
            objective, np.zeros(4), n=n, tol=self.tol, max_iter=self.max_iter, model="BG/NBD", hint=hint
        )
        theta = np.exp(phi) * np.array([1.0, scale, 1.0, 1.0])

        design = _Design(ux, utx, uT, counts)

        def gradient(th: FloatArray) -> FloatArray:
            return design.loglik_and_gradient(th)[1]

        hessian = -_numeric_hessian(gradient, theta, 1e-5 * theta)
        try:
            np.linalg.cholesky(hessian)
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                f"BG/NBD fit ended at a point that is not a maximum of the likelihood (parameters "
                f"{dict(zip(PARAM_NAMES, np.round(theta, 4), strict=True))}); {hint}"
            ) from None
        se = np.sqrt(np.diag(np.linalg.inv(hessian)))
        self.params_ = {k: float(v) for k, v in zip(PARAM_NAMES, theta, strict=True)}
        self.standard_errors_ = {k: float(v) for k, v in zip(PARAM_NAMES, se, strict=True)}
        self.log_likelihood_ = design.loglik_and_gradient(theta)[0]
        self.n_customers_ = int(n)
        self.n_triples_ = len(ux)
        self.converged_ = True
        return self

    # ----------------------------------------------------------------------------------------------------- scoring

    def _theta(self) -> FloatArray:
        params = getattr(self, "params_", None)
        if params is None:
            raise NotFitted(_NOT_FITTED)
        return np.array([params[k] for k in PARAM_NAMES], dtype=np.float64)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """E[Y(t) | x, t_x, T], expected purchases in the next t time units (eq. 10) per customer.

        Computed once per distinct (x, t_x, T) triple (or (t, x, t_x, T) when t varies by customer) and broadcast
        back, so scoring millions of customers costs what their distinct histories cost.

        Parameters
        ----------
        t : float or array-like
            Forecast horizon in ``time_unit`` (>= 0), one for all customers or one per customer.
        frequency, recency, T : array-like
            Per-customer x, t_x and T as for :meth:`fit`.

        Returns
        -------
        numpy.ndarray
            One expected count per customer.
        """
        theta = self._theta()
        x, t_x, age = as_rfm_arrays(frequency, recency, T)
        ta = _as_vector("t", t)
        _check_finite_nonnegative("t", ta)
        if len(ta) == 1:
            (ux, utx, uT), _, inverse = distinct_rows(x, t_x, age)
            return conditional_expected_purchases(theta, ta[0], ux, utx, uT)[inverse]
        if len(ta) != len(x):
            raise InvalidInput(f"t must be one number or one per customer, got {len(ta)} values for {len(x)} customers")
        (ut, ux, utx, uT), _, inverse = distinct_rows(ta, x, t_x, age)
        return conditional_expected_purchases(theta, ut, ux, utx, uT)[inverse]

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T) per customer (Fader, Hardie & Lee 2005, appendix eq. A.10).

        Returns
        -------
        numpy.ndarray
            One probability per customer; 1 for customers without repeat purchases.
        """
        theta = self._theta()
        x, t_x, age = as_rfm_arrays(frequency, recency, T)
        (ux, utx, uT), _, inverse = distinct_rows(x, t_x, age)
        return probability_alive(theta, ux, utx, uT)[inverse]

    def expected_purchases_unconditional(self, t: ArrayLike) -> FloatArray:
        """E[X(t)], expected repeat purchases of a new customer within t time units of the first purchase (eq. 7).

        Parameters
        ----------
        t : float or array-like
            Times in ``time_unit`` (>= 0).

        Returns
        -------
        numpy.ndarray
            Expected counts, one per t.
        """
        theta = self._theta()
        ta = _as_vector("t", t)
        _check_finite_nonnegative("t", ta)
        return unconditional_expected_purchases(theta, ta)
