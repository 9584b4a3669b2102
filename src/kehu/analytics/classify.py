"""``kehu classify``: features → RFM scores, classes and groups → lifecycle stage → a dated snapshot in the store.

The Ibis expressions of :mod:`kehu.analytics.features`, :mod:`kehu.analytics.rfm` and
:mod:`kehu.analytics.lifecycle` run on an engine (:mod:`kehu.analytics.engines`; by default an in-process DuckDB
that scans a SQLite store's orders mirror), and the result is written back so that readers see the old snapshot or
the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.analytics import facts
from kehu.analytics.engines import EngineRun, arrow_run, duckdb_backend, open_engine, typed_orders
from kehu.analytics.features import (
    COHORT_MONTHS,
    customer_features,
    features_from_history,
    last_purchase,
    month_index,
    monthly_revenue,
    purchase_history,
    purchases,
    within_window,
)
from kehu.analytics.history import MONTHLY_SCHEMA, load_history, write_history
from kehu.analytics.lifecycle import LifecycleRules, lifecycle_stage
from kehu.analytics.predict import MODEL_INPUT_COLUMNS, PREDICTION_SCHEMA, predict
from kehu.analytics.rfm import QUANTILES, population_stats, rfm_table
from kehu.config import Settings
from kehu.errors import KehuError
from kehu.store import open_store
from kehu.store.arrow import (
    for_store,
    is_sqlite_url,
    read_arrow,
    sqlite_bulk_chunks,
    sqlite_bulk_read,
    sqlite_bulk_read_with_revision,
    store_connect,
    transaction,
)
from kehu.store.list_indexes import ensure_list_indexes
from kehu.store.locks import owner_gone, owner_tag, store_lock

SNAPSHOT_COLUMNS = (
    "customer_id", "recency_days", "frequency", "monetary_cents", "aov_cents", "r_score", "f_score", "m_score",
    "rfm_class", "rfm_group", "lifecycle_stage", "first_order_date", "last_order_date", "median_gap_days",
)

#: Arrow types of the ``classifications`` table's columns (PostgreSQL's COPY wants them exact).
SNAPSHOT_SCHEMA = pa.schema([
    ("customer_id", pa.int32()), ("recency_days", pa.int32()), ("frequency", pa.int32()),
    ("monetary_cents", pa.int64()), ("aov_cents", pa.int64()), ("r_score", pa.int16()), ("f_score", pa.int16()),
    ("m_score", pa.int16()), ("rfm_class", pa.string()), ("rfm_group", pa.string()), ("lifecycle_stage", pa.string()),
    ("first_order_date", pa.date32()), ("last_order_date", pa.date32()), ("median_gap_days", pa.float64()),
    *PREDICTION_SCHEMA,
])
CUSTOMER_KEYS_SCHEMA = pa.schema([("id", pa.int64()), ("source", pa.string()), ("external_id", pa.string())])

StepFn = Callable[[str], None]
log = logging.getLogger(__name__)


@dataclass
class ClassifyReport:
    """What ``classify`` wrote: the snapshot, how many customers, the counts per class, group and stage."""

    snapshot_id: int
    as_of: date
    customers: int
    buyers: int
    by_class: dict[str, int]
    by_group: dict[str, int]
    by_stage: dict[str, int]
    cut_points: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, Any] | None = None
    interrupted: int = 0  # snapshots of killed runs this run found and marked failed


def load_inputs(settings: Settings, as_of: date) -> tuple[pa.Table, pa.Table]:
    """The store's paid orders up to ``as_of`` and all customer ids, as Arrow tables.

    PostgreSQL is read directly. SQLite is read through the orders mirror (:func:`mirror_orders_sql`).
    """
    url = settings.store_url
    if not is_sqlite_url(url):
        orders = read_arrow(url, "SELECT customer_id, ordered_at, amount_cents, refunded_cents, is_paid FROM orders "
                                 f"WHERE is_paid AND ordered_at <= '{_last_instant(as_of)}'")
        return orders, read_arrow(url, "SELECT id FROM customers")
    sql = mirror_orders_sql(settings, as_of)
    con = facts.duckdb_connect()
    try:
        orders = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return orders, customer_ids(settings)


def mirror_orders_sql(settings: Settings, as_of: date) -> str:
    """A DuckDB query over the SQLite store's orders mirror (:mod:`kehu.analytics.facts`) giving the paid orders up
    to ``as_of`` (``customer_id``, ``ordered_at``, ``amount_cents``, ``refunded_cents``, ``is_paid``)."""
    return (f"SELECT * FROM ({mirror_source(settings)[0]}) "
            f"WHERE is_paid AND ordered_at <= TIMESTAMP '{_last_instant(as_of)}'")


def _last_instant(as_of: date) -> str:
    """The last microsecond of ``as_of`` as SQL timestamp text: orders up to it are those of the as-of date."""
    return f"{as_of.isoformat()} 23:59:59.999999"


def mirror_source(settings: Settings) -> tuple[str, int]:
    """A DuckDB query over the SQLite store's orders mirror giving every order (``customer_id``, ``ordered_at``,
    ``amount_cents``, ``refunded_cents``, ``is_paid``), and the store's orders revision it is of.

    When the mirror is not current it is first rebuilt from the store; when it holds several versions of some
    orders it is first compacted, so the query is a plain scan of Parquet files.
    """
    conn = store_connect(settings.store_url)
    try:
        revision = facts.orders_revision(conn.cursor())
    finally:
        conn.close()
    parts = facts.current_parts(settings, revision)
    if parts is None:
        parts = [_rebuild_facts(settings, Path(settings.data_dir) / "tmp")]
    elif facts.needs_dedupe(parts):
        # Compact: the newest versions become the base of this revision, so the next reads are a plain scan.
        parts = [facts.write_part(settings, revision, facts.read_parts(parts), base=True)]
    return (f"SELECT customer_id, ordered_at, amount_cents, refunded_cents, is_paid FROM ({facts.parts_sql(parts)})",
            revision)


def customer_ids(settings: Settings) -> pa.Table:
    """The store ids of all customers (column ``id``, int64, ascending).

    When the ids are exactly the integers from the smallest to the largest (no customer was ever deleted: the
    usual case, as the store numbers customers in order), they are generated from those two numbers and the count,
    without reading a million ids."""
    bounds = read_arrow(settings.store_url, "SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM customers",
                        _BOUNDS_SCHEMA).to_pylist()[0]
    n, lo, hi = bounds["n"], bounds["lo"], bounds["hi"]
    if not n:
        return _IDS_SCHEMA.empty_table()
    if hi - lo + 1 == n:  # n distinct integers in [lo, hi]: all of them
        return pa.table({"id": pa.array(np.arange(lo, hi + 1, dtype=np.int64))}, schema=_IDS_SCHEMA)
    return _customers(settings, _IDS_SCHEMA).sort_by("id")


_IDS_SCHEMA = pa.schema([("id", pa.int64())])
_BOUNDS_SCHEMA = pa.schema([("n", pa.int64()), ("lo", pa.int64()), ("hi", pa.int64())])


def customer_keys(settings: Settings) -> pa.Table:
    """The store's customer keys (:data:`CUSTOMER_KEYS_SCHEMA`): store id and the source system's (source, id),
    which orders named by the source's ids are matched with."""
    return _customers(settings, CUSTOMER_KEYS_SCHEMA)


