"""Small builders for test data: Arrow order tables and a store filled through the real import."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa


def orders_table(rows: list[tuple]) -> tuple[pa.Table, pa.Table]:
    """``rows`` of (customer_id, 'YYYY-MM-DD', yuan, [refunded yuan], [is_paid]) → (orders, customers) Arrow tables.

    Customers are every id in ``rows`` plus any id given as ``(cid, None, None)`` (a prospect without orders).
    """
    cids, stamps, amounts, refunds, paid = [], [], [], [], []
    all_ids: set[int] = set()
    for row in rows:
        cid, day, yuan, *rest = row
        all_ids.add(cid)
        if day is None:
            continue
        cids.append(cid)
        stamps.append(datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(hour=12))
        amounts.append(round(yuan * 100))
        refunds.append(round((rest[0] if rest else 0) * 100))
        paid.append(rest[1] if len(rest) > 1 else True)
    orders = pa.table({
        "customer_id": pa.array(cids, pa.int64()),
        "ordered_at": pa.array(stamps, pa.timestamp("us")),
        "amount_cents": pa.array(amounts, pa.int64()),
        "refunded_cents": pa.array(refunds, pa.int64()),
        "is_paid": pa.array(paid, pa.bool_()),
    })
    customers = pa.table({"id": pa.array(sorted(all_ids), pa.int64())})
    return orders, customers


def write_generic_orders(path, rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    """Write a generic orders CSV from (order_id, customer_id, ordered_at, amount[, status]) tuples."""
    lines = ["order_id,customer_id,ordered_at,amount,status"]
    for row in rows:
        order_id, cid, at, amount, *rest = row
        lines.append(f"{order_id},{cid},{at},{amount},{rest[0] if rest else 'paid'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def import_orders(settings, path, rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    """Write ``rows`` (as :func:`write_generic_orders` takes them) to ``path`` and import them into the store."""
    from kehu.ingest import import_file

    write_generic_orders(path, rows)
    import_file(settings=settings, path=path, kind="orders", format_name="generic")


def store_revision(settings) -> int:  # type: ignore[no-untyped-def]
    """The store's ``orders_revision``."""
    from kehu.analytics.facts import orders_revision
    from kehu.store.arrow import store_connect

    conn = store_connect(settings.store_url)
    try:
        return orders_revision(conn.cursor())
    finally:
        conn.close()


def set_order_amount(settings, external_id: str, cents: int) -> None:  # type: ignore[no-untyped-def]
    """Change an order's amount as another writer of orders would: the transaction raises the store's orders
    revision, and no analytics mirror part is written."""
    from kehu.analytics.facts import bump_orders_revision
    from kehu.store.arrow import store_connect, transaction

    conn = store_connect(settings.store_url)
    try:
        with transaction(conn) as cur:
            cur.execute(f"UPDATE orders SET amount_cents = {int(cents)} WHERE external_id = '{external_id}'")
            bump_orders_revision(cur)
    finally:
        conn.close()
