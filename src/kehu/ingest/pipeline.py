"""``kehu import``: read → map → validate → write rejects → merge into the store, with an import run record."""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select, update

from kehu.analytics import facts
from kehu.analytics.classify import prepare_history
from kehu.config import Settings
from kehu.errors import InvalidInput, KehuError
from kehu.ingest.formats import Format, get_format
from kehu.ingest.load import (
    Counts,
    Prestaged,
    attach_stage,
    deferred_order_indexes,
    insert_new_customers,
    prestage_batch,
    release_stage,
    restore_order_indexes,
    save_counts,
    upsert_customers,
    upsert_orders,
)
from kehu.ingest.readers import read_raw
from kehu.ingest.transform import (
    Mapping,
    build_mapped,
    resolve_mapping,
    transform_customers,
    transform_orders,
)
from kehu.privacy import FieldCipher, normalise_email, normalise_phone
from kehu.store import ImportRun, open_store, session_scope
from kehu.store.arrow import (
    for_store,
    is_sqlite_url,
    remove_bulk_file,
    sqlite_bulk_lookup,
    store_connect,
    transaction,
)
from kehu.store.locks import owner_gone, owner_tag, store_lock

log = logging.getLogger(__name__)

#: progress(stage, done, total): stage is "read", "validate" or "load".
ProgressFn = Callable[[str, int, int], None]


@dataclass
class ImportReport:
    """What an import did."""

    run_id: int
    file: str
    format: str
    kind: str
    counts: Counts = field(default_factory=Counts)
    rejects_path: str | None = None
    status: str = "succeeded"
    #: Seconds spent storing the buyers' purchase history for the next classification (SQLite stores; included in
    #: the import's time).
    history_seconds: float = 0.0

    def summary(self) -> str:
        """One line: read, inserted, updated, unchanged, rejected (and skipped / new customers when any).

        ``read`` and ``rejected`` count rows; inserted/updated/unchanged count orders (or customers). When a file
        has one row per order line the line says how many orders its rows made.
        """
        c = self.counts
        records = c.inserted + c.updated + c.unchanged
        read = f"read {c.read}"
        if self.kind == "orders" and records != c.read - c.rejected:
            read = f"read {c.read} rows ({records} orders)"
        text = (f"{self.file}: {read}, inserted {c.inserted}, updated {c.updated}, "
                f"unchanged {c.unchanged}, rejected {c.rejected}")
        if c.skipped:
            text += f", skipped {c.skipped} (header line)"
        if self.kind == "orders":
            text += f"; new customers {c.new_customers}"
        if self.rejects_path:
            text += f"; rejects in {self.rejects_path}"
        return text


def parse_maps(items: list[str] | None) -> dict[str, str]:
    """``["amount=实付", …]`` → ``{"amount": "实付"}``; raises InvalidInput on a malformed item."""
    from kehu.errors import InvalidInput

    result: dict[str, str] = {}
    for item in items or []:
        name, sep, header = item.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise InvalidInput(f"--map {item!r}: expected FIELD=HEADER, e.g. --map amount=实付金额")
        result[name.strip()] = header.strip()
    return result


#: DuckDB's memory limit during an import into SQLite (DuckDB spills to ``data_dir/tmp`` beyond it), which keeps a
#: 10M-row import well under 4 GB. Also the web preview's.
DUCKDB_MEMORY = "2.5GB"
#: DuckDB's memory limit during an import into PostgreSQL, whose tables then live in a scratch DuckDB file.
DUCKDB_MEMORY_FILE = "1GB"


