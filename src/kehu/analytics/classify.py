"""``kehu classify``: features → RFM scores, classes and groups → lifecycle stage → a dated snapshot in the store.

The store's tables are read as Arrow (ADBC), the Ibis expressions of :mod:`kehu.analytics.features`,
:mod:`kehu.analytics.rfm` and :mod:`kehu.analytics.lifecycle` run on an in-process DuckDB (no extensions loaded),
and the result is written back in one transaction: readers see the old snapshot or the new one, never half of one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa

from kehu.analytics import facts
from kehu.analytics.features import customer_features, purchases
from kehu.analytics.lifecycle import LifecycleRules, lifecycle_stage
from kehu.analytics.predict import MODEL_INPUT_COLUMNS, PREDICTION_SCHEMA, predict
from kehu.analytics.rfm import QUANTILES, population_stats, rfm_table
from kehu.config import Settings
from kehu.store import open_store
from kehu.store.arrow import (
    for_store,
    is_sqlite_url,
    read_arrow,
    remove_bulk_file,
    sqlite_bulk_file,
    sqlite_bulk_read,
    sqlite_bulk_read_with_revision,
    store_connect,
    transaction,
)
from kehu.store.list_indexes import ensure_list_indexes

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


def duckdb_backend() -> Any:
    """An in-memory Ibis DuckDB backend that never downloads or loads extensions."""
    return ibis.duckdb.connect(autoinstall_known_extensions=False, autoload_known_extensions=False)


def load_inputs(settings: Settings, as_of: date) -> tuple[pa.Table, pa.Table]:
    """The store's paid orders up to ``as_of`` and all customer ids, as Arrow tables.

    PostgreSQL is read directly. SQLite is read through the orders mirror (:mod:`kehu.analytics.facts`) when it is
    current, else from the store, and the mirror is then rebuilt from what was read.
    """
    url = settings.store_url
    end = f"{as_of.isoformat()} 23:59:59.999999"
    if not is_sqlite_url(url):
        orders = read_arrow(url, "SELECT customer_id, ordered_at, amount_cents, refunded_cents, is_paid FROM orders "
                                 f"WHERE is_paid AND ordered_at <= '{end}'")
        return orders, read_arrow(url, "SELECT id FROM customers")
    tmp = Path(settings.data_dir) / "tmp"
    customers = sqlite_bulk_read(url, "SELECT id, source, external_id FROM customers", tmp)
    if customers.num_rows == 0:
        customers = CUSTOMER_KEYS_SCHEMA.empty_table()
    conn = store_connect(url)
    try:
        revision = facts.orders_revision(conn.cursor())
    finally:
        conn.close()
    parts = facts.current_parts(settings, revision)
    if parts is None:
        parts = [_rebuild_facts(settings, tmp)]
    elif facts.needs_dedupe(parts):
        # Compact: the newest versions become the base of this revision, so the next reads are a plain scan.
        parts = [facts.write_part(settings, revision, facts.read_parts(parts), base=True)]
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.register("c", customers)
        orders = con.sql(
            "SELECT c.id AS customer_id, f.ordered_at, f.amount_cents, f.refunded_cents, f.is_paid "
            f"FROM ({facts.parts_sql(parts)}) f "
            "JOIN c ON c.source = f.source AND c.external_id = f.customer_external_id "
            f"WHERE f.is_paid AND f.ordered_at <= TIMESTAMP '{end}'"
        ).to_arrow_table()
    finally:
        con.close()
    return orders, customers.select(["id"])


LINES_SCHEMA = pa.schema([("customer_id", pa.int64()), ("product_id", pa.int64()), ("ordered_at", pa.timestamp("us"))])


def load_lines(settings: Settings, as_of: date) -> pa.Table:
    """The products bought up to ``as_of``: one row per order line of a purchase (paid, not fully refunded) that
    names a product, with the order's customer and time (:data:`LINES_SCHEMA`)."""
    url = settings.store_url
    end = f"{as_of.isoformat()} 23:59:59.999999"
    sql = ("SELECT o.customer_id, l.product_id, o.ordered_at FROM order_lines l JOIN orders o ON o.id = l.order_id "
           f"WHERE o.is_paid AND l.product_id IS NOT NULL AND o.ordered_at <= '{end}' "
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
        "SELECT o.source, o.external_id, c.external_id AS customer_external_id, o.ordered_at, o.amount_cents, "
        "coalesce(o.refunded_cents, 0) AS refunded_cents, o.is_paid "
        "FROM orders o JOIN customers c ON c.id = o.customer_id",
        tmp,
    )
    if table.num_rows == 0:
        rows = facts.FACTS_SCHEMA.empty_table()
    else:
        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        try:
            con.register("t", table)
            rows = con.sql(
                "SELECT source, external_id, customer_external_id, CAST(ordered_at AS TIMESTAMP) AS ordered_at, "
                "CAST(amount_cents AS BIGINT) AS amount_cents, CAST(refunded_cents AS BIGINT) AS refunded_cents, "
                "CAST(is_paid AS BOOLEAN) AS is_paid FROM t"
            ).to_arrow_table()
        finally:
            con.close()
    return facts.write_part(settings, revision, rows, base=True)


