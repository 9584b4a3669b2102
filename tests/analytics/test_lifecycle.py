"""Lifecycle stages at every threshold of DESIGN.md's rules, exactly on and one day past each boundary."""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import pytest

from factories import orders_table
from kehu.analytics import LifecycleRules, classification_table, lifecycle_stage
from kehu.config import Settings

# (frequency, s = days since last order, median gap g, gap before the latest order) → stage
CASES = [
    ((0, None, None, None), "prospect"),
    ((1, 365, None, None), "at_risk"),  # not churned at exactly 365 (one order, s > 180)
    ((1, 366, None, None), "churned"),
    ((5, 366, 10.0, 400), "churned"),  # churned wins over won back
    ((2, 90, 365.0, 365), "won_back"),  # s ≤ 90 and last gap ≥ 365, both on the boundary
    ((2, 91, 365.0, 365), "active"),  # s > 90: not won back; 2 orders, s ≤ max(2·365, 60)
    ((2, 90, 364.0, 364), "active"),  # gap 364 < 365: not won back
    ((1, 90, None, None), "new"),
    ((1, 91, None, None), "active"),
    ((1, 180, None, None), "active"),
    ((1, 181, None, None), "at_risk"),
    ((2, 60, 30.0, 30), "active"),  # threshold max(2·30, 60) = 60, s = 60 is not past it
    ((2, 61, 30.0, 30), "at_risk"),
    ((3, 80, 40.0, 40), "active"),  # threshold 80
    ((3, 81, 40.0, 40), "at_risk"),
    ((3, 60, 0.0, 0), "active"),  # same-day orders: g = 0, the floor of 60 days holds
    ((3, 61, 0.0, 0), "at_risk"),
    ((4, 100, 60.5, 10), "active"),  # threshold 121
    ((4, 122, 60.5, 10), "at_risk"),
]


def _stages(cases: list[tuple], rules: LifecycleRules | None = None) -> list[str]:
    t = ibis.memtable(
        {
            "frequency": [c[0] for c in cases],
            "recency_days": [c[1] for c in cases],
            "median_gap_days": [c[2] for c in cases],
            "last_gap_days": [c[3] for c in cases],
        },
        schema={"frequency": "int64", "recency_days": "int64", "median_gap_days": "float64", "last_gap_days": "int64"},
    )
    out = ibis.duckdb.connect().to_pyarrow(t.mutate(stage=lifecycle_stage(t, rules or LifecycleRules())))
    return out.column("stage").to_pylist()


@pytest.mark.parametrize(("inputs", "stage"), CASES, ids=[f"{c[0]}->{s}" for c, s in CASES])
def test_stage_at_boundary(inputs: tuple, stage: str) -> None:
    assert _stages([inputs]) == [stage]


def test_thresholds_are_settings() -> None:
    rules = LifecycleRules(churned_days=100, new_days=10)
    assert _stages([(1, 101, None, None), (1, 11, None, None), (1, 10, None, None)], rules) == [
        "churned", "active", "new"]


def test_from_orders_end_to_end() -> None:
    """Gaps come from order dates: median of consecutive gaps, and the gap before the latest order."""
    as_of = date(2025, 6, 30)

    def ago(days: int) -> str:
        return (as_of - timedelta(days=days)).isoformat()

    rows = [
        (1, ago(10), 10), (1, ago(10), 10), (1, ago(40), 10),  # gaps 30, 0 → g = 15, s = 10 → active
        (2, ago(30), 10), (2, ago(500), 10),  # gap 470 before the latest, s = 30 → won back
        (3, ago(200), 10), (3, ago(230), 10), (3, ago(260), 10),  # g = 30, s = 200 > 60 → at risk
        (4, ago(0), 10),  # one order today → new
        (5, None, None),  # prospect
    ]
    orders, customers = orders_table(rows)
    table, _ = classification_table(orders, customers, as_of=as_of, settings=Settings(_env_file=None))
    got = {r["customer_id"]: r for r in table.to_pylist()}
    assert got[1]["median_gap_days"] == 15.0 and got[1]["lifecycle_stage"] == "active"
    assert got[2]["lifecycle_stage"] == "won_back"
    assert got[3]["median_gap_days"] == 30.0 and got[3]["lifecycle_stage"] == "at_risk"
    assert got[4]["lifecycle_stage"] == "new"
    assert got[5]["lifecycle_stage"] == "prospect"


def test_orders_after_as_of_are_ignored() -> None:
    orders, customers = orders_table([(1, "2025-01-01", 10), (1, "2025-03-01", 10)])
    table, _ = classification_table(orders, customers, as_of=date(2025, 1, 31), settings=Settings(_env_file=None))
    row = table.to_pylist()[0]
    assert row["frequency"] == 1 and row["recency_days"] == 30 and row["last_order_date"] == date(2025, 1, 1)


def test_unpaid_orders_do_not_count() -> None:
    orders, customers = orders_table([(1, "2025-01-01", 10, 0, False), (2, "2025-01-02", 10)])
    table, _ = classification_table(orders, customers, as_of=date(2025, 1, 31), settings=Settings(_env_file=None))
    got = {r["customer_id"]: r for r in table.to_pylist()}
    assert got[1]["frequency"] == 0 and got[1]["lifecycle_stage"] == "prospect"
    assert got[2]["frequency"] == 1