@contextmanager
def _duck(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The import's DuckDB: in memory with :data:`DUCKDB_MEMORY` for a SQLite store; for PostgreSQL a scratch file
    in ``data_dir/tmp`` (deleted afterwards) with :data:`DUCKDB_MEMORY_FILE`.

    With its tables in a file DuckDB keeps only a bounded cache in memory, so the import's peak memory is bounded
    by that cache plus one load batch instead of growing with the file (``benchmarks/pg_import.py`` reports it). The
    file costs CPU (about 30% more for a 1M-row import, measured into SQLite), which PostgreSQL's slower load hides
    but SQLite's would not: there the tables stay in memory, bounded by their limit.
    """
    tmp = Path(settings.data_dir) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "temp_directory": str(tmp), "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        "memory_limit": DUCKDB_MEMORY}
    database = ":memory:"
    if not is_sqlite_url(settings.store_url):
        database = str(tmp / f"import-{uuid.uuid4().hex}.duckdb")
        config["memory_limit"] = DUCKDB_MEMORY_FILE
    con = duckdb.connect(database, config=config)
    try:
        yield con
    finally:
        con.close()
        if database != ":memory:":
            for suffix in ("", ".wal"):
                Path(database + suffix).unlink(missing_ok=True)


def _write_rejects(con: duckdb.DuckDBPyConnection, file: Path, out: Path | None, settings: Settings,
                   run_id: int) -> str | None:
    """Write ``problems`` as CSV (file, line, column, value, reason). Without ``--rejects`` the file goes to
    ``data_dir/rejects`` and only when there are rejects; an explicit ``out`` is always (re)written, so it never
    holds a previous run's rows."""
    n = con.execute("SELECT count(*) FROM problems").fetchall()[0][0]
    if not n and out is None:
        return None
    if out is None:
        out = default_rejects_dir(settings) / f"import-{run_id}-{file.stem}.csv"
    rows = con.execute('SELECT line, "column", value, reason FROM problems ORDER BY line, "column"').fetchall()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "line", "column", "value", "reason"])
            for line, column, value, reason in rows:
                writer.writerow([str(file), line, column, _safe_cell(value), reason])
    except OSError as exc:
        raise InvalidInput(f"cannot write the rejects file {out}: {exc.strerror or exc}; "
                           "choose another path with --rejects") from None
    return str(out)


_NUMBER = re.compile(r"^[+-]?[0-9][0-9,]*(\.[0-9]+)?$")


def _safe_cell(value: str | None) -> str:
    """Neutralise spreadsheet formulas in a rejected value (``=1+1`` → ``'=1+1``); plain numbers (``-5``) stay."""
    if value and value[0] in "=+-@\t\r" and not _NUMBER.match(value):
        return "'" + value
    return value or ""


def _email_keys(con: duckdb.DuckDBPyConnection, cipher: FieldCipher) -> None:
    """Shopify: the customer key is the e-mail; replace it with ``e:`` + its blind index, keep the address as email."""
    found = con.execute("SELECT DISTINCT customer_id FROM mapped WHERE customer_id IS NOT NULL").fetchall()
    ids = [r[0] for r in found]
    keys = [("e:" + (cipher.blind_index("email", normalise_email(v)) or "")) if "@" in v else v for v in ids]
    con.register("email_keys", pa.table({"raw_id": pa.array(ids, pa.string()), "key": pa.array(keys, pa.string())}))
    con.execute("""
        CREATE OR REPLACE TABLE mapped AS
        SELECT m.* REPLACE (k.key AS customer_id,
                            CASE WHEN m.customer_id LIKE '%@%' THEN coalesce(m.email, m.customer_id) ELSE m.email END
                            AS email)
        FROM mapped m LEFT JOIN email_keys k ON k.raw_id = m.customer_id
    """)
    con.unregister("email_keys")


PII_FIELDS = ("name", "phone", "email", "address")
PLAIN_FIELDS = ("province", "city", "channel", "gender", "birth_year", "registered_at", "marketing_consent")


