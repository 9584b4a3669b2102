"""Holdout validation of the BG/NBD model: fit on a calibration period, forecast the holdout, compare with what
happened.

The report follows section 7 of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative
to the Pareto/NBD Model", *Marketing Science* 24(2):

* the total number of repeat purchases in the holdout, forecast customer by customer with the conditional
  expectation E[X(t) | x, t_x, T] (eq. 10) over the holdout length t;
* the conditional expectations grouped by the number x of calibration repeat purchases (their Figure 4);
* the cohort-based tracking of cumulative repeat purchases week by week over calibration and holdout, the model
  being the sum over customers of the unconditional E[X(τ − s_i)] (eq. 9) from each customer's first purchase
  time s_i (their Figures 1 and 2);
* the share of customers without calibration repeat purchases who buy in the holdout, actual and predicted.

Only repeat purchases count: a customer's first purchase day is time zero and is never counted; purchases on the same
day are one purchase. :func:`holdout_report` computes, :meth:`HoldoutReport.write` writes CSV, JSON, PNG and a
self-contained HTML page.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from kehu.errors import InvalidInput
from kehu.models.beta_geo import BetaGeoModel
from kehu.models.summary import summary_from_transactions

__all__ = [
    "HoldoutReport",
    "holdout_report",
    "probability_purchase_in_holdout",
    "purchases_from_orders",
]

#: Days per model time unit.
UNIT_DAYS = {"weeks": 7, "days": 1}

FloatArray = npt.NDArray[np.float64]
TimeUnit = Literal["days", "weeks"]


@dataclass(frozen=True)
class HoldoutReport:
    """The result of :func:`holdout_report`.

    Attributes
    ----------
    calibration_end, holdout_end : date
        Last day of the calibration period and of the holdout period (both included).
    time_unit : str
        ``"weeks"`` or ``"days"``: the unit of the model's parameters and of ``holdout_length``.
    holdout_length : float
        Length of the holdout period in ``time_unit`` (days between the two ends / 7 for weeks).
    customers : int
        Customers whose first purchase is on or before ``calibration_end`` (the calibration cohort).
    calibration_repeats : int
        Repeat purchases (distinct days after the first) of the cohort in the calibration period.
    holdout_actual : int
        Repeat purchases of the cohort in the holdout period.
    holdout_predicted : float
        Sum over the cohort of E[X(holdout_length) | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10).
    params : dict of str to float
        Fitted r, alpha, a, b (alpha in ``time_unit``).
    standard_errors : dict of str to float
        Their standard errors.
    log_likelihood : float
        Total log-likelihood of the fit over the cohort.
    zero_repeat_customers : int
        Cohort customers without calibration repeat purchases (x = 0).
    zero_repeat_share_actual : float
        Share of them who bought at least once in the holdout.
    zero_repeat_share_predicted : float
        Mean over them of P(X(holdout) > 0 | x = 0, T) = 1 − ((α + T) / (α + T + t))^r, see
        :func:`probability_purchase_in_holdout`.
    zero_repeat_mean_actual, zero_repeat_mean_predicted : float
        Their mean repeat purchases in the holdout, actual and E[X(t) | x = 0, T] (the x = 0 point of the
        conditional-expectation table; FHL 2005 report 0.24 actual and 0.23 BG/NBD on the 1/10 CDNOW sample).
    conditional_expectations : pandas.DataFrame
        One row per x = 0, 1, …, max_x+ (column ``x`` is a label; the last is ``"7+"``): ``customers``,
        ``actual_mean`` and ``predicted_mean`` repeat purchases per customer in the holdout.
    tracking : pandas.DataFrame
        One row per week since the cohort's first purchase day: ``week`` (1-based), ``week_end`` (last day of the
        week, the last week cut at ``holdout_end``), ``period`` (``calibration`` or ``holdout``), ``actual`` and
        ``predicted`` repeat purchases in the week, ``actual_cumulative`` and ``predicted_cumulative``.
    """

    calibration_end: date
    holdout_end: date
    time_unit: str
    holdout_length: float
    customers: int
    calibration_repeats: int
    holdout_actual: int
    holdout_predicted: float
    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    zero_repeat_customers: int
    zero_repeat_share_actual: float
    zero_repeat_share_predicted: float
    zero_repeat_mean_actual: float
    zero_repeat_mean_predicted: float
    conditional_expectations: pd.DataFrame = field(repr=False)
    tracking: pd.DataFrame = field(repr=False)

    @property
    def holdout_error_pct(self) -> float:
        """Forecast error of the holdout repeat purchases, percent: (predicted − actual) / actual × 100.

        Negative is an under-forecast; NaN when nothing was bought in the holdout.
        """
        return _error_pct(self.holdout_predicted, self.holdout_actual)

    @property
    def cumulative_actual(self) -> int:
        """Cumulative repeat purchases of the cohort from its first day to ``holdout_end``."""
        return int(self.tracking["actual_cumulative"].iloc[-1])

    @property
    def cumulative_predicted(self) -> float:
        """The model's cumulative repeat purchases to ``holdout_end`` (the tracking curve's last value)."""
        return float(self.tracking["predicted_cumulative"].iloc[-1])

    @property
    def cumulative_error_pct(self) -> float:
        """Forecast error of the cumulative repeat purchases at ``holdout_end``, percent (negative: under-forecast).

        This is the figure Fader, Hardie & Lee (2005) quote at week 78 of CDNOW (about −4% on the 1/10 sample).
        """
        return _error_pct(self.cumulative_predicted, self.cumulative_actual)

    def totals(self) -> dict[str, Any]:
        """The headline numbers as a flat JSON-ready dict (dates as ISO strings, errors in percent)."""
        return {
            "calibration_end": self.calibration_end.isoformat(),
            "holdout_end": self.holdout_end.isoformat(),
            "time_unit": self.time_unit,
            "holdout_length": self.holdout_length,
            "customers": self.customers,
            "calibration_repeat_purchases": self.calibration_repeats,
            "holdout_actual": self.holdout_actual,
            "holdout_predicted": self.holdout_predicted,
            "holdout_error_pct": self.holdout_error_pct,
            "cumulative_weeks": int(len(self.tracking)),
            "cumulative_actual": self.cumulative_actual,
            "cumulative_predicted": self.cumulative_predicted,
            "cumulative_error_pct": self.cumulative_error_pct,
            "zero_repeat_customers": self.zero_repeat_customers,
            "zero_repeat_share_actual": self.zero_repeat_share_actual,
            "zero_repeat_share_predicted": self.zero_repeat_share_predicted,
            "zero_repeat_share_predicted_as": "mean of 1 - P(X(holdout) = 0 | x = 0, T)",
            "zero_repeat_mean_actual": self.zero_repeat_mean_actual,
            "zero_repeat_mean_predicted": self.zero_repeat_mean_predicted,
            "params": dict(self.params),
            "standard_errors": dict(self.standard_errors),
            "log_likelihood": self.log_likelihood,
        }

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The report as pandas tables (copies).

        Returns
        -------
        dict of str to pandas.DataFrame
            ``comparison``: one row per headline measure (holdout repeat purchases, cumulative repeat purchases to
            ``holdout_end``, share and mean holdout purchases of the x = 0 customers) with ``actual``, ``predicted``
            and ``error_pct``; ``params``: ``parameter``, ``estimate``, ``standard_error``;
            ``conditional_expectations`` and ``tracking``: see the class attributes.
        """
        rows = [
            ("repeat purchases in the holdout", self.holdout_actual, self.holdout_predicted),
            (f"cumulative repeat purchases to {self.holdout_end} ({len(self.tracking)} weeks)",
             self.cumulative_actual, self.cumulative_predicted),
            (f"share of the {self.zero_repeat_customers:,} customers with x = 0 who buy in the holdout",
             self.zero_repeat_share_actual, self.zero_repeat_share_predicted),
            ("mean holdout repeat purchases of the customers with x = 0",
             self.zero_repeat_mean_actual, self.zero_repeat_mean_predicted),
        ]
        comparison = pd.DataFrame({
            "measure": [name for name, _, _ in rows],
            "actual": [float(actual) for _, actual, _ in rows],
            "predicted": [float(predicted) for _, _, predicted in rows],
            "error_pct": [_error_pct(predicted, actual) for _, actual, predicted in rows],
        })
        params = pd.DataFrame({
            "parameter": list(self.params),
            "estimate": [self.params[k] for k in self.params],
            "standard_error": [self.standard_errors.get(k, math.nan) for k in self.params],
        })
        return {
            "comparison": comparison,
            "params": params,
            "conditional_expectations": self.conditional_expectations.copy(),
            "tracking": self.tracking.copy(),
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write the report into ``out_dir`` (created if needed) and return the path of ``report.html``.

        Files: ``conditional_expectations.csv``, ``tracking.csv``, ``summary.json``,
        ``conditional_expectations.png``, ``tracking.png`` and ``report.html`` (the tables and both charts
        embedded as base64 PNG: one file, no network needed to view it).
        """
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot create the report directory {out}: {exc.strerror}") from None
        self.conditional_expectations.to_csv(out / "conditional_expectations.csv", index=False)
        self.tracking.to_csv(out / "tracking.csv", index=False)
        (out / "summary.json").write_text(json.dumps(_jsonable(self.totals()), indent=2) + "\n", encoding="utf-8")
        charts = {"conditional_expectations": _conditional_chart(self), "tracking": _tracking_chart(self)}
        for name, png in charts.items():
            (out / f"{name}.png").write_bytes(png)
        page = out / "report.html"
        page.write_text(_html(self, charts), encoding="utf-8")
        return page


def probability_purchase_in_holdout(
    t: npt.ArrayLike, frequency: npt.ArrayLike, T: npt.ArrayLike, p_alive: npt.ArrayLike, *, r: float, alpha: float
) -> FloatArray:
    """P(X(T, T + t) > 0 | x, t_x, T): the probability of at least one purchase in the next ``t`` time units.

    Under the BG/NBD a customer can only drop out just after a purchase, so one alive at T who makes no purchase in
    (T, T + t] is still alive; the probability of no purchase is therefore (1 − P(alive)) + P(alive)·E[e^(−λt)]
    over the posterior of λ of an alive customer, Gamma(r + x, α + T). Hence

        P(X(T, T + t) > 0 | x, t_x, T) = P(alive | x, t_x, T) · (1 − ((α + T) / (α + T + t))^(r + x)),

    and for x = 0 (always alive) 1 − ((α + T) / (α + T + t))^r. Derived from the likelihood of Fader, Hardie & Lee
    (2005), eq. 6, in the way of their eqs. 10 and 11.

    Parameters
    ----------
    t : array_like
        Length of the future period, in the model's time unit.
    frequency, T : array_like
        Repeat purchases x and age T (time unit) at the end of the calibration period.
    p_alive : array_like
        P(alive | x, t_x, T) from the fitted model.
    r, alpha : float
        The fitted r and α (α in the time unit).

    Returns
    -------
    numpy.ndarray
        Probabilities in [0, 1].
    """
    t_ = np.asarray(t, dtype=float)
    x = np.asarray(frequency, dtype=float)
    age = np.asarray(T, dtype=float)
    log_quiet_if_alive = (r + x) * (np.log(alpha + age) - np.log(alpha + age + t_))
    return np.asarray(np.asarray(p_alive, dtype=float) * -np.expm1(log_quiet_if_alive), dtype=float)


def purchases_from_orders(orders: pa.Table) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Customer ids and order timestamps of the purchases among ``orders`` (as :func:`load_inputs` returns them).

    Purchases are paid orders that are not fully refunded (refunded_cents is 0, or less than amount_cents), as in
    :mod:`kehu.analytics.features`: an order of amount 0 without refund (CDNOW has 80) still counts.

    Parameters
    ----------
    orders : pyarrow.Table
        Columns ``customer_id``, ``ordered_at``, ``amount_cents``, ``refunded_cents``, ``is_paid``.

    Returns
    -------
    tuple of numpy.ndarray
        Customer ids and ``ordered_at`` values (numpy datetime64), one per purchase.
    """
    frame = orders.select(["customer_id", "ordered_at", "amount_cents", "refunded_cents", "is_paid"]).to_pandas()
    refunded = frame["refunded_cents"].fillna(0)
    kept = frame[frame["is_paid"].fillna(False).astype(bool)
                 & ((refunded == 0) | (refunded < frame["amount_cents"]))]
    return kept["customer_id"].to_numpy(), pd.to_datetime(kept["ordered_at"]).to_numpy()


def holdout_report(
    customer_ids: Sequence[Any] | npt.ArrayLike,
    ordered_at: Sequence[Any] | npt.ArrayLike,
    *,
    calibration_end: date,
    holdout_end: date,
    time_unit: str = "weeks",
    max_x: int = 7,
) -> HoldoutReport:
    """Fit the BG/NBD on the calibration period and compare its forecasts with the holdout period.

    Parameters
    ----------
    customer_ids : array_like
        Customer id of each purchase.
    ordered_at : array_like
        Date or timestamp of each purchase (only the calendar day is used; same-day purchases are one).
    calibration_end : date
        Last day of the calibration period (included). The cohort is the customers whose first purchase is on or
        before it; their x, t_x and T are measured up to it.
    holdout_end : date
        Last day of the holdout period (included); purchases after it are ignored.
    time_unit : {"weeks", "days"}
        Unit of the model's time (weeks = days / 7). The tracking table is weekly either way.
    max_x : int
        The conditional-expectation table has rows x = 0, …, max_x − 1 and a last row ``max_x+``.

    Returns
    -------
    HoldoutReport

    Raises
    ------
    kehu.errors.InvalidInput
        When ``calibration_end`` is not before ``holdout_end``, the time unit is unknown, a date cannot be read, there
        is no purchase up to ``holdout_end``, or no customer made a first purchase on or before ``calibration_end``.
    kehu.errors.ConvergenceError
        When the BG/NBD cannot be fitted (e.g. no customer has a repeat purchase in the calibration period).
    """
    if time_unit not in UNIT_DAYS:
        raise InvalidInput(f"time unit {time_unit!r}: choose weeks or days")
    if calibration_end >= holdout_end:
        raise InvalidInput(f"the calibration end {calibration_end} is not before the holdout end {holdout_end}: "
                           "choose a calibration end earlier than the holdout end")
    if max_x < 1:
        raise InvalidInput(f"max_x {max_x}: choose 1 or more")
    days = _purchase_days(customer_ids, ordered_at, holdout_end)
    if days.empty:
        raise InvalidInput(f"no purchases on or before the holdout end {holdout_end}: import orders first")
    first = days.groupby("customer_id")["day"].min()
    cohort = first[first <= pd.Timestamp(calibration_end)]
    if cohort.empty:
        raise InvalidInput(f"no customer made a first purchase on or before the calibration end {calibration_end} "
                           f"(the first purchase is on {first.min().date()}): choose a later calibration end")
    days = days[days["customer_id"].isin(cohort.index)]

    unit = cast("TimeUnit", time_unit)
    summary = summary_from_transactions(days["customer_id"].to_numpy(), days["day"].to_numpy(),
                                        observation_end=holdout_end, calibration_end=calibration_end,
                                        time_unit=unit)
    summary = summary.loc[summary.index.isin(cohort.index)]
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    age = summary["T"].to_numpy(dtype=float)
    duration = summary["duration_holdout"].to_numpy(dtype=float)
    actual = summary["frequency_holdout"].to_numpy(dtype=float)

    model = BetaGeoModel(time_unit=unit).fit(x, t_x, age)
    params = {k: float(v) for k, v in model.params_.items()}
    predicted = np.asarray(model.expected_purchases(duration, x, t_x, age), dtype=float)
    p_alive = np.asarray(model.probability_alive(x, t_x, age), dtype=float)
    p_buy = probability_purchase_in_holdout(duration, x, age, p_alive, r=params["r"], alpha=params["alpha"])
    zero = x == 0

    return HoldoutReport(
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        time_unit=time_unit,
        holdout_length=(holdout_end - calibration_end).days / UNIT_DAYS[time_unit],
        customers=len(summary),
        calibration_repeats=int(x.sum()),
        holdout_actual=int(actual.sum()),
        holdout_predicted=float(predicted.sum()),
        params=params,
        standard_errors={k: float(v) for k, v in model.standard_errors_.items()},
        log_likelihood=float(model.log_likelihood_),
        zero_repeat_customers=int(zero.sum()),
        zero_repeat_share_actual=float((actual[zero] > 0).mean()) if zero.any() else math.nan,
        zero_repeat_share_predicted=float(p_buy[zero].mean()) if zero.any() else math.nan,
        zero_repeat_mean_actual=float(actual[zero].mean()) if zero.any() else math.nan,
        zero_repeat_mean_predicted=float(predicted[zero].mean()) if zero.any() else math.nan,
        conditional_expectations=_conditional_table(x, actual, predicted, max_x),
        tracking=_tracking_table(days, cohort, model, calibration_end, holdout_end, UNIT_DAYS[time_unit]),
    )


# -- computation helpers ---------------------------------------------------------------------------------------------


def _purchase_days(customer_ids: Any, ordered_at: Any, holdout_end: date) -> pd.DataFrame:
    """Distinct (customer_id, day) purchase pairs up to ``holdout_end``; ``day`` is a midnight Timestamp."""
    ids = np.asarray(customer_ids)
    try:
        stamps = pd.to_datetime(pd.Series(np.asarray(ordered_at)))
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"purchase dates must be dates or timestamps: {exc}") from None
    if len(ids) != len(stamps):
        raise InvalidInput(f"{len(ids)} customer ids but {len(stamps)} purchase dates: give one of each per purchase")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_localize(None)
    frame = pd.DataFrame({"customer_id": ids, "day": stamps.dt.normalize().to_numpy()})
    frame = frame[frame["day"].notna() & (frame["day"] <= pd.Timestamp(holdout_end))]
    return frame.drop_duplicates().reset_index(drop=True)


