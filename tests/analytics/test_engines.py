"""Engine parity: DuckDB, PostgreSQL (in the database) and Spark (local) classify the same store identically.

One PostgreSQL store per test module holds a seeded synthetic merchant plus hand-made edge cases (same-day orders,
refunds, unpaid orders, a customer without orders); each engine classifies it from the same Ibis definitions and
the rows, cut points and purchase summaries must be equal, value for value.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import PG_ADMIN, PG_AVAILABLE, SECRET
from factories import write_generic_orders
from kehu.analytics.classify import classify_on
from kehu.analytics.engines import open_engine
from kehu.analytics.facts import LAKE_SCHEMA
from kehu.analytics.labels import RFM_CLASSES
from kehu.cli import app
from kehu.config import Settings
from kehu.errors import InvalidInput
from kehu.ingest import import_file
from kehu.sample.generate import generate_demo
from kehu.store.arrow import read_arrow

AS_OF = date(2026, 6, 30)
EDGE_ROWS = [
    ("E1", "edge1", "2026-06-30 23:59", "10"), ("E2", "edge1", "2026-06-30 00:00", "20"),
    ("E3", "edge2", "2025-06-30 12:00", "100", "refunded"), ("E4", "edge2", "2026-06-01", "80", "paid"),
    ("E5", "edge3", "2026-07-01 00:00", "999"), ("E6", "edge4", "2024-01-01", "5", "pending"),
]

try:
    import pyspark  # noqa: F401

    HAVE_SPARK = True
except ImportError:
    HAVE_SPARK = False

pytestmark = pytest.mark.pg


def _need_spark() -> None:
    if not HAVE_SPARK:
        if os.environ.get("CI"):
            pytest.fail("PySpark is not installed (make test installs the spark extra)")
        pytest.skip("PySpark is not installed: pip install -e '.[spark]'")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A PostgreSQL store with ~1,200 customers of the demo merchant and the edge cases, dropped afterwards."""
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"kehu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    tmp = tmp_path_factory.mktemp("engines")
    settings = Settings(data_dir=tmp / "data", database_url=url, secret_key=SECRET, predict=False, _env_file=None)
    try:
        files = generate_demo(tmp / "demo", customers=1200, seed=7, end=date(2026, 10, 31))
        import_file(settings=settings, path=files.customers_csv, kind="customers", format_name="generic")
        import_file(settings=settings, path=files.orders_csv, kind="orders", format_name="generic")
        edges = tmp / "edges.csv"
        write_generic_orders(edges, EDGE_ROWS)
        import_file(settings=settings, path=edges, kind="orders", format_name="generic")
        yield settings
    finally:
        from kehu.store.db import get_engine

        get_engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _classify(settings: Settings, engine: str) -> tuple[list[dict], dict, dict]:
    with open_engine(settings, AS_OF, engine) as run:
        table, stats, summary = classify_on(run, as_of=AS_OF, settings=settings)
    return table.to_pylist(), stats, summary or {}


VARIANTS = {
    "mean": {},
    "median-window": {"rfm_split": "median", "rfm_window_days": 400, "lifecycle_at_risk_gap_factor": 1.5},
}


@pytest.fixture(scope="module")
def reference(store: Settings) -> dict[str, tuple[list[dict], dict, dict]]:
    """The DuckDB results of each settings variant."""
    return {key: _classify(store.model_copy(update=v), "duckdb") for key, v in VARIANTS.items()}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("engine", ["postgres", "spark"])
def test_engines_match_duckdb_row_for_row(store: Settings, reference: dict, engine: str, variant: str) -> None:
    if engine == "spark":
        _need_spark()
    rows, stats, summary = _classify(store.model_copy(update=VARIANTS[variant]), engine)
    want_rows, want_stats, want_summary = reference[variant]
    assert len(rows) == len(want_rows) > 1200
    assert rows == want_rows
    assert stats.keys() == want_stats.keys()
    for key, value in want_stats.items():
        assert stats[key] == pytest.approx(value, rel=1e-12), key
    assert summary == want_summary


def test_reference_covers_the_edge_cases(reference: dict) -> None:
    rows, stats, summary = reference["mean"]
    assert {r["rfm_class"] for r in rows if r["rfm_class"]} == set(RFM_CLASSES)
    assert {r["lifecycle_stage"] for r in rows} >= {"prospect", "new", "active", "at_risk", "churned", "won_back"}
    assert summary["buyers"] == stats["n"] and len(summary["cohorts"]) >= 12