def _customer_table(rows: pa.Table, *, source: str, run_id: int, cipher: FieldCipher, full: bool,
                    fields: set[str] | None = None) -> pa.Table:
    """Encrypt personal fields and add blind indexes and a keyed row hash (personal values never leave as plaintext).

    ``full`` (a customers file) adds the profile columns and the row hash; ``fields`` limits the columns to those the
    file has, so a customers file without a phone column does not erase the phones already stored.
    """
    n = rows.num_rows
    out: dict[str, pa.Array | list] = {
        "source": pa.array([source] * n, pa.string()),
        "external_id": rows["external_id"],
    }
    has = (lambda f: f in fields) if fields is not None else (lambda f: True)  # noqa: E731
    pii = [c for c in PII_FIELDS if has(c)]
    if fields is None and not any(pc.count(rows[c]).as_py() for c in PII_FIELDS):
        pii = []  # an orders batch without any personal data: nothing to encrypt
    if "name" in pii:
        out["name_enc"] = pa.array([cipher.encrypt("name", v) for v in rows["name"].to_pylist()], pa.string())
    if "phone" in pii:
        phones = [normalise_phone(p) for p in rows["phone"].to_pylist()]
        out["phone_enc"] = pa.array([cipher.encrypt("phone", v) for v in phones], pa.string())
        out["phone_index"] = pa.array([cipher.blind_index("phone", v) for v in phones], pa.string())
    if "email" in pii:
        emails = [normalise_email(e) for e in rows["email"].to_pylist()]
        out["email_enc"] = pa.array([cipher.encrypt("email", v) for v in emails], pa.string())
        out["email_index"] = pa.array([cipher.blind_index("email", v) for v in emails], pa.string())
    if "address" in pii:
        out["address_enc"] = pa.array([cipher.encrypt("address", v) for v in rows["address"].to_pylist()],
                                      pa.string())
    plain = [c for c in (PLAIN_FIELDS if full else PLAIN_FIELDS[:3]) if has(c)]
    for col in plain:
        out[col] = rows[col]
    if full:
        # Keyed, so the hash of a phone number cannot be brute-forced without the secret.
        key = cipher.index_key
        columns = [rows[c].to_pylist() for c in (*pii, *plain)]
        out["row_hash"] = pa.array(
            [hmac.new(key, repr(values).encode(), hashlib.sha256).hexdigest()[:32]
             for values in zip(*columns, strict=True)],
            pa.string(),
        )
    out["import_run_id"] = pa.array([run_id] * n, pa.int64())
    table = pa.table(out)
    if "registered_at" in table.column_names:
        table = table.set_column(table.schema.get_field_index("registered_at"), "registered_at",
                                 pc.cast(table["registered_at"], pa.timestamp("us")))
    return table


def mark_interrupted_runs(url: str) -> int:
    """Mark as failed the runs still 'running' whose process on this host is gone (killed, machine restarted).

    Their committed batches stay (each batch is whole); importing the file again completes them, since a re-import
    only inserts what is missing. Returns how many runs were marked.
    """
    marked = 0
    with session_scope(url) as session:
        for run in session.scalars(select(ImportRun).where(ImportRun.status == "running")):
            pid = owner_gone(run.message)
            if pid is None:
                continue
            run.status = "failed"
            run.finished_at = datetime.now()
            run.message = (f"interrupted: process {pid} ended before the import finished; "
                           "import the file again to complete it")
            marked += 1
    return marked


def import_file(*, settings: Settings, path: Path, kind: str, format_name: str, maps: dict[str, str] | None = None,
                rejects: Path | None = None, progress: ProgressFn | None = None,
                run_id: int | None = None) -> ImportReport:
    """Import one orders or customers file into the store and return what happened.

    Raises :class:`~kehu.errors.FileProblem` for a file-level problem (nothing imported, run marked failed). Bad rows
    do not stop the import: they go to the rejects CSV (file, line, column, value, reason). ``run_id`` names an
    ImportRun row created beforehand (status ``running``, see :mod:`kehu.ingest.jobs`); without it a new row is made.
    """
    fmt = get_format(kind, format_name)
    url = settings.store_url
    open_store(url)
    path = Path(path)
    mark_interrupted_runs(url)
    with session_scope(url) as session:
        if run_id is None:
            run = ImportRun(kind=kind, file=str(path), format=fmt.name, status="running", message=owner_tag())
            session.add(run)
            session.flush()
            run_id = run.id
        else:
            session.execute(update(ImportRun).where(ImportRun.id == run_id).values(
                status="running", message=owner_tag()))
    report = ImportReport(run_id=run_id, file=str(path), format=fmt.name, kind=kind)
    try:
        _run(settings, fmt, path, maps or {}, rejects, progress, report)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, KehuError) else f"{type(exc).__name__}: {exc}"
        with session_scope(url) as session:
            session.execute(update(ImportRun).where(ImportRun.id == run_id).values(
                status="failed", finished_at=func.current_timestamp(), message=message[:2000]))
        report.status = "failed"
        raise
    with session_scope(url) as session:
        session.execute(update(ImportRun).where(ImportRun.id == run_id).values(
            status="succeeded", finished_at=func.current_timestamp(), rejects_path=report.rejects_path, message=None,
            rows_read=report.counts.read, inserted=report.counts.inserted, updated=report.counts.updated,
            unchanged=report.counts.unchanged, rejected=report.counts.rejected, skipped=report.counts.skipped))
    return report


