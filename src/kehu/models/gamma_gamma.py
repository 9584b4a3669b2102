"""Gamma-Gamma model of spend per transaction: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for
Customer Base Analysis", *Journal of Marketing Research* 42(4), 415-430, and Fader & Hardie (2013), "The Gamma-Gamma
Model of Monetary Value" (note).

A customer's transaction values are Gamma(p, ν) with mean p / ν; across customers ν ~ Gamma(q, γ) (rate γ, called
``v`` here as in lifetimes). The data per repeat buyer are x (repeat purchases, x >= 1) and m̄ (the mean value of
those x purchases); spend is assumed independent of the purchase process, so the model is fitted on repeat buyers
only and combined with BG/NBD for customer lifetime value.
"""

from __future__ import annotations

import copy

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from kehu.errors import ConvergenceError, InvalidInput, NotFitted
from kehu.models.beta_geo import (
    FloatArray,
    _as_vector,
    _check_finite_nonnegative,
    _check_whole,
    _codes,
    _first,
    _sum_by,
    _trigamma,
    _weights,
    _wsum,
    fit_log_params,
    log_params_objective,
    standard_errors_at_maximum,
)

__all__ = [
    "GammaGammaModel",
    "conditional_expected_spend",
    "log_likelihood",
    "log_likelihood_gradient",
    "log_likelihood_hessian",
]

PARAM_NAMES = ("p", "q", "v")
_NOT_FITTED = "GammaGammaModel is not fitted; call fit(frequency, monetary) first"


def _params(params: ArrayLike) -> tuple[float, float, float]:
    arr = np.asarray(params, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InvalidInput(f"Gamma-Gamma params must be three positive numbers (p, q, v), got {params!r}")
    return float(arr[0]), float(arr[1]), float(arr[2])


class _Design:
    """Weighted (x, m̄) rows reduced to what the likelihood needs, for repeated evaluations.

    log f = [Γ terms in x] + q log v - log Γ(q) + px log(x m̄) - log m̄ - (px + q) log(v + x m̄) depends on m̄ only
    through the spend total z = x m̄ (log m̄ = log z - log x): the Γ, ψ and ψ' terms are evaluated once per distinct
    x, and log(v + z) once per distinct total, weighted by Σ w and Σ w x over the customers with that total.
    """

    def __init__(self, x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None) -> None:
        xa, ma = (np.ravel(a) for a in np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float)))
        w = None if weights is None else _weights(weights, len(xa))
        (ix,), self.xv = _codes(xa)
        (iz,), zv = _codes(xa * ma)
        self.wx = _sum_by(ix, w, len(self.xv))  # Σ w per x
        self.n = float(self.wx.sum())
        wz = _sum_by(iz, w, len(zv))
        present = np.flatnonzero(wz)  # a table of whole numbers may hold totals nobody has
        self.zv, self.wz = zv[present], wz[present]  # Σ w per total
        self.wxz = _sum_by(iz, xa if w is None else w * xa, len(zv))[present]  # Σ w x per total
        self._constants()

    def _constants(self) -> None:
        log_z = np.log(self.zv)
        self.sum_wx_log_z = _wsum(self.wxz, log_z)  # Σ w x log(x m̄)
        self.sum_w_log_m = _wsum(self.wz, log_z) - _wsum(self.wx, np.log(self.xv))  # Σ w log m̄

    def rescaled(self, scale: float) -> _Design:
        """The same customers with every spend divided by scale."""
        out = copy.copy(self)
        out.zv = self.zv / scale
        out._constants()
        return out

    def evaluate(self, params: ArrayLike, *, hessian: bool = False) -> tuple[float, FloatArray, FloatArray]:
        """Σ w log f, its gradient and (when asked, else zeros) its Hessian with respect to (p, q, v)."""
        p, q, v = map(np.float64, _params(params))  # numpy scalars: inf, not ZeroDivisionError, on underflow
        px = p * self.xv
        psi_pxq = special.digamma(px + q)
        log_zv = np.log(self.zv + v)
        ll = (
            _wsum(self.wx, special.gammaln(px + q) - special.gammaln(px))
            + self.n * float(q * np.log(v) - special.gammaln(q))
            + p * self.sum_wx_log_z
            - self.sum_w_log_m
            - p * _wsum(self.wxz, log_zv)
            - q * _wsum(self.wz, log_zv)
        )
        d_p = _wsum(self.wx * self.xv, psi_pxq - special.digamma(px)) + self.sum_wx_log_z - _wsum(self.wxz, log_zv)
        d_q = _wsum(self.wx, psi_pxq) + self.n * float(np.log(v) - special.digamma(q)) - _wsum(self.wz, log_zv)
        inv = 1.0 / (self.zv + v)
        d_v = self.n * q / v - p * _wsum(self.wxz, inv) - q * _wsum(self.wz, inv)
        grad = np.array([d_p, d_q, d_v])
        if not hessian:
            return ll, grad, np.zeros((3, 3))
        tri_pxq = _trigamma(px + q)
        inv2 = inv * inv
        h = np.empty((3, 3))
        h[0, 0] = _wsum(self.wx * self.xv**2, tri_pxq - _trigamma(px))
        h[0, 1] = _wsum(self.wx * self.xv, tri_pxq)
        h[0, 2] = -_wsum(self.wxz, inv)
        h[1, 1] = _wsum(self.wx, tri_pxq) - self.n * float(_trigamma(q))
        h[1, 2] = self.n / v - _wsum(self.wz, inv)
        h[2, 2] = -self.n * q / v**2 + p * _wsum(self.wxz, inv2) + q * _wsum(self.wz, inv2)
        lower = np.tril_indices(3, -1)
        h[lower] = h.T[lower]
        return ll, grad, h


