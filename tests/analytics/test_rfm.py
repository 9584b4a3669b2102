"""RFM scores, the 8-class model and the score grid on tiny hand-worked datasets (DESIGN.md's definitions)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from factories import orders_table
from kehu.analytics import classification_table
from kehu.analytics.labels import RFM_GRID
from kehu.config import Settings

AS_OF = date(2025, 1, 31)
# Worked by hand below; customer 6's 1,000 order is fully refunded, customer 7 never ordered.
ROWS = [
    (1, "2025-01-30", 100),
    (2, "2025-01-21", 50), (2, "2025-01-21", 50),
    (3, "2025-01-01", 300),
    (4, "2024-12-22", 10), (4, "2025-01-11", 10), (4, "2025-01-21", 10),
    (5, "2024-01-31", 5),
    (6, "2025-01-30", 1000, 1000), (6, "2025-01-25", 200),
    (7, None, None),
]


@pytest.fixture(scope="module")
def result() -> dict[int, dict]:
    orders, customers = orders_table(ROWS)
    table, _ = classification_table(orders, customers, as_of=AS_OF, settings=Settings(_env_file=None))
    return {row["customer_id"]: row for row in table.to_pylist()}


def test_features_worked_by_hand(result: dict[int, dict]) -> None:
    # recency = days from the last order date to the as-of date; refunded order 6 does not count.
    assert [result[c]["recency_days"] for c in range(1, 7)] == [1, 10, 30, 10, 366, 6]
    assert [result[c]["frequency"] for c in range(1, 8)] == [1, 2, 1, 3, 1, 1, 0]
    assert [result[c]["monetary_cents"] for c in range(1, 8)] == [10000, 10000, 30000, 3000, 500, 20000, 0]
    assert result[4]["aov_cents"] == 1000 and result[7]["aov_cents"] is None


def test_scores_with_ties_match_the_cut_points(result: dict[int, dict]) -> None:
    # recency sorted [1, 6, 10, 10, 30, 366] → cuts (linear) [6, 10, 10, 30]; equal recency 10 → equal R score 2.
    assert [result[c]["r_score"] for c in range(1, 7)] == [5, 2, 1, 2, 1, 4]
    # frequency sorted [1, 1, 1, 1, 2, 3] → cuts [1, 1, 1, 2]: one-time buyers all get F = 1.
    assert [result[c]["f_score"] for c in range(1, 7)] == [1, 4, 1, 5, 1, 1]
    # monetary sorted [500, 3000, 10000, 10000, 20000, 30000] → cuts [3000, 10000, 10000, 20000].
    assert [result[c]["m_score"] for c in range(1, 7)] == [2, 2, 5, 1, 1, 4]
    assert result[7]["r_score"] is None and result[7]["rfm_class"] is None


def test_cut_points_are_numpy_linear_percentiles() -> None:
    orders, customers = orders_table(ROWS)
    _, stats = classification_table(orders, customers, as_of=AS_OF, settings=Settings(_env_file=None))
    recency = [1, 10, 30, 10, 366, 6]
    expected = np.percentile(recency, [20, 40, 60, 80])
    assert [stats[f"r_q{i}"] for i in range(1, 5)] == pytest.approx(list(expected))
    monetary = [10000, 10000, 30000, 3000, 500, 20000]
    assert [stats[f"m_q{i}"] for i in range(1, 5)] == pytest.approx(list(np.percentile(monetary, [20, 40, 60, 80])))


def test_eight_classes_split_at_the_mean(result: dict[int, dict]) -> None:
    # means: recency 70.5, frequency 1.5, monetary 12,250 yuan-cents → high = strictly better than the mean.
    assert {c: result[c]["rfm_class"] for c in range(1, 7)} == {
        1: "general_development",  # R↑ F↓ M↓
        2: "general_value",  # R↑ F↑ M↓
        3: "important_development",  # R↑ F↓ M↑
        4: "general_value",  # R↑ F↑ M↓
        5: "general_winback",  # R↓ F↓ M↓
        6: "important_development",  # R↑ F↓ M↑
    }


def test_grid_groups_and_prospects(result: dict[int, dict]) -> None:
    assert {c: result[c]["rfm_group"] for c in range(1, 8)} == {
        1: "new", 2: "at_risk", 3: "hibernating", 4: "cannot_lose", 5: "hibernating", 6: "promising", 7: "prospect",
    }


def test_value_exactly_at_the_mean_is_not_high() -> None:
    # frequencies 1, 2, 3 → mean 2: the customer with 2 orders is F-low; recencies 10, 20, 30 → mean 20.
    rows = [(1, "2025-01-21", 10), (2, "2025-01-11", 10), (2, "2025-01-01", 10),
            (3, "2025-01-01", 10), (3, "2024-12-31", 10), (3, "2024-12-30", 10)]
    orders, customers = orders_table(rows)
    table, _ = classification_table(orders, customers, as_of=date(2025, 1, 31), settings=Settings(_env_file=None))
    got = {r["customer_id"]: r for r in table.to_pylist()}
    assert [got[c]["recency_days"] for c in (1, 2, 3)] == [10, 20, 30]  # mean exactly 20
    assert [got[c]["frequency"] for c in (1, 2, 3)] == [1, 2, 3]  # mean exactly 2
    assert [got[c]["monetary_cents"] for c in (1, 2, 3)] == [1000, 2000, 3000]  # mean exactly 2000
    # c2 sits exactly on every mean → low on all three.
    assert got[2]["rfm_class"] == "general_winback"
    assert got[1]["rfm_class"] == "general_development"  # R↑ (10 < 20), F↓, M↓
    assert got[3]["rfm_class"] == "important_retention"  # R↓, F↑, M↑


def test_median_split_setting() -> None:
    rows = [(1, "2025-01-30", 1), (2, "2025-01-20", 1), (2, "2025-01-19", 1), (3, "2024-01-01", 1000)]
    orders, customers = orders_table(rows)
    settings = Settings(_env_file=None, rfm_split="median")
    table, _ = classification_table(orders, customers, as_of=date(2025, 1, 31), settings=settings)
    got = {r["customer_id"]: r["rfm_class"] for r in table.to_pylist()}
    # medians: recency 11, frequency 1, monetary 200 cents; c2 sits on the recency and monetary medians → low there.
    assert got == {1: "general_development", 2: "general_retention", 3: "important_winback"}


@pytest.mark.parametrize(("r", "f"), [(r, f) for r in range(1, 6) for f in range(1, 6)])
def test_every_grid_cell_belongs_to_its_design_group(r: int, f: int) -> None:
    design = {
        5: ["new", "potential_loyalist", "potential_loyalist", "champions", "champions"],
        4: ["promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"],
        3: ["about_to_sleep", "about_to_sleep", "needs_attention", "loyal", "loyal"],
        2: ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"],
        1: ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"],
    }
    assert RFM_GRID[r][f] == design[r][f - 1]


def test_grid_expression_reaches_every_cell() -> None:
    """Twenty-five customers placed one per (R, F) cell by construction; the engine puts each in its group."""
    import ibis

    from kehu.analytics.rfm import grid_group

    cells = [(r, f) for r in range(1, 6) for f in range(1, 6)]
    t = ibis.memtable({"r": [c[0] for c in cells], "f": [c[1] for c in cells]})
    got = ibis.duckdb.connect().to_pyarrow(t.mutate(g=grid_group(t.r, t.f))).to_pylist()
    assert [row["g"] for row in got] == [RFM_GRID[r][f] for r, f in cells]
