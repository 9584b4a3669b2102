"""Columnar access to the store: bulk reads as Arrow, bulk writes from Arrow.

PostgreSQL goes through ADBC (binary protocol; ``COPY`` for writes). SQLite goes through Python's own ``sqlite3``,
the library SQLAlchemy uses: a second SQLite library in the same process (ADBC's driver bundles its own) does not
share POSIX locks with the first, so when one closes the file it believes it is the last user, checkpoints and
removes the WAL under the other, and the store ends up "malformed".
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import make_url

from kehu.errors import StoreError

FETCH_ROWS = 100_000


def is_sqlite_url(url: str) -> bool:
    """True for a SQLite store URL."""
    return make_url(url).get_backend_name() == "sqlite"


def store_connect(url: str, *, bulk: bool = False) -> Any:
    """A DB-API connection in autocommit mode for a store URL; group statements with :func:`transaction`.

    ``bulk=True`` (SQLite) is for connections that write keys they have just joined from their parents in the
    same transaction (import merges, snapshot copies): foreign keys are not re-checked there (the check would only
    repeat those lookups, a third of a merge's time), temporary tables stay in memory and sorts use both cores.
    SQLAlchemy's own connections always check foreign keys.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        conn = sqlite3.connect(parsed.database or ":memory:", isolation_level=None, timeout=30)
        pragmas = ["busy_timeout=30000", "synchronous=NORMAL", "cache_size=-262144"]
        pragmas += ["foreign_keys=OFF", "temp_store=MEMORY", "threads=2"] if bulk else ["foreign_keys=ON"]
        for pragma in pragmas:
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
    them (``2025-01-02``, ``2025-01-02 03:04:05.000000``); PostgreSQL takes the Arrow types as they are.

    Arrow's cast to string is used, not ``strftime``: it writes the same text some fifteen times faster.
    """
    if not is_sqlite_url(url):
        return table
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type):
            column = table.column(i)
            if fld.type.tz is not None:
                column = column.cast(pa.timestamp(fld.type.unit))
            table = table.set_column(i, fld.name, column.cast(pa.timestamp("us")).cast(pa.string()))
        elif pa.types.is_date(fld.type):
            table = table.set_column(i, fld.name, table.column(i).cast(pa.string()))
    return table


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


# --- bulk paths for the SQLite store --------------------------------------------------------------------------
# Python's sqlite3 binds and builds every value one by one (~1–5 µs a row). ADBC's SQLite driver moves Arrow data
# in C, but it bundles its own SQLite library, which must never open kehu.db itself (see the module docstring).
# So bulk data crosses through a private scratch file that only one library has open at a time: the store's own
# connection copies rows between kehu.db and the scratch file with INSERT … SELECT (C speed, same library), and
# ADBC reads or writes the scratch file when the store's connection has closed or detached it.


def _scratch(tmp_dir: Path) -> Path:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return tmp_dir / f"bulk-{uuid.uuid4().hex}.db"


def _remove(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def sqlite_bulk_read(url: str, sql: str, tmp_dir: Path) -> pa.Table:
    """Run ``sql`` on the SQLite store and return the result as Arrow, copying it through a scratch file.

    Meant for large results whose columns are never all NULL at the start (ADBC infers each column's type from
    the first rows). Several times faster than fetching rows through ``sqlite3``.
    """
    return sqlite_bulk_read_with_revision(url, sql, tmp_dir, with_revision=False)[0]


def sqlite_bulk_read_with_revision(url: str, sql: str, tmp_dir: Path, *,
                                   with_revision: bool = True) -> tuple[pa.Table, int]:
    """:func:`sqlite_bulk_read`, plus ``store_meta.orders_revision`` read in the same read transaction (so the
    rows are exactly those of that revision). Returns (rows, revision); revision is 0 when not asked for."""
    scratch = _scratch(tmp_dir)
    revision = 0
    try:
        conn = store_connect(url)
        try:
            conn.execute(f"ATTACH DATABASE '{scratch}' AS bulk")
            conn.execute("PRAGMA bulk.journal_mode=OFF")
            conn.execute("PRAGMA bulk.synchronous=OFF")
            conn.execute("BEGIN")
            if with_revision:
                row = conn.execute("SELECT value FROM main.store_meta WHERE key = 'orders_revision'").fetchone()
                revision = int(row[0]) if row else 0
            conn.execute(f"CREATE TABLE bulk.result AS {sql}")
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE bulk")
        finally:
            conn.close()
        return _read_result(scratch), revision
    finally:
        _remove(scratch)


def _read_result(scratch: Path) -> pa.Table:
    """The table ``result`` of a scratch file that no store connection has attached any more (ADBC)."""
    import adbc_driver_sqlite.dbapi as sqlite_dbapi

    reader = sqlite_dbapi.connect(str(scratch))
    try:
        cur = reader.cursor()
        cur.execute("SELECT * FROM result")
        return cur.fetch_arrow_table()
    finally:
        reader.close()


def sqlite_bulk_lookup(conn: sqlite3.Connection, keys: pa.Table, sql: str, tmp_dir: Path) -> pa.Table:
    """Run ``sql`` on an open store connection (outside a transaction) where it can join the table ``lookup.keys``
    (``keys``' rows), and return its result as Arrow. Both directions go through one scratch file (see
    :func:`sqlite_bulk_read`); ``sql`` must give some rows a non-NULL value in every column."""
    scratch = sqlite_bulk_file({"keys": keys}, tmp_dir)
    try:
        conn.execute(f"ATTACH DATABASE '{scratch}' AS lookup")
        try:
            conn.execute(f"CREATE TABLE lookup.result AS {sql}")
        finally:
            conn.execute("DETACH DATABASE lookup")
        return _read_result(scratch)
    finally:
        _remove(scratch)


def sqlite_bulk_file(tables: dict[str, pa.Table], tmp_dir: Path) -> Path:
    """Write Arrow tables into a new scratch SQLite file (ADBC) and return its path; the caller attaches it to a
    store connection, copies with INSERT … SELECT and removes it with :func:`remove_bulk_file`."""
    import adbc_driver_sqlite.dbapi as sqlite_dbapi

    scratch = _scratch(tmp_dir)
    writer = sqlite_dbapi.connect(str(scratch))
    try:
        cur = writer.cursor()
        for name, table in tables.items():
            cur.adbc_ingest(name, table, mode="create")
        writer.commit()
        cur.close()
    except BaseException:
        writer.close()
        _remove(scratch)
        raise
    writer.close()
    return scratch


#: Rows per scratch file of :func:`sqlite_bulk_chunks`.
BULK_CHUNK_ROWS = 125_000


def sqlite_bulk_chunks(table: pa.Table, name: str, tmp_dir: Path) -> Generator[Path, None, None]:
    """:func:`sqlite_bulk_file` for a large table, as a pipeline: scratch files of consecutive slices of its rows
    (:data:`BULK_CHUNK_ROWS` each, a table ``name`` in each), in order. A helper thread writes the next files (ADBC
    binds the values in C, outside Python's lock) while the caller copies the current one into the store, so on
    two cores the copying hides most of the writing: 0.9 s instead of 1.2 s for a million snapshot rows.

    The caller must detach each file before asking for the next. Each file is removed once the caller is done
    with it; when the caller stops early (an error), the files not yet used are removed as well.
    """
    count = max(1, -(-table.num_rows // BULK_CHUNK_ROWS))
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(sqlite_bulk_file, {name: table.slice(i * BULK_CHUNK_ROWS, BULK_CHUNK_ROWS)}, tmp_dir)
                   for i in range(count)]
        try:
            for future in futures:
                path = future.result()
                try:
                    yield path
                finally:
                    _remove(path)
        finally:
            for future in futures:
                future.cancel()
            for future in futures:
                if not future.cancelled() and future.exception() is None:
                    _remove(future.result())


def remove_bulk_file(path: Path) -> None:
    """Delete a scratch file made by :func:`sqlite_bulk_file`."""
    _remove(path)
