"""The orders mirror: written by the import, used by classification only when current, rebuilt otherwise."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd

from factories import import_orders, set_order_amount, store_revision, write_generic_orders
from kehu.analytics import classify
from kehu.analytics.export import export_classifications
from kehu.analytics.facts import current_parts, facts_dir, read_parts
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.store.arrow import store_connect

ROWS = [("A1", "c1", "2025-01-02", "10"), ("A2", "c1", "2025-01-20", "12.5"), ("A3", "c2", "2024-03-01", "99"),
        ("A4", "c3", "2025-01-05", "7"), ("A5", "c3", "2025-01-06", "8", "cancelled")]
AS_OF = date(2025, 1, 31)


def _import(settings: Settings, tmp_path: Path, rows: list[tuple], name: str = "orders.csv") -> None:
    import_orders(settings, tmp_path / name, rows)


def _export(settings: Settings, tmp_path: Path) -> list[dict]:
    out = tmp_path / "x.parquet"
    export_classifications(settings=settings, out=out, as_of=AS_OF)
    frame = pd.read_parquet(out)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")  # NaN == NaN is False


def test_import_writes_one_part_per_batch_and_classify_uses_them(settings: Settings, tmp_path: Path) -> None:
    _import(settings, tmp_path, ROWS)
    revision = store_revision(settings)
    parts = current_parts(settings, revision)
    assert revision == 1 and parts is not None
    assert [p.name for p in parts] == ["base-000000000000.parquet", "new-000000000001.parquet"]
    classify(settings=settings, as_of=AS_OF)
    assert [p.name for p in facts_dir(settings).glob("base-*")] == ["base-000000000000.parquet"]  # no rebuild


def test_a_changed_order_wins_over_its_older_version(settings: Settings, tmp_path: Path) -> None:
    _import(settings, tmp_path, ROWS)
    changed = [("A1", "c1", "2025-01-02", "110"), *ROWS[1:]]
    _import(settings, tmp_path, changed, "orders2.csv")
    assert store_revision(settings) == 2
    # Batch 2 held orders seen before, so its part had two versions of them; the import's purchase history read
    # the mirror, which merged the versions into a new base: the next classification reads one file.
    assert [p.name for p in current_parts(settings, 2) or []] == ["base-000000000002.parquet"]
    classify(settings=settings, as_of=AS_OF)
    got = {r["customer_id"]: r for r in _export(settings, tmp_path)}
    assert float(got["c1"]["monetary"]) == 122.5 and got["c1"]["frequency"] == 2
    assert got["c3"]["frequency"] == 1  # the cancelled order is not a purchase


def test_mirror_and_store_give_the_same_snapshot(settings: Settings, tmp_path: Path) -> None:
    _import(settings, tmp_path, ROWS)
    _import(settings, tmp_path, [("B1", "c4", "2025-01-30", "5"), ("A2", "c1", "2025-01-21", "12.5")], "more.csv")
    classify(settings=settings, as_of=AS_OF)
    from_mirror = _export(settings, tmp_path)
    shutil.rmtree(facts_dir(settings).parent)  # the mirror and the purchase history
    classify(settings=settings, as_of=AS_OF)
    assert _export(settings, tmp_path) == from_mirror
    assert [p.name for p in facts_dir(settings).glob("*.parquet")] == ["base-000000000002.parquet"]


def test_a_missing_part_makes_classify_read_the_store(settings: Settings, tmp_path: Path) -> None:
    _import(settings, tmp_path, ROWS)
    # Another writer changed orders without writing a part (or a process died between its commit and its part).
    set_order_amount(settings, "A3", 50000)
    assert current_parts(settings, store_revision(settings)) is None
    classify(settings=settings, as_of=AS_OF)
    got = {r["customer_id"]: r for r in _export(settings, tmp_path)}
    assert float(got["c2"]["monetary"]) == 500.0
    assert (facts_dir(settings) / "base-000000000002.parquet").exists()
    assert not (facts_dir(settings) / "new-000000000001.parquet").exists()


def test_orders_from_before_the_mirror_are_not_forgotten(settings: Settings, tmp_path: Path) -> None:
    """A store with orders but no mirror base (written before the mirror existed): the first part alone is not a
    complete mirror, so the store is read (here by the import's purchase history step) into a new base."""
    _import(settings, tmp_path, ROWS)
    shutil.rmtree(facts_dir(settings).parent)
    _import(settings, tmp_path, [("B1", "c4", "2025-01-30", "5")], "more.csv")
    assert [p.name for p in current_parts(settings, store_revision(settings)) or []] == ["base-000000000002.parquet"]
    classify(settings=settings, as_of=AS_OF)
    assert {r["customer_id"] for r in _export(settings, tmp_path) if r["frequency"]} == {"c1", "c2", "c3", "c4"}


def test_the_mirror_names_each_order_s_customer_by_store_id(settings: Settings, tmp_path: Path) -> None:
    """Customers known before the file (from a customers file, numbered in another order), new ones, and new ones
    in a later batch than an earlier known one: every mirrored order names the same customer as the store."""
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,name\nc9,N9\nc3,N3\n", encoding="utf-8")
    import_file(settings=settings, path=customers, kind="customers", format_name="generic")
    # 2,500 orders in three batches; customers first seen in each of them.
    rows = [(f"O{i:05d}", f"c{i * 7 % (300 + i // 2)}", f"2025-01-{1 + i % 28:02d}", "10") for i in range(2500)]
    small = settings.model_copy(update={"import_batch_rows": 1000})
    path = tmp_path / "orders.csv"
    write_generic_orders(path, rows)
    import_file(settings=small, path=path, kind="orders", format_name="generic")
    write_generic_orders(path, rows + [("P1", "c20", "2025-01-30", "5"), ("P2", "c3", "2025-01-30", "5")])
    import_file(settings=small, path=path, kind="orders", format_name="generic")
    parts = current_parts(settings, store_revision(settings))
    assert parts is not None
    mirrored = {r["external_id"]: r["customer_id"] for r in read_parts(parts).to_pylist()}
    conn = store_connect(settings.store_url)
    try:
        stored = dict(conn.execute("SELECT external_id, customer_id FROM orders").fetchall())
    finally:
        conn.close()
    assert mirrored == stored and len(stored) == 2502
