"""BG/NBD model of repeat purchases: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275-284.

While active, a customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase the customer drops out with
probability p ~ Beta(a, b). Per customer the data are x (repeat purchases), t_x (time of the last repeat purchase,
from the first purchase) and T (time from the first purchase to the end of the observation period), in one time unit
(days or weeks) that fixes the unit of α.

The module-level functions are the paper's formulas, computed in log space and vectorised over customers. Each term
is evaluated once per distinct value of what it depends on and gathered by integer codes: in the likelihood, Γ and ψ
terms per distinct x and log(α + t) per distinct time, and only the mixing term of eq. (6) per distinct (x, t_x, T)
triple; in a forecast, the hypergeometric factor per distinct (x, T) pair, and only P(alive) per customer.
:class:`BetaGeoModel` fits by Newton trust-region steps with the analytic gradient and Hessian. Whole-number inputs
(days, purchase counts) are coded arithmetically, without hashing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import cached_property
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
    "log_likelihood_hessian",
    "probability_alive",
    "unconditional_expected_purchases",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
TimeUnit = Literal["days", "weeks"]
PARAM_NAMES = ("r", "alpha", "a", "b")
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}

_NOT_FITTED = "BetaGeoModel is not fitted; call fit(frequency, recency, T) first"
_LOG_BOUND = 23.0  # |log parameter| beyond this (about 1e10 or 1e-10 in scaled time) counts as a runaway fit
# exp() is taken of arguments >= this: below it the result is subnormal (< 1e-304, and dozens of times slower to
# compute, or an underflow) and negligible wherever it is added to numbers of order 1.
_EXP_FLOOR = -700.0
# Fits on more customers than 4 times this start from a fit on a systematic sample of about this many customers.
_WARM_START = 50_000


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
    if arr.size and 0 <= arr.min() and arr.max() < np.inf:  # the common case, without temporary arrays (NaN fails)
        return
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


def _dense_limit(n: int) -> int:
    """Most possible codes handled with a dense table (one entry per possible code) instead of a hash table.

    A few entries per row, so the table never costs more than the rows themselves.
    """
    return max(4 * n, 1 << 16)


def _whole_codes(arr: FloatArray, low: float) -> IntArray | None:
    """arr - low as integer codes, or None unless every value is a whole number (low is a whole number <= arr)."""
    shifted = arr - low if low else arr
    codes = shifted.astype(np.intp)
    return codes if np.array_equal(codes, shifted) else None


def _codes(*arrays: FloatArray) -> tuple[list[IntArray], FloatArray]:
    """Integer codes of the values of one or more arrays into one shared table of values.

    Whole numbers in a narrow range (days, purchase counts) are coded arithmetically, value - min, against the table
    of every whole number from min to max; other values through a hash table (``pandas.factorize``). Either way
    ``table[codes[i]]`` reproduces ``arrays[i]``.
    """
    filled = [a for a in arrays if len(a)]
    if filled:
        low = min(float(a.min()) for a in filled)
        span = max(float(a.max()) for a in filled) - low  # NaN or inf for non-finite values: fails the test below
        if span <= _dense_limit(sum(len(a) for a in arrays)) and low == np.floor(low):
            whole = [_whole_codes(a, low) for a in arrays]
            if all(c is not None for c in whole):
                return [c for c in whole if c is not None], np.arange(int(span) + 1, dtype=np.float64) + low
    codes, table = pd.factorize(np.concatenate(arrays), use_na_sentinel=False)
    parts = np.split(np.asarray(codes, dtype=np.intp), np.cumsum([len(a) for a in arrays])[:-1])
    return parts, np.asarray(table, dtype=np.float64)


def _combine(a: IntArray, size_a: int, b: IntArray, size_b: int) -> tuple[IntArray, IntArray, IntArray]:
    """Codes of the distinct pairs of two code arrays (a in [0, size_a), b in [0, size_b)), and each pair's a and b.

    A dense mark per possible pair when there are few possible pairs, a hash table otherwise.
    """
    key = a * size_b
    key += b
    size = size_a * size_b
    if size <= _dense_limit(len(key)):
        seen = np.zeros(size, dtype=np.bool_)
        seen[key] = True
        keys = np.flatnonzero(seen)
        rank = np.empty(size, dtype=np.intp)
        rank[keys] = np.arange(len(keys))
        codes = rank[key]
    else:  # hashing 32-bit keys is faster when they fit
        codes, keys = pd.factorize(key.astype(np.int32) if size < 1 << 31 else key)
        keys = keys.astype(np.intp)
    first, second = np.divmod(keys, size_b)
    return np.asarray(codes, dtype=np.intp), first, second


def distinct_rows(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray, IntArray]:
    """The distinct rows of equally long columns, their counts, and the index that maps rows back.

    Each column is turned into integer codes (arithmetically for whole numbers in a narrow range, such as days and
    purchase counts; by hashing otherwise), the codes are combined into one int64 key per row, and the keys are
    hashed once (``pandas.factorize``): linear in the number of rows. ``uniques[j][inverse]`` reproduces
    ``columns[j]``.

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
    (key,), table = _codes(np.asarray(columns[0], dtype=np.float64))
    size = len(table)
    for col in columns[1:]:
        (code,), table = _codes(np.asarray(col, dtype=np.float64))
        if size * len(table) >= 1 << 62:  # the mixed-radix key would overflow: number the combinations so far first
            key, seen = pd.factorize(key)
            size = len(seen)
        key, size = key * len(table) + code, size * len(table)
    codes, _ = pd.factorize(key)
    inverse = np.asarray(codes, dtype=np.intp)
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


