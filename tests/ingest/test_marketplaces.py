"""The shop formats: CDNOW log, Taobao seller-centre export, Shopify orders and customers exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.privacy import FieldCipher

CDNOW = Path("/work/shared/data/cdnow/CDNOW_master.txt")

# -- CDNOW -------------------------------------------------------------------------------------------------------

CDNOW_ROWS = (" 00001 19970101  1   11.77\n"
              " 00002 19970112  1   12.00\n"
              " 00002 19970112  5   77.00\n"
              " 00003 19970102  2   20.76\n"
              " 00003 19970330  2   20.76\n")


@pytest.mark.parametrize("header", [True, False], ids=["with-header", "without-header"])
def test_cdnow_small(settings, tmp_path: Path, run_import, query, header: bool) -> None:
    path = tmp_path / "cdnow.txt"
    path.write_text((" customer_id  date number_of_cds  dollar_value\n" if header else "") + CDNOW_ROWS)
    report = run_import(settings, path, fmt="cdnow")
    c = report.counts
    assert (c.read, c.inserted, c.rejected, c.skipped, c.new_customers) == (5, 5, 0, int(header), 3)
    orders = query(settings, "SELECT o.external_id, c.external_id, o.amount_cents, o.is_paid, o.source "
                             "FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.external_id")
    # Two orders of 00002 on the same day: ranked by their place in the file.
    assert [(o[0], o[1], o[2], bool(o[3]), o[4]) for o in orders] == [
        ("00001-19970101-1", "00001", 1177, True, "cdnow"),
        ("00002-19970112-1", "00002", 1200, True, "cdnow"),
        ("00002-19970112-2", "00002", 7700, True, "cdnow"),
        ("00003-19970102-1", "00003", 2076, True, "cdnow"),
        ("00003-19970330-1", "00003", 2076, True, "cdnow"),
    ]
    assert query(settings, "SELECT l.quantity FROM order_lines l") == []  # no product: quantity stays on nothing
    again = run_import(settings, path, fmt="cdnow")
    assert (again.counts.inserted, again.counts.unchanged) == (0, 5)


def test_cdnow_bad_rows_are_rejected(settings, tmp_path: Path, run_import, read_rejects) -> None:
    path = tmp_path / "cdnow.txt"
    path.write_text(CDNOW_ROWS + " 00004 1997013x  1   9.99\n 00005 19970105  1\n 00006 19970105 1 2.00 extra\n")
    rejects = tmp_path / "rejects.csv"
    report = run_import(settings, path, fmt="cdnow", rejects=rejects)
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (8, 5, 3)
    assert [(r["line"], r["column"], r["value"], r["reason"]) for r in read_rejects(rejects)] == [
        ("6", "column_2", "1997013x",
         "not a date/time (expected e.g. 2025-03-02 14:41:00, 2025/3/2 2:41 or 20250302)"),
        ("7", "column_4", "", "empty; every order needs an amount"),
        ("8", "*", "5", "the row has 5 cells but the header has 4"),
    ]


@pytest.mark.skipif(not CDNOW.exists(), reason="the CDNOW master file is not in /work/shared/data")
def test_cdnow_master_file(settings, run_import, query) -> None:
    report = run_import(settings, CDNOW, fmt="cdnow")
    c = report.counts
    assert (c.read, c.inserted, c.rejected, c.skipped, c.new_customers) == (69_659, 69_659, 0, 1, 23_570)
    assert query(settings, "SELECT count(*), count(DISTINCT customer_id) FROM orders") == [(69_659, 23_570)]
    assert query(settings, "SELECT count(*) FROM customers") == [(23_570,)]
    again = run_import(settings, CDNOW, fmt="cdnow")
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged, again.counts.rejected) == (
        0, 0, 69_659, 0)


# -- Taobao ------------------------------------------------------------------------------------------------------

def test_taobao_export(store_settings, tmp_path: Path, run_import, query, read_rejects, shop_files) -> None:
    path = shop_files.taobao_file(tmp_path / "ExportOrderList202503101200.csv")
    rejects = tmp_path / "rejects.csv"
    report = run_import(store_settings, path, fmt="taobao", rejects=rejects)
    c = report.counts
    assert (c.read, c.inserted, c.rejected, c.new_customers) == (6, 5, 1, 3)
    # The first order's note holds a line break, so the rows after it start one line later.
    assert read_rejects(rejects) == [{"file": str(path), "line": "8", "column": "买家实际支付金额", "value": "八十元",
                                      "reason": "not an amount (expected a number such as 88.50)"}]
    orders = query(store_settings, "SELECT o.external_id, c.external_id, o.ordered_at, o.amount_cents, "
                                   "o.refunded_cents, o.status, o.is_paid, o.channel, o.province, o.city, o.source "
                                   "FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.external_id")
    got = [(o[0], o[1], str(o[2])[:16], o[3], o[4], o[5], bool(o[6]), o[7], o[8], o[9], o[10]) for o in orders]
    assert got == [
        ("3312345678901234567", "tb_alice", "2025-03-02 02:42", 8800, 1000, "交易成功", True, "小米旗舰店", "广东省",
         "深圳市", "taobao"),
        ("3312345678901234568", "tb_bob", "2025-03-03 10:01", 19900, 0, "卖家已发货，等待买家确认", True,
         "小米旗舰店", "浙江省", "杭州市", "taobao"),
        ("3312345678901234569", "tb_alice", "2025-03-05 20:16", 3550, 0, "买家已付款，等待卖家发货", True,
         "小米旗舰店", "广东省", "深圳市", "taobao"),
        # Not paid: stored, with the creation time as their date, but not purchases.
        ("3312345678901234570", "tb_carol", "2025-03-06 08:00", 5900, 0, "等待买家付款", False, "小米旗舰店", "北京",
         "北京市", "taobao"),
        ("3312345678901234571", "tb_bob", "2025-03-07 09:30", 1500, 0, "交易关闭", False, "小米旗舰店", "浙江省",
         "杭州市", "taobao"),
    ]
    assert query(store_settings, "SELECT o.external_id, l.product_name, l.quantity FROM order_lines l "
                                 "JOIN orders o ON o.id = l.order_id WHERE o.external_id LIKE '%568'") == [
        ("3312345678901234568", "蓝牙耳机", 2)]
    cipher = FieldCipher.from_settings(store_settings)
    name, phone, address = query(store_settings, "SELECT name_enc, phone_enc, address_enc FROM customers "
                                                 "WHERE external_id = 'tb_alice'")[0]
    assert (cipher.decrypt("name", name), cipher.decrypt("phone", phone)) == ("张三", "13812345678")
    assert cipher.decrypt("address", address).startswith("广东省 深圳市 南山区")
    again = run_import(store_settings, path, fmt="taobao", rejects=rejects)
    assert (again.counts.inserted, again.counts.unchanged, again.counts.rejected) == (0, 5, 1)


# -- Shopify -----------------------------------------------------------------------------------------------------

def test_shopify_orders_export(store_settings, tmp_path: Path, run_import, query, shop_files) -> None:
    path = shop_files.shopify_orders_file(tmp_path / "orders_export_1.csv")
    report = run_import(store_settings, path, fmt="shopify")
    c = report.counts
    assert (c.read, c.inserted, c.rejected, c.new_customers) == (5, 4, 0, 3)
    cipher = FieldCipher.from_settings(store_settings)
    alice = "e:" + cipher.blind_index("email", "alice@example.com")
    orders = query(store_settings, "SELECT o.external_id, c.external_id, o.ordered_at, o.amount_cents, "
                                   "o.refunded_cents, o.amount_cents - o.refunded_cents, o.status, o.is_paid, "
                                   "o.channel, o.province, o.city FROM orders o "
                                   "JOIN customers c ON c.id = o.customer_id ORDER BY o.external_id")
    got = [(o[0], o[1] == alice, str(o[2])[:19], o[3], o[4], o[5], o[6], bool(o[7]), o[8], o[9], o[10])
           for o in orders]
    assert got == [
        ("#1001", True, "2024-01-15 10:23:45", 3750, 0, 3750, "paid", True, "web", "Massachusetts", "Boston"),
        ("#1002", False, "2024-02-01 08:00:00", 5000, 2000, 3000, "partially_refunded", True, "web", "Massachusetts",
         "Cambridge"),
        ("#1003", True, "2024-03-01 09:30:00", 1250, 0, 1250, "pending", False, "web", None, "Boston"),
        ("#1004", False, "2024-03-02 12:00:00", 1250, 1250, 0, "refunded", False, "web", None, None),
    ]
    lines = query(store_settings, "SELECT o.external_id, l.line_no, l.sku, l.product_name, l.quantity, "
                                  "l.unit_price_cents, l.category FROM order_lines l "
                                  "JOIN orders o ON o.id = l.order_id ORDER BY o.external_id, l.line_no")
    assert lines[:2] == [("#1001", 1, "MUG-1", "Mug", 1, 1250, "Acme"), ("#1001", 2, "TEA-1", "Tea", 2, 1250, "Acme")]
    assert len(lines) == 5
    email, name = query(store_settings, "SELECT email_enc, name_enc FROM customers WHERE external_id = :k", k=alice)[0]
    assert (cipher.decrypt("email", email), cipher.decrypt("name", name)) == ("alice@example.com", "Alice Smith")
    again = run_import(store_settings, path, fmt="shopify")
    assert (again.counts.inserted, again.counts.unchanged) == (0, 4)


def test_shopify_customers_old_headers(settings, tmp_path: Path, run_import, query, shop_files) -> None:
    path = shop_files.write_rows(tmp_path / "customers_export.csv", shop_files.SHOPIFY_CUSTOMERS_OLD, [
        {"First Name": "Alice", "Last Name": "Smith", "Email": "alice@example.com", "Address1": "1 Main St",
         "City": "Boston", "Province": "Massachusetts", "Province Code": "MA", "Country": "United States",
         "Country Code": "US", "Zip": "'02134", "Phone": "'+442079460958", "Accepts Marketing": "yes",
         "Total Spent": "37.50", "Total Orders": "1", "Tax Exempt": "no"},
        {"First Name": "Bob", "Last Name": "", "Email": "bob@example.com", "City": "Cambridge",
         "Province": "Massachusetts", "Accepts Marketing": "no", "Total Spent": "0.00", "Total Orders": "0"},
    ])
    report = run_import(settings, path, kind="customers", fmt="shopify")
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (2, 2, 0)
    cipher = FieldCipher.from_settings(settings)
    rows = query(settings, "SELECT external_id, name_enc, phone_enc, city, province, marketing_consent, channel "
                           "FROM customers ORDER BY city")
    assert [(r[0] == "e:" + cipher.blind_index("email", e), cipher.decrypt("name", r[1]), r[3], r[4], bool(r[5]),
             r[6]) for r, e in zip(rows, ["alice@example.com", "bob@example.com"], strict=True)] == [
        (True, "Alice Smith", "Boston", "Massachusetts", True, "shopify"),
        (True, "Bob", "Cambridge", "Massachusetts", False, "shopify"),
    ]
    assert cipher.decrypt("phone", rows[0][2]) == "+442079460958"


def test_shopify_customers_new_headers_and_orders_link(settings, tmp_path: Path, run_import, query, shop_files) -> None:
    path = shop_files.write_rows(tmp_path / "customers_export_new.csv", shop_files.SHOPIFY_CUSTOMERS_NEW, [
        {"Customer ID": "'8779761975521", "First Name": "Alice", "Last Name": "Smith", "Email": "alice@example.com",
         "Accepts Email Marketing": "yes", "Default Address Address1": "1 Main St", "Default Address City": "Boston",
         "Default Address Province Code": "MA", "Default Address Country Code": "US",
         "Default Address Zip": "'02134", "Default Address Phone": "'+442079460958", "Phone": "",
         "Accepts SMS Marketing": "no", "Total Spent": "37.50", "Total Orders": "1", "Tax Exempt": "no"},
        {"Customer ID": "'8779761975522", "First Name": "Dan", "Last Name": "Lee", "Email": "",
         "Accepts Email Marketing": "no", "Default Address City": "Austin", "Default Address Province Code": "TX",
         "Phone": "'+15125550199", "Accepts SMS Marketing": "yes", "Total Spent": "0.00", "Total Orders": "0"},
    ])
    report = run_import(settings, path, kind="customers", fmt="shopify")
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (2, 2, 0)
    cipher = FieldCipher.from_settings(settings)
    alice = "e:" + cipher.blind_index("email", "alice@example.com")
    rows = query(settings, "SELECT external_id, city, province, marketing_consent, phone_enc FROM customers "
                           "ORDER BY city")
    assert [(r[0], r[1], r[2], bool(r[3])) for r in rows] == [
        ("8779761975522", "Austin", "TX", False), (alice, "Boston", "MA", True)]
    assert cipher.decrypt("phone", rows[1][4]) == "+442079460958"
    orders = shop_files.shopify_orders_file(tmp_path / "orders_export_1.csv")
    assert run_import(settings, orders, fmt="shopify").counts.new_customers == 2  # bob and carol; alice existed
    assert query(settings, "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
                           "WHERE c.external_id = :k", k=alice) == [(2,)]
