"""Where classification runs: the same Ibis expressions on DuckDB, inside PostgreSQL, or on Apache Spark.

:func:`open_engine` gives an :class:`EngineRun`: an Ibis backend and the two inputs of the classification as Ibis
tables of that backend — the orders (``customer_id`` = the store's customer id, ``ordered_at``, ``amount_cents``,
``refunded_cents``, ``is_paid``; paid orders up to the as-of date) and the customers (``id``).

* ``duckdb`` (default): an in-process DuckDB that loads no extensions scans the SQLite store's orders mirror
  (:func:`kehu.analytics.classify.mirror_orders_sql`), or gets a PostgreSQL store's orders as Arrow
  (:func:`kehu.analytics.classify.load_inputs`).
* ``postgres``: the store's own PostgreSQL computes everything in the database; only the result (one row per
  customer) leaves it. The orders are read into this process only when the models need them (``KEHU_PREDICT``).
* ``spark``: a Spark session (``KEHU_SPARK_MASTER``, or the master spark-submit set) gets the orders either from the
  store or, with ``KEHU_SPARK_ORDERS``, from a Parquet path or a Spark/Hive table with the columns
  :data:`kehu.analytics.facts.LAKE_SCHEMA`. Such orders never come to this machine: the store's customer
  keys go to Spark instead, and the models fit on the per-customer triples Spark aggregates.

Spark runs with the session time zone UTC, so a timestamp's calendar day is the one written in the store, as on the
other engines.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.backends.duckdb  # noqa: F401 - the default engine loads with kehu, not inside a classification
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from kehu.config import Settings
from kehu.errors import InvalidInput, KehuError

ENGINES = ("duckdb", "postgres", "spark")
ORDER_COLUMNS = ("customer_id", "ordered_at", "amount_cents", "refunded_cents", "is_paid")


@dataclass(frozen=True)
class HistorySource:
    """The orders revision a run reads and all of that revision's orders (every date, paid or not), on the run's
    engine: what storing or using the purchase history of :mod:`kehu.analytics.history` needs."""

    revision: int
    all_orders: ir.Table


@dataclass
class EngineRun:
    """An engine ready to classify: its Ibis backend, the orders and customers as its tables, and how to get them
    as Arrow in this process (``fetch``; ``None`` when the orders are not this machine's to read)."""

    name: str
    backend: Any
    orders: ir.Table
    customers: ir.Table
    fetch: Callable[[], tuple[pa.Table, pa.Table]] | None = None
    #: Where the stored purchase history (:mod:`kehu.analytics.history`) can be used; ``None`` for stores without
    #: one (PostgreSQL, Spark, Arrow inputs).
    history: HistorySource | None = None
    _temps: list[str] = field(default_factory=list, init=False, repr=False)

    def python_inputs(self) -> tuple[pa.Table, pa.Table] | None:
        """The orders and the customer ids as Arrow tables in this process (as
        :func:`kehu.analytics.classify.load_inputs` returns them), for the models, which learn from the orders
        themselves: read only when asked for; ``None`` for orders that stay in a lake (``KEHU_SPARK_ORDERS``)."""
        return self.fetch() if self.fetch is not None else None

    def materialize(self, expr: ir.Table) -> ir.Table:
        """Compute ``expr`` once into a temporary table of the engine (a cached temporary view on Spark), so the
        expressions built on it do not recompute it; :meth:`release` drops it."""
        name = f"kehu_tmp_{uuid.uuid4().hex[:12]}"
        if self.name == "spark":
            table = self.backend.create_view(name, expr, overwrite=True)  # a session-scoped temporary view
            self._temps.append(name)
            self.backend._session.catalog.cacheTable(name)
            return table
        table = self.backend.create_table(name, expr, temp=True)
        self._temps.append(name)
        return table

    def release(self) -> None:
        """Drop the temporary tables :meth:`materialize` made."""
        while self._temps:
            name = self._temps.pop()
            if self.name == "spark":
                self.backend._session.catalog.uncacheTable(name)
                self.backend._session.catalog.dropTempView(name)
            else:
                self.backend.drop_table(name, force=True)


def typed_orders(orders: ir.Table) -> ir.Table:
    """``orders`` with the column types every engine computes with (timestamps, int64 cents, boolean paid)."""
    return orders.select(
        customer_id=orders.customer_id.cast("int64"),
        ordered_at=orders.ordered_at.cast("timestamp"),
        amount_cents=orders.amount_cents.cast("int64"),
        refunded_cents=orders.refunded_cents.cast("int64"),
        is_paid=orders.is_paid.cast("boolean"),
    )


def duckdb_backend() -> Any:
    """An in-memory Ibis DuckDB backend that never downloads or loads extensions."""
    return ibis.duckdb.connect(autoinstall_known_extensions=False, autoload_known_extensions=False)


def arrow_run(orders: pa.Table, customers: pa.Table, backend: Any | None = None) -> EngineRun:
    """A DuckDB :class:`EngineRun` over Arrow inputs (as :func:`kehu.analytics.classify.load_inputs` returns
    them), on ``backend`` (default a fresh in-memory DuckDB)."""
    con = backend or duckdb_backend()
    o = typed_orders(ibis.memtable(orders))
    c = ibis.memtable(customers).select(id=ibis._.id.cast("int64"))
    return EngineRun("duckdb", con, o, c, lambda: (orders, customers))


@contextmanager
def open_engine(settings: Settings, as_of: date, name: str | None = None) -> Iterator[EngineRun]:
    """The inputs of a classification at ``as_of`` on engine ``name`` (default ``settings.engine``).

    Raises :class:`~kehu.errors.InvalidInput` for an unknown engine, the ``postgres`` engine on a store that is not
    PostgreSQL, or the ``spark`` engine without PySpark installed.
    """
    name = name or settings.engine
    if name not in ENGINES:
        raise InvalidInput(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    with {"duckdb": _duckdb_run, "postgres": _postgres_run, "spark": _spark_run}[name](settings, as_of) as run:
        try:
            yield run
        finally:
            run.release()


@contextmanager
def _duckdb_run(settings: Settings, as_of: date) -> Iterator[EngineRun]:
    from kehu.analytics.classify import customer_ids, load_inputs, mirror_source
    from kehu.store.arrow import is_sqlite_url

    if not is_sqlite_url(settings.store_url):
        orders_arrow, customers_arrow = load_inputs(settings, as_of)
        yield arrow_run(orders_arrow, customers_arrow)
        return
    # SQLite: DuckDB scans the orders mirror's Parquet files itself; the orders come into Python only when asked.
    con = duckdb_backend()
    customers_arrow = customer_ids(settings)
    source, revision = mirror_source(settings)
    con.raw_sql(f"CREATE TEMP VIEW kehu_all_orders AS {source}")
    all_orders = typed_orders(con.table("kehu_all_orders"))
    orders = all_orders.filter(all_orders.is_paid, all_orders.ordered_at < _end_of(as_of))
    try:
        yield EngineRun("duckdb", con, orders, ibis.memtable(customers_arrow),
                        lambda: (con.to_pyarrow(orders), customers_arrow),
                        history=HistorySource(revision, all_orders))
    finally:
        con.disconnect()


def _end_of(as_of: date) -> Any:
    return ibis.timestamp(as_of + timedelta(days=1))


@contextmanager
def _postgres_run(settings: Settings, as_of: date) -> Iterator[EngineRun]:
    from sqlalchemy.engine import make_url

    from kehu.analytics.classify import load_inputs
    from kehu.store.arrow import is_sqlite_url

    url = settings.store_url
    if is_sqlite_url(url):
        raise InvalidInput("the postgres engine classifies inside a PostgreSQL store: set KEHU_DATABASE_URL to one "
                           "(this store is SQLite; use the duckdb engine)")
    parsed = make_url(url)
    con = ibis.postgres.connect(
        host=parsed.host or "localhost", port=parsed.port or 5432, user=parsed.username,
        password=parsed.password, database=parsed.database,
    )
    try:
        raw = con.table("orders")
        paid = raw.filter(raw.is_paid, raw.ordered_at < _end_of(as_of))
        orders = typed_orders(paid.select(*ORDER_COLUMNS))
        customers = con.table("customers").select(id=ibis._.id.cast("int64"))
        yield EngineRun("postgres", con, orders, customers, lambda: load_inputs(settings, as_of))
    finally:
        con.disconnect()


def spark_session(settings: Settings) -> Any:
    """The process's Spark session: the one spark-submit configured, else one on ``settings.spark_master``.

    Raises :class:`~kehu.errors.InvalidInput` when PySpark is not installed.
    """
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError:
        raise InvalidInput("the spark engine needs PySpark: pip install 'kehu[spark]' (and Java 17)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active
    builder = (SparkSession.builder.appName("kehu").config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.showConsoleProgress", "false"))
    if not SparkConf().contains("spark.master"):  # not under spark-submit
        master = settings.spark_master
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # traffic on the loopback only
            builder = (builder.config("spark.ui.enabled", "false")
                       .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                       .config("spark.sql.shuffle.partitions", "8"))
    for key, value in spark_conf(settings.spark_conf).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # the JVM did not start: no Java, a bad master URL
        raise KehuError(f"could not start Spark on {settings.spark_master}: {e}") from e
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_conf(text: str | None) -> dict[str, str]:
    """``KEHU_SPARK_CONF`` as a dict: ``key=value`` pairs separated by commas (spaces around them are ignored).

    Raises :class:`~kehu.errors.InvalidInput` naming the first pair without ``=`` or with an empty key.
    """
    conf: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"KEHU_SPARK_CONF: {pair.strip()!r} is not key=value "
                               "(example: spark.driver.memory=8g,spark.sql.shuffle.partitions=64)")
        conf[key.strip()] = value.strip()
    return conf


def _is_local(session: Any) -> bool:
    return str(session.sparkContext.master).startswith("local")


def _to_spark(session: Any, table: pa.Table, name: str, scratch: Path) -> None:
    """Register ``table`` as the temporary view ``name`` of ``session``: through a Parquet file in ``scratch`` on a
    local master (fast, and nothing to ship in tasks), else sent from the driver."""
    if not table.num_rows:
        frame = session.createDataFrame(table.to_pandas(), schema=_spark_schema(table.schema))
    elif _is_local(session):
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"{name}.parquet"
        pq.write_table(table, path)
        frame = session.read.parquet(str(path))
    else:
        frame = session.createDataFrame(table)
    frame.createOrReplaceTempView(name)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    kinds = {pa.int64(): T.LongType(), pa.int32(): T.IntegerType(), pa.string(): T.StringType(),
             pa.bool_(): T.BooleanType(), pa.timestamp("us"): T.TimestampNTZType(), pa.float64(): T.DoubleType()}
    return T.StructType([T.StructField(f.name, kinds.get(f.type, T.StringType()), True) for f in schema])


@contextmanager
def _spark_run(settings: Settings, as_of: date) -> Iterator[EngineRun]:
    from kehu.analytics.facts import LAKE_SCHEMA

    session = spark_session(settings)
    con = ibis.pyspark.connect(session)
    views: list[str] = []
    scratch = Path(settings.data_dir) / "tmp" / f"spark-{uuid.uuid4().hex[:12]}"

    def register(table: pa.Table) -> ir.Table:
        view = f"kehu_{uuid.uuid4().hex[:12]}"
        _to_spark(session, table, view, scratch)
        views.append(view)
        return con.table(view)

    try:
        if settings.spark_orders:
            from kehu.analytics.classify import customer_keys

            keys = customer_keys(settings)
            facts = _external_orders(session, con, settings.spark_orders, LAKE_SCHEMA.names, views)
            k = register(keys)
            joined = facts.join(k, [facts.source == k.source, facts.customer_external_id == k.external_id])
            paid = joined.filter(joined.is_paid, joined.ordered_at.cast("timestamp") < _end_of(as_of))
            orders = typed_orders(paid.select(customer_id=paid.id, ordered_at=paid.ordered_at,
                                              amount_cents=paid.amount_cents, refunded_cents=paid.refunded_cents,
                                              is_paid=paid.is_paid))
            customers = k.select(id=k.id.cast("int64"))
            yield EngineRun("spark", con, orders, customers)
        else:
            from kehu.analytics.classify import load_inputs

            orders_arrow, customers_arrow = load_inputs(settings, as_of)
            orders = typed_orders(register(_naive_timestamps(orders_arrow.select(list(ORDER_COLUMNS)))))
            customers = register(customers_arrow.select(["id"])).select(id=ibis._.id.cast("int64"))
            yield EngineRun("spark", con, orders, customers, lambda: (orders_arrow, customers_arrow))
    finally:
        for view in views:
            session.catalog.dropTempView(view)
        shutil.rmtree(scratch, ignore_errors=True)


def _naive_timestamps(table: pa.Table) -> pa.Table:
    """``ordered_at`` as a time-zone-naive microsecond timestamp (Spark's TIMESTAMP_NTZ), other columns as they are."""
    i = table.schema.get_field_index("ordered_at")
    column = table.column(i)
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = column.cast(pa.timestamp(column.type.unit))
    return table.set_column(i, "ordered_at", column.cast(pa.timestamp("us")))


def _external_orders(session: Any, con: Any, location: str, needed: list[str], views: list[str]) -> ir.Table:
    """Orders from a Parquet path (file or folder, any URI Spark reads) or a Spark/Hive table name."""
    looks_like_path = "/" in location or location.endswith(".parquet") or "://" in location
    try:
        frame = session.read.parquet(location) if looks_like_path else session.table(location)
    except Exception as e:
        kind = "Parquet path" if looks_like_path else "table"
        raise InvalidInput(f"KEHU_SPARK_ORDERS: cannot read the {kind} {location!r}: {str(e).splitlines()[0]}") from e
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidInput(f"KEHU_SPARK_ORDERS: {location!r} lacks the column(s) {', '.join(missing)}; found "
                           f"{', '.join(frame.columns)}")
    view = f"kehu_{uuid.uuid4().hex[:12]}"
    frame.select(*needed).createOrReplaceTempView(view)
    views.append(view)
    return con.table(view)
