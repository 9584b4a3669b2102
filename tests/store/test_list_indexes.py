"""The customer list's partial indexes follow the newest snapshot, and SQLite walks them instead of sorting."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import text

from factories import write_generic_orders
from kehu.analytics import classify
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.store import get_engine
from kehu.store.list_indexes import LIST_SORT_KEYS, ensure_list_indexes, index_name


def _indexes(settings: Settings) -> set[str]:
    engine = get_engine(settings.store_url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_list_s%'"
        else:
            sql = "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_list_s%'"
        return {r[0] for r in conn.execute(text(sql))}


def test_classify_indexes_the_newest_snapshot_only(store_settings: Settings, tmp_path: Path) -> None:
    rows = [(f"A{i}", f"c{i % 7}", f"2025-01-{1 + i % 28:02d}", str(10 + i)) for i in range(60)]
    write_generic_orders(tmp_path / "o.csv", rows)
    import_file(settings=store_settings, path=tmp_path / "o.csv", kind="orders", format_name="generic")
    first = classify(settings=store_settings, as_of=date(2025, 1, 31))
    assert _indexes(store_settings) == {index_name(first.snapshot_id, k) for k in LIST_SORT_KEYS}
    older = classify(settings=store_settings, as_of=date(2025, 1, 15))  # not the newest: indexes stay
    assert _indexes(store_settings) == {index_name(first.snapshot_id, k) for k in LIST_SORT_KEYS}
    newest = classify(settings=store_settings, as_of=date(2025, 2, 28))
    assert _indexes(store_settings) == {index_name(newest.snapshot_id, k) for k in LIST_SORT_KEYS}
    assert older.snapshot_id != newest.snapshot_id
    assert ensure_list_indexes(store_settings.store_url, newest.snapshot_id) == []  # idempotent


def test_sqlite_walks_the_list_index(settings: Settings, tmp_path: Path) -> None:
    rows = [(f"A{i}", f"c{i}", "2025-01-02", str(10 + i)) for i in range(300)]
    write_generic_orders(tmp_path / "o.csv", rows)
    import_file(settings=settings, path=tmp_path / "o.csv", kind="orders", format_name="generic")
    snapshot = classify(settings=settings, as_of=date(2025, 1, 31)).snapshot_id
    with get_engine(settings.store_url).connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT customer_id, monetary_cents FROM classifications "
            f"WHERE snapshot_id = {snapshot} ORDER BY monetary_cents DESC NULLS LAST, customer_id DESC LIMIT 51"
        ).all()
    details = " ".join(str(r[-1]) for r in plan)
    assert index_name(snapshot, "monetary_cents") in details and "TEMP B-TREE" not in details