def _conditional_table(x: FloatArray, actual: FloatArray, predicted: FloatArray, max_x: int) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration repeat purchases x = 0, …, max_x+."""
    bucket = np.minimum(x, max_x).astype(int)
    rows = []
    for k in range(max_x + 1):
        members = bucket == k
        n = int(members.sum())
        rows.append({
            "x": f"{k}+" if k == max_x else str(k),
            "customers": n,
            "actual_mean": float(actual[members].mean()) if n else math.nan,
            "predicted_mean": float(predicted[members].mean()) if n else math.nan,
        })
    return pd.DataFrame(rows)


def _tracking_table(days: pd.DataFrame, cohort: pd.Series, model: BetaGeoModel, calibration_end: date,
                    holdout_end: date, unit_days: int) -> pd.DataFrame:
    """Weekly and cumulative repeat purchases of the cohort, actual and model (the cohort-based tracking).

    Days are counted from the cohort's first purchase day (day 0); week k holds days 7(k − 1) … 7k − 1. A purchase on
    day d by a customer who first bought on day s is at time (d − s) / unit of that customer's clock, so the model's
    cumulative repeat purchases to the end of day D are sum_i E[X((D − s_i) / unit)] over the customers with s_i ≤ D:
    a convolution of the number of first purchases per day with E[X] per day of lag.
    """
    origin = cohort.min()
    last_day = (pd.Timestamp(holdout_end) - origin).days
    first_day = ((cohort - origin).dt.days).astype(int)
    offsets = ((days["day"] - origin).dt.days).astype(int).to_numpy()
    is_repeat = offsets > first_day.reindex(days["customer_id"]).to_numpy()
    weeks = last_day // 7 + 1
    actual = np.bincount(offsets[is_repeat] // 7, minlength=weeks)[:weeks]

    lags = np.arange(last_day + 1, dtype=float)
    expected = np.asarray(model.expected_purchases_unconditional(lags / unit_days), dtype=float)
    expected[0] = 0.0
    starts = np.bincount(first_day.to_numpy(), minlength=last_day + 1)
    by_day = np.convolve(starts, expected)[: last_day + 1]
    ends = np.minimum(np.arange(1, weeks + 1) * 7 - 1, last_day)
    predicted_cumulative = by_day[ends]
    calibration_day = (pd.Timestamp(calibration_end) - origin).days
    return pd.DataFrame({
        "week": np.arange(1, weeks + 1),
        "week_end": [(origin + pd.Timedelta(days=int(d))).date().isoformat() for d in ends],
        "period": np.where(ends <= calibration_day, "calibration", "holdout"),
        "actual": actual.astype(int),
        "predicted": np.diff(predicted_cumulative, prepend=0.0),
        "actual_cumulative": np.cumsum(actual).astype(int),
        "predicted_cumulative": predicted_cumulative,
    })


def _error_pct(predicted: float, actual: float) -> float:
    return (predicted - actual) / actual * 100 if actual else math.nan


def _jsonable(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- charts and HTML ---------------------------------------------------------------------------------------------------


def _png(fig: Any) -> bytes:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def _conditional_chart(report: HoldoutReport) -> bytes:
    """Actual vs predicted mean holdout purchases by calibration repeat purchases (FHL 2005, Figure 4)."""
    from matplotlib.figure import Figure

    table = report.conditional_expectations
    fig = Figure(figsize=(7, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(table))
    ax.plot(positions, table["actual_mean"], marker="o", color="#1f4e79", label="actual")
    ax.plot(positions, table["predicted_mean"], marker="s", linestyle="--", color="#c0504d", label="BG/NBD")
    ax.set_xticks(positions, list(table["x"]))
    ax.set_xlabel("repeat purchases in the calibration period (x)")
    ax.set_ylabel("mean repeat purchases in the holdout")
    ax.set_title(f"Conditional expectations: calibration to {report.calibration_end}, "
                 f"holdout to {report.holdout_end}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def _tracking_chart(report: HoldoutReport) -> bytes:
    """Weekly and cumulative repeat purchases, actual vs model (FHL 2005, Figures 1 and 2)."""
    from matplotlib.figure import Figure

    table = report.tracking
    fig = Figure(figsize=(11, 4.2), dpi=100, layout="constrained")
    weekly, cumulative = fig.subplots(1, 2)
    split = float((table["period"] == "calibration").sum()) + 0.5
    for ax, actual, predicted, title in (
        (weekly, "actual", "predicted", "Weekly repeat purchases"),
        (cumulative, "actual_cumulative", "predicted_cumulative", "Cumulative repeat purchases"),
    ):
        ax.plot(table["week"], table[actual], color="#1f4e79", label="actual")
        ax.plot(table["week"], table[predicted], linestyle="--", color="#c0504d", label="BG/NBD")
        ax.axvline(split, color="grey", linestyle=":", label=f"calibration end {report.calibration_end}")
        ax.set_xlabel("week")
        ax.set_ylabel("repeat purchases")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    cumulative.legend(loc="upper left")
    return _png(fig)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; padding: 0 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
details { margin-bottom: 1.5rem; }
.note { color: #555; font-size: 0.9rem; }
"""