def _customers(settings: Settings, schema: pa.Schema) -> pa.Table:
    """``schema``'s columns of every customer in the store, as Arrow of that schema."""
    url = settings.store_url
    sql = f"SELECT {', '.join(schema.names)} FROM customers"
    if is_sqlite_url(url):
        table = sqlite_bulk_read(url, sql, Path(settings.data_dir) / "tmp")
    else:
        table = read_arrow(url, sql)
    return table.cast(schema) if table.num_rows else schema.empty_table()


LINES_SCHEMA = pa.schema([("customer_id", pa.int64()), ("product_id", pa.int64()), ("ordered_at", pa.timestamp("us"))])


def load_lines(settings: Settings, as_of: date) -> pa.Table:
    """The products bought up to ``as_of``: one row per order line of a purchase (paid, not fully refunded) that
    names a product, with the order's customer and time (:data:`LINES_SCHEMA`)."""
    url = settings.store_url
    sql = ("SELECT o.customer_id, l.product_id, o.ordered_at FROM order_lines l JOIN orders o ON o.id = l.order_id "
           f"WHERE o.is_paid AND l.product_id IS NOT NULL AND o.ordered_at <= '{_last_instant(as_of)}' "
           "AND (coalesce(o.refunded_cents, 0) = 0 OR coalesce(o.refunded_cents, 0) < o.amount_cents)")
    if is_sqlite_url(url):
        table = sqlite_bulk_read(url, sql, Path(settings.data_dir) / "tmp")
        if table.num_rows == 0:
            return LINES_SCHEMA.empty_table()
    else:
        table = read_arrow(url, sql)
    return table.select(LINES_SCHEMA.names).cast(LINES_SCHEMA)


