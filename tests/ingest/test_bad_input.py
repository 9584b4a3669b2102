"""File-level problems raise FileProblem with one clear message; bad rows go to the rejects file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.errors import FileProblem, InvalidInput, KehuError
from kehu.ingest import readers

GOOD = "order_id,customer_id,ordered_at,amount\nA1,C1,2025-01-01,10\n"


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"orders\.csv: the file is empty"),
    (b" \r\n\n  \n", r"orders\.csv: the file is empty"),
    (bytes(range(256)) * 40, r"orders\.csv: not a text table \(binary content\); import CSV, XLSX or Parquet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, r"an old Excel 97-2003 \(\.xls\) workbook; save it as \.xlsx"),
    (b"PK\x03\x04" + b"not really a zip" * 10, r"orders\.csv: not a readable XLSX workbook"),
    (b"PAR1" + b"\x00garbage" * 10, r"orders\.csv: not a readable Parquet file"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 50, r"a compressed archive; extract the CSV"),
    (b"order_id,customer_id,ordered_at,amount\nA1,C1,2025-01-01,10\nA2,\"C2,2025-01-02,11\n",
     r"orders\.csv, line 3: the CSV structure is broken \(unexpected end of data\); fix the quoting there"),
    (b"order_id,customer_id,ordered_at,amount\nA1,\"C1\"x,2025-01-01,10\n",
     r"orders\.csv, line 2: the CSV structure is broken"),
])
def test_file_problems(settings, tmp_path: Path, run_import, query, content: bytes, message: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    with pytest.raises(FileProblem, match=message):
        run_import(settings, path)
    status, text = query(settings, "SELECT status, message FROM import_runs")[0]
    assert status == "failed" and str(path) in text
    assert query(settings, "SELECT count(*) FROM orders") == [(0,)]


def test_missing_required_column_lists_the_headers(settings, tmp_path: Path, run_import) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,ordered_at,total_price\nA1,C1,2025-01-01,10\n", encoding="utf-8")
    with pytest.raises(FileProblem, match=(
            r"orders\.csv: required column missing for format 'generic': amount \(looked for: amount, total, "
            r"paid_amount, .*\)\. Headers found: order_id, customer_id, ordered_at, total_price\. "
            r"Name the column with --map FIELD=HEADER\.")):
        run_import(settings, path)


def test_taobao_file_given_as_shopify_names_what_is_missing(settings, tmp_path: Path, run_import) -> None:
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes("订单编号,买家会员名,订单付款时间,买家实际支付金额,订单状态\n1,a,2025/3/2 2:41,1,交易成功\n"
                     .encode("gbk"))
    with pytest.raises(FileProblem, match=r"required column missing for format 'shopify': order_id .*customer_id "
                                          r".*Headers found: 订单编号, 买家会员名, 订单付款时间"):
        run_import(settings, path, fmt="shopify")


def test_no_such_file_and_folder(settings, tmp_path: Path, run_import) -> None:
    with pytest.raises(FileProblem, match=r"missing\.csv: no such file"):
        run_import(settings, tmp_path / "missing.csv")
    with pytest.raises(FileProblem, match=r"is a folder, not a file"):
        run_import(settings, tmp_path)


def test_unknown_format_and_unwritable_rejects(settings, tmp_path: Path, run_import) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(GOOD + "A2,,2025-01-01,10\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"unknown orders format 'jd'; choose one of: cdnow, generic, shopify, "
                                           r"taobao"):
        run_import(settings, path, fmt="jd")
    with pytest.raises(InvalidInput, match=r"unknown customers format 'taobao'; choose one of: generic, shopify"):
        run_import(settings, path, kind="customers", fmt="taobao")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InvalidInput, match=r"cannot write the rejects file .*blocker/out\.csv"):
        run_import(settings, path, rejects=blocker / "out.csv")


def test_broken_quoting_after_the_first_batch(settings, tmp_path: Path, run_import, monkeypatch) -> None:
    # DuckDB pulls later batches itself; the reader's FileProblem must come back as itself, not as a DuckDB error.
    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    path = tmp_path / "orders.csv"
    path.write_text(GOOD + "A2,C2,2025-01-02,1\nA3,C3,2025-01-03,1\nA4,C4,2025-01-04,1\nA5,\"C5,2025-01-05,1\n",
                    encoding="utf-8")
    with pytest.raises(FileProblem, match=r"line 6: the CSV structure is broken"):
        run_import(settings, path)


def test_row_rejects_name_line_column_value_and_reason(settings, tmp_path: Path, run_import, query,
                                                       read_rejects) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,ordered_at,amount,refunded,sku,quantity\n"
        "A1,C1,2025-01-01,10.00,,S1,1\n"            # 2 good
        "A2,,2025-01-02,10.00,,,\n"                  # 3 no customer
        "A3,C3,2025-02-30,10.00,,,\n"                # 4 no such date
        "A4,C4,2025-01-04,ten,,,\n"                  # 5 not an amount
        "A5,C5,2025-01-05,-3,,,\n"                   # 6 negative
        "A6,C6,2025-01-06,10,,,,surplus\n"           # 7 a cell too many
        "A7,C7,2025-01-07,10,12,,\n"                 # 8 refund above the amount
        "A1,C1,2025-01-01,10.00,,,\n"                # 9 order id again, no product
        "A8,C8,2025-01-08,10,,S8,1.5\n"              # 10 not a whole quantity
        "A9,C9,2025-01-09,\"=HYPERLINK(\"\"x\"\")\",,,\n"  # 11 a formula stays inert in the rejects file
        "A1,C2,,,,S2,1\n"                            # 12 line of A1 but another customer
        "A10,C10,1900-01-01,5,,,\n",                 # 13 date out of range
        encoding="utf-8")
    rejects = tmp_path / "out" / "rejects.csv"
    report = run_import(settings, path, rejects=rejects)
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (12, 1, 11)
    assert report.rejects_path == str(rejects)
    got = [(r["file"], int(r["line"]), r["column"], r["value"], r["reason"]) for r in read_rejects(rejects)]
    f = str(path)
    assert got == [
        (f, 3, "customer_id", "", "empty; every order needs a customer"),
        (f, 4, "ordered_at", "2025-02-30",
         "not a date/time (expected e.g. 2025-03-02 14:41:00, 2025/3/2 2:41 or 20250302)"),
        (f, 5, "amount", "ten", "not an amount (expected a number such as 88.50)"),
        (f, 6, "amount", "-3", "negative amount"),
        (f, 7, "*", "8", "the row has 8 cells but the header has 7"),
        (f, 8, "refunded", "12", "refund 12.00 is more than the order amount 10.00"),
        (f, 9, "order_id", "A1", "order id repeats line 2 without a product (sku or product_name) on this row"),
        (f, 10, "quantity", "1.5", "not a whole number ≥ 0"),
        (f, 11, "amount", "'=HYPERLINK(\"x\")", "not an amount (expected a number such as 88.50)"),
        (f, 12, "customer_id", "C2", "order A1 already belongs to customer C1 (line 2)"),
        (f, 13, "ordered_at", "1900-01-01", "date outside 1970–2100"),
    ]
    assert query(settings, "SELECT external_id FROM orders") == [("A1",)]
    assert query(settings, "SELECT rejected, rejects_path FROM import_runs") == [(11, str(rejects))]
    assert "rejected 11" in report.summary() and str(rejects) in report.summary()


def test_default_rejects_file_and_clean_runs(settings, tmp_path: Path, run_import, read_rejects) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(GOOD + "A2,C2,someday,1\n", encoding="utf-8")
    report = run_import(settings, path)
    assert report.rejects_path is not None
    assert Path(report.rejects_path).parent == settings.data_dir / "rejects"
    assert [r["line"] for r in read_rejects(report.rejects_path)] == ["3"]
    # An explicit rejects file is rewritten on every run, so a clean run leaves it with the header only.
    out = tmp_path / "rejects.csv"
    out.write_text("stale rows from an earlier run\n")
    path.write_text(GOOD, encoding="utf-8")
    assert run_import(settings, path, rejects=out).rejects_path == str(out)
    assert read_rejects(out) == []


def test_every_user_error_is_a_kehu_error(settings, tmp_path: Path, run_import) -> None:
    for content in (b"\xff\xfe\x00", b"\x00\x01\x02", b"a\n", b"\xef\xbb\xbf", b"order_id\n\n\n"):
        path = tmp_path / "odd.csv"
        path.write_bytes(content)
        with pytest.raises(KehuError):
            run_import(settings, path)


def test_values_too_large_for_the_store_are_rejected_not_crashing(store_settings, tmp_path: Path, run_import,
                                                                  read_rejects) -> None:
    path = tmp_path / "orders.csv"
    long_id = "X" * 129
    path.write_text("order_id,customer_id,ordered_at,amount,sku,quantity,status,city\n"
                    f"A1,C1,2025-01-01,10,S1,99999999999,paid,深圳\n"
                    f"{long_id},C1,2025-01-01,10,,,paid,深圳\n"
                    f"A3,C1,2025-01-01,99999999999999999999,,,paid,深圳\n"
                    f"A4,C1,2025-01-01,10,,,{'很长的状态' * 10},{'城' * 100}\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    report = run_import(store_settings, path, rejects=rejects)
    assert (report.counts.inserted, report.counts.rejected) == (1, 3)
    assert [(r["line"], r["column"], r["reason"]) for r in read_rejects(rejects)] == [
        ("2", "quantity", "too large (at most 999,999,999)"),
        ("3", "order_id", "longer than 128 characters"),
        ("4", "amount", "not an amount (expected a number such as 88.50)"),
    ]


def test_decimal_comma_is_rejected_not_misread(settings, tmp_path: Path, run_import, query, read_rejects) -> None:
    path = tmp_path / "orders.csv"
    path.write_text('order_id,customer_id,ordered_at,amount\nA1,C1,2025-01-01,"1,234.50"\nA2,C1,2025-01-02,"12,5"\n',
                    encoding="utf-8")
    report = run_import(settings, path)
    assert (report.counts.inserted, report.counts.rejected) == (1, 1)
    assert query(settings, "SELECT amount_cents FROM orders") == [(123450,)]
    assert [(r["line"], r["column"], r["value"]) for r in read_rejects(report.rejects_path)] == [("3", "amount", "12,5")]
