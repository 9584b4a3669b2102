"""Writing transformed rows into the store: staged into temporary tables, merged with set-wise SQL.

Each batch is one transaction: the staged rows are merged into ``customers``, ``orders``, ``order_lines`` and
``products`` with ``INSERT … ON CONFLICT`` (SQLite ≥ 3.24 and PostgreSQL alike), and the import run's counters are
advanced in the same transaction, so a crash leaves whole batches and counters that match them.

PostgreSQL is written through ADBC (``COPY``). SQLite is written through Python's own ``sqlite3`` module, the same
SQLite library SQLAlchemy uses: a second SQLite library in the same process (ADBC bundles its own) does not share
POSIX locks with the first, so when one closes its connection it believes it is the last user, checkpoints and
deletes the WAL under the other, and the other's commits are lost ("disk I/O error").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import make_url


@dataclass
class Counts:
    """Row counts of one import."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    new_customers: int = 0


def store_connect(url: str) -> Any:
    """A DB-API connection in autocommit mode for a SQLAlchemy store URL; use :func:`transaction` to group.

    SQLite: ``sqlite3`` (the library SQLAlchemy uses, see the module docstring); PostgreSQL: ADBC.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database or ":memory:", isolation_level=None, timeout=30)
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL", "cache_size=-262144"):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    if parsed.get_backend_name() == "postgresql":
        import adbc_driver_postgresql.dbapi as pg_dbapi

        uri = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return pg_dbapi.connect(uri, autocommit=True)
    from kehu.errors import StoreError

    raise StoreError(f"the store at {parsed.get_backend_name()} is not supported; use SQLite or PostgreSQL")


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """A cursor inside ``BEGIN`` … ``COMMIT``; ``ROLLBACK`` on any error (SQLite takes the write lock at once)."""
    cur = conn.cursor()
    try:
        cur.execute("BEGIN IMMEDIATE" if isinstance(conn, sqlite3.Connection) else "BEGIN")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
    finally:
        cur.close()


def is_sqlite_url(url: str) -> bool:
    """True for a SQLite store URL."""
    return make_url(url).get_backend_name() == "sqlite"


def stage(cur: Any, name: str, table: pa.Table) -> None:
    """Replace the temporary table ``name`` with ``table``'s rows."""
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    if isinstance(cur, sqlite3.Cursor):
        _stage_sqlite(cur, name, table)
    else:
        cur.adbc_ingest(name, table, mode="create", temporary=True)


def _sqlite_type(dtype: pa.DataType) -> str:
    if pa.types.is_integer(dtype) or pa.types.is_boolean(dtype):
        return "INTEGER"
    if pa.types.is_floating(dtype):
        return "REAL"
    return "TEXT"


def _stage_sqlite(cur: sqlite3.Cursor, name: str, table: pa.Table) -> None:
    """``CREATE TEMP TABLE`` + ``executemany``: timestamps must already be ISO text (see ``for_store``)."""
    names = table.column_names
    cur.execute(f"CREATE TEMP TABLE {name} ("
                + ", ".join(f'"{n}" {_sqlite_type(f.type)}' for n, f in zip(names, table.schema, strict=True)) + ")")
    marks = ", ".join("?" for _ in names)
    for batch in table.to_batches(max_chunksize=50_000):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        cur.executemany(f"INSERT INTO {name} VALUES ({marks})", zip(*columns, strict=True))


def _scalar(cur: Any, sql: str) -> int:
    cur.execute(sql)
    row = cur.fetchone()
    return int(row[0] or 0) if row else 0


CUSTOMER_COLUMNS = ("source", "external_id", "name_enc", "phone_enc", "phone_index", "email_enc", "email_index",
                    "address_enc", "gender", "birth_year", "province", "city", "channel", "registered_at",
                    "marketing_consent", "row_hash", "import_run_id")


def insert_new_customers(cur: Any, customers: pa.Table) -> int:
    """Insert customers (staged from an orders file) that the store does not have; existing ones are left alone."""
    stage(cur, "kehu_stage_customers", customers)
    cols = ", ".join(c for c in CUSTOMER_COLUMNS if c in customers.column_names)
    before = _scalar(cur, "SELECT count(*) FROM customers")
    cur.execute(f"INSERT INTO customers ({cols}) SELECT {cols} FROM kehu_stage_customers WHERE true "
                "ON CONFLICT (source, external_id) DO NOTHING")
    return _scalar(cur, "SELECT count(*) FROM customers") - before


