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
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kehu.store.arrow import (
    python_values,
    remove_bulk_file,
    sqlite_bulk_file,
)


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
        cur.executemany(f"INSERT INTO {name} VALUES ({marks})", _rows(batch))


@dataclass
class Prestaged:
    """A batch staged in a scratch file (:func:`prestage_batch`): the file and the column splits (varying columns
    staged, constants kept as values) of its orders and of its customers (``None`` when it has none)."""

    scratch: Path
    orders: Split
    customers: Split | None


def prestage_batch(orders: pa.Table, customers: pa.Table, tmp_dir: Path) -> Prestaged:
    """SQLite, before a batch's transaction: write the batch's varying order and customer columns into one scratch
    file (ADBC, in C; about a fifth of the time of ``executemany``). Needs no store connection, so it can run
    while the previous batch is written. :func:`attach_stage` it for the merges (which find
    ``kehu_stage_orders`` and ``kehu_stage_customers`` by name), then :func:`release_stage`."""
    order_split = _split_constants(orders)
    tables = {"kehu_stage_orders": order_split[0]}
    customer_split = _split_constants(customers) if customers.num_rows else None
    if customer_split is not None:
        tables["kehu_stage_customers"] = customer_split[0]
    return Prestaged(sqlite_bulk_file(tables, tmp_dir), order_split, customer_split)


def attach_stage(conn: sqlite3.Connection, staged: Prestaged) -> None:
    """Attach a batch's scratch file to the store's connection as ``bulk`` (outside a transaction); on failure the
    file is deleted."""
    try:
        conn.execute(f"ATTACH DATABASE '{staged.scratch}' AS bulk")
    except BaseException:
        remove_bulk_file(staged.scratch)
        raise


def release_stage(conn: sqlite3.Connection, scratch: Path) -> None:
    """Detach and delete a scratch file of :func:`prestage_batch` (after the batch's transaction)."""
    try:
        conn.execute("DETACH DATABASE bulk")
    finally:
        remove_bulk_file(scratch)


