"""The stored purchase history: written by the import, used by classification only when it is of the current orders
revision and covers the as-of date, and then giving the same snapshot and summary as the orders themselves."""

from __future__ import annotations

import csv
import importlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from factories import import_orders, set_order_amount, store_revision, write_generic_orders
from kehu.analytics import classify
from kehu.analytics.export import export_classifications
from kehu.analytics.history import history_path, read_history
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.store.arrow import store_connect

ROWS = [("A1", "c1", "2025-01-02", "10"), ("A2", "c1", "2025-01-20", "12.5"), ("A3", "c2", "2024-03-01", "99"),
        ("A4", "c3", "2025-01-05", "7"), ("A5", "c3", "2025-01-06", "8", "cancelled"),
        ("A6", "c4", "2024-12-30", "20"), ("A7", "c4", "2025-01-02", "5"), ("A8", "c4", "2025-01-02", "6")]
AS_OF = date(2025, 1, 31)
CLASSIFY = importlib.import_module("kehu.analytics.classify")  # the module: kehu.analytics.classify is the function


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return settings.model_copy(update={"predict": False})


def _result(settings: Settings, tmp_path: Path, as_of: date = AS_OF) -> tuple[list[dict], dict[str, Any]]:
    """Classify at ``as_of``; the exported rows and the snapshot's purchase summary."""
    report = classify(settings=settings, as_of=as_of)
    out = tmp_path / "x.csv"
    export_classifications(settings=settings, out=out, as_of=as_of)
    conn = store_connect(settings.store_url)
    try:
        summary = conn.execute(f"SELECT summary FROM classification_snapshots WHERE id = {report.snapshot_id}")
        return out.read_text(encoding="utf-8-sig").splitlines(), json.loads(summary.fetchone()[0])
    finally:
        conn.close()


def _forbid_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the purchase history was computed from the orders")

    monkeypatch.setattr(CLASSIFY, "purchase_history", refuse)


def test_the_import_stores_the_history_and_classify_gives_the_same_result_from_it(
        quick: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_orders(quick, tmp_path / "orders.csv", ROWS)
    stored = read_history(quick, store_revision(quick))
    assert stored is not None and stored.last_purchase == date(2025, 1, 20)
    # Net cents per month (year · 12 + month − 1): March 2024 99.00, December 2024 20.00, January 2025 the rest.
    assert stored.monthly.to_pylist() == [{"month": 2024 * 12 + 2, "cents": 9900},
                                          {"month": 2024 * 12 + 11, "cents": 2000},
                                          {"month": 2025 * 12, "cents": 1000 + 1250 + 700 + 500 + 600}]
    with monkeypatch.context() as patch:
        _forbid_computing(patch)
        from_history = _result(quick, tmp_path)
    history_path(quick).unlink()
    from_orders = _result(quick, tmp_path)
    assert from_history == from_orders
    rows, summary = from_orders
    assert summary["orders"] == 7 and summary["revenue_cents"] == 15950 and summary["repeat_buyers"] == 2
    # c4 bought in December 2024 and again in January 2025: its cohort counts one customer back in month +1.
    assert ["2024-12", 1, [1] + [0] * 11] in summary["cohorts"]
    assert read_history(quick, store_revision(quick)) is not None  # computed from the orders, stored again


def test_a_history_of_an_older_orders_revision_is_not_used(quick: Settings, tmp_path: Path) -> None:
    import_orders(quick, tmp_path / "orders.csv", ROWS)
    before = store_revision(quick)
    # Another writer changed an order (every transaction that writes orders raises the revision).
    set_order_amount(quick, "A3", 50000)
    assert read_history(quick, before + 1) is None
    rows, summary = _result(quick, tmp_path)
    assert summary["revenue_cents"] == 15950 - 9900 + 50000
    stored = read_history(quick, before + 1)
    assert stored is not None and stored.monthly.to_pylist()[0] == {"month": 2024 * 12 + 2, "cents": 50000}


def test_an_as_of_date_before_the_last_purchase_is_computed_from_the_orders(
        quick: Settings, tmp_path: Path) -> None:
    import_orders(quick, tmp_path / "orders.csv", ROWS)
    written = history_path(quick).read_bytes()
    rows, summary = _result(quick, tmp_path, as_of=date(2025, 1, 10))
    assert summary["orders"] == 6  # A2 (20 January) is after the as-of date
    assert history_path(quick).read_bytes() == written  # the history of fewer purchases is not stored


def test_an_rfm_window_scores_recent_purchases_and_summarises_all(quick: Settings, tmp_path: Path) -> None:
    windowed = quick.model_copy(update={"rfm_window_days": 60})
    import_orders(windowed, tmp_path / "orders.csv", ROWS)
    with_history = _result(windowed, tmp_path)
    history_path(windowed).unlink()
    assert _result(windowed, tmp_path) == with_history
    rows, summary = with_history
    c2 = next(row for row in csv.DictReader(rows) if row["customer_id"] == "c2")
    assert c2["frequency"] == "0"  # its only purchase is older than the window
    assert summary["orders"] == 7  # the summary still counts every purchase


def test_an_import_stands_when_its_history_cannot_be_stored(quick: Settings, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_settings: Settings) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(importlib.import_module("kehu.ingest.pipeline"), "prepare_history", broken)
    path = tmp_path / "orders.csv"
    write_generic_orders(path, ROWS)
    report = import_file(settings=quick, path=path, kind="orders", format_name="generic")
    assert report.status == "succeeded" and report.counts.inserted == 8
    assert not history_path(quick).exists()
    rows, summary = _result(quick, tmp_path)  # computed from the orders
    assert summary["orders"] == 7
    assert read_history(quick, store_revision(quick)) is not None


def test_a_damaged_history_file_is_ignored(quick: Settings, tmp_path: Path) -> None:
    import_orders(quick, tmp_path / "orders.csv", ROWS)
    history_path(quick).write_bytes(b"PAR1 not a parquet file")
    assert read_history(quick, store_revision(quick)) is None
    rows, summary = _result(quick, tmp_path)
    assert summary["orders"] == 7
    assert read_history(quick, store_revision(quick)) is not None  # written anew


def test_a_classification_stands_when_its_history_cannot_be_stored(quick: Settings, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import_orders(quick, tmp_path / "orders.csv", ROWS)
    history_path(quick).unlink()

    def broken(*_args: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(CLASSIFY, "write_history", broken)
    rows, summary = _result(quick, tmp_path)
    assert summary["orders"] == 7 and len(rows) == 1 + 4  # header and the four customers
    assert not history_path(quick).exists()
