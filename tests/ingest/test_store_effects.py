"""What an import does to the store: idempotent re-imports, batches that survive a crash, SQLite/PostgreSQL parity,
and no personal data in plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from kehu.config import Settings
from kehu.ingest import pipeline
from kehu.store import Customer, Order, OrderLine, Product, get_engine

HEADER = "order_id,customer_id,ordered_at,amount,status,sku,product_name,quantity,unit_price,customer_name,phone\n"


def _orders(n: int, customers: int = 700) -> str:
    rows = [f"O{i:05d},C{i % customers:04d},2025-01-{1 + i % 28:02d} 10:{i % 60:02d},{10 + i % 90}.50,paid,"
            f"S{i % 7},商品{i % 7},{1 + i % 3},{10 + i % 90}.50,客户{i % customers},1380000{i % customers:04d}\n"
            for i in range(n)]
    return HEADER + "".join(rows)


def test_reimport_changes_nothing_and_an_edit_updates_one(store_settings, tmp_path: Path, run_import,
                                                         query) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(_orders(50), encoding="utf-8")
    first = run_import(store_settings, path)
    assert (first.counts.inserted, first.counts.updated, first.counts.unchanged) == (50, 0, 0)
    before = query(store_settings, "SELECT external_id, amount_cents, import_run_id FROM orders ORDER BY external_id")
    lines_before = query(store_settings, "SELECT id, order_id, line_no FROM order_lines ORDER BY id")
    again = run_import(store_settings, path)
    c = again.counts
    assert (c.read, c.inserted, c.updated, c.unchanged, c.rejected, c.new_customers) == (50, 0, 0, 50, 0, 0)
    assert query(store_settings, "SELECT external_id, amount_cents, import_run_id FROM orders "
                                 "ORDER BY external_id") == before
    assert query(store_settings, "SELECT id, order_id, line_no FROM order_lines ORDER BY id") == lines_before
    assert "inserted 0, updated 0, unchanged 50, rejected 0" in again.summary()
    # Change one amount and one product: exactly those orders are updated, their lines replaced.
    text = path.read_text(encoding="utf-8").replace("O00007,C0007,2025-01-08 10:07,17.50",
                                                    "O00007,C0007,2025-01-08 10:07,99.00")
    text = text.replace("O00009,C0009,2025-01-10 10:09,19.50,paid,S2", "O00009,C0009,2025-01-10 10:09,19.50,paid,S9")
    path.write_text(text, encoding="utf-8")
    edited = run_import(store_settings, path)
    assert (edited.counts.inserted, edited.counts.updated, edited.counts.unchanged) == (0, 2, 48)
    assert query(store_settings, "SELECT amount_cents FROM orders WHERE external_id = 'O00007'") == [(9900,)]
    assert query(store_settings, "SELECT l.sku FROM order_lines l JOIN orders o ON o.id = l.order_id "
                                 "WHERE o.external_id = 'O00009'") == [("S9",)]
    assert query(store_settings, "SELECT count(*) FROM order_lines") == [(50,)]


def test_crash_in_the_second_batch_keeps_the_first(store_settings, tmp_path: Path, run_import, query,
                                                   monkeypatch) -> None:
    settings = store_settings.model_copy(update={"import_batch_rows": 1000})
    path = tmp_path / "orders.csv"
    path.write_text(_orders(2500), encoding="utf-8")
    real = pipeline.upsert_orders
    calls = {"n": 0}

    def crash_on_second_batch(cur, orders, lines, run_id, counts, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            real(cur, orders, lines, run_id, counts, **kwargs)  # the batch is half written when the crash comes
            raise RuntimeError("power cut")
        real(cur, orders, lines, run_id, counts, **kwargs)

    monkeypatch.setattr(pipeline, "upsert_orders", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="power cut"):
        run_import(settings, path)
    status, inserted, message = query(settings, "SELECT status, inserted, message FROM import_runs")[0]
    assert (status, inserted) == ("failed", 1000)
    assert "power cut" in message
    # Exactly the first batch (orders O00000-O00999 by order id), with its lines and only its customers.
    assert query(settings, "SELECT count(*), min(external_id), max(external_id) FROM orders") == [
        (1000, "O00000", "O00999")]
    assert query(settings, "SELECT count(*) FROM order_lines") == [(1000,)]
    assert query(settings, "SELECT count(*) FROM customers") == [(700,)]
    assert query(settings, "SELECT count(*) FROM customers c WHERE NOT EXISTS "
                           "(SELECT 1 FROM orders o WHERE o.customer_id = c.id)") == [(0,)]
    monkeypatch.setattr(pipeline, "upsert_orders", real)
    report = run_import(settings, path)
    c = report.counts
    assert (report.status, c.inserted, c.unchanged, c.new_customers) == ("succeeded", 1500, 1000, 0)
    assert query(settings, "SELECT count(*), count(DISTINCT customer_id) FROM orders") == [(2500, 700)]
    assert query(settings, "SELECT count(*) FROM order_lines") == [(2500,)]
    assert query(settings, "SELECT status FROM import_runs ORDER BY id") == [("failed",), ("succeeded",)]


def _typed(settings: Settings, stmt) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Rows through the models' column types, so SQLite's text timestamps and 0/1 booleans come back typed."""
    with get_engine(settings.store_url).connect() as conn:
        return [tuple(r) for r in conn.execute(stmt).fetchall()]