def _rebuild_facts(settings: Settings, tmp: Path) -> Path:
    """Read every order's facts from the SQLite store and make them the mirror's new base (same revision)."""
    url = settings.store_url
    table, revision = sqlite_bulk_read_with_revision(
        url,
        "SELECT source, external_id, customer_id, ordered_at, amount_cents, "
        "coalesce(refunded_cents, 0) AS refunded_cents, is_paid FROM orders",
        tmp,
    )
    if table.num_rows == 0:
        rows = facts.FACTS_SCHEMA.empty_table()
    else:
        con = facts.duckdb_connect()
        try:
            con.register("t", table)
            rows = con.sql(
                "SELECT source, external_id, CAST(customer_id AS BIGINT) AS customer_id, "
                "CAST(ordered_at AS TIMESTAMP) AS ordered_at, "
                "CAST(amount_cents AS BIGINT) AS amount_cents, CAST(refunded_cents AS BIGINT) AS refunded_cents, "
                "CAST(is_paid AS BOOLEAN) AS is_paid FROM t"
            ).to_arrow_table()
        finally:
            con.close()
    return facts.write_part(settings, revision, rows, base=True)


def classification_table(orders: pa.Table, customers: pa.Table, *, as_of: date,
                         settings: Settings) -> tuple[pa.Table, dict[str, Any]]:
    """The snapshot rows and population stats of Arrow inputs (as :func:`load_inputs` returns them), computed on a
    fresh in-process DuckDB: :func:`classify_on` for tables at hand."""
    run = arrow_run(orders, customers)
    try:
        table, stats, _ = classify_on(run, as_of=as_of, settings=settings, summary=False)
    finally:
        run.release()
    return table, stats


def classify_on(run: EngineRun, *, as_of: date, settings: Settings,
                summary: bool = True) -> tuple[pa.Table, dict[str, Any], dict[str, Any] | None]:
    """Compute on ``run``'s engine the snapshot rows (columns :data:`SNAPSHOT_COLUMNS` and the models' inputs
    :data:`~kehu.analytics.predict.MODEL_INPUT_COLUMNS`, ordered by customer id), the population stats (cut points,
    n) and, with ``summary``, the purchase summary (:func:`summary_on`). Only these results leave the engine."""
    history, monthly, bought = history_on(run, as_of=as_of, settings=settings)
    window = settings.rfm_window_days
    if window is None:
        features = run.materialize(features_from_history(history, run.customers, as_of=as_of))
    else:
        bought = bought if bought is not None else run.materialize(purchases(run.orders, as_of=as_of))
        recent = within_window(bought, as_of=as_of, window_days=window)
        features = run.materialize(customer_features(recent, run.customers, as_of=as_of))
    stats_row = run.backend.to_pyarrow(population_stats(features, split=settings.rfm_split))
    stats = stats_row.to_pylist()[0]
    scored = rfm_table(features, split=settings.rfm_split, stats=ibis.memtable(stats_row))
    rules = LifecycleRules.from_settings(settings)
    result = scored.mutate(lifecycle_stage=lifecycle_stage(scored, rules)).select(*SNAPSHOT_COLUMNS,
                                                                                  *MODEL_INPUT_COLUMNS)
    table = run.backend.to_pyarrow(result.order_by("customer_id")).cast(_result_schema())
    figures = None
    if summary:
        # The summary counts every purchase: with an RFM window the features cover fewer, so it gets its own.
        everything = features if window is None else run.materialize(
            features_from_history(history, run.customers, as_of=as_of))
        figures = summary_on(run, monthly, everything)
    return table, stats, figures