def validate_raw(con: duckdb.DuckDBPyConnection, *, fmt: Format, headers: list[str], maps: dict[str, str],
                 cipher: FieldCipher, file: str, counts: Counts) -> Mapping:
    """Map and validate the table ``raw`` (from :func:`read_raw`) without writing to the store.

    Leaves ``problems`` (line, column, value, reason) and the typed output tables in ``con``; sets ``counts.read``,
    ``skipped`` and ``rejected`` (rows). Raises :class:`~kehu.errors.FileProblem` when a required column is missing.
    Used by the import and by the web preview (:mod:`kehu.ingest.preview`), so both validate alike.
    """
    total = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    mapping = resolve_mapping(fmt, headers, maps, file)
    build_mapped(con, fmt, mapping)
    counts.skipped = con.execute("SELECT count(*) FROM skipped").fetchall()[0][0]
    counts.read = total - counts.skipped
    if fmt.customer_id_is_email:
        _email_keys(con, cipher)
    n_headers = len(headers) if headers else 10**6
    if fmt.kind == "orders":
        transform_orders(con, fmt, mapping, n_headers, fmt.name)
    else:
        transform_customers(con, fmt, mapping, n_headers)
    counts.rejected = con.execute("SELECT count(DISTINCT line) FROM problems").fetchall()[0][0]
    return mapping


def _run(settings: Settings, fmt: Format, path: Path, maps: dict[str, str], rejects: Path | None,
         progress: ProgressFn | None, report: ImportReport) -> None:
    url = settings.store_url
    cipher = FieldCipher.from_settings(settings)
    counts = report.counts
    with _duck(settings) as con:
        headers = read_raw(con, path, layout=fmt.layout,
                           progress=(lambda done, total: progress("read", done, total)) if progress else None)
        total = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
        if progress:
            progress("validate", 0, total)
        mapping = validate_raw(con, fmt=fmt, headers=headers, maps=maps, cipher=cipher, file=str(path),
                               counts=counts)
        report.rejects_path = _write_rejects(con, path, rejects, settings, report.run_id)
        if fmt.kind == "orders":
            _load_orders(con, settings, fmt, report, cipher, progress)
        else:
            fields = set(mapping.sources) | set(fmt.derived) | ({"email"} if fmt.customer_id_is_email else set())
            fields |= {"birth_year"} if "birth_date" in fields else set()
            _load_customers(con, settings, fmt, report, cipher, progress, fields)
    del url


def _load_customers(con: duckdb.DuckDBPyConnection, settings: Settings, fmt: Format, report: ImportReport,
                    cipher: FieldCipher, progress: ProgressFn | None, fields: set[str]) -> None:
    url = settings.store_url
    # Sorted once, so a batch is a rowid range: only one batch at a time is held as Arrow.
    con.execute("CREATE OR REPLACE TABLE customers_out AS SELECT * FROM customers_out ORDER BY external_id")
    total = con.execute("SELECT count(*) FROM customers_out").fetchall()[0][0]
    step = settings.import_batch_rows
    conn = store_connect(url, bulk=True)
    try:
        for start in range(0, max(total, 1), step):
            rows = con.sql(f"SELECT * FROM customers_out WHERE rowid >= {start} AND rowid < {start + step} "
                           "ORDER BY rowid").to_arrow_table()
            table = _customer_table(rows, source=fmt.name, run_id=report.run_id, cipher=cipher,
                                    full=True, fields=fields)
            with transaction(conn) as cur:
                store_lock(cur, "import")
                upsert_customers(cur, for_store(table, url), report.counts)
                save_counts(cur, report.run_id, report.counts)
            if progress:
                progress("load", min(start + step, total), total)
    finally:
        conn.close()


def _load_orders(con: duckdb.DuckDBPyConnection, settings: Settings, fmt: Format, report: ImportReport,
                 cipher: FieldCipher, progress: ProgressFn | None) -> None:
    url = settings.store_url
    # orders_out is stored sorted by order id (transform_orders): its rowid is the order's place, so a batch is a
    # rowid range (read without a scan of the rest) and no sort of the whole table is needed here.
    con.execute("CREATE OR REPLACE TABLE lines_out AS SELECT l.*, o.rowid AS __i FROM lines_out l "
                "JOIN orders_out o ON o.external_id = l.order_external_id")
    # Each customer goes in with the batch of its first order, so a crash never leaves customers without orders.
    con.execute("CREATE OR REPLACE TABLE customers_out AS SELECT c.*, f.__i FROM customers_out c "
                "JOIN (SELECT customer_external_id, min(rowid) AS __i FROM orders_out GROUP BY ALL) f "
                "ON f.customer_external_id = c.external_id")
    total = con.execute("SELECT count(*) FROM orders_out").fetchall()[0][0]
    step = settings.import_batch_rows
    conn = store_connect(url, bulk=True)
    try:
        if progress:
            progress("load", 0, total)
        restore_order_indexes(conn)
        if is_sqlite_url(url):
            cur = conn.cursor()
            facts.start_mirror(settings, cur)
            cur.close()
        with deferred_order_indexes(conn, rows=total, batch_rows=step):
            _write_order_batches(con, conn, url, fmt, report, cipher, progress, total, step, settings=settings)
    finally:
        conn.close()
    if report.counts.inserted or report.counts.updated:
        # The buyers' purchase history for the next classification (SQLite stores): a cache, so the import stands
        # without it (classification then computes it from the orders).
        started = time.perf_counter()
        try:
            prepare_history(settings)
        except Exception:
            log.warning("the purchase history for classification was not stored", exc_info=True)
        report.history_seconds = time.perf_counter() - started