def _wsum(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Σ a·b without BLAS (a threaded BLAS dot is slow on a busy machine for these vector sizes)."""
    return float(np.einsum("i,i->", a, b))


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    return np.array(np.broadcast_to(np.asarray(weights, dtype=np.float64), (n,)))


def _broadcast(*arrays: ArrayLike) -> list[FloatArray]:
    return [np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in arrays])]


def _trigamma(v: ArrayLike) -> FloatArray:
    return np.asarray(special.polygamma(1, v), dtype=np.float64)


def _sum_by(codes: IntArray, weights: FloatArray | None, size: int) -> FloatArray:
    """Σ weights (1 each by default) per code, for the codes 0 .. size - 1."""
    if weights is None:
        return np.bincount(codes, minlength=size).astype(np.float64)
    return np.asarray(np.bincount(codes, weights=weights, minlength=size), dtype=np.float64)


def _every(weights: FloatArray, step: float) -> FloatArray:
    """How many of every step-th customer fall in each row, when row i stands for weights[i] customers in a row."""
    return np.diff(np.floor(np.cumsum(weights) / step), prepend=0.0)


class _Design:
    """Weighted (x, t_x, T) rows reduced to what eq. (6) needs, for fast repeated likelihood evaluations.

    Per customer, log L = A(x) + log(e^B(x, T) + δ(x > 0) e^C(x, t_x)), with A the Γ terms (and the constants),
    B = -(r + x) log(α + T) and C = log(a / (b + x - 1)) - (r + x) log(α + t_x). The weighted sums of A and B reduce
    to sums over the distinct x and the distinct T (B is bilinear in r + x and log(α + T)); only the repeat buyers'
    mixing term log(1 + e^d), d = C - B, is evaluated per distinct (x, t_x, T) triple, gathered from tables of B on
    the distinct (x, T) pairs and of C on the distinct (x, t_x) pairs. Customers without repeat purchases enter
    through the per-x and per-T sums only.
    """

    def __init__(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> None:
        xa, txa, Ta = (np.ravel(v) for v in _broadcast(x, t_x, T))
        w = None if weights is None else _weights(weights, len(xa))
        rep = np.flatnonzero(xa > 0)
        (ix,), self.xv = _codes(xa)
        (itx, iT), self.tv = _codes(txa.take(rep), Ta)  # t_x only matters with repeat purchases
        nx, nt = len(self.xv), len(self.tv)
        # Distinct (x, T) pairs of all customers, with their weights: the per-x and per-T sums follow from them.
        pair, self.pT_x, self.pT_T = _combine(ix, nx, iT, nt)
        self._aggregate(_sum_by(pair, w, len(self.pT_x)))
        # Repeat buyers' distinct triples as (pair, t_x), with the weights summed per triple.
        triple, self.pT, tri_tx = _combine(pair.take(rep), len(self.pT_x), itx, nt)
        self.w_r = _sum_by(triple, None if w is None else w.take(rep), len(self.pT))
        self.ptx, self.ptx_x, self.ptx_t = _combine(self.pT_x[self.pT], len(self.xv), tri_tx, nt)
        self.n_triples = len(self.pT) + int(np.count_nonzero(self.xv[self.pT_x] == 0))

    def _aggregate(self, w_pair: FloatArray) -> None:
        """The sums of the weights per (x, T) pair, per x, per T and of w·x per T, and the total."""
        self.w_pair = w_pair
        self.n = float(w_pair.sum())
        self.wx = _sum_by(self.pT_x, w_pair, len(self.xv))
        self.wT = _sum_by(self.pT_T, w_pair, len(self.tv))
        self.wTx = _sum_by(self.pT_T, w_pair * self.xv[self.pT_x], len(self.tv))

    def sample(self, size: float) -> _Design:
        """A systematic sample of about ``size`` of the customers (every k-th in the order of the triples and
        pairs), with whole-number weights: a cheap first fit."""
        step = self.n / size
        out = copy.copy(self)
        w_r = _every(self.w_r, step)
        keep = np.flatnonzero(w_r)
        out.pT, out.ptx, out.w_r = self.pT[keep], self.ptx[keep], w_r[keep]
        pairs = len(self.w_pair)
        others = self.w_pair - _sum_by(self.pT, self.w_r, pairs)  # without repeat purchases
        out._aggregate(_sum_by(out.pT, out.w_r, pairs) + _every(others, step))
        return out

    def rescaled(self, scale: float) -> _Design:
        """The same customers with every time divided by scale (α in a unit scale times as long)."""
        out = copy.copy(self)
        out.tv = self.tv / scale
        return out

    def evaluate(self, params: ArrayLike, *, hessian: bool = False) -> tuple[float, FloatArray, FloatArray]:
        """Σ w log L, its gradient and (when asked, else zeros) its Hessian with respect to (r, α, a, b)."""
        r, alpha, a, b = map(np.float64, _params(params))  # numpy scalars: inf, not ZeroDivisionError, on underflow
        n, xv, wx = self.n, self.xv, self.wx
        lat = np.log(alpha + self.tv)
        iat = 1.0 / (alpha + self.tv)
        # Γ terms per distinct x, -(r + x) log(α + T) per distinct T.
        psi_abx = special.digamma(a + b + xv)
        psi_ab = float(special.digamma(a + b))
        ll = _wsum(wx, special.gammaln(r + xv) + special.gammaln(b + xv) - special.gammaln(a + b + xv)) + n * float(
            r * np.log(alpha) - special.gammaln(r) - special.gammaln(b) + special.gammaln(a + b)
        )
        ll -= r * _wsum(self.wT, lat) + _wsum(self.wTx, lat)
        g_r = _wsum(wx, special.digamma(r + xv)) + n * float(np.log(alpha) - special.digamma(r)) - _wsum(self.wT, lat)
        g_alpha = n * r / alpha - r * _wsum(self.wT, iat) - _wsum(self.wTx, iat)
        g_a = n * psi_ab - _wsum(wx, psi_abx)
        g_b = _wsum(wx, special.digamma(b + xv) - psi_abx) + n * (psi_ab - float(special.digamma(b)))
        # Repeat buyers' mixing term log(1 + e^d), d = C(x, t_x) - B(x, T), per distinct triple.
        r_T, l_T, i_T = r + xv[self.pT_x], lat[self.pT_T], iat[self.pT_T]  # on the (x, T) pairs
        r_tx, l_tx, i_tx = r + xv[self.ptx_x], lat[self.ptx_t], iat[self.ptx_t]  # on the (x, t_x) pairs
        inv_b = 1.0 / (b + xv[self.ptx_x] - 1.0)
        d = (np.log(a) - np.log(b + xv[self.ptx_x] - 1.0) - r_tx * l_tx)[self.ptx] + (r_T * l_T)[self.pT]
        log1p_e = np.log1p(np.exp(np.maximum(-np.abs(d), _EXP_FLOOR)))
        softplus = np.maximum(d, 0.0) + log1p_e  # log(1 + e^d)
        # w · expit(d), the weight of "dropped out at t_x" (exp(min(d, 0) - log(1 + e^-|d|)))
        ws = self.w_r * np.exp(np.maximum(np.minimum(d, 0.0) - log1p_e, _EXP_FLOOR))
        ll += _wsum(self.w_r, softplus)
        s_T = _sum_by(self.pT, ws, len(r_T))
        s_tx = _sum_by(self.ptx, ws, len(r_tx))
        sum_ws = float(s_tx.sum())
        g_r += _wsum(s_T, l_T) - _wsum(s_tx, l_tx)
        g_alpha += _wsum(s_T, r_T * i_T) - _wsum(s_tx, r_tx * i_tx)
        g_a += sum_ws / a
        g_b -= _wsum(s_tx, inv_b)
        grad = np.array([g_r, g_alpha, g_a, g_b])
        if not hessian:
            return ll, grad, np.zeros((4, 4))
        # ∂d = (d_r, d_alpha, 1 / a, -inv_b); the mixing term adds w s (1 - s) ∂d ∂dᵀ + w s ∂²d.
        v = ws * np.exp(np.maximum(-softplus, _EXP_FLOOR))  # w s (1 - s)
        d_r = l_T[self.pT] - l_tx[self.ptx]
        d_alpha = (r_T * i_T)[self.pT] - (r_tx * i_tx)[self.ptx]
        ib = inv_b[self.ptx]
        v_r, v_alpha, v_b = v * d_r, v * d_alpha, v * ib
        tri_ab, tri_abx = float(_trigamma(a + b)), _trigamma(a + b + xv)
        h = np.empty((4, 4))
        h[0, 0] = _wsum(wx, _trigamma(r + xv)) - n * float(_trigamma(r)) + _wsum(v_r, d_r)
        h[0, 1] = n / alpha - _wsum(self.wT, iat) + _wsum(s_T, i_T) - _wsum(s_tx, i_tx) + _wsum(v_r, d_alpha)
        h[1, 1] = (
            -n * r / alpha**2
            + r * _wsum(self.wT, iat**2)
            + _wsum(self.wTx, iat**2)
            - _wsum(s_T, r_T * i_T**2)
            + _wsum(s_tx, r_tx * i_tx**2)
            + _wsum(v_alpha, d_alpha)
        )
        h[0, 2] = float(v_r.sum()) / a
        h[0, 3] = -_wsum(v_r, ib)
        h[1, 2] = float(v_alpha.sum()) / a
        h[1, 3] = -_wsum(v_alpha, ib)
        h[2, 2] = n * tri_ab - _wsum(wx, tri_abx) + (float(v.sum()) - sum_ws) / a**2
        h[2, 3] = n * tri_ab - _wsum(wx, tri_abx) - float(v_b.sum()) / a
        h[3, 3] = (
            _wsum(wx, _trigamma(b + xv) - tri_abx)
            + n * (tri_ab - float(_trigamma(b)))
            + _wsum(s_tx, inv_b**2)
            + _wsum(v_b, ib)
        )
        lower = np.tril_indices(4, -1)
        h[lower] = h.T[lower]
        return ll, grad, h


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
    return _Design(x, t_x, T, weights).evaluate(params)[0]


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
    return _Design(x, t_x, T, weights).evaluate(params)[1]


def log_likelihood_hessian(
    params: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> FloatArray:
    """Analytic Hessian of :func:`log_likelihood` with respect to (r, α, a, b).

    Per customer, log L = A + B + log(1 + e^d) with A the Γ terms, B = -(r + x) log(α + T) and d the log-odds of
    having dropped out (see :func:`probability_alive`); with w_dead = expit(d) the Hessian is
    ∇²A + ∇²B + w_dead ∇²d + w_dead (1 - w_dead) ∇d ∇dᵀ, where ∇d = (log((α + T) / (α + t_x)),
    (r + x) (1 / (α + T) - 1 / (α + t_x)), 1 / a, -1 / (b + x - 1)) and ∇²A has the trigamma terms.

    Returns
    -------
    numpy.ndarray
        The symmetric 4 × 4 matrix of second derivatives of Σ weights · log L; minus its inverse at the maximum is
        the asymptotic covariance of the estimates.
    """
    return _Design(x, t_x, T, weights).evaluate(params, hessian=True)[2]


class _Customers:
    """Validated per-customer (x, t_x, T), coded against the distinct x and (on demand) the distinct (x, T) pairs.

    The closed forms are evaluated per distinct value of what they depend on and gathered: log(a / (b + x - 1)) per
    distinct x, and the hypergeometric expectation of a customer still alive, which depends on x and T only, per
    distinct (x, T) pair. Only P(alive), two logarithms and a logistic function, is computed per customer.
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> None:
        self.x, self.t_x, self.T = x, t_x, T
        (self.ix,), self.xv = _codes(x)

    @cached_property
    def pairs(self) -> tuple[IntArray, FloatArray, FloatArray]:
        """Each customer's (x, T) pair code, and the x and T of every distinct pair."""
        (iT,), tv = _codes(self.T)
        code, px, pT = _combine(self.ix, len(self.xv), iT, len(tv))
        return code, self.xv[px], tv[pT]

    def probability_alive(self, r: float, alpha: float, a: float, b: float) -> FloatArray:
        """1 / (1 + e^d), with d = log(a / (b + x - 1)) + (r + x) log((α + T) / (α + t_x)) and d = -inf for x = 0.

        d is floored at _EXP_FLOOR (which leaves 1 / (1 + e^d) = 1 exactly); above about 709, e^d overflows to inf
        and P(alive) is 0.
        """
        xv = self.xv
        repeat = xv > 0
        log_odds_x = np.full(len(xv), -np.inf)
        log_odds_x[repeat] = np.log(a) - np.log(b + xv[repeat] - 1.0)
        d = np.add(self.T, alpha)  # two temporary arrays in all
        np.log(d, out=d)
        tmp = np.add(self.t_x, alpha)
        d -= np.log(tmp, out=tmp)
        d *= np.add(self.x, r, out=tmp)
        d += np.take(log_odds_x, self.ix, out=tmp, mode="clip")  # "clip": unbuffered, and the codes are valid
        np.maximum(d, _EXP_FLOOR, out=d)
        with np.errstate(over="ignore"):
            np.exp(d, out=d)
        d += 1.0
        return np.reciprocal(d, out=d)

    def expected_if_alive(self, r: float, alpha: float, a: float, b: float, t: FloatArray) -> FloatArray:
        """E[Y(t) | alive at T] on the distinct (x, T) pairs, one column per horizon in t: shape (pairs, len(t))."""
        _, px, pT = self.pairs
        return _expected_if_alive(r, alpha, a, b, t[None, :], px[:, None], pT[:, None])

    def conditional_expected(self, r: float, alpha: float, a: float, b: float, t: FloatArray) -> FloatArray:
        """E[Y(t) | x, t_x, T] per customer, for one horizon (len(t) = 1) or one per customer."""
        if len(t) == 1:
            if_alive = self.expected_if_alive(r, alpha, a, b, t)[:, 0][self.pairs[0]]
        else:
            (ut, ux, uT), _, inverse = distinct_rows(t, self.x, self.T)
            if_alive = _expected_if_alive(r, alpha, a, b, ut, ux, uT)[inverse]
        out = self.probability_alive(r, alpha, a, b)
        out *= if_alive
        return out


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
    return _Customers(xa.ravel(), txa.ravel(), Ta.ravel()).probability_alive(r, alpha, a, b).reshape(xa.shape)


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
    after Euler's transformation, stable for x in the hundreds, once per distinct (x, T) pair (or (t, x, T) triple
    when t varies).

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
    horizon = np.asarray(t, dtype=np.float64).ravel() if np.size(t) == 1 else ta.ravel()
    customers = _Customers(xa.ravel(), txa.ravel(), Ta.ravel())
    return customers.conditional_expected(r, alpha, a, b, horizon).reshape(xa.shape)


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


