"""Builders of shop export files for the import tests (Taobao seller centre, Shopify admin), with the real
header sets of those exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

TAOBAO_HEADER = [
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "买家支付积分", "总金额", "返点积分",
    "买家实际支付金额", "买家实际支付积分", "订单状态", "买家留言", "收货人姓名", "收货地址", "运送方式", "联系电话",
    "联系手机", "订单创建时间", "订单付款时间", "宝贝标题", "宝贝种类", "物流单号", "物流公司", "订单备注", "宝贝总数量",
    "店铺Id", "店铺名称", "订单关闭原因", "卖家服务费", "买家服务费", "发票抬头", "是否手机订单", "分阶段订单信息",
    "特权订金订单id", "是否上传合同照片", "是否上传小票", "是否代付", "定金排名", "修改后的sku", "修改后的收货地址",
    "异常信息", "天猫卡券抵扣", "集分宝抵扣", "是否是O2O交易", "退款金额", "预约门店",
]


def taobao_row(order_id: str, buyer: str, paid: str, status: str, name: str, address: str, mobile: str,
                created: str, paid_at: str, title: str, qty: str, refund: str = "0.00", note: str = "") -> list[str]:
    cells = dict.fromkeys(TAOBAO_HEADER, "")
    cells.update({
        "订单编号": f'="{order_id}"', "买家会员名": buyer, "买家支付宝账号": f"{buyer}@alipay.example",
        "买家应付货款": paid.removesuffix("元"), "买家应付邮费": "0.00", "买家支付积分": "0", "总金额": paid,
        "返点积分": "0", "买家实际支付金额": paid, "买家实际支付积分": "0", "订单状态": status, "买家留言": note,
        "收货人姓名": name, "收货地址": address, "运送方式": "快递", "联系电话": "", "联系手机": f"'{mobile}",
        "订单创建时间": created, "订单付款时间": paid_at, "宝贝标题": title, "宝贝种类": "1",
        "物流单号": 'No:="YT1234567890"', "物流公司": "圆通速递", "宝贝总数量": qty, "店铺Id": "123456",
        "店铺名称": "小米旗舰店", "卖家服务费": "0", "买家服务费": "0元", "是否手机订单": "手机订单", "退款金额": refund,
    })
    return [cells[h] for h in TAOBAO_HEADER]


def taobao_file(path: Path) -> Path:
    rows = [
        taobao_row("3312345678901234567", "tb_alice", "88.00元", "交易成功", "张三",
                    "广东省 深圳市 南山区 粤海街道 科技园路1号(518057)", "13812345678", "2025/3/2 2:41",
                    "2025/3/2 2:42", "保温杯 500ml", "1", refund="10.00", note="请尽快发货\n谢谢"),
        taobao_row("3312345678901234568", "tb_bob", "199.00", "卖家已发货，等待买家确认", "李四",
                    "浙江省 杭州市 西湖区 文三路2号(310012)", "13900001111", "2025/3/3 10:00", "2025/3/3 10:01",
                    "蓝牙耳机", "2"),
        taobao_row("3312345678901234569", "tb_alice", "35.50元", "买家已付款，等待卖家发货", "张三",
                    "广东省 深圳市 南山区 粤海街道 科技园路1号(518057)", "13812345678", "2025/3/5 20:15",
                    "2025/3/5 20:16", "茶叶", "1"),
        taobao_row("3312345678901234570", "tb_carol", "59.00", "等待买家付款", "王五",
                    "北京 北京市 朝阳区 建国路3号(100022)", "13700002222", "2025/3/6 8:00", "", "数据线", "1"),
        taobao_row("3312345678901234571", "tb_bob", "15.00", "交易关闭", "李四",
                    "浙江省 杭州市 西湖区 文三路2号(310012)", "13900001111", "2025/3/7 9:30", "", "贴膜", "1"),
        taobao_row("3312345678901234572", "tb_dave", "八十元", "交易成功", "赵六",
                    "江苏省 南京市 鼓楼区 中山路4号(210008)", "13600003333", "2025/3/8 11:11", "2025/3/8 11:12",
                    "充电器", "1"),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    # The seller centre pads some headers with spaces and ends each data row with a comma.
    writer.writerow([f"{h} " if i % 3 == 0 else h for i, h in enumerate(TAOBAO_HEADER)])
    for row in rows:
        writer.writerow([*row, ""])
    path.write_bytes(out.getvalue().encode("gbk"))
    return path


SHOPIFY_ORDER_HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price", "Lineitem sku",
    "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street",
    "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip", "Billing Province",
    "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1", "Shipping Address2",
    "Shipping Company", "Shipping City", "Shipping Zip", "Shipping Province", "Shipping Country", "Shipping Phone",
    "Notes", "Note Attributes", "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount", "Vendor",
    "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags", "Risk Level", "Source",
    "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name", "Tax 3 Value",
    "Tax 4 Name", "Tax 4 Value", "Tax 5 Name", "Tax 5 Value", "Phone", "Receipt Number", "Duties",
    "Billing Province Name", "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At",
    "Payment References",
]


def shopify_order(name: str, email: str, created: str, line: tuple[str, str, str, str], *, first: bool,
                   status: str = "", total: str = "", refunded: str = "", discount: str = "", buyer: str = "",
                   phone: str = "", city: str = "", province: str = "") -> list[str]:
    qty, item, price, sku = line
    cells = dict.fromkeys(SHOPIFY_ORDER_HEADER, "")
    cells.update({"Name": name, "Email": email, "Created at": created, "Lineitem quantity": qty,
                  "Lineitem name": item, "Lineitem price": price, "Lineitem sku": sku, "Lineitem compare at price": "",
                  "Lineitem requires shipping": "true", "Lineitem taxable": "true",
                  "Lineitem fulfillment status": "fulfilled", "Vendor": "Acme", "Lineitem discount": "0.00"})
    if first:  # order-level fields only on an order's first row
        cells.update({"Financial Status": status, "Paid at": created if status != "pending" else "",
                      "Fulfillment Status": "fulfilled", "Accepts Marketing": "yes", "Currency": "USD",
                      "Subtotal": total, "Shipping": "0.00", "Taxes": "0.00", "Total": total,
                      "Discount Amount": discount or "0.00", "Shipping Method": "Standard", "Billing Name": buyer,
                      "Billing Address1": "1 Main St", "Billing City": city, "Billing Zip": "'02134",
                      "Billing Province": "MA" if province else "", "Billing Country": "US", "Billing Phone": phone,
                      "Shipping Name": buyer, "Shipping Address1": "1 Main St", "Shipping City": city,
                      "Shipping Province": "MA" if province else "", "Shipping Country": "US", "Shipping Phone": phone,
                      "Payment Method": "Shopify Payments", "Refunded Amount": refunded or "0.00",
                      "Outstanding Balance": "0.00", "Id": "5" + name.strip("#") * 3, "Risk Level": "Low",
                      "Source": "web", "Phone": "", "Billing Province Name": province,
                      "Shipping Province Name": province})
    return [cells[h] for h in SHOPIFY_ORDER_HEADER]


def shopify_orders_file(path: Path) -> Path:
    rows = [
        shopify_order("#1001", "alice@example.com", "2024-01-15 10:23:45 -0500", ("1", "Mug", "12.50", "MUG-1"),
                       first=True, status="paid", total="37.50", buyer="Alice Smith", phone="+1 617-555-0101",
                       city="Boston", province="Massachusetts"),
        shopify_order("#1001", "alice@example.com", "2024-01-15 10:23:45 -0500", ("2", "Tea", "12.50", "TEA-1"),
                       first=False),
        shopify_order("#1002", "bob@example.com", "2024-02-01 08:00:00 -0500", ("1", "Kettle", "50.00", "KET-1"),
                       first=True, status="partially_refunded", total="50.00", refunded="20.00",
                       buyer="Bob Jones", city="Cambridge", province="Massachusetts"),
        shopify_order("#1003", "Alice@Example.com", "2024-03-01 09:30:00 -0500", ("1", "Mug", "12.50", "MUG-1"),
                       first=True, status="pending", total="12.50", buyer="Alice Smith", city="Boston"),
        shopify_order("#1004", "carol@example.com", "2024-03-02 12:00:00 -0500", ("1", "Tea", "12.50", "TEA-1"),
                       first=True, status="refunded", total="12.50", refunded="12.50", buyer="Carol White"),
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([SHOPIFY_ORDER_HEADER, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


SHOPIFY_CUSTOMERS_OLD = ["First Name", "Last Name", "Email", "Company", "Address1", "Address2", "City", "Province",
                         "Province Code", "Country", "Country Code", "Zip", "Phone", "Accepts Marketing",
                         "Total Spent", "Total Orders", "Tags", "Note", "Tax Exempt"]
SHOPIFY_CUSTOMERS_NEW = ["Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
                         "Default Address Company", "Default Address Address1", "Default Address Address2",
                         "Default Address City", "Default Address Province Code", "Default Address Country Code",
                         "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
                         "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags"]


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path
