"""The read queries behind the pages (SQLAlchemy 2 ``select()``), on SQLite and PostgreSQL alike.

Money stays integer cents here; templates format it. Purchases are paid orders that are not fully refunded
(DESIGN.md); revenue is what was paid minus what was refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.orm import Session

from kehu.errors import NotFound
from kehu.store import Classification, ClassificationSnapshot, Customer, Order, OrderLine

PAGE_SIZE = 50
PROFILE_ORDERS = 200

SortKey = Literal["recency_days", "frequency", "monetary_cents", "external_id", "clv_365d_cents", "churn_risk"]
SortDir = Literal["asc", "desc"]
SORT_KEYS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_cents",
    "external_id",
    "clv_365d_cents",
    "churn_risk",
)


def is_purchase() -> ColumnElement[bool]:
    """The condition that makes an order a purchase: paid and not fully refunded."""
    return and_(Order.is_paid.is_(True), func.coalesce(Order.refunded_cents, 0) < Order.amount_cents)


def net_cents() -> ColumnElement[int]:
    """What an order brought in: amount minus refunds."""
    return Order.amount_cents - func.coalesce(Order.refunded_cents, 0)


def ready_snapshots(session: Session) -> list[ClassificationSnapshot]:
    """All ready snapshots, newest first."""
    stmt = (
        select(ClassificationSnapshot)
        .where(ClassificationSnapshot.status == "ready")
        .order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc())
    )
    return list(session.scalars(stmt))


def pick_snapshot(session: Session, as_of: date | None = None) -> ClassificationSnapshot | None:
    """The newest ready snapshot, or the newest ready one dated ``as_of``.

    ``None`` when there is no ready snapshot at all; :class:`NotFound` when ``as_of`` names a date without
    one.
    """
    stmt = select(ClassificationSnapshot).where(ClassificationSnapshot.status == "ready")
    if as_of is not None:
        stmt = stmt.where(ClassificationSnapshot.as_of == as_of)
    stmt = stmt.order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc()).limit(1)
    snapshot = session.scalar(stmt)
    if snapshot is None and as_of is not None:
        raise NotFound(f"no ready classification snapshot dated {as_of.isoformat()}; run `kehu classify`")
    return snapshot


@dataclass(frozen=True)
class KeyFigures:
    """Headline numbers over purchases (up to a date when given)."""

    customers: int
    buyers: int
    orders: int
    revenue_cents: int
    repeat_buyers: int

    @property
    def aov_cents(self) -> int | None:
        """Average order value in cents (rounded half up), ``None`` without orders."""
        if not self.orders:
            return None
        return (2 * self.revenue_cents + self.orders) // (2 * self.orders)

    @property
    def repeat_share(self) -> float | None:
        """Share of buyers with two or more purchases, ``None`` without buyers."""
        return self.repeat_buyers / self.buyers if self.buyers else None


def _until(stmt: Select, until: date | None) -> Select:
    if until is None:
        return stmt
    return stmt.where(Order.ordered_at < datetime.combine(until + timedelta(days=1), time.min))


def key_figures(session: Session, *, until: date | None = None) -> KeyFigures:
    """Customers in the store; buyers, purchases, revenue and repeat buyers up to ``until`` (inclusive)."""
    customers = session.scalar(select(func.count()).select_from(Customer)) or 0
    per_customer = _until(
        select(Order.customer_id, func.count().label("n"), func.sum(net_cents()).label("cents"))
        .where(is_purchase())
        .group_by(Order.customer_id),
        until,
    ).subquery()
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(per_customer.c.n), 0),
            func.coalesce(func.sum(per_customer.c.cents), 0),
            func.coalesce(func.sum(case((per_customer.c.n >= 2, 1), else_=0)), 0),
        ).select_from(per_customer)
    ).one()
    return KeyFigures(
        customers=int(customers),
        buyers=int(row[0]),
        orders=int(row[1]),
        revenue_cents=int(row[2]),
        repeat_buyers=int(row[3]),
    )


def snapshot_figures(session: Session, snapshot: ClassificationSnapshot) -> KeyFigures:
    """The key figures of ``snapshot``: stored with it by ``kehu classify``, or computed from the orders for a
    snapshot made before snapshots carried them."""
    summary = snapshot.summary or {}
    if "orders" not in summary:
        return key_figures(session, until=snapshot.as_of)
    return KeyFigures(
        customers=int(summary["customers"]),
        buyers=int(summary["buyers"]),
        orders=int(summary["orders"]),
        revenue_cents=int(summary["revenue_cents"]),
        repeat_buyers=int(summary["repeat_buyers"]),
    )


def snapshot_months(session: Session, snapshot: ClassificationSnapshot) -> list[tuple[str, int]]:
    """Monthly revenue up to the snapshot's date: stored with it, or computed from the orders (older snapshots)."""
    summary = snapshot.summary or {}
    if "monthly" not in summary:
        return monthly_revenue(session, until=snapshot.as_of)
    return [(str(month), int(cents)) for month, cents in summary["monthly"]]