@dataclass
class _Batch:
    """One load batch, prepared off the store's connection: its customers (as stored), orders, lines and, on
    SQLite, the scratch file they are staged in."""

    start: int
    customers: pa.Table
    orders: pa.Table
    lines: pa.Table
    staged: Prestaged | None


def _write_order_batches(con: duckdb.DuckDBPyConnection, conn: Any, url: str, fmt: Format,  # noqa: ANN401
                         report: ImportReport, cipher: FieldCipher, progress: ProgressFn | None, total: int,
                         step: int, *, settings: Settings) -> None:
    """One transaction per batch of ``step`` orders (by order id): its new customers, orders, lines, counters.

    Each batch also bumps the store's orders revision and, on SQLite, writes the batch's purchase facts as that
    revision's part of the analytics mirror (:mod:`kehu.analytics.facts`) once the batch is committed.

    Two threads: this one writes to the store; a helper does all the DuckDB work in order — it prepares the next
    batch (extracts it, encrypts its customers, stages it in a scratch file) and writes each committed batch's
    mirror part — while SQLite merges the current one (both release Python's lock while they work).
    """
    sqlite = is_sqlite_url(url)
    tmp = Path(settings.data_dir) / "tmp"
    # SQLite keeps timestamps as text (SQLAlchemy's format); DuckDB writes it faster than Arrow's strftime.
    as_text = "REPLACE (strftime(ordered_at, '%Y-%m-%d %H:%M:%S.%f') AS ordered_at)" if sqlite else ""
    mirror_on = sqlite  # switched off (by the helper) when a part could not be written
    if sqlite:  # the store ids of this file's customers, added as their batches commit
        con.execute("CREATE OR REPLACE TEMP TABLE customer_ids (external_id VARCHAR, id BIGINT)")

    def prepare(start: int) -> _Batch:
        where = f"WHERE __i >= {start} AND __i < {start + step}"
        customers = con.sql(f"SELECT * EXCLUDE (__i) FROM customers_out {where} ORDER BY external_id"
                            ).to_arrow_table()
        orders = con.sql(f"SELECT * {as_text} FROM orders_out WHERE rowid >= {start} AND rowid < {start + step} "
                         "ORDER BY rowid").to_arrow_table()
        lines = con.sql(f"SELECT * EXCLUDE (__i) FROM lines_out {where}").to_arrow_table()
        table = for_store(_customer_table(customers, source=fmt.name, run_id=report.run_id, cipher=cipher,
                                          full=False), url)
        stored = for_store(orders, url)
        staged = prestage_batch(stored, table, tmp) if sqlite and stored.num_rows else None
        return _Batch(start, table, stored, lines, staged)

    def mirror_part(batch: _Batch, revision: int, ids: pa.Table, all_new: bool) -> None:
        nonlocal mirror_on
        if not mirror_on:
            return
        try:
            _remember_customer_ids(con, ids)
            columns = ", ".join("k.id AS customer_id" if c == "customer_id" else f"o.{c}"
                                for c in facts.FACTS_SCHEMA.names)
            part = con.sql(f"SELECT {columns} FROM orders_out o JOIN customer_ids k "
                           "ON k.external_id = o.customer_external_id "
                           f"WHERE o.rowid >= {batch.start} AND o.rowid < {batch.start + step}").to_arrow_table()
            facts.write_part(settings, revision, part, all_new=all_new and part.num_rows == batch.orders.num_rows)
        except OSError as exc:
            # The batch is committed; without its part the mirror is simply not current, and the next
            # classification reads the store instead (the mirror is a cache, never the truth). Later parts
            # would lack this batch's customer ids: none are written.
            mirror_on = False
            log.warning("orders mirror part %s not written (%s); classification will read the store", revision, exc)

    starts = list(range(0, total, step))
    helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kehu-import")
    pending = helper.submit(prepare, starts[0]) if starts else None
    parts: list[Future[None]] = []
    try:
        for i in range(len(starts)):
            assert pending is not None
            batch = pending.result()
            pending = helper.submit(prepare, starts[i + 1]) if i + 1 < len(starts) else None
            inserted_before = report.counts.inserted
            first_id = None
            if batch.staged is not None:
                attach_stage(conn, batch.staged)
            try:
                with transaction(conn) as cur:
                    # Concurrent imports take turns per batch (PostgreSQL; SQLite's writers always do), so
                    # overlapping files neither deadlock on each other's rows nor count each other's rows as theirs.
                    store_lock(cur, "import")
                    top = _next_customer_id(cur) if sqlite else None
                    new = insert_new_customers(cur, batch.customers,
                                               batch.staged.customers if batch.staged else None)
                    if top is not None and new == batch.customers.num_rows and _next_customer_id(cur) == top + new:
                        first_id = top  # all new, numbered top, top + 1, … in the batch's order
                    report.counts.new_customers += new
                    upsert_orders(cur, batch.orders, batch.lines, report.run_id, report.counts,
                                  prestaged=batch.staged.orders if batch.staged else None)
                    save_counts(cur, report.run_id, report.counts)
                    revision = facts.bump_orders_revision(cur)
            finally:
                if batch.staged is not None:
                    release_stage(conn, batch.staged.scratch)
            if mirror_on:
                ids = _customer_ids(conn, batch.customers, tmp, first_id)
                all_new = report.counts.inserted - inserted_before == batch.orders.num_rows
                parts.append(helper.submit(mirror_part, batch, revision, ids, all_new))
            if progress:
                progress("load", min(batch.start + step, total), total)
        for part in parts:
            part.result()
    finally:
        helper.shutdown(wait=True, cancel_futures=True)
        # A batch prepared but never written (an error stopped the loop) leaves its scratch file behind.
        if pending is not None and not pending.cancelled() and pending.exception() is None:
            staged = pending.result().staged
            if staged is not None:
                remove_bulk_file(staged.scratch)


