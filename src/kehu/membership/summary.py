"""What pages and the CLI show of membership: one customer's card and ledger, and the overview of all members.

Everything is read from the tables the refresh keeps (:mod:`kehu.membership.refresh`); nothing here writes. The
tier thresholds shown are the ones of the newest refresh (kept in its report), so a card agrees with the tiers it
shows even if the settings changed since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from kehu.membership.ledger import replay
from kehu.membership.refresh import ledger_entries
from kehu.membership.tiers import TIERS
from kehu.store import Customer, MembershipRun, MemberTier, Order, PointsEntry, TierChange

#: Ledger rows on a customer's card (the ledger page shows more).
CARD_ROWS = 8


@dataclass(frozen=True)
class LedgerRow:
    """One ledger row for display, with the balance after it."""

    id: int
    seq: int
    kind: str
    points: int
    at: datetime
    balance: int
    order_id: int | None = None
    order_ref: str | None = None
    reason: str | None = None
    uncovered: int = 0
    expires_on: date | None = None


@dataclass(frozen=True)
class TierStep:
    """One upgrade or downgrade."""

    changed_on: date
    from_tier: str
    to_tier: str
    direction: str
    spend_cents: int


@dataclass(frozen=True)
class MemberSummary:
    """One customer's membership as the profile card shows it.

    ``tier`` is ``None`` when the customer had no purchase by the newest refresh's date (or no refresh ran);
    ``to_next_cents`` is the spend still missing for ``next_tier`` (``None`` at the top tier). ``expiring`` lists
    the next expiry days with the points that will lapse on them unless spent first (at most three).
    """

    customer_id: int
    as_of: date | None
    tier: str | None
    since: date | None
    spend_cents: int
    next_tier: str | None
    to_next_cents: int | None
    window_months: int | None
    balance: int
    earned: int
    redeemed: int
    expired: int
    reversed: int
    expiring: list[tuple[date, int]] = field(default_factory=list)
    recent: list[LedgerRow] = field(default_factory=list)
    changes: list[TierStep] = field(default_factory=list)


def latest_run(session: Session) -> MembershipRun | None:
    """The newest membership refresh (``None`` before the first)."""
    return session.scalar(select(MembershipRun).order_by(MembershipRun.id.desc()).limit(1))


def run_thresholds(run: MembershipRun | None) -> dict[str, int]:
    """Tier → lower bound in cents as used by ``run`` (empty when unknown)."""
    if run is None:
        return {}
    yuan = (run.report or {}).get("thresholds_yuan") or {}
    return {tier: int(yuan[tier]) * 100 for tier in TIERS if tier in yuan}


def _totals(session: Session, customer_id: int | None = None) -> dict[str, int]:
    query = select(PointsEntry.kind, func.coalesce(func.sum(PointsEntry.points), 0)).group_by(PointsEntry.kind)
    if customer_id is not None:
        query = query.where(PointsEntry.customer_id == customer_id)
    sums = {kind: int(total) for kind, total in session.execute(query)}
    return {"earned": sums.get("earn", 0), "redeemed": -sums.get("redeem", 0), "expired": -sums.get("expire", 0),
            "reversed": -sums.get("reverse", 0), "balance": sum(sums.values())}


def membership_summary(session: Session, customer_id: int) -> MemberSummary:
    """The membership card of one customer (store id): tier, spend and the way to the next tier, points balance
    with what expires next, the newest ledger rows and the tier history. Works for any customer id (an unknown or
    never-refreshed customer gets an empty card)."""
    run = latest_run(session)
    row = session.get(MemberTier, customer_id)
    limits = run_thresholds(run)
    next_tier = to_next = None
    if row is not None:
        rank = TIERS.index(row.tier) if row.tier in TIERS else 0
        if rank + 1 < len(TIERS):
            next_tier = TIERS[rank + 1]
            if next_tier in limits:
                to_next = max(limits[next_tier] - row.spend_cents, 0)
    entries = ledger_entries(session, [customer_id]).get(customer_id, [])
    book = replay(entries)
    open_batches = sorted((b.expires_on, b.remaining) for b in book.batches.values() if not b.closed and b.remaining)
    expiring: dict[date, int] = {}
    for day, points in open_batches:
        if day in expiring or len(expiring) < 3:
            expiring[day] = expiring.get(day, 0) + points
    totals = _totals(session, customer_id)
    changes = [
        TierStep(c.changed_on, c.from_tier, c.to_tier, c.direction, c.spend_cents)
        for c in session.scalars(select(TierChange).where(TierChange.customer_id == customer_id)
                                 .order_by(TierChange.changed_on.desc()).limit(20))
    ]
    return MemberSummary(
        customer_id=customer_id,
        as_of=run.as_of if run else None,
        tier=row.tier if row else None,
        since=row.since if row else None,
        spend_cents=row.spend_cents if row else 0,
        next_tier=next_tier,
        to_next_cents=to_next,
        window_months=(run.report or {}).get("window_months") if run else None,
        balance=totals["balance"],
        earned=totals["earned"],
        redeemed=totals["redeemed"],
        expired=totals["expired"],
        reversed=totals["reversed"],
        expiring=sorted(expiring.items()),
        recent=customer_ledger(session, customer_id, limit=CARD_ROWS),
        changes=changes,
    )


def customer_ledger(session: Session, customer_id: int, *, limit: int = 500) -> list[LedgerRow]:
    """A customer's newest ``limit`` ledger rows, newest first, each with the balance after it and the source id
    of its order."""
    rows = list(session.execute(
        select(PointsEntry, Order.external_id).outerjoin(Order, Order.id == PointsEntry.order_id)
        .where(PointsEntry.customer_id == customer_id).order_by(PointsEntry.seq)
    ))
    out: list[LedgerRow] = []
    running = 0
    for entry, order_ref in rows:
        running += entry.points
        out.append(LedgerRow(id=entry.id, seq=entry.seq, kind=entry.kind, points=entry.points, at=entry.at,
                             balance=running, order_id=entry.order_id, order_ref=order_ref, reason=entry.reason,
                             uncovered=entry.uncovered, expires_on=entry.expires_on))
    return out[::-1][:limit]


@dataclass(frozen=True)
class Overview:
    """The membership page's numbers: the newest refresh, members per tier, tier changes and points per month,
    points totals. ``months`` rows are ``(YYYY-MM, upgrades, downgrades)``; ``points_months`` rows are
    ``(YYYY-MM, earned, redeemed, expired, reversed)``; both cover every month from the first to the last one with
    data (months without any are zeros)."""

    run: MembershipRun | None
    customers: int
    tiers: list[tuple[str, int, int]]  # (tier, members, spend cents)
    months: list[tuple[str, int, int]]
    points_months: list[tuple[str, int, int, int, int]]
    totals: dict[str, int]
    holders: int
    thresholds: dict[str, int]

    @property
    def members(self) -> int:
        """Customers with a tier (a purchase by the refresh date)."""
        return sum(n for _, n, _ in self.tiers)


def _month(year: Any, month: Any) -> str:
    return f"{int(year):04d}-{int(month):02d}"


def _every_month(found: dict[str, list[int]], width: int) -> list[tuple[str, list[int]]]:
    """``found`` (YYYY-MM → values) with the months in between that have nothing filled in with zeros, in order."""
    if not found:
        return []
    first, last = min(found), max(found)
    year, month = int(first[:4]), int(first[5:])
    out = []
    while (key := _month(year, month)) <= last:
        out.append((key, found.get(key, [0] * width)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def membership_overview(session: Session) -> Overview:
    """All the numbers of the membership page, in a handful of grouped queries."""
    run = latest_run(session)
    counts = {tier: (int(n), int(spend)) for tier, n, spend in session.execute(
        select(MemberTier.tier, func.count(), func.coalesce(func.sum(MemberTier.spend_cents), 0))
        .group_by(MemberTier.tier))}
    tiers = [(tier, *counts.get(tier, (0, 0))) for tier in TIERS]
    months: dict[str, list[int]] = {}
    year, month = extract("year", TierChange.changed_on), extract("month", TierChange.changed_on)
    for y, m, direction, n in session.execute(
        select(year, month, TierChange.direction, func.count()).group_by(year, month, TierChange.direction)
    ):
        slot = months.setdefault(_month(y, m), [0, 0])
        slot[0 if direction == "up" else 1] += int(n)
    points: dict[str, list[int]] = {}
    kinds = {"earn": 0, "redeem": 1, "expire": 2, "reverse": 3}
    year, month = extract("year", PointsEntry.at), extract("month", PointsEntry.at)
    for y, m, kind, total in session.execute(
        select(year, month, PointsEntry.kind, func.coalesce(func.sum(PointsEntry.points), 0))
        .group_by(year, month, PointsEntry.kind)
    ):
        slot = points.setdefault(_month(y, m), [0, 0, 0, 0])
        if kind in kinds:
            slot[kinds[kind]] += abs(int(total))
    per_customer = (select(PointsEntry.customer_id).group_by(PointsEntry.customer_id)
                    .having(func.sum(PointsEntry.points) > 0).subquery())
    holders = int(session.scalar(select(func.count()).select_from(per_customer)) or 0)
    uncovered = int(session.scalar(select(func.coalesce(func.sum(PointsEntry.uncovered), 0))) or 0)
    return Overview(
        run=run,
        customers=int(session.scalar(select(func.count()).select_from(Customer)) or 0),
        tiers=tiers,
        months=[(k, v[0], v[1]) for k, v in _every_month(months, 2)],
        points_months=[(k, v[0], v[1], v[2], v[3]) for k, v in _every_month(points, 4)],
        totals={**_totals(session), "uncovered": uncovered},
        holders=holders,
        thresholds=run_thresholds(run),
    )
