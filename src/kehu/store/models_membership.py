"""Membership tables (issue 5, part 2): each customer's current tier, the dated tier changes, the points ledger and
the refresh runs.

The points balance is the sum of a customer's ledger rows; no stored counter can drift from it. Rows derived from
orders carry a unique ``ref`` (``e:<order>`` earn, ``r:<order>:<refunded cents>`` reversal, ``x:<order>``
expiry), so re-running a refresh over the same orders adds nothing. See :mod:`kehu.membership`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from kehu.store.models import Base


class MemberTier(Base):
    """A customer's tier as of the newest membership refresh (its date is in :class:`MembershipRun`); one row per
    customer with a purchase (a paid order not fully refunded) on or before that date."""

    __tablename__ = "member_tiers"
    __table_args__ = (Index("ix_member_tiers_tier", "tier"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    #: standard | silver | gold | diamond (kehu.membership.tiers.TIERS).
    tier: Mapped[str] = mapped_column(String(16))
    #: The day the customer entered this tier (the first paid order's day for a customer never promoted).
    since: Mapped[date] = mapped_column(Date)
    #: Paid, not refunded spend of the trailing window (default 12 months) up to the refresh's as-of date, cents.
    spend_cents: Mapped[int] = mapped_column(BigInteger)


class TierChange(Base):
    """One upgrade or downgrade on the day it happened (recomputed from the orders at every refresh)."""

    __tablename__ = "tier_changes"
    __table_args__ = (
        UniqueConstraint("customer_id", "changed_on", name="uq_tier_changes_customer_day"),
        Index("ix_tier_changes_changed_on", "changed_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    changed_on: Mapped[date] = mapped_column(Date)
    from_tier: Mapped[str] = mapped_column(String(16))
    to_tier: Mapped[str] = mapped_column(String(16))
    #: up | down
    direction: Mapped[str] = mapped_column(String(8))
    #: Trailing-window spend at the end of ``changed_on``, cents.
    spend_cents: Mapped[int] = mapped_column(BigInteger)


class PointsEntry(Base):
    """One row of the points ledger: earn (+), redeem, reverse or expire (−), in points.

    ``order_id`` names the earning order of earn, reverse and expire rows (the batch they belong to); redeem rows
    have none. ``at`` never decreases along ``seq``. ``basis_cents`` is the amount points were earned on (earn) or
    the order's refunded amount this reversal brings it to (reverse). A reversal that could not take all its points
    back because they were already spent keeps the rest in ``uncovered`` (the balance never goes negative).
    """

    __tablename__ = "points_ledger"
    __table_args__ = (
        UniqueConstraint("customer_id", "seq", name="uq_points_ledger_customer_seq"),
        Index("ix_points_ledger_order_kind", "order_id", "kind"),
        Index("ix_points_ledger_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    #: The row's place in the customer's ledger (1, 2, …): rows are replayed in this order, and two writers that
    #: append to the same customer at once collide on it instead of both spending the same points.
    seq: Mapped[int] = mapped_column(Integer)
    #: earn | redeem | reverse | expire
    kind: Mapped[str] = mapped_column(String(8))
    points: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    #: The earning order's store id (no foreign key: the ledger keeps its history if an order is removed).
    order_id: Mapped[int | None] = mapped_column(Integer)
    basis_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Earn rows: the day the batch's remaining points expire.
    expires_on: Mapped[date | None] = mapped_column(Date)
    uncovered: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Redeem rows: why, a short label such as 兑换优惠券 (text that looks like a phone number, e-mail address or ID
    #: number is refused, so no personal data lands here in plaintext).
    reason: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class MembershipRun(Base):
    """One membership refresh: its as-of date and what it changed (counts only)."""

    __tablename__ = "membership_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    report: Mapped[dict] = mapped_column(JSON, default=dict)
