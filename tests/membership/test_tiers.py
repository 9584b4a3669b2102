"""Tiers by trailing-window spend: month arithmetic, a golden customer path with its upgrade and downgrade days,
and the vectorised history against a day-by-day reference on random data."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kehu.config import Settings
from kehu.membership.tiers import TIERS, add_months, add_months_np, thresholds_cents, tier_history, tier_of

THRESHOLDS = np.array([0, 100_000, 500_000, 2_000_000], dtype=np.int64)  # 0, 1,000, 5,000, 20,000 yuan


def _history(rows: list[tuple[int, str, int]], as_of: date):  # type: ignore[no-untyped-def]
    cid = np.array([r[0] for r in rows], dtype=np.int64)
    days = np.array([r[1] for r in rows], dtype="datetime64[D]")
    net = np.array([r[2] for r in rows], dtype=np.int64)
    return tier_history(cid, days, net, as_of=as_of, window_months=12, thresholds=THRESHOLDS)


def test_add_months_keeps_the_day_or_takes_the_month_end() -> None:
    assert add_months(date(2023, 3, 15), 24) == date(2025, 3, 15)
    assert add_months(date(2024, 2, 29), 24) == date(2026, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 12, 31), 2) == date(2025, 2, 28)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)


@given(st.lists(st.dates(date(1990, 1, 1), date(2090, 12, 31)), min_size=1, max_size=50), st.integers(-30, 60))
def test_add_months_np_agrees_with_add_months(days: list[date], months: int) -> None:
    got = add_months_np(np.array(days, dtype="datetime64[D]"), months)
    assert [str(d) for d in got] == [add_months(d, months).isoformat() for d in days]


def test_thresholds_are_from_values() -> None:
    assert tier_of(99_999, THRESHOLDS) == "standard"
    assert tier_of(100_000, THRESHOLDS) == "silver"
    assert tier_of(500_000, THRESHOLDS) == "gold"
    assert tier_of(2_000_000, THRESHOLDS) == "diamond"
    assert tier_of(-5, THRESHOLDS) == "standard"


def test_golden_path_with_upgrade_and_downgrade_days() -> None:
    """600 on 2024-01-10, 400 on 2024-03-05 (exactly 1,000: silver), 4,000 on 2024-06-01 (5,000: gold); the
    January order leaves the window on 2025-01-10 (4,400: silver), March's on 2025-03-05 (4,000: still silver),
    June's on 2025-06-01 (0: standard)."""
    rows = [(7, "2024-01-10", 60_000), (7, "2024-03-05", 40_000), (7, "2024-06-01", 400_000)]
    h = _history(rows, date(2025, 12, 31))
    changes = [(str(d), TIERS[f], TIERS[t], int(s)) for d, f, t, s in
               zip(h.change_day, h.change_from, h.change_to, h.change_spend, strict=True)]
    assert changes == [
        ("2024-03-05", "standard", "silver", 100_000),
        ("2024-06-01", "silver", "gold", 500_000),
        ("2025-01-10", "gold", "silver", 440_000),
        ("2025-06-01", "silver", "standard", 0),
    ]
    assert (TIERS[h.tier[0]], str(h.since[0]), int(h.spend_cents[0])) == ("standard", "2025-06-01", 0)
    # As of the day before the first downgrade: gold since the June upgrade, all three orders in the window.
    h = _history(rows, date(2025, 1, 9))
    assert (TIERS[h.tier[0]], str(h.since[0]), int(h.spend_cents[0])) == ("gold", "2024-06-01", 500_000)
    assert len(h.change_day) == 2


def test_customers_without_a_purchase_have_no_tier_and_orders_after_as_of_do_not_count() -> None:
    h = _history([(1, "2024-01-01", 0), (2, "2024-05-01", 150_000), (3, "2024-02-01", 10_000)], date(2024, 4, 1))
    assert h.customer_id.tolist() == [3]
    assert TIERS[h.tier[0]] == "standard" and str(h.since[0]) == "2024-02-01"
    assert len(h.change_day) == 0


def _reference(rows: list[tuple[int, date, int]], as_of: date) -> list[tuple[int, date, str, str]]:
    """Day by day: the tier of each customer on each day from their first order to ``as_of``."""
    out = []
    for cid in sorted({r[0] for r in rows}):
        mine = [(d, v) for c, d, v in rows if c == cid and v > 0 and d <= as_of]
        if not mine:
            continue
        day, tier = min(d for d, _ in mine), "standard"
        while day <= as_of:
            spend = sum(v for d, v in mine if d <= day < add_months(d, 12))
            now = tier_of(spend, THRESHOLDS)
            if now != tier:
                out.append((cid, day, tier, now))
                tier = now
            day += timedelta(days=1)
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 900), st.integers(-1_000, 1_500_000)), max_size=25),
       st.integers(0, 1_000))
def test_vectorised_history_matches_a_day_by_day_reference(raw: list[tuple[int, int, int]], end: int) -> None:
    start = date(2023, 1, 1)
    rows = [(c, start + timedelta(days=d), v) for c, d, v in raw]
    as_of = start + timedelta(days=end)
    h = tier_history(np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows],
                     dtype="datetime64[D]"), np.array([r[2] for r in rows], dtype=np.int64), as_of=as_of,
                     window_months=12, thresholds=THRESHOLDS)
    got = [(int(c), date.fromisoformat(str(d)), TIERS[f], TIERS[t])
           for c, d, f, t in zip(h.change_customer, h.change_day, h.change_from, h.change_to, strict=True)]
    assert got == _reference(rows, as_of)


def test_tier_thresholds_must_rise(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="membership tier thresholds must rise"):
        Settings(data_dir=tmp_path, membership_gold_yuan=800, _env_file=None)
    settings = Settings(data_dir=tmp_path, membership_silver_yuan=500, _env_file=None)
    assert thresholds_cents(settings).tolist() == [0, 50_000, 500_000, 2_000_000]