def log_params_objective(
    evaluate: Callable[[FloatArray], tuple[float, FloatArray, FloatArray]], n: float
) -> Callable[[FloatArray], tuple[float, FloatArray, FloatArray]]:
    """The mean negative log-likelihood over log-parameters phi = log(theta), with its gradient and Hessian.

    evaluate(theta) -> (Σ log L, gradient, Hessian) in theta; by the chain rule the gradient in phi is θ ∘ g and the
    Hessian diag(θ) H diag(θ) + diag(θ ∘ g).
    """

    def objective(phi: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        theta = np.exp(phi)
        ll, g, h = evaluate(theta)
        return -ll / n, -g * theta / n, -(h * np.outer(theta, theta) + np.diag(g * theta)) / n

    return objective


def standard_errors_at_maximum(hessian: FloatArray, theta: FloatArray, names: Sequence[str], *, model: str,
                               hint: str) -> FloatArray:
    """Standard errors from the log-likelihood's Hessian at the fitted ``theta`` (square roots of the diagonal of
    the inverse of its negative). Raises :class:`ConvergenceError` (with ``hint``) when the point is not a maximum,
    i.e. the negative Hessian is not positive definite."""
    information = -np.asarray(hessian, dtype=np.float64)
    try:
        np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        raise ConvergenceError(
            f"{model} fit ended at a point that is not a maximum of the likelihood (parameters "
            f"{dict(zip(names, np.round(theta, 4), strict=True))}); {hint}"
        ) from None
    return np.asarray(np.sqrt(np.diag(np.linalg.inv(information))), dtype=np.float64)


def fit_log_params(
    objective: Callable[[FloatArray], tuple[float, FloatArray, FloatArray]],
    x0: FloatArray,
    *,
    n: float,
    tol: float,
    max_iter: int,
    model: str,
    hint: str,
) -> FloatArray:
    """Minimise a mean negative log-likelihood over log-parameters with ``scipy.optimize.minimize``.

    Uses the exact-trust-region method (``trust-exact``: Newton steps within a trust region) with the analytic
    gradient and Hessian, which are computed together, once per point. Shared by the BG/NBD and Gamma-Gamma fits.

    Parameters
    ----------
    objective : callable
        phi -> (f, ∇f, ∇²f) for log-parameters phi, f the mean negative log-likelihood over n customers (see
        :func:`log_params_objective`).
    x0 : numpy.ndarray
        Starting log-parameters.
    n : float
        Number of customers (for the standard errors).
    tol : float
        Convergence when the gradient's norm is at most tol; a last Newton step from there (free: the gradient and
        Hessian are known) then makes the estimate exact to rounding. When the optimiser stops early because
        rounding hides further progress, the fit is accepted the same way if that Newton step is below 1 % of every
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
    last: dict[bytes, tuple[float, FloatArray, FloatArray]] = {}

    def safe(phi: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        key = phi.tobytes()
        if key not in last:  # the optimiser asks for f, ∇f and then ∇²f at the same point: evaluate once
            with np.errstate(all="ignore"):
                f, g, h = objective(phi)
            if not (np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
                f, g, h = np.inf, np.zeros_like(phi), np.eye(len(phi))
            last.clear()
            last[key] = (f, g, h)
        return last[key]

    res = optimize.minimize(
        lambda phi: safe(phi)[:2],
        x0,
        jac=True,
        hess=lambda phi: safe(phi)[2],
        method="trust-exact",
        options={"gtol": tol, "maxiter": max_iter},
    )
    phi = np.asarray(res.x, dtype=np.float64)
    f, g, h = safe(phi)
    if not np.isfinite(f):
        raise ConvergenceError(f"{model} fit failed: the likelihood is not finite at the optimum; {hint}")
    if np.any(np.abs(phi) > _LOG_BOUND):
        raise ConvergenceError(
            f"{model} fit did not converge: the parameters ran off to 0 or infinity (log-parameters "
            f"{np.round(phi, 1)}); {hint}"
        )
    # One more Newton step, free since ∇f and ∇²f are known here: the estimate is then exact to rounding, not to tol.
    try:
        np.linalg.cholesky(h)
        step = np.linalg.solve(h, g)
    except np.linalg.LinAlgError:
        step = None
    if res.success:
        return phi if step is None else np.asarray(phi - step, dtype=np.float64)
    if step is not None and res.status == 2 and res.nit < max_iter:
        # Stopped because rounding hides further progress in f: accept a statistically negligible remainder.
        se = np.sqrt(np.diag(np.linalg.inv(h)) / n)
        if np.all(np.abs(step) <= 0.01 * se):
            return np.asarray(phi - step, dtype=np.float64)
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
        if not np.any(x > 0):
            raise ConvergenceError(
                "BG/NBD fit is impossible: no customer has a repeat purchase (all frequency are 0); check that "
                "frequency counts repeat purchases and use a longer calibration period or more data"
            )
        design = _Design(x, t_x, age)
        n = design.n
        # Conditioning: optimise in a time unit where the largest age is 10, starting from all parameters = 1 or, with
        # many customers, from a fit on a sample of them (then 2 or 3 Newton steps on all customers instead of 6 to 10).
        scale = float(age.max()) / 10.0 if age.max() > 0 else 1.0
        scaled = design.rescaled(scale)
        hint = (
            f"check the time unit ({self.time_unit!r}) of recency and T, remove test orders and outliers (customers "
            f"with implausibly many purchases), use more data, or raise max_iter (now {self.max_iter})"
        )
        start = np.zeros(4)
        if n > 4 * _WARM_START:
            sample = scaled.sample(_WARM_START)
            objective = log_params_objective(lambda th: sample.evaluate(th, hessian=True), sample.n)
            try:
                start = fit_log_params(
                    objective, start, n=sample.n, tol=1e-6, max_iter=self.max_iter, model="BG/NBD", hint=hint
                )
            except ConvergenceError:
                start = np.zeros(4)
        objective = log_params_objective(lambda th: scaled.evaluate(th, hessian=True), n)
        phi = fit_log_params(objective, start, n=n, tol=self.tol, max_iter=self.max_iter, model="BG/NBD", hint=hint)
        theta = np.exp(phi) * np.array([1.0, scale, 1.0, 1.0])
        log_lik, _, h = design.evaluate(theta, hessian=True)
        se = standard_errors_at_maximum(h, theta, PARAM_NAMES, model="BG/NBD", hint=hint)
        self.params_ = {k: float(v) for k, v in zip(PARAM_NAMES, theta, strict=True)}
        self.standard_errors_ = {k: float(v) for k, v in zip(PARAM_NAMES, se, strict=True)}
        self.log_likelihood_ = log_lik
        self.n_customers_ = int(n)
        self.n_triples_ = design.n_triples
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

        The hypergeometric part is computed once per distinct (x, T) pair (or (t, x, T) triple when t varies by
        customer) and gathered; only P(alive), a few array operations, is computed per customer.

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
        r, alpha, a, b = _params(self._theta())
        x, t_x, age = as_rfm_arrays(frequency, recency, T)
        ta = _as_vector("t", t)
        _check_finite_nonnegative("t", ta)
        if len(ta) not in (1, len(x)):
            raise InvalidInput(f"t must be one number or one per customer, got {len(ta)} values for {len(x)} customers")
        return _Customers(x, t_x, age).conditional_expected(r, alpha, a, b, ta)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T) per customer (Fader, Hardie & Lee 2005, appendix eq. A.10).

        Returns
        -------
        numpy.ndarray
            One probability per customer; 1 for customers without repeat purchases.
        """
        r, alpha, a, b = _params(self._theta())
        x, t_x, age = as_rfm_arrays(frequency, recency, T)
        return _Customers(x, t_x, age).probability_alive(r, alpha, a, b)

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