def _rows(table: pa.Table | pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
    """The rows of ``table`` as tuples, for ``executemany``."""
    return zip(*(python_values(table.column(i)) for i in range(table.num_columns)), strict=True)


Split = tuple[pa.Table, dict[str, Any]]


def _split_constants(table: pa.Table, key: str = "external_id") -> Split:
    """``table`` without the columns that hold one value on every row (or only NULLs), and those values; the ``key``
    column always stays (it makes one row of ``executemany`` per row).

    An orders batch of a 4-column file has a constant source and run id and many all-NULL optional columns: they
    become SQL literals instead of millions of bound parameters."""
    constants: dict[str, Any] = {}
    keep = []
    for name in table.column_names:
        column = table[name]
        if name == key:
            keep.append(name)
        elif column.null_count == len(column) and len(column):
            constants[name] = None
        elif column.null_count == 0 and len(column) and not pa.types.is_timestamp(column.type):
            bounds = pc.min_max(column)
            low, high = bounds["min"], bounds["max"]
            if low == high and low.is_valid:
                constants[name] = low.as_py()
                continue
            keep.append(name)
        else:
            keep.append(name)
    return table.select(keep), constants


def _literal(value: Any) -> str:  # noqa: ANN401
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _merge_counts(cur: Any, staged: str, target: str) -> tuple[int, int, int]:
    """(new, changed, unchanged) rows of ``staged`` against ``target`` by (source, external id) and content hash."""
    cur.execute(f"""
        SELECT SUM(CASE WHEN t.id IS NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN t.id IS NOT NULL AND (t.row_hash IS NULL OR t.row_hash <> s.row_hash) THEN 1 ELSE 0 END),
               SUM(CASE WHEN t.row_hash = s.row_hash THEN 1 ELSE 0 END)
        FROM {staged} s
        LEFT JOIN {target} t ON t.source = s.source AND t.external_id = s.external_id
    """)
    new, changed, same = (int(v or 0) for v in cur.fetchone())
    return new, changed, same


def _scalar(cur: Any, sql: str) -> int:
    cur.execute(sql)
    row = cur.fetchone()
    return int(row[0] or 0) if row else 0


CUSTOMER_COLUMNS = ("source", "external_id", "name_enc", "phone_enc", "phone_index", "email_enc", "email_index",
                    "address_enc", "gender", "birth_year", "province", "city", "channel", "registered_at",
                    "marketing_consent", "row_hash", "import_run_id")


def insert_new_customers(cur: Any, customers: pa.Table, prestaged: Split | None = None) -> int:
    """Insert customers (staged from an orders file) that the store does not have; existing ones are left alone.

    ``prestaged``: on SQLite, the split that :func:`prestage_batch` put in ``bulk.kehu_stage_customers``. On
    SQLite new customers get their ids in the order of ``customers``' rows."""
    if isinstance(cur, sqlite3.Cursor):
        return _insert_new_customers_sqlite(cur, customers, prestaged)
    stage(cur, "kehu_stage_customers", customers)
    cols = ", ".join(c for c in CUSTOMER_COLUMNS if c in customers.column_names)
    # Counted from the rows inserted, not from count(*) before and after (a scan of every customer per batch).
    return _scalar(cur, f"WITH new AS (INSERT INTO customers ({cols}) SELECT {cols} FROM kehu_stage_customers "
                        "WHERE true ON CONFLICT (source, external_id) DO NOTHING RETURNING 1) SELECT count(*) FROM new")


def upsert_customers(cur: Any, customers: pa.Table, counts: Counts) -> None:
    """Insert or update customers from a customers file; rows whose keyed hash is unchanged are not touched."""
    stage(cur, "kehu_stage_customers", customers)
    cols = [c for c in CUSTOMER_COLUMNS if c in customers.column_names]
    inserted, updated, unchanged = _merge_counts(cur, "kehu_stage_customers", "customers")
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


def _insert_new_customers_sqlite(cur: sqlite3.Cursor, customers: pa.Table, prestaged: Split | None) -> int:
    """SQLite: one ``INSERT … SELECT`` from the staged rows in their order; new rows counted by SQLite's changes.
    Without ``prestaged`` the rows are staged here, in a TEMP table."""
    if not customers.num_rows:
        return 0
    if prestaged is None:
        prestaged = _split_constants(customers)
        stage(cur, "kehu_stage_customers", prestaged[0])
    else:  # a TEMP table of the same name would hide bulk.kehu_stage_customers
        cur.execute("DROP TABLE IF EXISTS temp.kehu_stage_customers")
    varying, constants = prestaged
    cols = [c for c in CUSTOMER_COLUMNS if c in customers.column_names]
    values = ", ".join(c if c in varying.column_names else _literal(constants[c]) for c in cols)
    before = cur.connection.total_changes
    cur.execute(f"INSERT INTO customers ({', '.join(cols)}) SELECT {values} FROM kehu_stage_customers "
                "WHERE true ORDER BY rowid ON CONFLICT (source, external_id) DO NOTHING")
    return int(cur.connection.total_changes - before)


def upsert_orders(cur: Any, orders: pa.Table, lines: pa.Table, run_id: int, counts: Counts,
                  prestaged: Split | None = None) -> None:
    """Merge one batch of orders and their lines. Changed orders get their lines replaced.

    ``prestaged``: on SQLite, the split that :func:`prestage_orders` already put in ``bulk.kehu_stage_orders``.
    """
    if isinstance(cur, sqlite3.Cursor):
        _upsert_orders_sqlite(cur, orders, lines, run_id, counts, prestaged)
        return
    stage(cur, "kehu_stage_orders", orders)
    inserted, updated, unchanged = _merge_counts(cur, "kehu_stage_orders", "orders")
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
        _replace_lines(cur, lines, run_id)
    counts.inserted += inserted
    counts.updated += updated
    counts.unchanged += unchanged


def _replace_lines(cur: Any, lines: pa.Table, run_id: int) -> None:
    """Replace the lines of the orders this run wrote (``kehu_stage_orders`` holds the batch's order keys)."""
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


def _upsert_orders_sqlite(cur: sqlite3.Cursor, orders: pa.Table, lines: pa.Table, run_id: int,
                         counts: Counts, prestaged: Split | None = None) -> None:
    """SQLite: stage only the batch's varying columns (constants and all-NULL columns become literals), then one
    ``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE the hash changed``; the batch comes sorted by order id, so
    the unique index grows at its end.

    Counted without a join before the merge: rows inserted are those above the largest id before (SQLite gives a
    new row the largest rowid + 1), rows changed are SQLite's change count (an upsert's update counts, a skipped
    one does not), so updated = changed − inserted and unchanged = batch − changed.
    """
    if not orders.num_rows:
        return
    if prestaged is None:
        varying, constants = _split_constants(orders)
        stage(cur, "kehu_stage_orders", varying)
    else:
        varying, constants = prestaged
        # A TEMP table of the same name (left by an earlier batch's lines) would hide bulk.kehu_stage_orders.
        cur.execute("DROP TABLE IF EXISTS temp.kehu_stage_orders")

    def value(col: str) -> str:
        return f"s.{col}" if col in varying.column_names else _literal(constants.get(col))

    values = ", ".join("c.id" if col == "customer_id" else str(int(run_id)) if col == "import_run_id" else value(col)
                       for col in ORDER_COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS if c not in ("source", "external_id"))
    top = _scalar(cur, "SELECT coalesce(max(id), 0) FROM orders")
    changes = cur.connection.total_changes
    cur.execute(f"""
        INSERT INTO orders ({', '.join(ORDER_COLUMNS)})
        SELECT {values} FROM kehu_stage_orders s
        JOIN customers c ON c.source = {value('source')} AND c.external_id = {value('customer_external_id')}
        WHERE true
        ON CONFLICT (source, external_id) DO UPDATE SET {sets}
        WHERE orders.row_hash IS NULL OR orders.row_hash <> excluded.row_hash
    """)
    changed = cur.connection.total_changes - changes
    inserted = _scalar(cur, f"SELECT count(*) FROM orders WHERE id > {top}")
    if lines.num_rows:
        stage(cur, "kehu_stage_orders", orders.select(["source", "external_id"]))
        _replace_lines(cur, lines, run_id)
    counts.inserted += inserted
    counts.updated += changed - inserted
    counts.unchanged += orders.num_rows - changed


def _secondary_order_indexes() -> list[tuple[str, str]]:
    """(name, ``CREATE INDEX IF NOT EXISTS …``) of the orders indexes that no merge needs (not the unique key),
    from the models, so a dropped index comes back exactly as the migrations made it."""
    from sqlalchemy import Table
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex

    from kehu.store.models import Order

    table = Order.__table__
    assert isinstance(table, Table)
    return [(str(ix.name), str(CreateIndex(ix, if_not_exists=True).compile(dialect=sqlite.dialect())))
            for ix in table.indexes if not ix.unique]


def restore_order_indexes(conn: Any) -> None:
    """Recreate the secondary orders indexes if an import was killed while they were deferred (no-op otherwise)."""
    if isinstance(conn, sqlite3.Connection):
        for _name, ddl in _secondary_order_indexes():
            conn.execute(ddl)


@contextmanager
def deferred_order_indexes(conn: Any, *, rows: int, batch_rows: int) -> Iterator[None]:
    """SQLite, bulk loads only: drop the secondary orders index (customer, date) while the batches are written and
    build it once at the end, even when the import fails.

    Kept up to date row by row, that index takes random inserts all over itself: once it outgrows SQLite's cache every
    batch rewrites most of its pages (and the WAL copies them again), so a 10M-row import into an empty store
    spends most of its time there; one sort at the end is several times cheaper. Done when the file has more than one
    batch and at least as many orders as the store holds. Readers meanwhile get the same rows, only slower; an import
    killed half-way leaves the index to the next import, which recreates it first (:func:`restore_order_indexes`).
    """
    if not isinstance(conn, sqlite3.Connection) or rows <= batch_rows:
        yield
        return
    held = conn.execute("SELECT coalesce(max(id), 0) FROM orders").fetchone()[0]
    if rows < held:
        yield
        return
    indexes = _secondary_order_indexes()
    for name, _ddl in indexes:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    try:
        yield
    finally:
        for _name, ddl in indexes:
            conn.execute(ddl)


def save_counts(cur: Any, run_id: int, counts: Counts) -> None:
    """Write the run's counters (inside the batch's transaction)."""
    cur.execute(f"""
        UPDATE import_runs SET rows_read = {counts.read}, inserted = {counts.inserted}, updated = {counts.updated},
               unchanged = {counts.unchanged}, rejected = {counts.rejected}, skipped = {counts.skipped}
        WHERE id = {run_id}
    """)