def history_on(run: EngineRun, *, as_of: date, settings: Settings) -> tuple[ir.Table, pa.Table, ir.Table | None]:
    """The purchase history of every buyer up to ``as_of`` on ``run``'s engine
    (:func:`~kehu.analytics.features.purchase_history`), the net revenue per month
    (:data:`~kehu.analytics.history.MONTHLY_SCHEMA`) and the purchases they came from (``None`` when the history
    was the stored one: see :mod:`kehu.analytics.history`). A history computed here is stored when the run can
    store one and no purchase is after ``as_of``."""
    source = run.history
    stored = load_history(settings, source.revision) if source is not None else None
    if stored is not None and stored[0].covers(as_of):
        return ibis.memtable(stored[1]), stored[0].monthly, None
    bought = run.materialize(purchases(run.orders, as_of=as_of))
    history = run.materialize(purchase_history(bought))
    monthly = run.backend.to_pyarrow(monthly_revenue(bought).order_by("month")).cast(MONTHLY_SCHEMA)
    if source is not None:
        # Stored only when it is the history of every purchase (the Parquet statistics of the order times let
        # DuckDB skip the files of earlier orders).
        later = source.all_orders.filter(source.all_orders.ordered_at >= ibis.timestamp(as_of + timedelta(days=1)))
        if run.backend.to_pyarrow(last_purchase(later)).as_py() is None:
            last = run.backend.to_pyarrow(history.last_order_date.max()).as_py()
            try:
                write_history(settings, source.revision, run.backend, history, monthly, last)
            except Exception:  # a cache: the classification stands without it (e.g. a full disk)
                log.warning("the purchase history was not stored; the next classification computes it again",
                            exc_info=True)
    return history, monthly, bought


def prepare_history(settings: Settings) -> None:
    """Compute and store the purchase history of a SQLite store at its current orders revision (the import calls
    it once its orders are in), unless it is stored already. PostgreSQL stores keep none. A history that cannot be
    written is logged, not raised (:func:`history_on`)."""
    if not is_sqlite_url(settings.store_url):
        return
    con = duckdb_backend()
    try:
        con.raw_sql(f"CREATE TEMP VIEW kehu_all_orders AS {mirror_source(settings)[0]}")
        last = con.to_pyarrow(last_purchase(typed_orders(con.table("kehu_all_orders")))).as_py()
    finally:
        con.disconnect()
    as_of = last or date.today()
    with open_engine(settings, as_of, "duckdb") as run:
        history_on(run, as_of=as_of, settings=settings)


def _result_schema() -> pa.Schema:
    """The Arrow types of :func:`classify_on`'s rows, the same whichever engine computed them."""
    types = {f.name: f.type for f in SNAPSHOT_SCHEMA}
    types["customer_id"] = pa.int64()
    fields = [pa.field(name, types[name]) for name in SNAPSHOT_COLUMNS]
    return pa.schema(fields + [pa.field(name, pa.int64()) for name in MODEL_INPUT_COLUMNS])


