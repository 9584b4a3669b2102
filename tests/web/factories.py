"""A small classified store for the web tests (and the browser test), built directly with SQLAlchemy.

Customers get ciphertexts from :class:`kehu.privacy.FieldCipher`, orders with lines, one ready snapshot (and
an older ready one, and a newer one still building) with one :class:`kehu.store.Classification` row per
customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kehu.config import Settings
from kehu.privacy import FieldCipher
from kehu.store import (
    Classification,
    ClassificationSnapshot,
    Customer,
    Order,
    OrderLine,
    User,
    open_store,
    session_scope,
)
from kehu.web.auth import hash_password

AS_OF = date(2025, 6, 30)
OLD_AS_OF = date(2025, 3, 31)
PASSWORD = "correct horse battery staple"
VIP_PHONE = "13812345678"
VIP_NAME = "张三丰"
VIP_EMAIL = "zhang.sanfeng@example.com"

PROVINCES = ["广东", "浙江", "北京", "上海"]
CLASSES = ["important_value", "general_development", "important_winback", "general_winback"]
STAGES = ["active", "new", "at_risk", "churned"]
GROUPS = ["champions", "new", "at_risk", "hibernating"]


@dataclass(frozen=True)
class FixtureStore:
    """What the tests need to know about the store they got."""

    customers: int
    vip_id: int
    prospect_id: int
    snapshot_id: int
    buyers: int
    orders: int
    revenue_cents: int
    repeat_buyers: int


def add_user(settings: Settings, username: str, role: str, password: str = PASSWORD) -> None:
    """Add a user with ``role`` and ``password``."""
    with session_scope(settings.store_url) as session:
        session.add(User(username=username, password_hash=hash_password(password), role=role))


def build_store(settings: Settings, *, customers: int = 60, with_snapshot: bool = True) -> FixtureStore:
    """Create ``customers`` customers (C0000 is the VIP with a known phone; the last has no order), their
    orders, and unless ``with_snapshot`` is false, the snapshots."""
    open_store(settings.store_url)
    cipher = FieldCipher.from_settings(settings)
    buyers = orders_total = revenue = repeat = 0
    with session_scope(settings.store_url) as session:
        rows: list[Customer] = []
        for i in range(customers):
            phone = VIP_PHONE if i == 0 else f"139{i:08d}"
            name = VIP_NAME if i == 0 else f"客户{i}号"
            email = VIP_EMAIL if i == 0 else f"user{i}@example.com"
            rows.append(
                Customer(
                    source="generic",
                    external_id=f"C{i:04d}",
                    name_enc=cipher.encrypt("name", name),
                    phone_enc=cipher.encrypt("phone", phone),
                    phone_index=cipher.blind_index("phone", phone),
                    email_enc=cipher.encrypt("email", email),
                    email_index=cipher.blind_index("email", email),
                    gender="F" if i % 2 else "M",
                    birth_year=1980 + i % 20,
                    province=PROVINCES[i % len(PROVINCES)],
                    city="深圳" if i % 4 == 0 else "杭州",
                    channel="tmall",
                    registered_at=datetime(2023, 1, 1) + timedelta(days=i),
                    marketing_consent=i % 3 != 0,
                )
            )
        session.add_all(rows)
        session.flush()

        order_no = 0
        per_customer: dict[int, list[Order]] = {}
        for i, customer in enumerate(rows[:-1]):  # the last customer is a prospect
            n = 1 + i % 3
            mine = []
            for j in range(n):
                order_no += 1
                when = datetime(2024, 1, 1, 10, 30) + timedelta(days=(i * 7 + j * 45) % 540)
                amount = 10_000 + i * 1_000 + j * 250  # cents
                mine.append(
                    Order(
                        source="generic",
                        external_id=f"O{order_no:05d}",
                        customer_id=customer.id,
                        ordered_at=when,
                        amount_cents=amount,
                        refunded_cents=0,
                        discount_cents=500 if j == 0 else 0,
                        status="completed",
                        is_paid=True,
                        channel="tmall",
                        province=customer.province,
                    )
                )
            per_customer[customer.id] = mine
            session.add_all(mine)
        # Not purchases: one unpaid, one fully refunded order for the VIP; and one after the snapshot date.
        vip = rows[0]
        session.add_all(
            [
                Order(
                    source="generic",
                    external_id="O-UNPAID",
                    customer_id=vip.id,
                    ordered_at=datetime(2025, 6, 1),
                    amount_cents=99_900,
                    is_paid=False,
                    status="pending",
                ),
                Order(
                    source="generic",
                    external_id="O-REFUND",
                    customer_id=vip.id,
                    ordered_at=datetime(2025, 6, 2),
                    amount_cents=50_000,
                    refunded_cents=50_000,
                    is_paid=True,
                    status="refunded",
                ),
                Order(
                    source="generic",
                    external_id="O-LATER",
                    customer_id=vip.id,
                    ordered_at=datetime(2025, 7, 15),
                    amount_cents=77_700,
                    is_paid=True,
                    status="completed",
                ),
            ]
        )
        session.flush()
        for mine in per_customer.values():
            for order in mine:
                session.add(
                    OrderLine(
                        order_id=order.id,
                        line_no=1,
                        sku="SKU-1",
                        product_name="保温杯 Thermos",
                        category="家居",
                        quantity=2,
                        unit_price_cents=order.amount_cents // 2,
                    )
                )
        for mine in per_customer.values():
            buyers += 1
            orders_total += len(mine)
            revenue += sum(o.amount_cents for o in mine)
            repeat += len(mine) >= 2

        snapshot_id = 0
        if with_snapshot:
            old = ClassificationSnapshot(as_of=OLD_AS_OF, status="ready", customers=customers)
            snap = ClassificationSnapshot(as_of=AS_OF, status="ready", customers=customers)
            building = ClassificationSnapshot(as_of=date(2025, 9, 30), status="building")
            session.add_all([old, snap, building])
            session.flush()
            snapshot_id = snap.id
            for i, customer in enumerate(rows):
                mine = per_customer.get(customer.id, [])
                for s, shift in ((snap, 0), (old, 1)):
                    if not mine:
                        session.add(
                            Classification(
                                snapshot_id=s.id,
                                customer_id=customer.id,
                                recency_days=None,
                                frequency=0,
                                monetary_cents=0,
                                rfm_class=None,
                                rfm_group="prospect",
                                lifecycle_stage="prospect",
                            )
                        )
                        continue
                    k = (i + shift) % 4
                    last = max(o.ordered_at for o in mine).date()
                    session.add(
                        Classification(
                            snapshot_id=s.id,
                            customer_id=customer.id,
                            recency_days=(s.as_of - last).days,
                            frequency=len(mine),
                            monetary_cents=sum(o.amount_cents for o in mine),
                            aov_cents=sum(o.amount_cents for o in mine) // len(mine),
                            r_score=1 + k,
                            f_score=1 + i % 5,
                            m_score=5 - k,
                            rfm_class=CLASSES[k],
                            rfm_group=GROUPS[k],
                            lifecycle_stage=STAGES[k],
                            first_order_date=min(o.ordered_at for o in mine).date(),
                            last_order_date=last,
                            median_gap_days=45.0 if len(mine) > 1 else None,
                        )
                    )
    return FixtureStore(
        customers=customers,
        vip_id=rows[0].id,
        prospect_id=rows[-1].id,
        snapshot_id=snapshot_id,
        buyers=buyers,
        orders=orders_total,
        revenue_cents=revenue,
        repeat_buyers=repeat,
    )