def log_likelihood(params: ArrayLike, x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Total Gamma-Gamma log-likelihood of the mean repeat spends (Fader, Hardie & Lee 2005, JMR, eq. 4; Fader &
    Hardie 2013, eq. 3).

    The mean m̄ of x transaction values has density
    f(m̄ | p, q, γ, x) = Γ(px + q) / (Γ(px) Γ(q)) · γ^q x^(px) m̄^(px - 1) / (γ + x m̄)^(px + q).

    Parameters
    ----------
    params : array-like of 3 floats
        (p, q, v = γ), all > 0; v is in the currency unit of m.
    x : array-like
        Number of repeat purchases behind each mean (>= 1).
    m : array-like
        Mean value of those purchases (> 0).
    weights : array-like, optional
        Number of customers each row stands for; 1 by default.

    Returns
    -------
    float
        Σ weights · log f. Changing the currency unit by a factor s (m → s·m, v → s·v) adds -log(s) · Σ weights.
    """
    return _Design(x, m, weights).evaluate(params)[0]


def log_likelihood_gradient(
    params: ArrayLike, x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None
) -> FloatArray:
    """Analytic gradient of :func:`log_likelihood` with respect to (p, q, v).

    Per customer, with ψ the digamma function:
    ∂/∂p = x [ψ(px + q) - ψ(px) + log(x m̄) - log(v + x m̄)];
    ∂/∂q = ψ(px + q) - ψ(q) + log v - log(v + x m̄);
    ∂/∂v = q / v - (px + q) / (v + x m̄).

    Returns
    -------
    numpy.ndarray
        The three partial derivatives of Σ weights · log f.
    """
    return _Design(x, m, weights).evaluate(params)[1]


def log_likelihood_hessian(
    params: ArrayLike, x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None
) -> FloatArray:
    """Analytic Hessian of :func:`log_likelihood` with respect to (p, q, v).

    Per customer, with ψ' the trigamma function:
    ∂²/∂p² = x² [ψ'(px + q) - ψ'(px)]; ∂²/∂p∂q = x ψ'(px + q); ∂²/∂p∂v = -x / (v + x m̄);
    ∂²/∂q² = ψ'(px + q) - ψ'(q); ∂²/∂q∂v = 1 / v - 1 / (v + x m̄); ∂²/∂v² = -q / v² + (px + q) / (v + x m̄)².

    Returns
    -------
    numpy.ndarray
        The symmetric 3 × 3 matrix of second derivatives of Σ weights · log f.
    """
    return _Design(x, m, weights).evaluate(params, hessian=True)[2]


def conditional_expected_spend(params: ArrayLike, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """E[Z | p, q, γ, x, m̄]: expected value of a customer's future transactions (Fader, Hardie & Lee 2005, JMR,
    eq. 5; Fader & Hardie 2013, eq. 6).

    E = (γ + x m̄) p / (px + q - 1)
      = (q - 1) / (px + q - 1) · pγ / (q - 1) + px / (px + q - 1) · m̄,

    a weighted average of the population mean pγ / (q - 1) and the customer's own mean m̄; for x = 0 it is the
    population mean (m̄ is ignored).

    Parameters
    ----------
    params : array-like of 3 floats
        (p, q, v = γ).
    x : array-like
        Repeat purchases (>= 0).
    m : array-like
        Mean repeat spend (ignored where x = 0).

    Returns
    -------
    numpy.ndarray
        Expected spend per transaction, in the unit of m; NaN where px + q <= 1 (the mean does not exist).
    """
    p, q, v = _params(params)
    xa, ma = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float))
    denom = p * xa
    denom += q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.multiply(xa, ma, out=np.empty(xa.shape))  # an array even for scalars
        if out.size and np.isnan(out.min()):  # 0 · NaN or 0 · inf: m̄ is ignored where x = 0
            out[xa == 0] = 0.0
        out += v
        out *= p
        out /= denom
    if not (denom.size == 0 or denom.min() > 0):  # NaN fails too
        out[~(denom > 0)] = np.nan
    return np.asarray(out, dtype=np.float64)


def _check_lengths(x: FloatArray, m: FloatArray) -> None:
    if len(x) != len(m):
        raise InvalidInput(
            f"frequency and monetary must have one value per customer, got lengths {len(x)} and {len(m)}"
        )


def _check_monetary(x: FloatArray, m: FloatArray) -> None:
    """Mean repeat spends must be finite and > 0 for customers with repeat purchases (x validated already)."""
    repeat = x > 0
    bad = repeat & ~np.isfinite(m)
    if bad.any():
        k, i = _first(bad)
        raise InvalidInput(
            f"monetary has {k} missing or infinite value(s) for repeat buyers (first at position {i}); drop or fill "
            f"those customers first"
        )
    bad = repeat & (m <= 0)
    if bad.any():
        k, i = _first(bad)
        raise InvalidInput(
            f"monetary must be > 0 for customers with repeat purchases: {k} row(s) have monetary <= 0 (first at "
            f"position {i}: {m[i]:g}); remove refunds and zero-value orders, or those customers"
        )


def _as_spend_arrays(frequency: ArrayLike, monetary: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = _as_vector("frequency", frequency)
    m = _as_vector("monetary", monetary)
    _check_lengths(x, m)
    if len(x) == 0:
        raise InvalidInput("frequency and monetary are empty: pass at least one customer")
    _check_finite_nonnegative("frequency", x)
    _check_whole("frequency", x)
    _check_monetary(x, m)
    return x, m


class GammaGammaModel:
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves", JMR).

    Parameters
    ----------
    tol : float
        Convergence tolerance: the norm of the gradient of the mean negative log-likelihood with respect to the
        log-parameters (spend scaled internally to a mean of 1).
    max_iter : int
        Maximum number of optimiser iterations.

    Attributes
    ----------
    params_ : dict of str to float
        Maximum-likelihood estimates of p, q, v (v in the currency unit of monetary).
    standard_errors_ : dict of str to float
        Asymptotic standard errors from the inverse Hessian of the negative log-likelihood at the optimum.
    log_likelihood_ : float
        Total log-likelihood at the optimum.
    n_customers_, n_pairs_ : int
        Number of repeat buyers, and of distinct spend totals x·m̄ the fit evaluated (customers with the same total
        share one log(v + x·m̄) term: at most the number of distinct (x, m̄) pairs).
    converged_ : bool
        True after a successful fit (a fit that does not converge raises :class:`ConvergenceError`).
    mean_spend_ : float
        Population mean spend per transaction p·v / (q - 1) (property).
    """

    def __init__(self, *, tol: float = 1e-8, max_iter: int = 200) -> None:
        self.tol = tol
        self.max_iter = max_iter

    def __repr__(self) -> str:
        return f"GammaGammaModel(tol={self.tol!r}, max_iter={self.max_iter!r})"

    def fit(self, frequency: ArrayLike, monetary: ArrayLike) -> GammaGammaModel:
        """Fit p, q, v by maximum likelihood on the repeat buyers, grouped by x and by spend total x·m̄.

        Parameters
        ----------
        frequency : array-like
            x, repeat purchases per customer; every value must be >= 1 (repeat buyers only).
        monetary : array-like
            m̄, the mean value of each customer's repeat purchases (> 0), e.g. the ``monetary`` column of
            :func:`kehu.models.summary.summary_from_transactions`.

        Returns
        -------
        GammaGammaModel
            self, fitted.

        Raises
        ------
        InvalidInput
            Customers with frequency 0, non-positive or missing monetary values, bad shapes or hyper-parameters.
        ConvergenceError
            The optimiser did not converge or a parameter ran off to 0 or infinity.
        """
        if not (isinstance(self.tol, int | float) and self.tol > 0):
            raise InvalidInput(f"tol must be a positive number, got {self.tol!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise InvalidInput(f"max_iter must be a positive integer, got {self.max_iter!r}")
        x = _as_vector("frequency", frequency)
        zero = x == 0
        if len(x) and zero.any():
            k, i = _first(zero)
            raise InvalidInput(
                f"GammaGammaModel.fit takes repeat buyers only, but {k} customer(s) have frequency 0 (first at "
                f"position {i}); pass only customers with frequency > 0, e.g. df[df['frequency'] > 0]"
            )
        x, m = _as_spend_arrays(x, monetary)
        design = _Design(x, m)
        n = design.n
        scale = float(m.mean())  # conditioning: optimise with spend in units of its mean
        scaled = design.rescaled(scale)
        hint = (
            f"remove outliers (test orders, very large or tiny order values), check that monetary is the mean repeat "
            f"spend per customer, use more customers, or raise max_iter (now {self.max_iter})"
        )
        objective = log_params_objective(lambda th: scaled.evaluate(th, hessian=True), n)
        phi = fit_log_params(
            objective, np.zeros(3), n=n, tol=self.tol, max_iter=self.max_iter, model="Gamma-Gamma", hint=hint
        )
        theta = np.exp(phi) * np.array([1.0, 1.0, scale])
        log_lik, _, h = design.evaluate(theta, hessian=True)
        se = standard_errors_at_maximum(h, theta, PARAM_NAMES, model="Gamma-Gamma", hint=hint)
        self.params_ = {k: float(val) for k, val in zip(PARAM_NAMES, theta, strict=True)}
        self.standard_errors_ = {k: float(val) for k, val in zip(PARAM_NAMES, se, strict=True)}
        self.log_likelihood_ = log_lik
        self.n_customers_ = int(n)
        self.n_pairs_ = len(design.zv)
        self.converged_ = True
        return self

    def _theta(self) -> FloatArray:
        params = getattr(self, "params_", None)
        if params is None:
            raise NotFitted(_NOT_FITTED)
        return np.array([params[k] for k in PARAM_NAMES], dtype=np.float64)

    @property
    def mean_spend_(self) -> float:
        """Population mean spend per transaction, p·v / (q - 1) (Fader & Hardie 2013, eq. 5).

        Raises
        ------
        NotFitted
            Before :meth:`fit`.
        ConvergenceError
            If q <= 1: the fitted spend distribution is so heavy-tailed that its mean does not exist.
        """
        p, q, v = self._theta()
        if q <= 1:
            raise ConvergenceError(
                f"the fitted Gamma-Gamma model has q = {q:.3g} <= 1, so the mean spend p·v/(q-1) does not exist (the "
                f"spend distribution is too heavy-tailed); remove outlier order values or fit on more repeat buyers"
            )
        return float(p * v / (q - 1.0))

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """Expected spend per future transaction, conditional on each customer's history (JMR eq. 5).

        A handful of array operations per customer (cheaper than grouping customers by distinct (x, m̄) first).

        Parameters
        ----------
        frequency : array-like
            x, repeat purchases per customer (>= 0).
        monetary : array-like
            m̄, mean repeat spend (> 0 where x > 0; ignored where x = 0).

        Returns
        -------
        numpy.ndarray
            One expected spend per customer; customers with x = 0 get the population mean :attr:`mean_spend_`.

        Raises
        ------
        ConvergenceError
            When the needed mean does not exist (q <= 1 with customers of frequency 0, or p·x + q <= 1).
        """
        self._theta()
        x, m = _as_spend_arrays(frequency, monetary)
        return self._expected_spend(x, m)

    def _expected_spend(self, x: FloatArray, m: FloatArray) -> FloatArray:
        """:meth:`expected_spend` on validated arrays."""
        theta = self._theta()
        if x.min() == 0:
            self.mean_spend_  # noqa: B018 - raises the explanatory error when q <= 1
        spend = conditional_expected_spend(theta, x, m)
        if np.isnan(spend.min()):
            raise ConvergenceError(
                f"the expected spend does not exist for some customers (p·x + q <= 1 with p = {theta[0]:.3g}, "
                f"q = {theta[1]:.3g}); remove outlier order values or fit on more repeat buyers"
            )
        return spend
