"""The import formats: which header names mean which field, and each format's own rules.

A format maps the file's headers to kehu's canonical fields by alias lists (compared by :func:`header_key`, so case,
spaces and underscores do not matter), never by position, except CDNOW which has no headers. Its SQL snippets run
in DuckDB over the table ``mapped`` (one text column per canonical field plus ``__line``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Canonical order fields, in the order the docs list them.
ORDER_FIELDS = (
    "order_id", "customer_id", "ordered_at", "amount", "status", "channel", "province", "city", "sku",
    "product_name", "category", "quantity", "unit_price", "discount", "refunded", "customer_name", "phone", "email",
    "address",
)
CUSTOMER_FIELDS = (
    "customer_id", "name", "phone", "email", "gender", "birth_date", "province", "city", "channel", "registered_at",
    "marketing_consent", "address",
)

#: Generic statuses that are not purchases (compared lower-cased); any other status, or none, is a paid order.
UNPAID_STATUSES = (
    "unpaid", "pending", "cancelled", "canceled", "refunded", "voided", "closed", "failed",
    "未付款", "待付款", "已取消", "已关闭", "已退款", "交易关闭", "等待买家付款", "退款成功",
)
#: Taobao statuses that are purchases; every other status (等待买家付款, 交易关闭, …) is not.
TAOBAO_PAID_STATUSES = ("交易成功", "卖家已发货，等待买家确认", "买家已付款，等待卖家发货", "卖家已发货,等待买家确认",
                        "买家已付款,等待卖家发货")
#: Shopify financial statuses that are purchases.
SHOPIFY_PAID_STATUSES = ("paid", "partially_refunded")


@dataclass(frozen=True)
class Format:
    """One import format for one kind of file (``orders`` or ``customers``)."""

    name: str
    kind: str
    aliases: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    layout: str = "csv"
    #: SQL over ``mapped`` that decides if a row is a purchase (``is_paid``); ``None`` uses UNPAID_STATUSES.
    paid_sql: str | None = None
    #: Extra SQL expressions (canonical field → expression over ``mapped``) that replace the mapped column.
    derived: dict[str, str] = field(default_factory=dict)
    #: SQL over ``mapped``: rows that are not data (a header line in a headerless layout); counted as skipped.
    skip_sql: str | None = None
    #: Whether the customer id is an e-mail (hashed with the blind-index key before it is stored).
    customer_id_is_email: bool = False
    doc: str = ""


def _paid_in(values: tuple[str, ...], column: str = "status") -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"coalesce(lower({column}) IN ({quoted}), false)"


GENERIC_ORDERS = Format(
    name="generic",
    kind="orders",
    aliases={
        "order_id": ("order_id", "order id", "order", "订单号", "订单编号", "订单id"),
        "customer_id": ("customer_id", "customer id", "customer", "客户id", "客户编号", "会员id", "用户id", "买家"),
        "ordered_at": ("ordered_at", "order_date", "date", "created_at",
                       "下单时间", "订单日期", "日期", "订单创建时间"),
        "amount": ("amount", "total", "paid_amount", "金额", "实付金额", "订单金额", "支付金额"),
        "status": ("status", "order_status", "状态", "订单状态"),
        "channel": ("channel", "渠道", "来源"),
        "province": ("province", "省份", "省"),
        "city": ("city", "城市", "市"),
        "sku": ("sku", "商品编码", "商品id", "货号"),
        "product_name": ("product_name", "product", "商品名称", "商品"),
        "category": ("category", "类目", "品类", "商品类目"),
        "quantity": ("quantity", "qty", "数量"),
        "unit_price": ("unit_price", "price", "单价"),
        "discount": ("discount", "优惠", "优惠金额", "折扣金额"),
        "refunded": ("refunded", "refund", "refunded_amount", "退款金额"),
        "customer_name": ("customer_name", "name", "姓名", "客户姓名"),
        "phone": ("phone", "mobile", "手机", "手机号", "电话"),
        "email": ("email", "邮箱"),
        "address": ("address", "地址"),
    },
    required=("order_id", "customer_id", "ordered_at", "amount"),
    paid_sql="NOT " + _paid_in(UNPAID_STATUSES),
    doc="One row per order, or per order line when order_id repeats (order fields from its first row).",
)

CDNOW_ORDERS = Format(
    name="cdnow",
    kind="orders",
    aliases={
        "customer_id": ("column_1",),
        "ordered_at": ("column_2",),
        "quantity": ("column_3",),
        "amount": ("column_4",),
    },
    required=("customer_id", "ordered_at", "amount"),
    layout="whitespace",
    paid_sql="true",
    skip_sql="__line = (SELECT min(__line) FROM raw) AND NOT regexp_full_match(coalesce(ordered_at, ''), '[0-9]{8}')",
    derived={
        # No order id in the log: customer, date and the row's rank among that customer's rows of that day.
        "order_id": "customer_id || '-' || ordered_at || '-' || "
        "CAST(row_number() OVER (PARTITION BY customer_id, ordered_at ORDER BY __line) AS VARCHAR)",
    },
    doc="The CDNOW log: customer id, YYYYMMDD, number of CDs, dollars; whitespace-separated; header optional.",
)

TAOBAO_ORDERS = Format(
    name="taobao",
    kind="orders",
    aliases={
        "order_id": ("订单编号", "订单号", "主订单编号"),
        "customer_id": ("买家会员名", "买家会员名称", "买家昵称", "买家账号"),
        "ordered_at": ("订单付款时间", "付款时间", "订单创建时间", "创建时间"),
        "amount": ("买家实际支付金额", "实际支付金额", "买家实付金额"),
        "status": ("订单状态",),
        "province": ("收货省份", "省"),
        "city": ("收货城市", "市"),
        "product_name": ("宝贝标题", "商品标题"),
        "quantity": ("宝贝总数量", "商品数量"),
        "refunded": ("退款金额",),
        "customer_name": ("收货人姓名", "收货人"),
        "phone": ("联系手机", "手机", "联系电话"),
        "address": ("收货地址", "收货人地址"),
        "channel": ("店铺名称",),
        "__created_at": ("订单创建时间", "创建时间"),
    },
    required=("order_id", "customer_id", "ordered_at", "amount", "status"),
    paid_sql=_paid_in(TAOBAO_PAID_STATUSES),
    derived={
        # Unpaid orders have no payment time: fall back to the creation time so they keep their date.
        "ordered_at": "coalesce(ordered_at, __created_at)",
        # 收货地址 "广东省 深圳市 南山区 …": province and city are its first two parts when not given.
        "province": "coalesce(province, nullif(split_part(regexp_replace(address, '\\s+', ' ', 'g'), ' ', 1), ''))",
        "city": "coalesce(city, nullif(split_part(regexp_replace(address, '\\s+', ' ', 'g'), ' ', 2), ''))",
        "channel": "coalesce(channel, 'taobao')",
    },
    doc="Taobao/Tmall seller-centre ExportOrderList: GBK, ='…' cells, only paid statuses are purchases.",
)

SHOPIFY_ORDERS = Format(
    name="shopify",
    kind="orders",
    aliases={
        "order_id": ("name", "order name", "order"),
        "customer_id": ("email", "customer email"),
        "ordered_at": ("created at", "paid at", "processed at"),
        "amount": ("total",),
        "status": ("financial status",),
        "refunded": ("refunded amount",),
        "discount": ("discount amount",),
        "sku": ("lineitem sku",),
        "product_name": ("lineitem name",),
        "quantity": ("lineitem quantity",),
        "unit_price": ("lineitem price",),
        "province": ("shipping province name", "shipping province", "billing province name", "billing province"),
        "city": ("shipping city", "billing city"),
        "customer_name": ("billing name", "shipping name"),
        "phone": ("phone", "billing phone", "shipping phone"),
        "channel": ("source",),
        "address": ("shipping address1", "billing address1"),
        "category": ("vendor",),
    },
    required=("order_id", "customer_id", "ordered_at", "amount"),
    paid_sql=_paid_in(SHOPIFY_PAID_STATUSES),
    derived={"channel": "coalesce(channel, 'shopify')"},
    customer_id_is_email=True,
    doc="Shopify admin orders export: one row per line item; continuation rows repeat Name only.",
)

GENERIC_CUSTOMERS = Format(
    name="generic",
    kind="customers",
    aliases={
        "customer_id": ("customer_id", "customer id", "id", "客户id", "客户编号", "会员id", "用户id"),
        "name": ("name", "customer_name", "姓名", "客户姓名"),
        "phone": ("phone", "mobile", "手机", "手机号", "电话"),
        "email": ("email", "邮箱"),
        "gender": ("gender", "sex", "性别"),
        "birth_date": ("birth_date", "birthday", "birth_year", "生日", "出生日期", "出生年份"),
        "province": ("province", "省份", "省"),
        "city": ("city", "城市", "市"),
        "channel": ("channel", "渠道", "来源"),
        "registered_at": ("registered_at", "created_at", "signup_date", "注册时间", "注册日期"),
        "marketing_consent": ("marketing_consent", "accepts_marketing", "营销同意"),
        "address": ("address", "地址"),
    },
    required=("customer_id",),
    doc="One row per customer; personal fields are encrypted on import.",
)

SHOPIFY_CUSTOMERS = Format(
    name="shopify",
    kind="customers",
    aliases={
        "customer_id": ("email",),
        "__first_name": ("first name",),
        "__last_name": ("last name",),
        "__customer_id": ("customer id", "id"),
        "phone": ("phone", "default address phone"),
        "province": ("province", "default address province code", "province code"),
        "city": ("city", "default address city"),
        "marketing_consent": ("accepts marketing", "accepts email marketing"),
        "address": ("address1", "default address address1"),
        "registered_at": ("created at",),
    },
    required=("customer_id",),
    derived={
        "customer_id": "coalesce(customer_id, __customer_id)",
        "name": "nullif(trim(concat_ws(' ', __first_name, __last_name)), '')",
        "channel": "'shopify'",
    },
    customer_id_is_email=True,
    doc="Shopify customers export (old 'Accepts Marketing' and new 'Accepts Email Marketing' headers).",
)

FORMATS: dict[tuple[str, str], Format] = {
    (f.kind, f.name): f
    for f in (GENERIC_ORDERS, CDNOW_ORDERS, TAOBAO_ORDERS, SHOPIFY_ORDERS, GENERIC_CUSTOMERS, SHOPIFY_CUSTOMERS)
}


def get_format(kind: str, name: str) -> Format:
    """The format ``name`` for ``kind`` (orders or customers); raises InvalidInput listing the known ones."""
    from kehu.errors import InvalidInput

    try:
        return FORMATS[(kind, name)]
    except KeyError:
        known = ", ".join(sorted(n for k, n in FORMATS if k == kind))
        raise InvalidInput(f"unknown {kind} format {name!r}; choose one of: {known}") from None