def summary_on(run: EngineRun, monthly: pa.Table, history: ir.Table) -> dict[str, Any]:
    """Key figures, monthly revenue and cohorts of the purchases whose per-customer features are ``history``
    (:func:`~kehu.analytics.features.customer_features`) and whose net revenue per month is ``monthly``
    (:data:`~kehu.analytics.history.MONTHLY_SCHEMA`), computed on ``run``'s engine.

    Purchases are the paid orders not fully refunded, worth their amount net of refunds (cents). Cohorts: per
    first-purchase month ``[YYYY-MM, customers, [n_1, …, n_12]]``, oldest first, where ``n_k`` counts the cohort's
    customers who bought again in calendar month ``+k`` (0 when none; months after the as-of date are also 0 here,
    the reader knows the date). ``customers`` is left 0 for the caller to fill in.
    """
    con = run.backend
    buyers = history.filter(history.frequency > 0)
    figures = con.to_pyarrow(buyers.aggregate(
        buyers=buyers.count(), orders=buyers.frequency.sum().cast("int64"),
        revenue=buyers.monetary_cents.sum().cast("int64"), repeat=(buyers.frequency >= 2).sum().cast("int64"),
    )).to_pylist()[0]
    per_cohort = buyers.group_by(cohort=month_index(buyers.first_order_date)).aggregate(
        n=buyers.count().cast("int64"),
        **{f"k{k}": ((buyers.repeat_months // 2**k) % 2).sum().cast("int64") for k in range(1, COHORT_MONTHS + 1)},
    ).order_by("cohort")
    cohorts = [[_month(int(row["cohort"])), int(row["n"]), [int(row[f"k{k}"]) for k in range(1, COHORT_MONTHS + 1)]]
               for row in con.to_pyarrow(per_cohort).to_pylist()]
    return {
        "customers": 0, "buyers": int(figures["buyers"] or 0), "orders": int(figures["orders"] or 0),
        "revenue_cents": int(figures["revenue"] or 0), "repeat_buyers": int(figures["repeat"] or 0),
        "monthly": [[_month(int(m)), int(c)] for m, c in zip(monthly.column("month").to_pylist(),
                                                          monthly.column("cents").to_pylist(), strict=True)],
        "cohorts": cohorts,
    }


def _month(index: int) -> str:
    """``YYYY-MM`` of a month index (year · 12 + month − 1)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def purchase_summary(orders: pa.Table, customers: int) -> dict[str, Any]:
    """:func:`summary_on` for Arrow orders (as :func:`load_inputs` reads them: up to some as-of date) and a count
    of customers."""
    ids = pa.table({"id": pc.unique(orders.column("customer_id")).cast(pa.int64())})
    run = arrow_run(orders, ids)
    last = pc.max(orders.column("ordered_at")).as_py()
    as_of = last.date() if last else date.today()
    try:
        bought = purchases(run.orders, as_of=as_of)
        history = customer_features(bought, run.customers, as_of=as_of)
        monthly = run.backend.to_pyarrow(monthly_revenue(bought).order_by("month")).cast(MONTHLY_SCHEMA)
        return {**summary_on(run, monthly, history), "customers": customers}
    finally:
        run.release()


def write_snapshot(settings: Settings, table: pa.Table, *, as_of: date, settings_json: dict[str, Any],
                   cut_points: dict[str, Any], summary: dict[str, Any] | None = None,
                   models: dict[str, Any] | None = None) -> int:
    """Write ``table`` as the snapshot for ``as_of``, replacing older snapshots of the same date; returns its id.

    The snapshot row is committed first, as ``building`` with this process as its owner, so a run killed while
    writing stays visible and :func:`mark_interrupted_snapshots` can report it ``failed`` and delete its rows.
    Then the rows are written (PostgreSQL: in the same transaction as the switch; SQLite: in slices of
    :data:`~kehu.store.arrow.BULK_CHUNK_ROWS`, a transaction each) and the switch to ``ready`` (which also deletes
    the older snapshots of that date) commits: readers use ready snapshots only, so they see the old snapshot or
    the new one, never half of one. An error while writing deletes the rows written so far, marks the snapshot
    ``failed`` with the error and is raised again.

    Concurrent writers of the same date take turns to publish (a PostgreSQL advisory lock; SQLite serialises
    writers): each removes the snapshots of that date published before it, so the date keeps exactly one.

    Prediction columns missing from ``table`` are written as NULL; ``models`` is the model report
    (:func:`kehu.analytics.predict.predict`). On SQLite the rows go through scratch files
    (:func:`~kehu.store.arrow.sqlite_bulk_chunks`) and ``INSERT … SELECT``; on PostgreSQL through ADBC's COPY.
    """
    url = settings.store_url
    for fld in PREDICTION_SCHEMA:
        if fld.name not in table.column_names:
            table = table.append_column(fld, pa.nulls(table.num_rows, fld.type))
    rows = table.select(SNAPSHOT_SCHEMA.names).cast(SNAPSHOT_SCHEMA)
    meta = {"settings": settings_json, "cut_points": cut_points, "summary": summary, "models": models}
    conn = store_connect(url)
    try:
        with transaction(conn) as cur:
            snapshot_id = _new_snapshot(cur, as_of, rows.num_rows, meta)
    finally:
        conn.close()
    try:
        if is_sqlite_url(url):
            _write_snapshot_sqlite(settings, rows, as_of, snapshot_id)
        else:
            _write_snapshot_postgres(url, rows, as_of, snapshot_id)
    except BaseException as exc:
        _fail_snapshot(url, snapshot_id, str(exc) if isinstance(exc, KehuError) else f"{type(exc).__name__}: {exc}")
        raise
    return snapshot_id


def _quote(obj: Any) -> str:
    return "'" + json.dumps(obj, ensure_ascii=False).replace("'", "''") + "'"


def _new_snapshot(cur: Any, as_of: date, n: int, meta: dict[str, Any]) -> int:
    """Insert the snapshot row (status ``building``, owned by this process: ``message`` names it); ``meta``:
    settings, cut_points, summary, models (JSON)."""
    names = ", ".join(meta)
    values = ", ".join("NULL" if value is None else _quote(value) for value in meta.values())
    owner = owner_tag().replace("'", "''")
    cur.execute(f"INSERT INTO classification_snapshots (as_of, status, customers, message, {names}) "
                f"VALUES ('{as_of.isoformat()}', 'building', {n}, '{owner}', {values}) RETURNING id")
    return int(cur.fetchall()[0][0])


def _publish(cur: Any, as_of: date, snapshot_id: int) -> None:
    """Inside the transaction that wrote the rows: take the store's snapshot lock, delete the other finished
    (ready or failed) snapshots of the same date and mark this one ready. Snapshots still being built by another
    process are left alone: that process publishes (and removes this one) when it is done."""
    store_lock(cur, "snapshot")
    others = (f"SELECT id FROM classification_snapshots WHERE as_of = '{as_of.isoformat()}' AND id <> {snapshot_id} "
              "AND status <> 'building'")
    cur.execute(f"DELETE FROM classifications WHERE snapshot_id IN ({others})")
    cur.execute(f"DELETE FROM classification_snapshots WHERE id IN ({others})")
    cur.execute(f"UPDATE classification_snapshots SET status = 'ready', message = NULL WHERE id = {snapshot_id}")


def _write_snapshot_postgres(url: str, rows: pa.Table, as_of: date, snapshot_id: int) -> None:
    conn = store_connect(url)
    try:
        with transaction(conn) as cur:
            rows = rows.append_column("snapshot_id", pa.array([snapshot_id] * rows.num_rows, pa.int32()))
            if rows.num_rows:
                cur.adbc_ingest("classifications", rows, mode="append")  # binary COPY
            _publish(cur, as_of, snapshot_id)
    finally:
        conn.close()


def _write_snapshot_sqlite(settings: Settings, rows: pa.Table, as_of: date, snapshot_id: int) -> None:
    url = settings.store_url
    # Columns NULL on every row (the predictions when the models did not run) are left to their default.
    columns = [name for name in rows.column_names if rows.column(name).null_count < rows.num_rows or not rows.num_rows]
    names = ", ".join(columns)
    conn = store_connect(url, bulk=True)  # the rows come from this store's customers: no foreign-key re-check
    try:
        # One transaction per scratch file, so SQLite copies one while the next is being written: the rows of a
        # building snapshot are invisible to readers, and a failed or killed run's rows are deleted.
        tmp = Path(settings.data_dir) / "tmp"
        with closing(sqlite_bulk_chunks(for_store(rows.select(columns), url), "rows", tmp)) as scratches:
            for scratch in scratches:
                conn.execute(f"ATTACH DATABASE '{scratch}' AS bulk")
                try:
                    with transaction(conn) as cur:
                        cur.execute(f"INSERT INTO classifications ({names}, snapshot_id) "
                                    f"SELECT {names}, {snapshot_id} FROM bulk.rows")
                finally:
                    conn.execute("DETACH DATABASE bulk")
        with transaction(conn) as cur:
            _publish(cur, as_of, snapshot_id)
    finally:
        conn.close()


def _fail_snapshot(url: str, snapshot_id: int, message: str) -> None:
    """Mark a snapshot whose write failed in this process as ``failed`` with ``message`` and delete the rows it
    committed so far. Never raises: the write's own error is the one to report."""
    try:
        conn = store_connect(url)
        try:
            with transaction(conn) as cur:
                _discard_snapshot(cur, snapshot_id, message)
        finally:
            conn.close()
    except Exception:  # the store itself may be what failed
        log.warning("snapshot %s could not be marked failed; it is marked when "
                                            "kehu classify runs again", snapshot_id, exc_info=True)


def _discard_snapshot(cur: Any, snapshot_id: int, message: str) -> None:
    """Delete a building snapshot's rows and mark it ``failed`` with ``message`` (inside a transaction)."""
    cur.execute(f"DELETE FROM classifications WHERE snapshot_id = {int(snapshot_id)}")
    text = message[:2000].replace("'", "''")
    cur.execute(f"UPDATE classification_snapshots SET status = 'failed', message = '{text}' "
                f"WHERE id = {int(snapshot_id)} AND status = 'building'")


def mark_interrupted_snapshots(url: str) -> int:
    """Mark as ``failed`` the snapshots still ``building`` whose writing process on this host is gone (killed,
    machine restarted), and delete their rows; returns how many were marked.

    Readers use ready snapshots only, so a failed one is invisible; classifying the same date again writes a good
    one and removes the failed one. Runs of another host are left alone (their process cannot be checked from
    here); so is a snapshot whose process is alive. Call it before classifying and when the web app starts.
    """
    marked = 0
    conn = store_connect(url)
    try:
        with transaction(conn) as cur:
            cur.execute("SELECT id, message FROM classification_snapshots WHERE status = 'building'")
            for snapshot_id, owner in cur.fetchall():
                pid = owner_gone(owner)
                if pid is None:
                    continue
                _discard_snapshot(cur, int(snapshot_id), f"interrupted: process {pid} ended before the snapshot "
                                  "was written; run kehu classify again for that date")
                marked += 1
    finally:
        conn.close()
    return marked


def last_order_date(url: str) -> date | None:
    """The date of the newest order in the store (``None`` when there is none)."""
    schema = pa.schema([("last", pa.string())]) if is_sqlite_url(url) else None
    value = read_arrow(url, "SELECT max(ordered_at) AS last FROM orders", schema).column("last")[0].as_py()
    if value is None:
        return None
    return value.date() if hasattr(value, "date") else date.fromisoformat(str(value)[:10])


def _is_newest(url: str, snapshot_id: int) -> bool:
    """True when ``snapshot_id`` is the ready snapshot the pages show by default (the newest as-of date)."""
    rows = read_arrow(url, "SELECT id FROM classification_snapshots WHERE status = 'ready' "
                           "ORDER BY as_of DESC, id DESC LIMIT 1").column("id").to_pylist()
    return bool(rows) and int(rows[0]) == snapshot_id


def refresh_after_snapshot(settings: Settings, snapshot_id: int) -> bool:
    """Refresh what hangs off a newly written snapshot: the members of every segment and tag
    (:func:`kehu.segments.refresh_segments`) and, when it is the newest, the customer list's indexes.

    Returns ``False`` (nothing more done) when another classification of the same date replaced the snapshot
    meanwhile: that one refreshes its own. Any other error propagates.
    """
    from kehu.segments import refresh_segments  # kehu.segments imports kehu.analytics itself

    url = settings.store_url
    try:
        refresh_segments(settings, snapshot_id)
        if _is_newest(url, snapshot_id):
            ensure_list_indexes(url, snapshot_id)
    except Exception:
        if _is_ready(url, snapshot_id):
            raise
        return False
    return True


def _is_ready(url: str, snapshot_id: int) -> bool:
    """True when snapshot ``snapshot_id`` exists and is ready."""
    rows = read_arrow(url, f"SELECT count(*) AS n FROM classification_snapshots WHERE id = {int(snapshot_id)} "
                           "AND status = 'ready'").column("n").to_pylist()
    return bool(rows) and int(rows[0]) > 0


def classify(*, settings: Settings, as_of: date | None = None, step: StepFn | None = None,
             refresh: bool = True, engine: str | None = None) -> ClassifyReport:
    """Classify every customer in the store at ``as_of`` (default today) on ``engine`` (default
    ``settings.engine``, see :mod:`kehu.analytics.engines`) and write the snapshot.

    With ``refresh`` (the default) what hangs off a snapshot follows it: the members of every user segment and
    profile tag in the new snapshot (:func:`kehu.segments.refresh_segments`) and, when it is the newest snapshot,
    the customer list's indexes (:func:`kehu.store.list_indexes.ensure_list_indexes`). The benchmark turns it off
    to time the classification alone. Membership tiers and points are bookkeeping on the orders, not on a
    snapshot: ``kehu members refresh`` keeps them (its first run on a large store writes the whole ledger).

    ``step(name)`` is called as each phase starts (``read``, ``compute``, ``predict`` and the models ``clv``,
    ``churn``, ``clusters``, ``recommendations`` when ``settings.predict``, ``write``, ``refresh``) for progress
    display.
    """
    as_of = as_of or date.today()
    url = settings.store_url
    open_store(url)
    interrupted = mark_interrupted_snapshots(url)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if step:
        step("read")
    with open_engine(settings, as_of, engine) as run:
        seconds["read"] = time.perf_counter() - t0
        if step:
            step("compute")
        t1 = time.perf_counter()
        table, stats, summary = classify_on(run, as_of=as_of, settings=settings)
        seconds["compute"] = time.perf_counter() - t1
        engine, inputs = run.name, None
        if settings.predict:  # the models learn from the orders themselves
            t3 = time.perf_counter()
            inputs = run.python_inputs()
            seconds["predict"] = time.perf_counter() - t3
    orders, customers = inputs if inputs is not None else (None, None)
    assert summary is not None
    summary["customers"] = table.num_rows
    cut_points: dict[str, Any] = {
        key: [stats.get(f"{key}_q{i}") for i in range(1, len(QUANTILES) + 1)] for key in ("r", "f", "m")
    }
    cut_points["buyers"] = stats.get("n") or 0
    settings_json = {
        "engine": engine,
        "rfm_split": settings.rfm_split,
        "rfm_window_days": settings.rfm_window_days,
        "lifecycle": LifecycleRules.from_settings(settings).__dict__,
    }
    models: dict[str, Any] | None = None
    if settings.predict:
        t3 = time.perf_counter()
        if step:
            step("predict")
        lines = load_lines(settings, as_of) if orders is not None else None
        predictions, models = predict(table, orders, customers, lines, as_of=as_of, settings=settings, step=step)
        for name in predictions.column_names:
            table = table.append_column(name, predictions.column(name))
        seconds["predict"] = seconds.get("predict", 0.0) + time.perf_counter() - t3
    if step:
        step("write")
    t2 = time.perf_counter()
    snapshot_id = write_snapshot(settings, table, as_of=as_of, settings_json=settings_json, cut_points=cut_points,
                                 summary=summary, models=models)
    seconds["write"] = time.perf_counter() - t2
    if refresh:
        t4 = time.perf_counter()
        if step:
            step("refresh")
        refresh_after_snapshot(settings, snapshot_id)
        seconds["refresh"] = time.perf_counter() - t4
    return ClassifyReport(
        snapshot_id=snapshot_id,
        as_of=as_of,
        customers=table.num_rows,
        buyers=int(stats.get("n") or 0),
        by_class=_counts(table, "rfm_class"),
        by_group=_counts(table, "rfm_group"),
        by_stage=_counts(table, "lifecycle_stage"),
        cut_points=cut_points,
        seconds=seconds,
        models=models,
        interrupted=interrupted,
    )


def _counts(table: pa.Table, column: str) -> dict[str, int]:
    """Rows per value of ``column`` (NULLs left out), largest count first, ties by value."""
    counts = {str(row["values"]): int(row["counts"]) for row in table.column(column).value_counts().to_pylist()
              if row["values"] is not None}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
