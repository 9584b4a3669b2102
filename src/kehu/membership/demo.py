"""Membership content for the demo store: the ledger built month by month with redemptions along the way, so the
membership page shows points issued, redeemed, expired and reversed over time, and tiers with their history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from kehu.config import Settings
from kehu.errors import InvalidInput
from kehu.membership.ledger import plan_redeem
from kehu.membership.refresh import (
    RefreshReport,
    _order_facts,
    _rows,
    _settle_customer,
    _write,
    ledger_entries,
    refresh,
    settle_points,
)
from kehu.membership.tiers import add_months
from kehu.store import PointsEntry, open_store, session_scope

REASONS: tuple[str, ...] = ("兑换优惠券", "兑换礼品", "积分抵现", "兑换运费券")


@dataclass(frozen=True)
class DemoReport:
    """What :func:`membership_demo` did: redemption days, how many redemptions and points, and the final refresh."""

    days: list[date]
    redemptions: int
    points: int
    final: RefreshReport


def _draw(customer_id: int, day: date) -> float:
    """A repeatable number in [0, 1) for a customer and a day."""
    digest = hashlib.blake2b(f"{customer_id}:{day.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def membership_demo(settings: Settings, as_of: date, *, months: int = 12, share: float = 0.12) -> DemoReport:
    """Build the demo store's membership up to ``as_of``: the ledger month by month over the last ``months``
    months, with about ``share`` of the customers holding 300 points or more redeeming part of them at each month's
    15th (a repeatable draw per customer and day), then a refresh as of ``as_of`` (tiers, tier history, expiries).

    Meant for a fresh demo store (``kehu demo``), right after the import; if a refresh already ran, its derived
    rows (earn, reverse, expire) are rebuilt. Refuses a store that already has redemptions (:class:`InvalidInput`),
    so real points are never touched.
    """
    open_store(settings.store_url)
    first = add_months(as_of, -months)
    days = [add_months(first, i).replace(day=15) for i in range(months + 1)]
    days = [d for d in days if first < d < as_of]
    redemptions = total = 0
    with session_scope(settings.store_url) as session:
        if session.scalar(select(func.count()).select_from(PointsEntry).where(PointsEntry.kind == "redeem")):
            raise InvalidInput("the store already has points redemptions: membership_demo is for a fresh demo store")
        session.execute(delete(PointsEntry))
        for day in days:
            at = datetime.combine(day, time(10, 0))
            settle_points(session, settings=settings, as_of=day - timedelta(days=1), report=RefreshReport(as_of=day))
            holders = list(session.execute(
                select(PointsEntry.customer_id).group_by(PointsEntry.customer_id)
                .having(func.sum(PointsEntry.points) >= 300)
            ).scalars())
            chosen = [c for c in holders if _draw(c, day) < share]
            entries = ledger_entries(session, chosen)
            orders = _order_facts(session, chosen)
            rows: list[dict[str, Any]] = []
            for n, customer_id in enumerate(chosen):
                book, settled = _settle_customer(settings, entries.get(customer_id, []),
                                                 orders.get(customer_id, []), at, day)
                available = book.live(at)
                points = int(available * (0.3 + 0.6 * _draw(customer_id + 1, day))) // 100 * 100
                if points <= 0:
                    continue
                entry = plan_redeem(book, points, at + timedelta(minutes=n % 600),
                                    ref=f"d:demo-{customer_id}-{day.isoformat()}")
                reason = REASONS[customer_id % len(REASONS)]
                rows += _rows(customer_id, settled) + _rows(customer_id, [entry], reason=reason)
                redemptions += 1
                total += points
            _write(session, rows)
        final = refresh(session, settings=settings, as_of=as_of)
    return DemoReport(days=days, redemptions=redemptions, points=total, final=final)