def counts_by(session: Session, snapshot_id: int, column: str) -> list[tuple[str | None, int]]:
    """Customers per value of ``column`` (rfm_class, rfm_group or lifecycle_stage) in a snapshot, largest
    first."""
    if column not in ("rfm_class", "rfm_group", "lifecycle_stage"):
        raise ValueError(f"cannot count by {column!r}")
    col = getattr(Classification, column)
    stmt = (
        select(col, func.count())
        .where(Classification.snapshot_id == snapshot_id)
        .group_by(col)
        .order_by(func.count().desc(), col)
    )
    return [(row[0], int(row[1])) for row in session.execute(stmt).all()]


def monthly_revenue(session: Session, *, until: date | None = None) -> list[tuple[str, int]]:
    """Revenue in cents per calendar month (``YYYY-MM``) of purchases up to ``until``, oldest first."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        month = func.strftime("%Y-%m", Order.ordered_at)
    else:
        month = func.to_char(Order.ordered_at, "YYYY-MM")
    stmt = _until(
        select(month.label("month"), func.sum(net_cents()))
        .where(is_purchase())
        .group_by(month)
        .order_by(month),
        until,
    )
    return [(str(row[0]), int(row[1] or 0)) for row in session.execute(stmt).all()]


def provinces(session: Session) -> list[str]:
    """The provinces customers live in, sorted."""
    stmt = (
        select(Customer.province).where(Customer.province.is_not(None)).distinct().order_by(Customer.province)
    )
    return [p for p in session.scalars(stmt) if p]


@dataclass(frozen=True)
class CustomerFilters:
    """Filters of the customer list; ``None`` means any."""

    rfm_class: str | None = None
    lifecycle_stage: str | None = None
    province: str | None = None
    clv_tier: str | None = None
    cluster: int | None = None


@dataclass(frozen=True)
class CustomerPage:
    """One page of the customer list."""

    rows: list[tuple[Customer, Classification]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.page_size))


def customer_page(
    session: Session,
    *,
    snapshot_id: int,
    filters: CustomerFilters,
    sort: SortKey = "monetary_cents",
    direction: SortDir = "desc",
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> CustomerPage:
    """Customers of a snapshot with their classification: filtered, sorted (ties by customer id), one page.

    Customers without a value of the sort column (prospects, or a snapshot without predictions) come last.
    """
    conditions = [Classification.snapshot_id == snapshot_id]
    if filters.rfm_class:
        conditions.append(Classification.rfm_class == filters.rfm_class)
    if filters.lifecycle_stage:
        conditions.append(Classification.lifecycle_stage == filters.lifecycle_stage)
    if filters.province:
        conditions.append(Customer.province == filters.province)
    if filters.clv_tier:
        conditions.append(Classification.clv_tier == filters.clv_tier)
    if filters.cluster is not None:
        conditions.append(Classification.cluster == filters.cluster)
    base = (
        select(Customer, Classification)
        .join(Customer, Customer.id == Classification.customer_id)
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0

    column = Customer.external_id if sort == "external_id" else getattr(Classification, sort)
    key = column.asc() if direction == "asc" else column.desc()
    tie = Customer.id.asc() if direction == "asc" else Customer.id.desc()
    stmt = base.order_by(key.nulls_last(), tie).limit(page_size).offset((page - 1) * page_size)
    rows = [(c, k) for c, k in session.execute(stmt)]
    return CustomerPage(rows=rows, total=int(total), page=page, page_size=page_size)


@dataclass(frozen=True)
class Profile:
    """One customer: the row, its classification in the snapshot (if any), its newest orders with lines."""

    customer: Customer
    classification: Classification | None
    orders: list[tuple[Order, list[OrderLine]]]
    order_count: int


def customer_profile(
    session: Session, *, customer_id: int, snapshot_id: int | None, max_orders: int = PROFILE_ORDERS
) -> Profile:
    """The profile of customer ``customer_id`` (store id); :class:`NotFound` when there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    classification = None
    if snapshot_id is not None:
        classification = session.get(Classification, (snapshot_id, customer_id))
    order_count = session.scalar(select(func.count()).where(Order.customer_id == customer_id)) or 0
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.ordered_at.desc(), Order.id.desc())
            .limit(max_orders)
        )
    )
    lines: dict[int, list[OrderLine]] = {o.id: [] for o in orders}
    if orders:
        stmt = select(OrderLine).where(OrderLine.order_id.in_(list(lines))).order_by(OrderLine.line_no)
        for line in session.scalars(stmt):
            lines[line.order_id].append(line)
    return Profile(
        customer=customer,
        classification=classification,
        orders=[(o, lines[o.id]) for o in orders],
        order_count=int(order_count),
    )
