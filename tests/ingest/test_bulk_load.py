"""Bulk SQLite loads: the (customer, date) index of orders is built once at the end, and always comes back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kehu.ingest import pipeline

INDEX = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'ix_orders_customer_ordered'"


def _file(path: Path, n: int) -> Path:
    path.write_text("order_id,customer_id,ordered_at,amount\n"
                    + "".join(f"O{i:05d},C{i % 300:04d},2025-01-{1 + i % 28:02d} 10:00,{10 + i % 90}.50\n"
                              for i in range(n)), encoding="utf-8")
    return path


def test_index_is_back_after_a_bulk_load_and_after_a_failure(settings, tmp_path: Path, run_import, query,
                                                              monkeypatch) -> None:
    small = settings.model_copy(update={"import_batch_rows": 1000})
    path = _file(tmp_path / "orders.csv", 2500)
    seen = []
    real = pipeline.upsert_orders

    def spy(cur, orders, lines, run_id, counts, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(cur.execute(INDEX).fetchall())
        real(cur, orders, lines, run_id, counts, **kwargs)
        if len(seen) == 2:
            raise RuntimeError("power cut")

    monkeypatch.setattr(pipeline, "upsert_orders", spy)
    with pytest.raises(RuntimeError, match="power cut"):
        run_import(small, path)
    assert seen == [[], []]  # set aside while the batches are written
    assert query(small, INDEX) == [("ix_orders_customer_ordered",)]
    monkeypatch.setattr(pipeline, "upsert_orders", real)
    # A killed import leaves it dropped: the next import builds it first.
    db = sqlite3.connect(small.data_dir / "kehu.db")
    db.execute("DROP INDEX ix_orders_customer_ordered")
    db.close()
    report = run_import(small, _file(tmp_path / "few.csv", 10))
    assert (report.counts.inserted, report.counts.unchanged) == (0, 10)
    assert query(small, INDEX) == [("ix_orders_customer_ordered",)]
    assert query(small, "SELECT count(*) FROM orders") == [(1000,)]
