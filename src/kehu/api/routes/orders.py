"""``/orders`` and ``/customers/{id}/orders``: orders with filters and sorting, and one order with its lines."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, func, select

from kehu.api import customer_writes
from kehu.api.auth import ApiUser, api_require
from kehu.api.paging import Paging, order_by, paginate
from kehu.api.params import MAX_ID, CustomerId, OrderId
from kehu.api.present import order_public
from kehu.api.schemas import OrderDetail, OrderLinePublic, OrderPublic, Page
from kehu.errors import InvalidInput, NotFound
from kehu.store import Order, OrderLine
from kehu.web.deps import DbSession

router = APIRouter(tags=["orders"])

OrdersViewer = Annotated[ApiUser, Depends(api_require("view_orders"))]

OrderSort = Literal["ordered_at", "-ordered_at", "amount_cents", "-amount_cents", "id", "-id", "external_id",
                    "-external_id"]
_SORT_COLUMNS = {"ordered_at": Order.ordered_at, "amount_cents": Order.amount_cents, "id": Order.id,
                 "external_id": Order.external_id}
#: Largest amount filter in cents (fits a BIGINT with room to spare).
MAX_CENTS = 10**15


class OrderFilters:
    """The filters of an order list, as query parameters."""

    def __init__(
        self,
        source: Annotated[str | None, Query(max_length=16, description="import format")] = None,
        status: Annotated[str | None, Query(max_length=32, description="status as imported")] = None,
        channel: Annotated[str | None, Query(max_length=32)] = None,
        province: Annotated[str | None, Query(max_length=32)] = None,
        is_paid: bool | None = None,
        purchases_only: Annotated[bool, Query(description="only paid orders not fully refunded")] = False,
        ordered_from: Annotated[date | None, Query(description="first day (inclusive)")] = None,
        ordered_to: Annotated[date | None, Query(description="last day (inclusive)")] = None,
        min_amount_cents: Annotated[int | None, Query(ge=0, le=MAX_CENTS)] = None,
        max_amount_cents: Annotated[int | None, Query(ge=0, le=MAX_CENTS)] = None,
    ) -> None:
        if ordered_from and ordered_to and ordered_from > ordered_to:
            raise InvalidInput(f"ordered_from {ordered_from} is after ordered_to {ordered_to}")
        self.values: dict[str, Any] = {"source": source, "status": status, "channel": channel,
                                       "province": province, "is_paid": is_paid}
        self.purchases_only = purchases_only
        self.ordered_from = ordered_from
        self.ordered_to = ordered_to
        self.min_amount_cents = min_amount_cents
        self.max_amount_cents = max_amount_cents

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` restricted to the orders these filters let through."""
        for name, value in self.values.items():
            if value is not None:
                stmt = stmt.where(getattr(Order, name) == value)
        if self.purchases_only:
            stmt = stmt.where(Order.is_paid.is_(True), func.coalesce(Order.refunded_cents, 0) < Order.amount_cents)
        if self.ordered_from is not None:
            stmt = stmt.where(Order.ordered_at >= datetime.combine(self.ordered_from, time.min))
        if self.ordered_to is not None and self.ordered_to < date.max:
            stmt = stmt.where(Order.ordered_at < datetime.combine(self.ordered_to + timedelta(days=1), time.min))
        if self.min_amount_cents is not None:
            stmt = stmt.where(Order.amount_cents >= self.min_amount_cents)
        if self.max_amount_cents is not None:
            stmt = stmt.where(Order.amount_cents <= self.max_amount_cents)
        return stmt


Filters = Annotated[OrderFilters, Depends()]


def _page(db: DbSession, stmt: Select[Any], filters: OrderFilters, sort: str, paging: Paging) -> Page[OrderPublic]:
    stmt = filters.apply(stmt).order_by(*order_by(sort, _SORT_COLUMNS, Order.id))
    return paginate(db, stmt, paging, lambda o: OrderPublic(**order_public(o)))


@router.get("/orders", response_model=Page[OrderPublic], summary="List orders")
def list_orders(
    db: DbSession,
    user: OrdersViewer,
    paging: Paging,
    filters: Filters,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="store id of the customer")] = None,
    sort: OrderSort = "-ordered_at",
) -> Page[OrderPublic]:
    """Orders, filtered and sorted (default newest first; ties by id), one page. Money in integer cents."""
    stmt = select(Order)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    return _page(db, stmt, filters, sort, paging)


@router.get("/customers/{customer_id}/orders", response_model=Page[OrderPublic], summary="A customer's orders")
def customer_orders(
    db: DbSession, user: OrdersViewer, paging: Paging, filters: Filters, customer_id: CustomerId,
    sort: OrderSort = "-ordered_at",
) -> Page[OrderPublic]:
    """One customer's orders (404 for an unknown customer), filtered and sorted like ``/orders``."""
    customer_writes.get_customer(db, customer_id)
    return _page(db, select(Order).where(Order.customer_id == customer_id), filters, sort, paging)


@router.get("/orders/{order_id}", response_model=OrderDetail, summary="Get one order with its lines")
def get_order(db: DbSession, user: OrdersViewer, order_id: OrderId) -> OrderDetail:
    """One order and its lines (by line number)."""
    order = db.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    lines = db.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no))
    return OrderDetail(**order_public(order), lines=[
        OrderLinePublic(line_no=line.line_no, product_id=line.product_id, sku=line.sku,
                        product_name=line.product_name, category=line.category, quantity=line.quantity,
                        unit_price_cents=line.unit_price_cents, discount_cents=line.discount_cents or 0)
        for line in lines])
