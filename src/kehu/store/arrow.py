"""Columnar access to the store: bulk reads as Arrow, bulk writes from Arrow.

PostgreSQL goes through ADBC (binary protocol; ``COPY`` for writes). SQLite goes through Python's own ``sqlite3``,
the library SQLAlchemy uses: a second SQLite library in the same process (ADBC's driver bundles its own) does not
share POSIX locks with the first, so when one closes the file it believes it is the last user, checkpoints and
removes the WAL under the other, and the store ends up "malformed".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import make_url

from kehu.errors import StoreError

FETCH_ROWS = 100_000


def is_sqlite_url(url: str) -> bool:
    """True for a SQLite store URL."""
    return make_url(url).get_backend_name() == "sqlite"


def store_connect(url: str) -> Any:
    """A DB-API connection in autocommit mode for a store URL; group statements with :func:`transaction`."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        conn = sqlite3.connect(parsed.database or ":memory:", isolation_level=None, timeout=30)
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL", "cache_size=-262144"):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    if backend == "postgresql":
        import adbc_driver_postgresql.dbapi as pg_dbapi

        uri = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            return pg_dbapi.connect(uri, autocommit=True)
        except Exception as exc:  # the driver raises its own OperationalError types
            raise StoreError(f"cannot connect to {parsed.render_as_string(hide_password=True)}: {exc}") from None
    raise StoreError(f"the store backend {backend!r} is not supported; use SQLite or PostgreSQL")


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """A cursor inside ``BEGIN`` … ``COMMIT`` (SQLite: ``BEGIN IMMEDIATE``); ``ROLLBACK`` on any error."""
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


def fetch_arrow(cur: Any, sql: str, schema: pa.Schema | None = None) -> pa.Table:
    """Run ``sql`` on ``cur`` and return the result as Arrow. For SQLite, ``schema`` names the column types (SQLite
    values carry no declared type); without it types are inferred."""
    cur.execute(sql)
    if not isinstance(cur, sqlite3.Cursor):
        return cur.fetch_arrow_table()
    names = [d[0] for d in cur.description]
    batches: list[list[Any]] = [[] for _ in names]
    while rows := cur.fetchmany(FETCH_ROWS):
        for column, values in zip(batches, zip(*rows, strict=True), strict=True):
            column.extend(values)
    if schema is None:
        return pa.table({n: pa.array(v) for n, v in zip(names, batches, strict=True)})
    return pa.table({n: pa.array(v, schema.field(n).type) for n, v in zip(names, batches, strict=True)}, schema=schema)


def read_arrow(url: str, sql: str, schema: pa.Schema | None = None) -> pa.Table:
    """Run one query on the store and return the whole result as Arrow (see :func:`fetch_arrow`)."""
    conn = store_connect(url)
    try:
        cur = conn.cursor()
        try:
            return fetch_arrow(cur, sql, schema)
        finally:
            cur.close()
    finally:
        conn.close()


def for_store(table: pa.Table, url: str) -> pa.Table:
    """Adapt an Arrow table for writing: SQLite keeps dates and timestamps as ISO text, the way SQLAlchemy stores
    them; PostgreSQL takes the Arrow types as they are."""
    if not is_sqlite_url(url):
        return table
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type):
            table = table.set_column(i, fld.name, pc.strftime(table.column(i), format="%Y-%m-%d %H:%M:%S"))
        elif pa.types.is_date(fld.type):
            table = table.set_column(i, fld.name, pc.strftime(table.column(i), format="%Y-%m-%d"))
    return table


def append_rows(cur: Any, name: str, table: pa.Table) -> None:
    """Append ``table``'s rows to the existing table ``name`` (columns by name)."""
    if not isinstance(cur, sqlite3.Cursor):
        cur.adbc_ingest(name, table, mode="append")
        return
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    marks = ", ".join("?" for _ in table.column_names)
    for batch in table.to_batches(max_chunksize=100_000):
        columns = [python_values(batch.column(i)) for i in range(batch.num_columns)]
        cur.executemany(f'INSERT INTO "{name}" ({cols}) VALUES ({marks})', zip(*columns, strict=True))


def python_values(array: pa.Array) -> list[Any]:
    """An Arrow array as a list of Python values, NULL as ``None``.

    Several times faster than ``Array.to_pylist()`` for numbers and strings (through NumPy), which matters when
    millions of values are bound to SQLite parameters. Other types go through ``to_pylist``.
    """
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.to_numpy(zero_copy_only=False).tolist()  # NULL → None already
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return array.to_pylist()
    values = array.fill_null(0).to_numpy(zero_copy_only=False).tolist()
    if array.null_count == 0:
        return values
    valid = array.is_valid().to_numpy(zero_copy_only=False).tolist()
    return [v if ok else None for v, ok in zip(values, valid, strict=True)]