def _next_customer_id(cur: Any) -> int:  # noqa: ANN401
    """SQLite: one more than the largest customer id. New rows get increasing ids in the order they are inserted,
    so when a batch inserts n customers and this goes up by exactly n, their ids are the n values from the old one."""
    cur.execute("SELECT coalesce(max(id), 0) + 1 FROM customers")
    return int(cur.fetchall()[0][0])


def _customer_ids(conn: Any, customers: pa.Table, tmp_dir: Path, first_id: int | None) -> pa.Table:  # noqa: ANN401
    """The store ids of a committed batch's ``customers`` (those whose first order in the file is in the batch, new
    or not): ``external_id``, ``id``. ``first_id``: when the batch inserted every one of them, the id of the first
    (the rest follow in order); else they are looked up in the store."""
    if first_id is not None or not customers.num_rows:
        start = first_id or 0
        return pa.table({"external_id": customers.column("external_id"),
                         "id": pa.array(range(start, start + customers.num_rows), pa.int64())})
    return sqlite_bulk_lookup(conn, customers.select(["source", "external_id"]),
                              "SELECT k.external_id, c.id FROM lookup.keys k JOIN main.customers c "
                              "ON c.source = k.source AND c.external_id = k.external_id", tmp_dir)


def _remember_customer_ids(con: duckdb.DuckDBPyConnection, ids: pa.Table) -> None:
    """Add ``ids`` (:func:`_customer_ids`) to the DuckDB table ``customer_ids``, which names the customers of the
    mirror's parts."""
    if not ids.num_rows:
        return
    con.register("kehu_new_ids", ids)
    try:
        con.execute("INSERT INTO customer_ids SELECT external_id, id FROM kehu_new_ids")
    finally:
        con.unregister("kehu_new_ids")


def default_rejects_dir(settings: Settings) -> Path:
    """Where rejects files go when ``--rejects`` is not given."""
    return Path(settings.data_dir) / "rejects"


__all__ = ["ImportReport", "default_rejects_dir", "import_file", "parse_maps"]