def classification_table(orders: pa.Table, customers: pa.Table, *, as_of: date, settings: Settings,
                         backend: Any | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """Compute the snapshot rows (columns :data:`SNAPSHOT_COLUMNS` and the models' inputs
    :data:`~kehu.analytics.predict.MODEL_INPUT_COLUMNS`) and the population stats (cut points, n)."""
    con = backend or duckdb_backend()
    o = ibis.memtable(orders)
    o = o.mutate(ordered_at=o.ordered_at.cast("timestamp"), is_paid=o.is_paid.cast("boolean"),
                 customer_id=o.customer_id.cast("int64"), amount_cents=o.amount_cents.cast("int64"),
                 refunded_cents=o.refunded_cents.cast("int64"))
    c = ibis.memtable(customers).select(id=ibis._.id.cast("int64"))
    bought = purchases(o, as_of=as_of, window_days=settings.rfm_window_days)
    name = f"kehu_features_{uuid.uuid4().hex[:8]}"
    features = con.create_table(name, customer_features(bought, c, as_of=as_of), temp=True)
    stats = con.to_pyarrow(population_stats(features, split=settings.rfm_split)).to_pylist()[0]
    scored = rfm_table(features, split=settings.rfm_split)
    rules = LifecycleRules.from_settings(settings)
    result = scored.mutate(lifecycle_stage=lifecycle_stage(scored, rules)).select(*SNAPSHOT_COLUMNS,
                                                                                  *MODEL_INPUT_COLUMNS)
    table = con.to_pyarrow(result.order_by("customer_id"))
    con.drop_table(name, force=True)
    return table, stats


COHORT_MONTHS = 12


def purchase_cohorts(con: duckdb.DuckDBPyConnection) -> list[list[Any]]:
    """Monthly cohorts of the purchases in view ``p`` (customer_id, ordered_at): per first-purchase month
    ``[YYYY-MM, customers, [n_1, …, n_12]]``, oldest first, where ``n_k`` counts the cohort's customers who
    bought again in calendar month ``+k`` (0 when none; months after the as-of date are also 0 here, the reader
    knows the date). One hash aggregate for the first months, one over the orders of the 12 months after it."""
    rows = con.execute(f"""
        WITH q AS (SELECT customer_id, year(ordered_at) * 12 + month(ordered_at) - 1 AS mi FROM p),
        f AS (SELECT customer_id, min(mi) AS c FROM q GROUP BY customer_id),
        d AS (SELECT DISTINCT f.c, q.mi - f.c AS k, customer_id FROM q JOIN f USING (customer_id)
              WHERE q.mi - f.c BETWEEN 1 AND {COHORT_MONTHS})
        SELECT c, k, count(*) FROM d GROUP BY c, k
        UNION ALL SELECT c, 0, count(*) FROM f GROUP BY c
    """).fetchall()
    cohorts: dict[int, list[Any]] = {}
    for c, k, n in rows:
        cohort = cohorts.setdefault(int(c), [f"{int(c) // 12:04d}-{int(c) % 12 + 1:02d}", 0, [0] * COHORT_MONTHS])
        if k == 0:
            cohort[1] = int(n)
        else:
            cohort[2][int(k) - 1] = int(n)
    return [cohorts[c] for c in sorted(cohorts)]


def purchase_summary(orders: pa.Table, customers: int, snapshot: pa.Table | None = None) -> dict[str, Any]:
    """Key figures, monthly revenue and cohorts (:func:`purchase_cohorts`) of ``orders`` (paid orders up to the
    as-of date, as read for classification): purchases are those not fully refunded, worth their amount net of
    refunds (cents).

    ``snapshot``: the snapshot rows when their features cover exactly those purchases (no RFM window); the
    per-customer figures are then summed from them instead of grouping the orders again.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.register("o", orders)
        con.execute("""
            CREATE TEMP VIEW p AS
            SELECT customer_id, CAST(ordered_at AS TIMESTAMP) AS ordered_at,
                   CAST(amount_cents AS BIGINT) - coalesce(CAST(refunded_cents AS BIGINT), 0) AS net
            FROM o
            WHERE CAST(is_paid AS BOOLEAN)
              AND (coalesce(refunded_cents, 0) = 0 OR coalesce(refunded_cents, 0) < amount_cents)
        """)
        if snapshot is not None:
            con.register("k", snapshot.select(["frequency", "monetary_cents"]))
            per_customer = "SELECT frequency AS n, monetary_cents AS cents FROM k WHERE frequency > 0"
        else:
            per_customer = "SELECT count(*) AS n, sum(net) AS cents FROM p GROUP BY customer_id"
        buyers, n_orders, revenue, repeat = con.execute(f"""
            SELECT count(*), coalesce(sum(n), 0), coalesce(sum(cents), 0), count(*) FILTER (WHERE n >= 2)
            FROM ({per_customer})
        """).fetchall()[0]
        monthly = con.execute(
            "SELECT strftime(ordered_at, '%Y-%m') AS m, sum(net) FROM p GROUP BY m ORDER BY m"
        ).fetchall()
        cohorts = purchase_cohorts(con)
    finally:
        con.close()
    return {
        "customers": customers, "buyers": int(buyers), "orders": int(n_orders), "revenue_cents": int(revenue),
        "repeat_buyers": int(repeat), "monthly": [[str(m), int(c)] for m, c in monthly], "cohorts": cohorts,
    }


def write_snapshot(settings: Settings, table: pa.Table, *, as_of: date, settings_json: dict[str, Any],
                   cut_points: dict[str, Any], summary: dict[str, Any] | None = None,
                   models: dict[str, Any] | None = None) -> int:
    """Write ``table`` as the snapshot for ``as_of`` in one transaction, replacing an older one of the same date.

    Prediction columns missing from ``table`` are written as NULL; ``models`` is the model report
    (:func:`kehu.analytics.predict.predict`).

    On SQLite the rows go through a scratch file (:func:`~kehu.store.arrow.sqlite_bulk_file`) and one
    ``INSERT … SELECT``; on PostgreSQL through ADBC's COPY.
    """
    url = settings.store_url
    for fld in PREDICTION_SCHEMA:
        if fld.name not in table.column_names:
            table = table.append_column(fld, pa.nulls(table.num_rows, fld.type))
    rows = table.select(SNAPSHOT_SCHEMA.names).cast(SNAPSHOT_SCHEMA)
    meta = {"settings": settings_json, "cut_points": cut_points, "summary": summary, "models": models}
    if is_sqlite_url(url):
        return _write_snapshot_sqlite(settings, rows, as_of, meta)
    conn = store_connect(url)
    try:
        with transaction(conn) as cur:
            snapshot_id = _new_snapshot(cur, as_of, rows.num_rows, meta)
            rows = rows.append_column("snapshot_id", pa.array([snapshot_id] * rows.num_rows, pa.int32()))
            if rows.num_rows:
                cur.adbc_ingest("classifications", rows, mode="append")  # PostgreSQL: binary COPY
            _publish(cur, as_of, snapshot_id)
    finally:
        conn.close()
    return snapshot_id


def _quote(obj: Any) -> str:
    return "'" + json.dumps(obj, ensure_ascii=False).replace("'", "''") + "'"


def _new_snapshot(cur: Any, as_of: date, n: int, meta: dict[str, Any]) -> int:
    """Insert the snapshot row (status ``building``); ``meta``: settings, cut_points, summary, models (JSON)."""
    names = ", ".join(meta)
    values = ", ".join("NULL" if value is None else _quote(value) for value in meta.values())
    cur.execute(f"INSERT INTO classification_snapshots (as_of, status, customers, {names}) "
                f"VALUES ('{as_of.isoformat()}', 'building', {n}, {values}) RETURNING id")
    return int(cur.fetchall()[0][0])


def _publish(cur: Any, as_of: date, snapshot_id: int) -> None:
    """Drop older snapshots of the same date and mark this one ready (inside the writing transaction)."""
    cur.execute(f"DELETE FROM classifications WHERE snapshot_id IN (SELECT id FROM classification_snapshots "
                f"WHERE as_of = '{as_of.isoformat()}' AND id <> {snapshot_id})")
    cur.execute(f"DELETE FROM classification_snapshots WHERE as_of = '{as_of.isoformat()}' AND id <> {snapshot_id}")
    cur.execute(f"UPDATE classification_snapshots SET status = 'ready' WHERE id = {snapshot_id}")


def _write_snapshot_sqlite(settings: Settings, rows: pa.Table, as_of: date, meta: dict[str, Any]) -> int:
    url = settings.store_url
    scratch = sqlite_bulk_file({"rows": for_store(rows, url)}, Path(settings.data_dir) / "tmp")
    conn = store_connect(url, bulk=True)  # the rows come from this store's customers: no foreign-key re-check
    try:
        conn.execute(f"ATTACH DATABASE '{scratch}' AS bulk")
        with transaction(conn) as cur:
            snapshot_id = _new_snapshot(cur, as_of, rows.num_rows, meta)
            columns = ", ".join(SNAPSHOT_SCHEMA.names)
            cur.execute(f"INSERT INTO classifications ({columns}, snapshot_id) "
                        f"SELECT {columns}, {snapshot_id} FROM bulk.rows")
            _publish(cur, as_of, snapshot_id)
        conn.execute("DETACH DATABASE bulk")
    finally:
        conn.close()
        remove_bulk_file(scratch)
    return snapshot_id


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


def classify(*, settings: Settings, as_of: date | None = None, step: StepFn | None = None,
             refresh: bool = True) -> ClassifyReport:
    """Classify every customer in the store at ``as_of`` (default today) and write the snapshot.

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
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if step:
        step("read")
    orders, customers = load_inputs(settings, as_of)
    seconds["read"] = time.perf_counter() - t0
    if step:
        step("compute")
    t1 = time.perf_counter()
    table, stats = classification_table(orders, customers, as_of=as_of, settings=settings)
    seconds["compute"] = time.perf_counter() - t1
    cut_points: dict[str, Any] = {
        key: [stats.get(f"{key}_q{i}") for i in range(1, len(QUANTILES) + 1)] for key in ("r", "f", "m")
    }
    cut_points["buyers"] = stats.get("n") or 0
    settings_json = {
        "rfm_split": settings.rfm_split,
        "rfm_window_days": settings.rfm_window_days,
        "lifecycle": LifecycleRules.from_settings(settings).__dict__,
    }
    summary = purchase_summary(orders, customers.num_rows, table if settings.rfm_window_days is None else None)
    models: dict[str, Any] | None = None
    if settings.predict:
        t3 = time.perf_counter()
        if step:
            step("predict")
        predictions, models = predict(table, orders, customers, load_lines(settings, as_of), as_of=as_of,
                                      settings=settings, step=step)
        for name in predictions.column_names:
            table = table.append_column(name, predictions.column(name))
        seconds["predict"] = time.perf_counter() - t3
    if step:
        step("write")
    t2 = time.perf_counter()
    snapshot_id = write_snapshot(settings, table, as_of=as_of, settings_json=settings_json, cut_points=cut_points,
                                 summary=summary, models=models)
    seconds["write"] = time.perf_counter() - t2
    if refresh:
        # Imported here: kehu.segments imports kehu.analytics itself.
        from kehu.segments import refresh_segments

        t4 = time.perf_counter()
        if step:
            step("refresh")
        refresh_segments(settings, snapshot_id)
        if _is_newest(url, snapshot_id):
            ensure_list_indexes(url, snapshot_id)
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
    )


def _counts(table: pa.Table, column: str) -> dict[str, int]:
    counts = Counter(v for v in table.column(column).to_pylist() if v is not None)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
