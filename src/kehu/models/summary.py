"""Per-customer (x, t_x, T, m̄) summaries of a transaction log, the inputs of the BG/NBD and Gamma-Gamma models.

Following Fader, Hardie & Lee (2005), purchases on the same day are merged into one purchase day: x counts repeat
purchase days, t_x is the time from the first to the last purchase day, T the time from the first purchase day to the
end of the (calibration) period, all in days or in weeks of 7 days (fractional).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from kehu.errors import InvalidInput
from kehu.models.beta_geo import DAYS_PER_UNIT

__all__ = ["summary_from_transactions"]


def _day_number(value: Any, name: str) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be a date, got {value!r}: {exc}") from None
    if pd.isna(stamp):
        raise InvalidInput(f"{name} must be a date, got {value!r}")
    return int(np.datetime64(stamp.date(), "D").astype(np.int64))


def _day_numbers(dates: ArrayLike) -> NDArray[np.int64]:
    """Calendar day numbers (days since 1970-01-01) of dates, datetimes (time of day dropped) or date strings."""
    arr = np.asarray(dates)
    if arr.dtype.kind == "M":
        parsed = pd.DatetimeIndex(arr)
    else:
        try:
            if arr.dtype.kind in "iu":  # 19970101-style integers
                parsed = pd.DatetimeIndex(pd.to_datetime(arr.astype(str), format="%Y%m%d"))
            else:
                parsed = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates if arr.dtype == object else arr)))
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidInput(f"dates must be dates, datetimes or date strings (YYYY-MM-DD): {exc}") from None
    if parsed.tz is not None:
        parsed = parsed.tz_localize(None)  # the customer's wall-clock day
    missing = np.asarray(parsed.isna())
    if missing.any():
        raise InvalidInput(
            f"dates has {int(missing.sum())} missing value(s) (first at position {int(np.argmax(missing))}); drop or "
            f"fix those transactions first"
        )
    return np.asarray(parsed.values.astype("datetime64[D]").astype(np.int64))


def summary_from_transactions(
    customer_ids: ArrayLike,
    dates: ArrayLike,
    *,
    observation_end: date,
    calibration_end: date | None = None,
    monetary: ArrayLike | None = None,
    time_unit: Literal["days", "weeks"] = "weeks",
) -> pd.DataFrame:
    """Summarise a transaction log into one row per customer for BG/NBD and Gamma-Gamma.

    Purchases of one customer on one calendar day count as one purchase (their values summed), as in Fader, Hardie
    & Lee (2005). Transactions after ``observation_end`` are ignored.

    Parameters
    ----------
    customer_ids : array-like
        Customer of each transaction (any hashable values; no missing values).
    dates : array-like
        Date of each transaction: dates, datetimes (time of day ignored; time-zone-aware ones use their local day),
        date strings, or integers YYYYMMDD.
    observation_end : datetime.date
        Last day of the data (inclusive).
    calibration_end : datetime.date, optional
        Last day of the calibration period (inclusive, before ``observation_end``). When given, the model inputs
        describe the calibration period, customers whose first purchase comes after it are dropped, and the holdout
        (calibration_end, observation_end] is summarised in extra columns.
    monetary : array-like, optional
        Value of each transaction (finite numbers, e.g. order totals).
    time_unit : {"weeks", "days"}
        Unit of recency, T and duration_holdout: days, or days / 7.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (``customer_id``, sorted when the ids are sortable), with columns

        - ``frequency``: x, repeat purchase days in the (calibration) period (int);
        - ``recency``: t_x, last minus first purchase day (0 when x = 0);
        - ``T``: end of the (calibration) period minus first purchase day;
        - ``monetary`` (with ``monetary``): mean value of the repeat purchase days, same-day values summed and the
          first purchase day excluded; 0 when x = 0;
        - ``frequency_holdout`` (with ``calibration_end``): purchase days in (calibration_end, observation_end];
        - ``duration_holdout`` (with ``calibration_end``): length of the holdout period;
        - ``monetary_holdout`` (with both): mean value of the holdout purchase days, 0 when there are none.

    Raises
    ------
    InvalidInput
        Arrays of different lengths, missing ids or dates, non-finite values, bad period ends, or no transaction on
        or before the end of the (calibration) period.
    """
    if time_unit not in DAYS_PER_UNIT:
        raise InvalidInput(f"time_unit must be 'days' or 'weeks', got {time_unit!r}")
    ids = np.asarray(customer_ids)
    if ids.ndim != 1:
        raise InvalidInput(f"customer_ids must be one-dimensional (one id per transaction), got shape {ids.shape}")
    days = _day_numbers(dates)
    n = len(ids)
    if len(days) != n or (monetary is not None and len(np.asarray(monetary)) != n):
        lengths = f"{n} customer_ids, {len(days)} dates" + (
            f", {len(np.asarray(monetary))} monetary values" if monetary is not None else ""
        )
        raise InvalidInput(f"customer_ids, dates and monetary must have one value per transaction, got {lengths}")
    values: NDArray[np.float64] | None = None
    if monetary is not None:
        try:
            values = np.asarray(monetary, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"monetary must be numeric (one value per transaction): {exc}") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise InvalidInput(
                f"monetary has {int(bad.sum())} missing or infinite value(s) (first at position "
                f"{int(np.argmax(bad))}); drop or fix those transactions first"
            )
    obs_day = _day_number(observation_end, "observation_end")
    cal_day = obs_day if calibration_end is None else _day_number(calibration_end, "calibration_end")
    if cal_day >= obs_day and calibration_end is not None:
        raise InvalidInput(
            f"calibration_end ({calibration_end}) must be before observation_end ({observation_end}); leave it out "
            f"to summarise the whole period"
        )

    keep = days <= obs_day
    ids, days = ids[keep], days[keep]
    if values is not None:
        values = values[keep]
    if len(ids) == 0 or days.min() > cal_day:
        end = "calibration_end" if calibration_end is not None else "observation_end"
        raise InvalidInput(f"no transactions on or before {end}; check the dates and the period ends")
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError:  # ids of mixed, unorderable types
        codes, uniques = pd.factorize(ids, sort=False)
    if (codes < 0).any():
        missing = codes < 0
        raise InvalidInput(
            f"customer_ids has {int(missing.sum())} missing value(s) (first at position {int(np.argmax(missing))}); "
            f"drop those transactions or give them an id"
        )
    n_customers = len(uniques)

    # One row per (customer, purchase day), values summed.
    start = int(days.min())
    span = obs_day - start + 1
    key_codes, keys = pd.factorize(codes.astype(np.int64) * span + (days - start))
    keys = np.asarray(keys, dtype=np.int64)
    cust = keys // span
    day = keys % span + start
    spend = np.bincount(key_codes, weights=values, minlength=len(keys)) if values is not None else None

    first = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first, cust, day)
    cal = day <= cal_day
    c_cal, d_cal = cust[cal], day[cal]
    purchase_days = np.bincount(c_cal, minlength=n_customers)
    last = np.full(n_customers, np.iinfo(np.int64).min)
    np.maximum.at(last, c_cal, d_cal)
    active = first <= cal_day  # first purchase within the (calibration) period

    unit = DAYS_PER_UNIT[time_unit]
    frequency = purchase_days - 1
    out = pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (last - first) / unit,
            "T": (cal_day - first) / unit,
        },
        index=pd.Index(uniques, name="customer_id"),
    )
    if spend is not None:
        spend_cal = spend[cal]
        total = np.bincount(c_cal, weights=spend_cal, minlength=n_customers)
        is_first = d_cal == first[c_cal]
        first_spend = np.bincount(c_cal[is_first], weights=spend_cal[is_first], minlength=n_customers)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["monetary"] = np.where(frequency > 0, (total - first_spend) / np.maximum(frequency, 1), 0.0)
    if calibration_end is not None:
        hold = ~cal
        holdout_days = np.bincount(cust[hold], minlength=n_customers)
        out["frequency_holdout"] = holdout_days.astype(np.int64)
        out["duration_holdout"] = (obs_day - cal_day) / unit
        if spend is not None:
            hold_total = np.bincount(cust[hold], weights=spend[hold], minlength=n_customers)
            out["monetary_holdout"] = np.where(holdout_days > 0, hold_total / np.maximum(holdout_days, 1), 0.0)
    return out[active]