def _parity_queries() -> list:  # type: ignore[type-arg]
    c = aliased(Customer)
    orders = (select(Order.source, Order.external_id, c.source, c.external_id, Order.ordered_at, Order.amount_cents,
                     Order.refunded_cents, Order.discount_cents, Order.status, Order.is_paid, Order.channel,
                     Order.province, Order.city, Order.row_hash)
              .join(c, c.id == Order.customer_id).order_by(Order.source, Order.external_id))
    lines = (select(Order.source, Order.external_id, OrderLine.line_no, OrderLine.sku, OrderLine.product_name,
                    OrderLine.category, OrderLine.quantity, OrderLine.unit_price_cents, Product.sku, Product.name)
             .join(Order, Order.id == OrderLine.order_id).outerjoin(Product, Product.id == OrderLine.product_id)
             .order_by(Order.source, Order.external_id, OrderLine.line_no))
    customers = (select(Customer.source, Customer.external_id, Customer.phone_index, Customer.email_index,
                        Customer.gender, Customer.birth_year, Customer.province, Customer.city, Customer.channel,
                        Customer.registered_at, Customer.marketing_consent, Customer.row_hash)
                 .order_by(Customer.source, Customer.external_id))
    return [orders, lines, customers]


@pytest.mark.pg
def test_sqlite_and_postgresql_hold_the_same_rows(settings, pg_url: str, tmp_path: Path, run_import, query,
                                                  shop_files) -> None:
    pg = Settings(data_dir=tmp_path / "pg-data", database_url=pg_url, secret_key=settings.secret_key, _env_file=None)
    files = [(_orders(300), "generic", "orders.csv")]
    taobao = shop_files.taobao_file(tmp_path / "ExportOrderList.csv")
    shopify = shop_files.shopify_orders_file(tmp_path / "orders_export.csv")
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,name,gender,birth_date,province,registered_at,marketing_consent\n"
                         "C0001,甲,男,1990,广东,2024-01-02 03:04:05,yes\nC0002,乙,女,,浙江,,no\n", encoding="utf-8")
    for text, _fmt, name in files:
        (tmp_path / name).write_text(text, encoding="utf-8")
    for store in (settings, pg):
        run_import(store, customers, kind="customers")
        run_import(store, tmp_path / "orders.csv")
        run_import(store, taobao, fmt="taobao")
        run_import(store, shopify, fmt="shopify")
    for stmt in _parity_queries():
        # Sorted here, not in SQL: PostgreSQL collations order text differently from SQLite.
        lite, post = sorted(_typed(settings, stmt), key=repr), sorted(_typed(pg, stmt), key=repr)
        assert len(lite) > 0
        assert lite == post


def test_no_personal_data_in_the_sqlite_file(settings, tmp_path: Path, run_import, shop_files) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(_orders(20) + "X1,C9999,2025-02-01,5,paid,,,,,欧阳娜娜,13987654321\n", encoding="utf-8")
    run_import(settings, path)
    run_import(settings, shop_files.taobao_file(tmp_path / "ExportOrderList.csv"), fmt="taobao")
    blob = b"".join(p.read_bytes() for p in settings.data_dir.glob("kehu.db*"))
    assert len(blob) > 10_000
    for secret in ("13987654321", "欧阳娜娜", "13800000007", "客户7", "13812345678", "张三", "科技园路1号"):
        assert secret.encode() not in blob, secret
        assert secret.encode("utf-16-le") not in blob, secret


def test_a_killed_import_is_marked_failed_by_the_next_one(settings, tmp_path: Path, run_import, query) -> None:
    import subprocess
    import sys

    from kehu.ingest.pipeline import mark_interrupted_runs
    from kehu.store import ImportRun, open_store, session_scope

    open_store(settings.store_url)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    with session_scope(settings.store_url) as session:
        session.add(ImportRun(kind="orders", file="x.csv", format="generic", status="running",
                              message=f"running in process {dead.stdout.strip()} on {socket.gethostname()}"))
        session.add(ImportRun(kind="orders", file="y.csv", format="generic", status="running",
                              message="running in process 1 on some-other-host"))
    assert mark_interrupted_runs(settings.store_url) == 1
    rows = query(settings, "SELECT file, status, message FROM import_runs ORDER BY id")
    assert rows[0][1] == "failed" and "interrupted" in rows[0][2]
    assert rows[1][1] == "running"  # another host's run is not ours to judge
