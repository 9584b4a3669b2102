"""Per-customer summaries of a transaction log: the published CDNOW summaries, small logs by hand, validation."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kehu.errors import InvalidInput
from kehu.models.summary import summary_from_transactions

DATA = Path(__file__).parent / "data"
CAL_END, OBS_END = date(1997, 9, 30), date(1998, 6, 30)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    # id (master), sample id (the customer in the published summaries), date YYYYMMDD, CDs, dollars
    return pd.read_csv(
        DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, names=["id", "sid", "day", "cds", "usd"], dtype={"day": str}
    )


def test_reproduces_the_published_cdnow_summaries(sample: pd.DataFrame) -> None:
    got = summary_from_transactions(
        sample["sid"], sample["day"], observation_end=OBS_END, calibration_end=CAL_END, monetary=sample["usd"]
    )
    published = pd.read_csv(DATA / "cdnow_customers_summary.csv", index_col="ID")
    with_spend = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    assert got.index.tolist() == published.index.tolist() and len(got) == 2357
    assert got["frequency"].tolist() == published["frequency"].tolist()
    assert np.abs(got["recency"] - published["recency"]).max() < 1e-2
    assert np.abs(got["T"] - published["T"]).max() < 1e-2
    assert np.abs(got["monetary"] - with_spend["zbar"]).max() <= 0.005 + 1e-9  # zbar is rounded to cents
    assert (got["duration_holdout"] == 39).all()
    assert got["frequency_holdout"].sum() == 1882


def test_small_log_by_hand() -> None:
    log = pd.DataFrame(
        [
            ("a", "2024-01-01", 10.0),
            ("a", "2024-01-01", 5.0),  # same day: one purchase day worth 15
            ("a", "2024-01-08", 20.0),
            ("a", "2024-01-15", 30.0),
            ("a", "2024-01-15", 10.0),
            ("a", "2024-02-10", 7.0),  # holdout
            ("b", "2024-01-20", 99.0),  # one purchase only
            ("c", "2024-02-01", 50.0),  # first purchase after the calibration end: dropped
            ("a", "2024-03-01", 1.0),  # after the observation end: ignored
        ],
        columns=["customer", "date", "value"],
    )
    got = summary_from_transactions(
        log["customer"],
        log["date"],
        observation_end=date(2024, 2, 29),
        calibration_end=date(2024, 1, 31),
        monetary=log["value"],
        time_unit="days",
    )
    expected = pd.DataFrame(
        {
            "frequency": [2, 0],
            "recency": [14.0, 0.0],
            "T": [30.0, 11.0],
            "monetary": [30.0, 0.0],  # (20 + 40) / 2: the first day is not a repeat purchase
            "frequency_holdout": [1, 0],
            "duration_holdout": [29.0, 29.0],
            "monetary_holdout": [7.0, 0.0],
        },
        index=pd.Index(["a", "b"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(got, expected)
    weeks = summary_from_transactions(log["customer"], log["date"], observation_end=date(2024, 2, 29))
    assert weeks.loc["a"].tolist() == pytest.approx([3, 40 / 7, 59 / 7])
    assert weeks.loc["c"].tolist() == pytest.approx([0, 0, 28 / 7])
    assert list(weeks.columns) == ["frequency", "recency", "T"]


@pytest.mark.parametrize(
    "dates",
    [
        ["2024-01-01", "2024-01-05", "2024-01-05"],
        np.array(["2024-01-01", "2024-01-05", "2024-01-05"], dtype="datetime64[D]"),
        np.array(["2024-01-01T08:00", "2024-01-05T09:30", "2024-01-05T23:59"], dtype="datetime64[s]"),
        [date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 5)],
        [datetime(2024, 1, 1, 8), datetime(2024, 1, 5, 1), datetime(2024, 1, 5, 23)],
        pd.Series(pd.to_datetime(["2024-01-01 23:00", "2024-01-05 00:10", "2024-01-05 22:00"])).dt.tz_localize(
            "Asia/Shanghai"
        ),
        [20240101, 20240105, 20240105],
    ],
)
def test_date_formats(dates: object) -> None:
    got = summary_from_transactions([7, 7, 7], dates, observation_end=date(2024, 1, 8), time_unit="days")  # type: ignore[arg-type]
    assert got.loc[7].tolist() == [1, 4.0, 7.0]


def test_a_million_transactions_match_pandas_groupby() -> None:
    rng = np.random.default_rng(7)
    n = 1_000_000
    ids = rng.integers(0, 100_000, n)
    days = np.datetime64("2023-01-01") + rng.integers(0, 730, n).astype("timedelta64[D]")
    value = rng.gamma(2.0, 30.0, n)
    got = summary_from_transactions(
        ids,
        days,
        observation_end=date(2024, 12, 31),
        calibration_end=date(2024, 6, 30),
        monetary=value,
        time_unit="days",
    )
    df = pd.DataFrame({"id": ids, "day": days, "value": value}).groupby(["id", "day"], as_index=False)["value"].sum()
    first = df.groupby("id")["day"].min()
    cal = df[df["day"] <= pd.Timestamp("2024-06-30")]
    cal = cal[cal["id"].isin(first.index)]
    g = cal.groupby("id")
    expected_x = g.size() - 1
    assert got.index.tolist() == sorted(expected_x.index)
    assert (got["frequency"] == expected_x).all()
    assert (got["recency"] == (g["day"].max() - first[expected_x.index]).dt.days).all()
    repeat_value = g["value"].sum() - cal[cal["day"] == cal["id"].map(first)].groupby("id")["value"].sum()
    assert np.allclose(got["monetary"], np.where(expected_x > 0, repeat_value / expected_x.clip(lower=1), 0.0))
    holdout = df[df["day"] > pd.Timestamp("2024-06-30")].groupby("id").size()
    assert (got["frequency_holdout"] == holdout.reindex(got.index, fill_value=0)).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"customer_ids": [1, 2]}, r"one value per transaction, got 2 customer_ids, 3 dates"),
        ({"monetary": [1.0, 2.0]}, r"got 3 customer_ids, 3 dates, 2 monetary values"),
        ({"monetary": [1.0, np.nan, 2.0]}, r"monetary has 1 missing or infinite value\(s\) \(first at position 1\)"),
        ({"dates": ["2024-01-01", None, "2024-01-03"]}, r"dates has 1 missing value\(s\) \(first at position 1\)"),
        ({"dates": ["2024-01-01", "soon", "2024-01-03"]}, r"dates must be dates, datetimes or date strings"),
        ({"customer_ids": ["a", None, "b"]}, r"customer_ids has 1 missing value\(s\) \(first at position 1\)"),
        ({"calibration_end": date(2024, 2, 1)}, r"calibration_end \(2024-02-01\) must be before observation_end"),
        ({"observation_end": date(2023, 1, 1)}, r"no transactions on or before observation_end"),
        ({"calibration_end": date(2023, 1, 1)}, r"no transactions on or before calibration_end"),
        ({"time_unit": "months"}, r"time_unit must be 'days' or 'weeks', got 'months'"),
        ({"observation_end": "whenever"}, r"observation_end must be a date, got 'whenever'"),
    ],
)
def test_bad_inputs_are_rejected(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "customer_ids": ["a", "a", "b"],
        "dates": ["2024-01-01", "2024-01-02", "2024-01-03"],
        "observation_end": date(2024, 2, 1),
    } | kwargs
    with pytest.raises(InvalidInput, match=match):
        summary_from_transactions(**args)  # type: ignore[arg-type]
