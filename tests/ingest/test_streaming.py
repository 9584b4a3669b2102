"""Imports stream: the fast CSV path reads block by block (and still falls back to the ``csv`` reader when a late
block needs it), customers files are loaded batch by batch, and a PostgreSQL import's DuckDB scratch file is
removed afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.config import Settings
from kehu.ingest import readers

HEADER = "order_id,customer_id,ordered_at,amount,status\n"


def _rows(first: int, last: int) -> str:
    return "".join(f"A{i},C{i % 7},2025-03-{1 + i % 28:02d},{i}.50,paid\n" for i in range(first, last + 1))


def test_the_fast_path_reads_block_by_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + _rows(1, 400) + "\n" + _rows(401, 500), encoding="utf-8")
    monkeypatch.setattr(readers, "FAST_BLOCK_BYTES", 1024)
    fast = readers._fast_csv_batches(path)
    assert fast is not None
    headers, _schema, batches = fast
    got = list(batches)
    assert headers == ["order_id", "customer_id", "ordered_at", "amount", "status"]
    assert len(got) > 10  # ~17 kB in 1 kB blocks
    lines = [line for batch in got for line in batch.column("__line").to_pylist()]
    ids = [value for batch in got for value in batch.column("order_id").to_pylist()]
    # Line numbers run on across blocks; the blank line 402 is dropped, as the csv reader drops it.
    assert lines == [*range(2, 402), *range(403, 503)]
    assert ids == [f"A{i}" for i in range(1, 501)]


@pytest.mark.parametrize("late, why", [
    ('"B1\nstill B1",C1,2025-03-01,10,paid\n', "a quoted line break"),
    ('B1,"C1, Ltd",2025-03-01,10,paid\n', "a quoted delimiter"),
    ("B1,C1,2025-03-01,10\n", "a short row"),
])
def test_a_late_block_that_needs_the_csv_reader_gives_the_same_import(settings: Settings, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch, run_import,
                                                                       query, read_rejects, late: str,
                                                                       why: str) -> None:
    """The problem sits far past the first block, after rows were already streamed into DuckDB: the import starts
    again with the csv reader and gives exactly its result (rows, counts, rejects with their lines)."""
    text = HEADER + _rows(1, 300) + late + _rows(301, 310) + "A999,C1,not a date,5,paid\n"
    results = []
    for name, block in (("streamed", 1024), ("whole", 1 << 24)):
        store = settings.model_copy(update={"data_dir": tmp_path / name})
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        with monkeypatch.context() as m:
            m.setattr(readers, "FAST_BLOCK_BYTES", block)
            report = run_import(store, path, rejects=tmp_path / f"{name}-rejects.csv")
        rejects = [(r["line"], r["column"], r["reason"]) for r in read_rejects(tmp_path / f"{name}-rejects.csv")]
        rows = query(store, "SELECT external_id, amount_cents FROM orders ORDER BY id")
        results.append(((report.counts.read, report.counts.inserted, report.counts.rejected), rejects, rows))
    assert results[0] == results[1], why
    assert readers._fast_csv(tmp_path / "whole.csv") is None  # the fallback was taken both ways
    assert results[0][1][-1][0] == str(text.count("\n"))  # the bad date keeps its physical line number


def test_a_customers_file_is_loaded_in_batches(settings: Settings, tmp_path: Path, run_import, query) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name,city\n" + "".join(f"K{i:05d},客户{i},上海\n" for i in range(2500)),
                    encoding="utf-8")
    store = settings.model_copy(update={"import_batch_rows": 1000})
    report = run_import(store, path, kind="customers")
    assert (report.counts.read, report.counts.inserted) == (2500, 2500)
    assert query(store, "SELECT count(*), count(DISTINCT external_id), min(external_id), max(external_id) "
                        "FROM customers") == [(2500, 2500, "K00000", "K02499")]
    again = run_import(store, path, kind="customers")
    assert (again.counts.inserted, again.counts.unchanged) == (0, 2500)


@pytest.mark.pg
def test_a_postgresql_import_removes_its_duckdb_scratch_file(pg_url: str, tmp_path: Path, run_import,
                                                              query) -> None:
    from conftest import SECRET

    store = Settings(data_dir=tmp_path / "data", database_url=pg_url, secret_key=SECRET, _env_file=None)
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + _rows(1, 50), encoding="utf-8")
    report = run_import(store, path)
    assert report.counts.inserted == 50
    assert query(store, "SELECT count(*) FROM orders") == [(50,)]
    assert not list((tmp_path / "data" / "tmp").glob("import-*"))
