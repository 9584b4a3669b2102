"""The two CSV readers: pyarrow's fast path for plain files and Python's ``csv`` module, the reference for exact
line numbers, which takes every file the fast path cannot read exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.ingest import readers

HEADER = "order_id,customer_id,ordered_at,amount,status\n"
# Line 4 is blank, line 6 holds only blanks, line 8 has quoted cells (one with a doubled quote), line 9 a bad date.
PLAIN = (HEADER + "A1,C1,2025-03-01 10:00:00,10.00,paid\n" + "A2,C2,2025-03-02,20,paid\n" + "\n"
         + "A3,C1,2025/3/3 9:05,30.5,paid\n" + " , ,,,\n" + "A4,C3,20250304,40,\n"
         + '"A5","C ""5""",2025-03-05,"50",paid\n' + "A6,C6,2025-02-30,60,paid\n")


def _no_fallback(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the csv module reader was used")


def _import_both_ways(tmp_path: Path, text: str, settings, run_import, query, read_rejects,  # type: ignore[no-untyped-def]
                      monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> tuple:
    """Import ``text`` through the fast path (the csv reader forbidden) and through the forced fallback."""
    results = []
    for forced in (False, True):
        store = settings.model_copy(update={"data_dir": tmp_path / f"store-{forced}"})
        path = tmp_path / f"orders-{forced}.csv"
        path.write_text(text, encoding="utf-8")
        with monkeypatch.context() as m:
            if forced:
                m.setattr(readers, "_fast_csv", lambda _path: None)
            elif fast:
                m.setattr(readers, "_csv_rows", _no_fallback)
            report = run_import(store, path, rejects=tmp_path / f"rejects-{forced}.csv")
        rejects = [(r["line"], r["column"], r["value"], r["reason"])
                   for r in read_rejects(tmp_path / f"rejects-{forced}.csv")]
        rows = query(store, "SELECT o.external_id, c.external_id, o.ordered_at, o.amount_cents, o.status "
                            "FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.external_id")
        c = report.counts
        results.append(((c.read, c.inserted, c.rejected), rejects, rows))
    return results[0], results[1]


def test_fast_path_matches_the_csv_reader_line_for_line(settings, tmp_path: Path, run_import, query,
                                                         read_rejects, monkeypatch) -> None:
    fast, reference = _import_both_ways(tmp_path, PLAIN, settings, run_import, query, read_rejects, monkeypatch,
                                        fast=True)
    assert fast == reference
    counts, rejects, rows = fast
    assert counts == (6, 5, 1)
    assert rejects == [("9", "ordered_at", "2025-02-30",
                        "not a date/time (expected e.g. 2025-03-02 14:41:00, 2025/3/2 2:41 or 20250302)")]
    assert [r[:2] for r in rows] == [("A1", "C1"), ("A2", "C2"), ("A3", "C1"), ("A4", "C3"), ("A5", 'C "5"')]


@pytest.mark.parametrize("row, why", [
    ('"B1\nstill B1",C1,2025-03-01,10,paid\n', "a quoted line break"),
    ('B1,"C1, Ltd",2025-03-01,10,paid\n', "a quoted delimiter"),
    ('"B1"x,C1,2025-03-01,10,paid\n', "text after a closing quote"),
    ("B1,C1,2025-03-01,10,paid,\n", "a trailing comma (Taobao)"),
    ("B1,C1,2025-03-01,10\n", "a short row"),
])
def test_files_the_fast_path_cannot_read_exactly_go_to_the_csv_reader(tmp_path: Path, row: str, why: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "A1,C1,2025-03-01,10,paid\n" + row + "A9,C9,2025-03-09,90,paid\n", encoding="utf-8")
    assert readers._fast_csv(path) is None, why


def test_fast_path_reads_plain_files(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text('"order_id","customer_id"\r\nA1,"C ""1"""\r\n\r\n"",=\'x\'\r\n', encoding="utf-8")
    fast = readers._fast_csv(path)
    assert fast is not None
    headers, table = fast
    assert headers == ["order_id", "customer_id"]
    assert table.to_pylist() == [
        {"order_id": "A1", "customer_id": 'C "1"', "__line": 2, "__cells": 2},
        {"order_id": "", "customer_id": "=\'x\'", "__line": 4, "__cells": 2},
    ]


def test_fast_path_reads_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes("订单编号|买家\nA1|张三\n".encode("gb18030"))
    fast = readers._fast_csv(path)
    assert fast is not None
    assert fast[1].to_pylist() == [{"订单编号": "A1", "买家": "张三", "__line": 2, "__cells": 2}]


def test_quoted_line_break_keeps_exact_lines_through_the_fallback(settings, tmp_path: Path, run_import,
                                                                  read_rejects) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + '"A1",C1,2025-03-01,10,"paid\nreally"\n' + "A2,C2,not a date,20,paid\n",
                    encoding="utf-8")
    report = run_import(settings, path, rejects=tmp_path / "rejects.csv")
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (2, 1, 1)
    assert [r["line"] for r in read_rejects(tmp_path / "rejects.csv")] == ["4"]
