"""Snapshots in the store: replaced per as-of date, identical on SQLite and PostgreSQL, exported in three formats."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from factories import write_generic_orders
from kehu.analytics import classify
from kehu.analytics.export import export_classifications
from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.ingest import import_file
from kehu.store import Classification, ClassificationSnapshot, session_scope

ROWS = [
    ("A1", "c1", "2025-01-30 10:00", "100.00"), ("A2", "c2", "2025-01-21 09:00", "50"),
    ("A3", "c2", "2025-01-21 18:00", "50"), ("A4", "c3", "2025-01-01", "300"),
    ("A5", "c4", "2024-12-22", "10"), ("A6", "c4", "2025-01-11", "10"), ("A7", "c4", "2025-01-21", "10"),
    ("A8", "c5", "2024-01-31", "5"), ("A9", "c6", "2025-01-25", "200"), ("A10", "c6", "2025-01-30", "1000", "refunded"),
    ("A11", "=cmd|' /C calc'!A0", "2025-01-29", "1"),
]


def _load(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_generic_orders(path, ROWS)
    import_file(settings=settings, path=path, kind="orders", format_name="generic")


def _snapshot_rows(settings: Settings) -> list[tuple]:
    out = tmp = settings.data_dir / "export.parquet"
    export_classifications(settings=settings, out=out)
    del tmp
    frame = pd.read_parquet(out)
    frame = frame.astype(object).where(frame.notna(), None)  # NaN == NaN is False
    return [tuple(r.values()) for r in frame.to_dict("records")]


def test_sqlite_and_postgresql_give_identical_snapshots(store_settings: Settings, tmp_path: Path) -> None:
    _load(store_settings, tmp_path)
    report = classify(settings=store_settings, as_of=date(2025, 1, 31))
    assert report.customers == 7 and report.buyers == 7
    rows = _snapshot_rows(store_settings)
    reference = Settings(data_dir=tmp_path / "ref", secret_key=store_settings.secret_key, _env_file=None)
    _load(reference, tmp_path)
    classify(settings=reference, as_of=date(2025, 1, 31))
    assert rows == _snapshot_rows(reference)


def test_reclassifying_a_date_replaces_its_snapshot(settings: Settings, tmp_path: Path) -> None:
    _load(settings, tmp_path)
    first = classify(settings=settings, as_of=date(2025, 1, 31))
    second = classify(settings=settings, as_of=date(2025, 1, 31))
    classify(settings=settings, as_of=date(2025, 2, 28))
    assert second.snapshot_id != first.snapshot_id
    with session_scope(settings.store_url) as session:
        dates = session.scalars(select(ClassificationSnapshot.as_of).order_by(ClassificationSnapshot.as_of)).all()
        assert dates == [date(2025, 1, 31), date(2025, 2, 28)]
        assert session.scalar(select(func.count()).select_from(Classification)) == 14
        statuses = set(session.scalars(select(ClassificationSnapshot.status)))
        assert statuses == {"ready"}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_export_formats_round_trip(settings: Settings, tmp_path: Path, suffix: str) -> None:
    _load(settings, tmp_path)
    classify(settings=settings, as_of=date(2025, 1, 31))
    out = tmp_path / f"classes{suffix}"
    n, as_of = export_classifications(settings=settings, out=out)
    assert (n, as_of) == (7, date(2025, 1, 31))
    if suffix == ".csv":
        assert out.read_bytes().startswith("\ufeff".encode())
        df = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    elif suffix == ".xlsx":
        df = pd.read_excel(out, dtype={"customer_id": str})
    else:
        df = pd.read_parquet(out)
    row = df.set_index("customer_id").loc["c4"]
    assert (row["frequency"], float(row["monetary"]), row["rfm_class"], row["rfm_class_en"]) == (
        3, 30.0, "一般价值客户", "general value")
    # Formula injection: a customer id that a spreadsheet would run is neutralised in CSV and XLSX.
    ids = set(df["customer_id"])
    if suffix == ".parquet":
        assert "=cmd|' /C calc'!A0" in ids
    else:
        assert "'=cmd|' /C calc'!A0" in ids


def test_export_without_snapshot_says_what_to_do(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="run `kehu classify` first"):
        export_classifications(settings=settings, out=tmp_path / "x.csv")
    _load(settings, tmp_path)
    classify(settings=settings, as_of=date(2025, 1, 31))
    with pytest.raises(NotFound, match="snapshots exist for: 2025-01-31"):
        export_classifications(settings=settings, out=tmp_path / "x.csv", as_of=date(2024, 1, 1))
    with pytest.raises(InvalidInput, match="use .csv, .xlsx or .parquet"):
        export_classifications(settings=settings, out=tmp_path / "x.json")


def test_snapshot_summary_equals_the_orders_queries(store_settings: Settings, tmp_path: Path) -> None:
    """The key figures and monthly revenue stored with a snapshot are what the dashboard's order queries give."""
    from kehu.web import queries

    _load(store_settings, tmp_path)
    report = classify(settings=store_settings, as_of=date(2025, 1, 31))
    with session_scope(store_settings.store_url) as session:
        snapshot = session.get(ClassificationSnapshot, report.snapshot_id)
        stored = queries.snapshot_figures(session, snapshot)
        assert snapshot.summary is not None and stored == queries.key_figures(session, until=date(2025, 1, 31))
        assert stored.orders == 10 and stored.buyers == 7 and stored.revenue_cents == 73_600
        assert queries.snapshot_months(session, snapshot) == queries.monthly_revenue(session, until=date(2025, 1, 31))
        snapshot.summary = None  # a snapshot from before summaries: computed from the orders
        assert queries.snapshot_figures(session, snapshot) == stored


def test_summary_with_an_rfm_window_still_counts_every_purchase(settings: Settings, tmp_path: Path) -> None:
    """With an RFM window the snapshot's features cover fewer orders; the key figures still count them all."""
    from kehu.analytics.classify import load_inputs, purchase_summary

    _load(settings, tmp_path)
    windowed = settings.model_copy(update={"rfm_window_days": 30})
    orders, customers = load_inputs(windowed, date(2025, 1, 31))
    summary = purchase_summary(orders, customers.num_rows)
    assert (summary["orders"], summary["buyers"], summary["revenue_cents"]) == (10, 7, 73_600)
    report = classify(settings=windowed, as_of=date(2025, 1, 31))
    with session_scope(settings.store_url) as session:
        stored = session.get(ClassificationSnapshot, report.snapshot_id).summary
    assert stored is not None and stored["orders"] == 10 and stored["revenue_cents"] == 73_600
