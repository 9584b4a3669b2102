"""The preview of a file before import: format detection, mapping from the aliases and overrides, validation of the
whole file without writing anything, personal values masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.errors import FileProblem, InvalidInput
from kehu.ingest.preview import MAX_PROBLEMS, clean_cell, detect_format, looks_like_cdnow, preview_file

CDNOW_ROWS = (" 00001 19970101  1   11.77\n"
              " 00002 19970112  1   12.00\n"
              " 00003 1997013x  2   20.76\n")


def test_taobao_export_is_detected_mapped_and_validated(shop_files, tmp_path: Path) -> None:
    path = shop_files.taobao_file(tmp_path / "ExportOrderList.csv")
    preview = preview_file(path, kind="orders", rows=3)
    assert (preview.detected_format, preview.format_name) == ("taobao", "taobao")
    assert preview.headers == shop_files.TAOBAO_HEADER
    mapping = preview.mapping
    assert (mapping["order_id"], mapping["customer_id"], mapping["amount"], mapping["status"]) == \
        ("订单编号", "买家会员名", "买家实际支付金额", "订单状态")
    assert preview.missing == [] and preview.validated
    # ordered_at is derived by the format (payment time, else creation time).
    ordered_at = next(f for f in preview.fields if f.name == "ordered_at")
    assert ordered_at.required and ordered_at.derived and ordered_at.header == "订单付款时间"
    # 6 orders, the one paid "八十元" rejected.
    assert (preview.total_rows, preview.rejected_rows, preview.problem_count) == (6, 1, 1)
    problem = preview.problems[0]
    assert (problem.column, problem.value) == ("买家实际支付金额", "八十元")
    assert "not an amount" in problem.reason
    # Sample rows: cleaned like the import reads them, personal cells masked.
    assert len(preview.rows) == 3 and preview.lines == [2, 4, 5]  # the first row's note has a line break
    row = dict(zip(preview.headers, preview.rows[0], strict=True))
    assert row["订单编号"] == "3312345678901234567"  # ="…" unwrapped
    assert (row["联系手机"], row["收货人姓名"]) == ("138****5678", "张*")
    assert row["收货地址"].endswith("****") and "科技园" not in row["收货地址"]
    assert row["买家支付宝账号"] == "t*******@alipay.example"  # unmapped, but looks like an e-mail
    assert {"联系手机", "收货人姓名", "收货地址"} <= preview.masked_headers


def test_shopify_orders_are_detected_and_emails_masked(shop_files, tmp_path: Path) -> None:
    path = shop_files.shopify_orders_file(tmp_path / "orders_export.csv")
    preview = preview_file(path, kind="orders")
    assert preview.format_name == "shopify"
    assert (preview.mapping["order_id"], preview.mapping["customer_id"]) == ("Name", "Email")
    assert preview.validated and preview.problem_count == 0 and preview.total_rows == 5
    emails = [dict(zip(preview.headers, r, strict=True))["Email"] for r in preview.rows]
    assert emails[0] == "a****@example.com" and not any("alice@" in (e or "") for e in emails)


def test_shopify_customers_are_detected(shop_files, tmp_path: Path) -> None:
    rows = [{"Customer ID": "7", "First Name": "Alice", "Last Name": "Smith", "Email": "alice@example.com",
             "Accepts Email Marketing": "yes", "Default Address City": "Boston"}]
    path = shop_files.write_rows(tmp_path / "customers_export.csv", shop_files.SHOPIFY_CUSTOMERS_NEW, rows)
    preview = preview_file(path, kind="customers")
    assert preview.format_name == "shopify"
    row = dict(zip(preview.headers, preview.rows[0], strict=True))
    assert (row["First Name"], row["Email"], row["Customer ID"]) == ("A****", "a****@example.com", "7")


def test_generic_orders_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("订单号,客户编号,下单时间,金额,手机\nA1,K1,2025-01-02,10.00,13812345678\nA2,K2,2025-13-40,5,\n")
    preview = preview_file(path, kind="orders")
    assert (preview.detected_format, preview.format_name) == ("generic", "generic")
    assert preview.mapping == {"order_id": "订单号", "customer_id": "客户编号", "ordered_at": "下单时间",
                               "amount": "金额", "phone": "手机"}
    assert (preview.total_rows, preview.rejected_rows) == (2, 1)
    assert [(p.line, p.column) for p in preview.problems] == [(3, "下单时间")]
    assert preview.rows[0][4] == "138****5678"


@pytest.mark.parametrize("header", [True, False], ids=["with-header", "without-header"])
def test_cdnow_log_is_detected_by_its_layout(tmp_path: Path, header: bool) -> None:
    path = tmp_path / "CDNOW_sample.txt"
    path.write_text((" customer_id  date number_of_cds  dollar_value\n" if header else "") + CDNOW_ROWS)
    assert looks_like_cdnow(path)
    preview = preview_file(path, kind="orders")
    assert (preview.detected_format, preview.format_name) == ("cdnow", "cdnow")
    assert preview.headers == ["column_1", "column_2", "column_3", "column_4"]
    assert (preview.total_rows, preview.skipped, preview.rejected_rows) == (3, int(header), 1)
    assert preview.problems[0].value == "1997013x"
    order_id = next(f for f in preview.fields if f.name == "order_id")
    assert order_id.derived and order_id.header is None and "order_id" not in preview.missing


def test_detect_format_prefers_a_shop_format_and_falls_back_to_generic() -> None:
    assert detect_format("orders", ["Name", "Email", "Created at", "Total", "Financial Status"]) == "shopify"
    assert detect_format("orders", ["order_id", "customer_id", "date", "amount"]) == "generic"
    assert detect_format("orders", ["foo", "bar"]) == "generic"
    assert detect_format("customers", ["Email", "First Name", "Last Name", "Accepts Marketing"]) == "shopify"
    assert detect_format("customers", ["customer_id", "name", "phone"]) == "generic"


def test_missing_required_fields_are_listed_then_mapped_by_overrides(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("单号,会员,时间,实付\nX1,M1,2025-02-01,9.90\nX2,M2,2025-02-02,-1\n")
    preview = preview_file(path, kind="orders")
    assert preview.format_name == "generic"
    assert preview.missing == ["order_id", "customer_id", "ordered_at", "amount"]
    assert not preview.validated and preview.problems == [] and preview.total_rows == 2
    chosen = {"order_id": "单号", "customer_id": "会员", "ordered_at": "时间", "amount": "实付", "status": ""}
    mapped = preview_file(path, kind="orders", mapping=chosen)
    assert mapped.missing == [] and mapped.validated
    assert mapped.mapping == {k: v for k, v in chosen.items() if v}
    assert (mapped.total_rows, mapped.rejected_rows) == (2, 1)
    assert mapped.problems[0].reason == "negative amount"
    # An override replaces an alias match; the suggestion stays visible.
    both = preview_file(path, kind="orders", mapping={**chosen, "amount": "单号"})
    amount = next(f for f in both.fields if f.name == "amount")
    assert (amount.header, amount.suggested) == ("单号", None)
    assert both.overrides({"amount": "实付", "order_id": "单号"}) == {"amount": "实付", "order_id": "单号"}


def test_an_override_replaces_the_alias_match(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,date,amount,paid\nA,K,2025-01-01,x,12.50\n")
    preview = preview_file(path, kind="orders")
    assert preview.rejected_rows == 1
    mapped = preview_file(path, kind="orders", mapping={"amount": "paid"})
    amount = next(f for f in mapped.fields if f.name == "amount")
    assert (amount.suggested, amount.header) == ("amount", "paid")
    assert mapped.rejected_rows == 0
    assert mapped.overrides({"amount": "paid", "order_id": "order_id"}) == {"amount": "paid"}


def test_validation_writes_nothing(settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,date,amount\nA,K,2025-01-01,1\n")
    preview_file(path, kind="orders", settings=settings)
    assert not (Path(settings.data_dir) / "kehu.db").exists()
    assert not (Path(settings.data_dir) / "rejects").exists()


def test_problems_are_counted_in_full_and_listed_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    lines = [f"A{i},K{i},not-a-date,1" for i in range(MAX_PROBLEMS + 5)]
    path.write_text("order_id,customer_id,date,amount\n" + "\n".join(lines) + "\n")
    preview = preview_file(path, kind="orders")
    assert preview.problem_count == MAX_PROBLEMS + 5 and len(preview.problems) == MAX_PROBLEMS
    assert [p.line for p in preview.problems] == list(range(2, MAX_PROBLEMS + 2))


def test_user_mistakes_raise_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,date,amount\nA,K,2025-01-01,1\n")
    with pytest.raises(InvalidInput, match=r"unknown kind 'products'; choose orders or customers"):
        preview_file(path, kind="products")
    with pytest.raises(InvalidInput, match=r"unknown orders format 'jd'"):
        preview_file(path, kind="orders", format_name="jd")
    with pytest.raises(FileProblem, match=r"no column 'total'; headers found: order_id, customer_id"):
        preview_file(path, kind="orders", mapping={"amount": "total"})
    with pytest.raises(InvalidInput, match=r"'colour' is not a orders field"):
        preview_file(path, kind="orders", mapping={"colour": "amount"})
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(FileProblem, match="the file is empty"):
        preview_file(empty, kind="orders")


def test_clean_cell() -> None:
    assert clean_cell(' ="0012" ') == "0012"
    assert clean_cell("'13812345678") == "13812345678"
    assert clean_cell("\u3000 ") is None
    assert clean_cell(None) is None
