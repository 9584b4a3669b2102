"""The generic orders and customers formats: CSV (UTF-8, BOM, GB18030), XLSX, Parquet, --map."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kehu.errors import FileProblem, InvalidInput
from kehu.ingest import parse_maps
from kehu.privacy import FieldCipher

HEADER = ["order_id", "customer_id", "ordered_at", "amount", "status", "channel", "province", "city", "sku",
          "product_name", "category", "quantity", "unit_price", "discount", "customer_name", "phone", "email",
          "address"]
ROWS = [
    ["A1001", "C01", "2025-03-02 14:41:00", "88.50", "paid", "web", "广东", "深圳", "SKU-1", "保温杯", "家居", "1",
     "88.50", "0", "张三", "13812345678", "zhang@example.com", "深圳市南山区科技园1号"],
    ["A1002", "C02", "2025/3/3 9:05", "1,200.00", "cancelled", "app", "浙江", "杭州", "SKU-2", "耳机", "数码", "2",
     "600", "10", "李四", "139 0000 1111", "", ""],
    ["A1003", "C01", "2025-03-10", "35", "", "web", "广东", "深圳", "", "", "", "", "", "", "", "", "", ""],
]


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


def _check_generic_orders(settings, query) -> None:
    orders = query(settings, "SELECT o.external_id, c.external_id, o.ordered_at, o.amount_cents, o.discount_cents, "
                             "o.refunded_cents, o.status, o.is_paid, o.channel, o.province, o.city "
                             "FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.external_id")
    assert [(o[0], o[1], o[3], o[4], o[5], o[6], bool(o[7]), o[8], o[9], o[10]) for o in orders] == [
        ("A1001", "C01", 8850, 0, 0, "paid", True, "web", "广东", "深圳"),
        ("A1002", "C02", 120000, 1000, 0, "cancelled", False, "app", "浙江", "杭州"),
        ("A1003", "C01", 3500, 0, 0, None, True, "web", "广东", "深圳"),
    ]
    assert [str(o[2])[:16] for o in orders] == ["2025-03-02 14:41", "2025-03-03 09:05", "2025-03-10 00:00"]
    lines = query(settings, "SELECT o.external_id, l.line_no, l.sku, l.product_name, l.category, l.quantity, "
                            "l.unit_price_cents FROM order_lines l JOIN orders o ON o.id = l.order_id "
                            "ORDER BY o.external_id")
    assert lines == [("A1001", 1, "SKU-1", "保温杯", "家居", 1, 8850), ("A1002", 1, "SKU-2", "耳机", "数码", 2, 60000)]
    assert query(settings, "SELECT sku, name, category FROM products ORDER BY sku") == [
        ("SKU-1", "保温杯", "家居"), ("SKU-2", "耳机", "数码")]


def test_generic_csv_utf8(store_settings, tmp_path: Path, run_import, query) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(_csv(ROWS), encoding="utf-8")
    report = run_import(store_settings, path)
    c = report.counts
    assert (c.read, c.inserted, c.updated, c.unchanged, c.rejected, c.new_customers) == (3, 3, 0, 0, 0, 2)
    assert report.rejects_path is None
    _check_generic_orders(store_settings, query)
    assert query(store_settings, "SELECT status, rows_read, inserted, rejected FROM import_runs") == [
        ("succeeded", 3, 3, 0)]
    # Personal fields arrive encrypted and decrypt to the normalised values.
    cipher = FieldCipher.from_settings(store_settings)
    name, phone, email, address, phone_index = query(
        store_settings, "SELECT name_enc, phone_enc, email_enc, address_enc, phone_index FROM customers "
                        "WHERE external_id = 'C01'")[0]
    assert cipher.decrypt("name", name) == "张三"
    assert cipher.decrypt("phone", phone) == "13812345678"
    assert cipher.decrypt("email", email) == "zhang@example.com"
    assert cipher.decrypt("address", address) == "深圳市南山区科技园1号"
    assert phone_index == cipher.blind_index("phone", "13812345678")
    assert cipher.decrypt("phone", query(store_settings, "SELECT phone_enc FROM customers WHERE external_id = 'C02'"
                                         )[0][0]) == "13900001111"


def test_generic_csv_utf8_bom(settings, tmp_path: Path, run_import, query) -> None:
    path = tmp_path / "orders-bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(ROWS).replace("\n", "\r\n").encode())
    report = run_import(settings, path)
    assert (report.counts.inserted, report.counts.rejected) == (3, 0)
    _check_generic_orders(settings, query)


def test_generic_csv_gb18030_with_chinese_headers(settings, tmp_path: Path, run_import, query) -> None:
    header = ["订单号", "客户编号", "下单时间", "实付金额", "订单状态", "渠道", "省份", "城市", "商品编码", "商品名称",
              "类目", "数量", "单价", "优惠金额", "姓名", "手机号", "邮箱", "地址"]
    path = tmp_path / "订单.csv"
    path.write_bytes(_csv(ROWS, header).encode("gb18030"))
    report = run_import(settings, path)
    assert (report.counts.inserted, report.counts.rejected) == (3, 0)
    _check_generic_orders(settings, query)


def test_generic_xlsx(settings, tmp_path: Path, run_import, query) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in ROWS:
        values: list[object] = list(row)
        values[3] = float(row[3].replace(",", ""))  # numbers and dates as Excel stores them
        if row[0] == "A1001":
            values[2] = datetime(2025, 3, 2, 14, 41)
            values[15] = 13812345678
        values[11] = int(row[11]) if row[11] else None
        sheet.append(values)
    path = tmp_path / "orders.xlsx"
    book.save(path)
    report = run_import(settings, path)
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (3, 3, 0)
    _check_generic_orders(settings, query)


def test_generic_parquet(settings, tmp_path: Path, run_import, query) -> None:
    columns = {h: [r[i] or None for r in ROWS] for i, h in enumerate(HEADER)}
    columns["amount"] = [88.5, 1200.0, 35.0]
    columns["ordered_at"] = [datetime(2025, 3, 2, 14, 41), datetime(2025, 3, 3, 9, 5), datetime(2025, 3, 10)]
    columns["quantity"] = [1, 2, None]
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.table(columns), path)
    report = run_import(settings, path)
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (3, 3, 0)
    _check_generic_orders(settings, query)


def test_generic_order_lines_repeat_the_order_id(settings, tmp_path: Path, run_import, query) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("order_id,customer_id,ordered_at,amount,sku,product_name,quantity,unit_price\n"
                    "B1,C9,2025-01-05,130,S1,杯子,1,30\n"
                    "B1,C9,,,S2,茶叶,2,50\n", encoding="utf-8")
    report = run_import(settings, path)
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (2, 1, 0)
    assert query(settings, "SELECT l.line_no, l.sku, l.quantity, l.unit_price_cents FROM order_lines l "
                           "ORDER BY l.line_no") == [(1, "S1", 1, 3000), (2, "S2", 2, 5000)]
    assert query(settings, "SELECT amount_cents FROM orders") == [(13000,)]


def test_map_overrides_name_the_columns(settings, tmp_path: Path, run_import, query) -> None:
    path = tmp_path / "export.csv"
    path.write_text("单据,会员,成交时间,成交额,金额\nX1,M1,2025-02-01 10:00,99.9,1\n", encoding="utf-8")
    maps = parse_maps(["order_id=单据", "customer_id=会员", "ordered_at=成交时间", "amount=成交额"])
    report = run_import(settings, path, maps=maps)
    assert report.counts.inserted == 1
    # "金额" is an alias of amount, but --map wins.
    assert query(settings, "SELECT external_id, amount_cents FROM orders") == [("X1", 9990)]


def test_map_errors(settings, tmp_path: Path, run_import) -> None:
    path = tmp_path / "export.csv"
    path.write_text("单据,会员,成交时间,成交额\nX1,M1,2025-02-01,1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"--map 'amount': expected FIELD=HEADER"):
        parse_maps(["amount"])
    with pytest.raises(InvalidInput, match=r"'price' is not a orders field"):
        run_import(settings, path, maps={"price": "成交额"})
    with pytest.raises(FileProblem, match=r"--map amount=实付: no column '实付'; headers found: 单据, 会员, 成交时间, 成交额"):
        run_import(settings, path, maps={"amount": "实付"})


def test_generic_customers(store_settings, tmp_path: Path, run_import, query) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,phone,email,gender,birth_date,province,city,channel,registered_at,marketing_consent,address\n"
        "C01,张三,+86 138-1234-5678,Zhang@Example.com,男,1990-05-01,广东,深圳,web,2024-01-02 10:00,是,南山区1号\n"
        "C02,李四,,,女,1985,浙江,杭州,app,2024/2/3,否,\n"
        "C03,王五,13700000000,,保密,19920101,,,,,,\n",
        encoding="utf-8")
    report = run_import(store_settings, path, kind="customers")
    c = report.counts
    assert (c.read, c.inserted, c.updated, c.unchanged, c.rejected) == (3, 3, 0, 0, 0)
    rows = query(store_settings, "SELECT external_id, gender, birth_year, province, city, channel, marketing_consent, "
                                 "source FROM customers ORDER BY external_id")
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], None if r[6] is None else bool(r[6]), r[7]) for r in rows] == [
        ("C01", "male", 1990, "广东", "深圳", "web", True, "generic"),
        ("C02", "female", 1985, "浙江", "杭州", "app", False, "generic"),
        ("C03", None, 1992, None, None, None, None, "generic"),
    ]
    cipher = FieldCipher.from_settings(store_settings)
    email = query(store_settings, "SELECT email_enc FROM customers WHERE external_id = 'C01'")[0][0]
    assert cipher.decrypt("email", email) == "zhang@example.com"
    again = run_import(store_settings, path, kind="customers")
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged) == (0, 0, 3)


def test_orders_link_to_imported_customers(settings, tmp_path: Path, run_import, query) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,name,province\nC01,张三,广东\n", encoding="utf-8")
    run_import(settings, customers, kind="customers")
    orders = tmp_path / "orders.csv"
    orders.write_text(_csv(ROWS), encoding="utf-8")
    report = run_import(settings, orders)
    assert report.counts.new_customers == 1  # C01 was there already
    assert query(settings, "SELECT count(*) FROM customers") == [(2,)]


def test_customers_file_updates_only_the_fields_it_has(settings, tmp_path: Path, run_import, query) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(_csv(ROWS), encoding="utf-8")
    run_import(settings, orders)
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,gender,city\nC01,女,广州\n", encoding="utf-8")
    report = run_import(settings, customers, kind="customers")
    assert (report.counts.inserted, report.counts.updated) == (0, 1)
    cipher = FieldCipher.from_settings(settings)
    phone, name, gender, city, province = query(
        settings, "SELECT phone_enc, name_enc, gender, city, province FROM customers WHERE external_id = 'C01'")[0]
    assert (cipher.decrypt("phone", phone), cipher.decrypt("name", name)) == ("13812345678", "张三")
    assert (gender, city, province) == ("female", "广州", "广东")


def test_generic_csv_utf16_tab_separated(settings, tmp_path: Path, run_import, query) -> None:
    # Excel's "Unicode text" export: UTF-16 with BOM, tab-separated.
    path = tmp_path / "orders.txt"
    path.write_text(_csv(ROWS).replace(",", "\t").replace('"1\t200.00"', "1200.00"), encoding="utf-16")
    report = run_import(settings, path)
    assert (report.counts.inserted, report.counts.rejected) == (3, 0)
    _check_generic_orders(settings, query)


def test_progress_reports_each_stage(settings, tmp_path: Path, run_import) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(_csv(ROWS), encoding="utf-8")
    seen: list[tuple[str, int, int]] = []
    run_import(settings, path, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert {s for s, _, _ in seen} == {"read", "validate", "load"}
    assert seen[-1] == ("load", 3, 3)