def _html(report: HoldoutReport, charts: dict[str, bytes]) -> str:
    """A self-contained page: totals, parameters, both tables and both charts inline as base64 PNG."""
    frames = report.to_frames()

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:,.4f}", na_rep="–", border=0)

    def image(name: str, alt: str) -> str:
        data = base64.b64encode(charts[name]).decode("ascii")
        return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'

    title = f"BG/NBD holdout validation: {report.calibration_end} / {report.holdout_end}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">Fitted on the {report.customers:,} customers whose first purchase is on or before
{report.calibration_end}; forecast of their repeat purchases from the day after it to {report.holdout_end}
({report.holdout_length:g} {report.time_unit}). Repeat purchases only: each customer's first purchase day is not
counted, and purchases on the same day count once. Errors are (predicted − actual) / actual; negative is an
under-forecast. Method: Fader, Hardie &amp; Lee (2005), "Counting Your Customers the Easy Way", section 7.</p>
<h2>Forecast vs actual</h2>
{table(frames["comparison"])}
<p class="note">{report.calibration_repeats:,} repeat purchases in the calibration period;
{report.zero_repeat_customers:,} customers without any (x = 0). Their predicted share is the mean of
1 − P(no purchase in the holdout | x = 0, T).</p>
<h2>Parameters (time unit: {html.escape(report.time_unit)})</h2>
{table(frames["params"])}
<p class="note">Log-likelihood {report.log_likelihood:,.2f} (total over the customers).</p>
<h2>Tracking: repeat purchases by week</h2>
{image("tracking", "weekly and cumulative repeat purchases, actual vs BG/NBD")}
<h2>Conditional expectations by calibration repeat purchases</h2>
{image("conditional_expectations", "mean holdout purchases by calibration repeat purchases")}
{table(frames["conditional_expectations"])}
<details>
<summary>Tracking table ({len(report.tracking)} weeks)</summary>
{table(frames["tracking"])}
</details>
</body>
</html>
"""