def upsert_customers(cur: Any, customers: pa.Table, counts: Counts) -> None:
    """Insert or update customers from a customers file; rows whose keyed hash is unchanged are not touched."""
    stage(cur, "kehu_stage_customers", customers)
    cols = [c for c in CUSTOMER_COLUMNS if c in customers.column_names]
    cur.execute("""
        SELECT SUM(CASE WHEN c.id IS NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN c.id IS NOT NULL AND (c.row_hash IS NULL OR c.row_hash <> s.row_hash) THEN 1 ELSE 0 END),
               SUM(CASE WHEN c.row_hash = s.row_hash THEN 1 ELSE 0 END)
        FROM kehu_stage_customers s
        LEFT JOIN customers c ON c.source = s.source AND c.external_id = s.external_id
    """)
    inserted, updated, unchanged = (int(v or 0) for v in cur.fetchone())
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("source", "external_id"))
    cur.execute(f"""
        INSERT INTO customers ({', '.join(cols)}) SELECT {', '.join(cols)} FROM kehu_stage_customers WHERE true
        ON CONFLICT (source, external_id) DO UPDATE SET {sets}
        WHERE customers.row_hash IS NULL OR customers.row_hash <> excluded.row_hash
    """)
    counts.inserted += inserted
    counts.updated += updated
    counts.unchanged += unchanged


ORDER_COLUMNS = ("source", "external_id", "customer_id", "ordered_at", "amount_cents", "refunded_cents",
                 "discount_cents", "status", "is_paid", "channel", "province", "city", "row_hash", "import_run_id")


def upsert_orders(cur: Any, orders: pa.Table, lines: pa.Table, run_id: int, counts: Counts) -> None:
    """Merge one batch of orders and their lines. Changed orders get their lines replaced."""
    stage(cur, "kehu_stage_orders", orders)
    cur.execute("""
        SELECT SUM(CASE WHEN o.id IS NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN o.id IS NOT NULL AND (o.row_hash IS NULL OR o.row_hash <> s.row_hash) THEN 1 ELSE 0 END),
               SUM(CASE WHEN o.row_hash = s.row_hash THEN 1 ELSE 0 END)
        FROM kehu_stage_orders s
        LEFT JOIN orders o ON o.source = s.source AND o.external_id = s.external_id
    """)
    inserted, updated, unchanged = (int(v or 0) for v in cur.fetchone())
    targets = ", ".join(ORDER_COLUMNS)
    values = ", ".join("c.id" if col == "customer_id" else f"{run_id}" if col == "import_run_id" else f"s.{col}"
                       for col in ORDER_COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS if c not in ("source", "external_id"))
    cur.execute(f"""
        INSERT INTO orders ({targets})
        SELECT {values} FROM kehu_stage_orders s
        JOIN customers c ON c.source = s.source AND c.external_id = s.customer_external_id
        WHERE true
        ON CONFLICT (source, external_id) DO UPDATE SET {sets}
        WHERE orders.row_hash IS NULL OR orders.row_hash <> excluded.row_hash
    """)
    if lines.num_rows:
        stage(cur, "kehu_stage_lines", lines)
        cur.execute(f"""
            DELETE FROM order_lines WHERE order_id IN (
                SELECT o.id FROM orders o JOIN kehu_stage_orders s
                  ON o.source = s.source AND o.external_id = s.external_id
                WHERE o.import_run_id = {run_id})
        """)
        cur.execute("""
            INSERT INTO products (sku, name, category)
            SELECT sku, MIN(product_name), MIN(category) FROM kehu_stage_lines WHERE sku IS NOT NULL GROUP BY sku
            ON CONFLICT (sku) DO NOTHING
        """)
        cur.execute(f"""
            INSERT INTO order_lines (order_id, line_no, product_id, sku, product_name, category, quantity,
                                     unit_price_cents, discount_cents)
            SELECT o.id, l.line_no, p.id, l.sku, l.product_name, l.category, l.quantity, l.unit_price_cents, 0
            FROM kehu_stage_lines l
            JOIN kehu_stage_orders s ON s.external_id = l.order_external_id
            JOIN orders o ON o.source = s.source AND o.external_id = s.external_id
            LEFT JOIN products p ON p.sku = l.sku
            WHERE o.import_run_id = {run_id}
        """)
    counts.inserted += inserted
    counts.updated += updated
    counts.unchanged += unchanged


def save_counts(cur: Any, run_id: int, counts: Counts) -> None:
    """Write the run's counters (inside the batch's transaction)."""
    cur.execute(f"""
        UPDATE import_runs SET rows_read = {counts.read}, inserted = {counts.inserted}, updated = {counts.updated},
               unchanged = {counts.unchanged}, rejected = {counts.rejected}, skipped = {counts.skipped}
        WHERE id = {run_id}
    """)
