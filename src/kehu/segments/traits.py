"""Behaviour traits of each buyer at a snapshot's date, computed in the store with one ``INSERT … SELECT``.

The snapshot holds recency, frequency, money and the predictions; the profile tags of DESIGN.md also need

* ``discount_share``: the share of the customer's purchases up to the date that had a discount or coupon
  (``orders.discount_cents > 0``), 0–1;
* ``price_rank``: over the order lines of those purchases that have a category and a unit price, the mean of each
  line's ``PERCENT_RANK()`` of unit price within its category (0 = the cheapest price of the category, 1 = the
  dearest; equal prices share a rank), so ``price_rank >= 0.8`` means the customer buys, on average, in the dearest
  fifth of each category;
* ``complaints_180d``: complaints (feedback of kind ``complaint``) in the 180 days up to the date, when the
  feedback part is installed (``NULL`` otherwise).

Purchases are paid orders not fully refunded (DESIGN.md). A customer without any of these has no row, so every
trait of theirs is NULL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, delete, func, insert, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import kehu.store as store
from kehu.store import Classification, ClassificationSnapshot, Order, OrderLine, SegmentRefresh, SegmentTrait

#: The window of ``complaints_180d`` (days up to and including the snapshot's date).
COMPLAINT_DAYS = 180


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _end(as_of: date) -> datetime:
    """The first moment after ``as_of`` (orders are compared with ``<``)."""
    return datetime.combine(as_of + timedelta(days=1), time.min)


def _complaints(end: datetime) -> Any:
    """``(customer_id, n)`` of complaints in the window, or ``None`` without the feedback part's table."""
    feedback = getattr(store, "Feedback", None)
    if feedback is None or not all(hasattr(feedback, a) for a in ("customer_id", "created_at", "kind")):
        return None
    return (select(feedback.customer_id.label("customer_id"), func.count().label("n"))
            .where(feedback.kind == "complaint", feedback.created_at >= end - timedelta(days=COMPLAINT_DAYS),
                   feedback.created_at < end)
            .group_by(feedback.customer_id)
            .subquery("complaints"))


def compute_traits(session: Session, snapshot: ClassificationSnapshot) -> int:
    """Replace the traits of ``snapshot`` (in the caller's transaction) and mark them computed; returns the rows.

    One statement each for the delete and the insert, both run by the store; nothing goes through Python.
    """
    sid = snapshot.id
    end = _end(snapshot.as_of)
    purchase = and_(Order.is_paid.is_(True), func.coalesce(Order.refunded_cents, 0) < Order.amount_cents,
                    Order.ordered_at < end)
    discounts = (select(Order.customer_id.label("customer_id"),
                        func.avg(case((func.coalesce(Order.discount_cents, 0) > 0, 1.0), else_=0.0))
                        .label("share"))
                 .where(purchase).group_by(Order.customer_id).subquery("discounts"))
    ranked = (select(Order.customer_id.label("customer_id"),
                     func.percent_rank().over(partition_by=OrderLine.category, order_by=OrderLine.unit_price_cents)
                     .label("r"))
              .join(OrderLine, OrderLine.order_id == Order.id)
              .where(purchase, OrderLine.category.is_not(None), OrderLine.unit_price_cents.is_not(None))
              .subquery("ranked"))
    prices = (select(ranked.c.customer_id, func.avg(ranked.c.r).label("rank"))
              .group_by(ranked.c.customer_id).subquery("prices"))
    complaints = _complaints(end)
    k = Classification
    source = (k.__table__.outerjoin(discounts, discounts.c.customer_id == k.customer_id)
              .outerjoin(prices, prices.c.customer_id == k.customer_id))
    present = [discounts.c.customer_id.is_not(None), prices.c.customer_id.is_not(None)]
    complaint_count: Any = literal(None, Integer)
    if complaints is not None:
        source = source.outerjoin(complaints, complaints.c.customer_id == k.customer_id)
        present.append(complaints.c.customer_id.is_not(None))
        complaint_count = complaints.c.n
    rows = (select(literal(sid, Integer), k.customer_id, cast(discounts.c.share, Float),
                   cast(prices.c.rank, Float), complaint_count)
            .select_from(source)
            .where(k.snapshot_id == sid, or_(*present)))
    session.execute(delete(SegmentTrait).where(SegmentTrait.snapshot_id == sid))
    session.execute(insert(SegmentTrait).from_select(
        ["snapshot_id", "customer_id", "discount_share", "price_rank", "complaints_180d"], rows))
    mark = session.get(SegmentRefresh, sid)
    if mark is None:
        session.add(SegmentRefresh(snapshot_id=sid, traits_at=_now()))
    else:
        mark.traits_at = _now()
    session.flush()
    return int(session.scalar(select(func.count()).select_from(SegmentTrait)
                              .where(SegmentTrait.snapshot_id == sid)) or 0)


def ensure_traits(session: Session, snapshot: ClassificationSnapshot, *, commit: bool = True) -> None:
    """Compute the traits of ``snapshot`` unless they are, for a rule asked about a snapshot that was never
    refreshed.

    With ``commit`` (pages) the traits are committed at once, and when another request computes them at the same
    time its rows are kept and this one gives way (the session is rolled back). Without it (inside a larger
    change) they join the caller's transaction.
    """
    if session.get(SegmentRefresh, snapshot.id) is not None:
        return
    if not commit:
        compute_traits(session, snapshot)
        return
    try:
        compute_traits(session, snapshot)
        session.commit()
    except IntegrityError:
        session.rollback()


__all__ = ["COMPLAINT_DAYS", "compute_traits", "ensure_traits"]