def test_spark_reads_orders_from_parquet_like_the_store(store: Settings, reference: dict, tmp_path: Path) -> None:
    """KEHU_SPARK_ORDERS: the orders come from a Parquet folder with the lake columns; customers are matched
    to the store by (source, customer external id)."""
    _need_spark()
    facts = read_arrow(store.store_url, """
        SELECT o.source, o.external_id, c.external_id AS customer_external_id, o.ordered_at, o.amount_cents,
               coalesce(o.refunded_cents, 0) AS refunded_cents, o.is_paid
        FROM orders o JOIN customers c ON c.id = o.customer_id""").cast(LAKE_SCHEMA)
    folder = tmp_path / "orders_parquet"
    folder.mkdir()
    half = facts.num_rows // 2
    pq.write_table(facts.slice(0, half), folder / "part-0.parquet")
    pq.write_table(facts.slice(half), folder / "part-1.parquet")
    rows, _, summary = _classify(store.model_copy(update={"spark_orders": str(folder)}), "spark")
    assert rows == reference["mean"][0]
    assert summary == reference["mean"][2]
    # A table of the Spark catalog (here a view; a Hive table is named the same way).
    from kehu.analytics.engines import spark_session

    spark_session(store).read.parquet(str(folder)).createOrReplaceTempView("shop_orders")
    rows, _, _ = _classify(store.model_copy(update={"spark_orders": "shop_orders"}), "spark")
    assert rows == reference["mean"][0]


def test_spark_orders_with_a_missing_column_are_named(store: Settings, tmp_path: Path) -> None:
    _need_spark()
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.table({"source": ["generic"], "external_id": ["x"], "ordered_at": [1]}), path)
    with pytest.raises(InvalidInput, match="lacks the column.*customer_external_id.*amount_cents"):
        _classify(store.model_copy(update={"spark_orders": str(path)}), "spark")
    with pytest.raises(InvalidInput, match="cannot read the Parquet path"):
        _classify(store.model_copy(update={"spark_orders": str(tmp_path / "nowhere")}), "spark")
    with pytest.raises(InvalidInput, match="cannot read the table 'no_such_table'"):
        _classify(store.model_copy(update={"spark_orders": "no_such_table"}), "spark")


def test_postgres_engine_on_sqlite_says_what_to_do(settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="postgres engine classifies inside a PostgreSQL store"):
        with open_engine(settings, AS_OF, "postgres"):
            pass
    with pytest.raises(InvalidInput, match="unknown engine 'hadoop'"):
        with open_engine(settings, AS_OF, "hadoop"):
            pass


@pytest.mark.parametrize("engine", ["postgres", "spark"])
def test_cli_classify_on_an_engine_writes_the_same_counts(store: Settings, engine: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "spark":
        _need_spark()
    env = {"KEHU_DATABASE_URL": store.store_url, "KEHU_DATA_DIR": str(store.data_dir), "KEHU_SECRET_KEY": SECRET,
           "KEHU_PREDICT": "false"}
    runner = CliRunner()
    base = runner.invoke(app, ["classify", "--as-of", "2026-05-31"], env=env)
    assert base.exit_code == 0, base.output
    other = runner.invoke(app, ["classify", "--as-of", "2026-05-31", "--engine", engine], env=env)
    assert other.exit_code == 0, other.output
    assert _counts(base.output) == _counts(other.output)
    snapshots = read_arrow(store.store_url, "SELECT settings FROM classification_snapshots "
                                            "WHERE as_of = '2026-05-31' AND status = 'ready'").to_pylist()
    assert len(snapshots) == 1 and f'"engine": "{engine}"' in str(snapshots[0]["settings"])


def _counts(output: str) -> list[str]:
    """The count lines of `kehu classify`'s output (everything but timings)."""
    lines = [line for line in output.splitlines() if line.strip() and "s)" not in line and "second" not in line]
    return [line.split(" as of ", 1)[1] if line.startswith("snapshot ") else line for line in lines]


def test_spark_conf_pairs_and_mistakes() -> None:
    from kehu.analytics.engines import spark_conf

    assert spark_conf(None) == {}
    assert spark_conf(" spark.driver.memory=8g , spark.sql.shuffle.partitions=64,") == {
        "spark.driver.memory": "8g", "spark.sql.shuffle.partitions": "64"}
    with pytest.raises(InvalidInput, match="'spark.driver.memory' is not key=value"):
        spark_conf("spark.driver.memory")
