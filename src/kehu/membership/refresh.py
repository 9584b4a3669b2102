"""Keeping the store's membership current: tiers and tier history as of a date, the points ledger, redemptions.

:func:`membership_refresh` is what ``kehu members refresh`` and classification run. In one transaction it

1. recomputes every customer's tier path up to the as-of date from their paid orders
   (:func:`kehu.membership.tiers.tier_history`) and brings ``member_tiers`` and ``tier_changes`` in line with it
   (only the rows that differ are written, so a second run over the same orders writes nothing);
2. appends the missing points rows (:func:`kehu.membership.ledger.settle`) for the customers that need some: a paid
   order without its earn row, a refund larger than the one already reversed, a batch past its expiry day. Rows are
   keyed by ``ref`` (order id + kind), so re-running adds nothing;
3. records the run (:class:`kehu.store.MembershipRun`) with its counts.

Cost: one read of the paid orders (id, customer, time, amounts), NumPy for the tiers, and Python only for the
customers whose ledger changes.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Table, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.membership.ledger import Book, Entry, OrderFact, plan_redeem, replay, settle
from kehu.membership.tiers import TIERS, thresholds_cents, tier_history
from kehu.privacy import audit
from kehu.store import (
    Customer,
    MembershipRun,
    MemberTier,
    Order,
    PointsEntry,
    TierChange,
    open_store,
    session_scope,
)

#: The tables for Core inserts (no ORM bookkeeping per row).
_LEDGER: Table = PointsEntry.__table__  # type: ignore[assignment]
_TIERS: Table = MemberTier.__table__  # type: ignore[assignment]
_CHANGES: Table = TierChange.__table__  # type: ignore[assignment]
#: Orders per batch when reading the purchases for the tiers.
READ_ROWS = 200_000
#: Customers per read of orders and ledger rows while settling points.
CHUNK = 1000
#: The longest redemption reason, in characters.
REASON_MAX = 100
# Phone numbers, ID numbers, card numbers (7+ digits, spaces and dashes allowed between) and e-mail addresses.
_PERSONAL = re.compile(r"\d(?:[\s-]?\d){6,}|@")


@dataclass
class RefreshReport:
    """What :func:`membership_refresh` found and did.

    ``members``: customers with a purchase on or before ``as_of``; ``by_tier``: of them, how many are in each
    tier; ``upgrades``/``downgrades``: changes in the whole history up to ``as_of``; ``changes_written``: tier
    change rows inserted or deleted by this run; ``points``: points of the ledger rows this run added, by kind;
    ``rows``: how many rows it added; ``customers_settled``: customers whose ledger was looked at;
    ``thresholds_yuan``, ``window_months``, ``points_per_yuan``, ``points_expiry_months``: the rules used;
    ``points_through``: the day the ledger was settled to (``as_of``, or today when ``as_of`` is later).
    """

    as_of: date
    members: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)
    upgrades: int = 0
    downgrades: int = 0
    changes_written: int = 0
    tiers_written: int = 0
    points: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    customers_settled: int = 0
    thresholds_yuan: dict[str, int] = field(default_factory=dict)
    window_months: int = 12
    points_per_yuan: float = 1.0
    points_expiry_months: int = 24
    points_through: date | None = None

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready values (for :class:`MembershipRun`)."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["points_through"] = self.points_through.isoformat() if self.points_through else None
        return data


@dataclass(frozen=True)
class RedeemResult:
    """A redemption that was written: the customer, the points taken and the balance after it."""

    customer_id: int
    points: int
    balance: int
    entry_id: int
    at: datetime


def rate_of(settings: Settings) -> Decimal:
    """``KEHU_POINTS_PER_YUAN`` as an exact decimal (so 0.1 is one tenth, not a binary fraction)."""
    return Decimal(str(settings.points_per_yuan))


def local_now() -> datetime:
    """Now in the server's local time without a time zone: the ledger sits on the same clock as the order times of
    the imported files (a shop's local time), so a redemption is placed after the orders placed before it."""
    return datetime.now()


def membership_refresh(settings: Settings, as_of: date | None = None) -> RefreshReport:
    """Bring tiers, tier history and the points ledger up to ``as_of`` (default: today) in one transaction.

    The tiers are computed as of ``as_of`` whatever it is; the ledger is settled up to ``as_of`` or today,
    whichever is earlier. Idempotent: a second run with the same orders and date changes nothing. An earlier
    ``as_of`` than a previous run recomputes the tiers for that date (tier changes after it are removed); ledger
    rows already written stay.
    """
    as_of = as_of or date.today()
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        return refresh(session, settings=settings, as_of=as_of)


def refresh(session: Session, *, settings: Settings, as_of: date) -> RefreshReport:
    """:func:`membership_refresh` inside the caller's session (the caller commits)."""
    limits = thresholds_cents(settings)
    report = RefreshReport(as_of=as_of, window_months=settings.membership_window_months,
                           thresholds_yuan={tier: int(limits[i]) // 100 for i, tier in enumerate(TIERS)},
                           points_per_yuan=settings.points_per_yuan,
                           points_expiry_months=settings.points_expiry_months)
    refresh_tiers(session, settings=settings, as_of=as_of, report=report)
    settle_points(session, settings=settings, as_of=as_of, report=report)
    session.add(MembershipRun(as_of=as_of, report=report.as_json()))
    session.flush()
    return report


# --- tiers -------------------------------------------------------------------------------------------------------


def _purchases(session: Session, cutoff: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer id, day, net cents) of every paid order placed before ``cutoff``, read in batches of
    :data:`READ_ROWS` rows into NumPy arrays (no list of every order is ever held)."""
    query = (select(Order.customer_id, Order.ordered_at, Order.amount_cents, Order.refunded_cents)
             .where(Order.is_paid.is_(True), Order.ordered_at < cutoff)
             .execution_options(yield_per=READ_ROWS))
    cids, days, nets = [], [], []
    for rows in session.execute(query).partitions():
        n = len(rows)
        amounts = np.fromiter((r[2] or 0 for r in rows), np.int64, n)
        refunds = np.fromiter((r[3] or 0 for r in rows), np.int64, n)
        cids.append(np.fromiter((r[0] for r in rows), np.int64, n))
        days.append(np.array([r[1] for r in rows], dtype="datetime64[D]"))
        nets.append(amounts - np.clip(refunds, 0, np.maximum(amounts, 0)))
    if not cids:
        return np.zeros(0, np.int64), np.zeros(0, "datetime64[D]"), np.zeros(0, np.int64)
    return np.concatenate(cids), np.concatenate(days), np.concatenate(nets)


def refresh_tiers(session: Session, *, settings: Settings, as_of: date, report: RefreshReport) -> None:
    """Recompute every customer's tier path up to ``as_of`` and write only what differs."""
    cutoff = datetime.combine(as_of + timedelta(days=1), time.min)
    cid, days, net = _purchases(session, cutoff)
    history = tier_history(cid, days, net, as_of=as_of, window_months=settings.membership_window_months,
                           thresholds=thresholds_cents(settings))
    wanted = {
        int(c): (TIERS[int(t)], s, int(v))
        for c, t, s, v in zip(history.customer_id, history.tier, _dates(history.since), history.spend_cents,
                              strict=True)
    }
    have = {row.customer_id: (row.tier, row.since, row.spend_cents)
            for row in session.execute(select(MemberTier.customer_id, MemberTier.tier, MemberTier.since,
                                              MemberTier.spend_cents))}
    gone = [c for c in have if c not in wanted]
    for chunk in _chunks(gone, CHUNK):
        session.execute(delete(MemberTier).where(MemberTier.customer_id.in_(chunk)))
    new = [{"customer_id": c, "tier": t, "since": s, "spend_cents": v} for c, (t, s, v) in wanted.items()
           if c not in have]
    changed = [{"customer_id": c, "tier": t, "since": s, "spend_cents": v} for c, (t, s, v) in wanted.items()
               if c in have and have[c] != (t, s, v)]
    if new:
        session.execute(insert(_TIERS), new)
    if changed:
        session.execute(update(MemberTier), changed)
    report.tiers_written = len(gone) + len(new) + len(changed)
    report.members = len(wanted)
    counts = dict.fromkeys(TIERS, 0)
    for tier, _, _ in wanted.values():
        counts[tier] += 1
    report.by_tier = counts

    want_changes = {
        (int(c), d): (TIERS[int(f)], TIERS[int(t)], int(v))
        for c, d, f, t, v in zip(history.change_customer, _dates(history.change_day), history.change_from,
                                 history.change_to, history.change_spend, strict=True)
    }
    have_changes = {(row.customer_id, row.changed_on): (row.id, (row.from_tier, row.to_tier, row.spend_cents))
                    for row in session.execute(select(TierChange.id, TierChange.customer_id, TierChange.changed_on,
                                                      TierChange.from_tier, TierChange.to_tier,
                                                      TierChange.spend_cents))}
    stale = [row_id for key, (row_id, value) in have_changes.items() if want_changes.get(key) != value]
    for chunk in _chunks(stale, CHUNK):
        session.execute(delete(TierChange).where(TierChange.id.in_(chunk)))
    fresh = [
        {"customer_id": c, "changed_on": d, "from_tier": f, "to_tier": t, "spend_cents": v,
         "direction": "up" if TIERS.index(t) > TIERS.index(f) else "down"}
        for (c, d), (f, t, v) in want_changes.items()
        if _value(have_changes.get((c, d))) != (f, t, v)
    ]
    if fresh:
        session.execute(insert(_CHANGES), fresh)
    report.changes_written = len(stale) + len(fresh)
    report.upgrades = int(np.sum(history.change_to > history.change_from))
    report.downgrades = int(np.sum(history.change_to < history.change_from))


def _value(found: tuple[int, tuple[str, str, int]] | None) -> tuple[str, str, int] | None:
    return None if found is None else found[1]


def _dates(days: np.ndarray) -> list[date]:
    """``datetime64[D]`` values as ``date`` objects."""
    return list(days.astype("datetime64[D]").astype(object))


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --- points ------------------------------------------------------------------------------------------------------


def _to_entry(row: Any) -> Entry:
    return Entry(kind=row.kind, points=int(row.points), at=row.at, ref=row.ref, seq=int(row.seq),
                 order_id=row.order_id, basis_cents=int(row.basis_cents or 0), expires_on=row.expires_on,
                 uncovered=int(row.uncovered or 0))


_ENTRY_COLUMNS = (PointsEntry.customer_id, PointsEntry.kind, PointsEntry.points, PointsEntry.at, PointsEntry.ref,
                  PointsEntry.seq, PointsEntry.order_id, PointsEntry.basis_cents, PointsEntry.expires_on,
                  PointsEntry.uncovered)


def ledger_entries(session: Session, customer_ids: Iterable[int]) -> dict[int, list[Entry]]:
    """The written ledger rows of ``customer_ids``, in ledger order, per customer."""
    out: dict[int, list[Entry]] = defaultdict(list)
    for chunk in _chunks(sorted(set(customer_ids)), CHUNK):
        rows = session.execute(select(*_ENTRY_COLUMNS).where(PointsEntry.customer_id.in_(chunk))
                               .order_by(PointsEntry.customer_id, PointsEntry.seq))
        for row in rows:
            out[row.customer_id].append(_to_entry(row))
    return out


def _order_facts(session: Session, customer_ids: list[int]) -> dict[int, list[OrderFact]]:
    """Every order of ``customer_ids`` as :class:`OrderFact`, per customer."""
    out: dict[int, list[OrderFact]] = defaultdict(list)
    for chunk in _chunks(sorted(set(customer_ids)), CHUNK):
        rows = session.execute(
            select(Order.id, Order.customer_id, Order.ordered_at, Order.amount_cents, Order.refunded_cents,
                   Order.is_paid).where(Order.customer_id.in_(chunk))
        )
        for row in rows:
            out[row.customer_id].append(OrderFact(id=row.id, ordered_at=row.ordered_at,
                                                  amount_cents=row.amount_cents or 0,
                                                  refunded_cents=row.refunded_cents or 0, is_paid=bool(row.is_paid)))
    return out


def _customers_to_settle(session: Session, cutoff: datetime, through: date) -> list[int]:
    """Customers whose ledger lacks a row: an earn for a paid order, a reversal for a refund, an expiry."""
    earn = aliased(PointsEntry)
    missing_earn = select(Order.customer_id).where(
        Order.is_paid.is_(True), Order.ordered_at < cutoff,
        ~exists().where(earn.order_id == Order.id, earn.kind == "earn"),
    )
    rev = aliased(PointsEntry)
    reversed_so_far = (select(func.coalesce(func.max(rev.basis_cents), 0))
                       .where(rev.order_id == Order.id, rev.kind == "reverse").scalar_subquery())
    refunded = func.coalesce(Order.refunded_cents, 0)
    # Reversed less than the refunded amount (an order no longer paid counts as refunded whole).
    needs_reversal = select(Order.customer_id).join(earn, and_(earn.order_id == Order.id, earn.kind == "earn")).where(
        or_(refunded > 0, Order.is_paid.is_(False)),  # cheap filter first: most orders are neither
        or_(
            and_(Order.is_paid.is_(True), refunded > reversed_so_far),
            and_(Order.is_paid.is_(False), or_(refunded > reversed_so_far, Order.amount_cents > reversed_so_far)),
        ),
    )
    expiry = aliased(PointsEntry)
    due = select(earn.customer_id).where(
        earn.kind == "earn", earn.expires_on <= through,
        ~exists().where(expiry.order_id == earn.order_id, expiry.kind == "expire",
                        expiry.customer_id == earn.customer_id),
    )
    found: set[int] = set()
    for query in (missing_earn, needs_reversal, due):
        found.update(session.scalars(query.distinct()))
    return sorted(found)


def _rows(customer_id: int, entries: list[Entry], **extra: Any) -> list[dict[str, Any]]:
    """Ledger rows to insert for ``entries`` of one customer."""
    return [
        {"customer_id": customer_id, "kind": e.kind, "points": e.points, "at": e.at, "ref": e.ref, "seq": e.seq,
         "order_id": e.order_id, "basis_cents": e.basis_cents, "expires_on": e.expires_on, "uncovered": e.uncovered,
         "reason": None, "user_id": None, **extra}
        for e in entries
    ]


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert ledger rows in one executemany (Core, no ORM bookkeeping)."""
    if rows:
        session.execute(insert(_LEDGER), rows)


def _settle_customer(settings: Settings, entries: list[Entry], orders: list[OrderFact], cutoff: datetime,
                     through: date) -> tuple[Book, list[Entry]]:
    book = replay(entries)
    new = settle(book, orders, cutoff=cutoff, through=through, rate=rate_of(settings),
                 expiry_months=settings.points_expiry_months)
    return book, new


def today() -> date:
    """Today's date (a function, so tests can move it)."""
    return date.today()


def settle_points(session: Session, *, settings: Settings, as_of: date, report: RefreshReport) -> None:
    """Append the missing ledger rows of every customer that needs some, up to the end of ``as_of`` but never past
    today: a row dated in the future would hold back every later earn and redemption of the customer (rows are
    never dated before the newest one)."""
    as_of = min(as_of, today())
    report.points_through = as_of
    cutoff = datetime.combine(as_of + timedelta(days=1), time.min)
    customers = _customers_to_settle(session, cutoff, as_of)
    report.customers_settled = len(customers)
    points: dict[str, int] = defaultdict(int)
    for chunk in _chunks(customers, CHUNK):
        entries = ledger_entries(session, chunk)
        orders = _order_facts(session, chunk)
        rows: list[dict[str, Any]] = []
        for customer_id in chunk:
            _, new = _settle_customer(settings, entries.get(customer_id, []), orders.get(customer_id, []), cutoff,
                                      as_of)
            rows.extend(_rows(customer_id, new))
            for e in new:
                points[e.kind] += e.points
        _write(session, rows)
        report.rows += len(rows)
    report.points = dict(points)


def check_reason(reason: str | None) -> str:
    """A redemption reason, stripped: 1–100 characters, no phone number, e-mail address or ID number in it."""
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput("give a reason for the redemption (--reason), e.g. 兑换优惠券 or 'coupon'")
    if len(text) > REASON_MAX:
        raise InvalidInput(f"the reason is {len(text)} characters long; keep it to {REASON_MAX} "
                           "(a label such as 兑换优惠券; put details in a customer note)")
    if _PERSONAL.search(text):
        raise InvalidInput("the reason looks like it holds a phone number, e-mail address or ID number; a reason is "
                           "a label kept in plaintext (e.g. 兑换优惠券): put personal details in a customer note")
    return text


def redeem_points(session: Session, *, settings: Settings, customer_id: int, points: int, reason: str | None,
                  at: datetime | None = None, user_id: int | None = None, username: str | None = None,
                  via: str | None = None, ip: str | None = None) -> RedeemResult:
    """Redeem ``points`` of a customer's balance (FIFO: the oldest points first) and audit it.

    The customer's ledger is first brought up to ``at`` (default: :func:`local_now`): earns of paid orders placed
    before it, reversals, expiries due on or before its day, so that expired points cannot be spent. Raises
    :class:`InvalidInput` when ``points`` is not a whole number above 0, exceeds the balance, or the reason is
    missing or holds personal data; :class:`NotFound` for an unknown customer. A redemption at the same moment by
    someone else makes one of the two fail with a message to try again (the ledger's ``seq`` is unique per
    customer). The caller commits.
    """
    clean = check_reason(reason)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    at = at or local_now()
    entries = ledger_entries(session, [customer_id]).get(customer_id, [])
    orders = _order_facts(session, [customer_id]).get(customer_id, [])
    book, settled = _settle_customer(settings, entries, orders, at, at.date())
    entry = plan_redeem(book, points, at, ref=f"d:{uuid.uuid4().hex}", customer=customer.external_id)
    try:
        _write(session, _rows(customer_id, settled) + _rows(customer_id, [entry], reason=clean, user_id=user_id))
    except IntegrityError:  # the caller's transaction is rolled back by the error
        raise InvalidInput(f"the points of customer {customer.external_id} changed while redeeming; "
                           "look at the balance again and retry") from None
    entry_id = session.scalar(select(PointsEntry.id).where(PointsEntry.ref == entry.ref))
    audit.record(session, action="update", user_id=user_id, username=username, target_type="customer",
                 target_id=customer_id, detail={"points_redeemed": points, "balance": book.balance}, ip=ip, via=via)
    session.flush()
    return RedeemResult(customer_id=customer_id, points=points, balance=book.balance, entry_id=int(entry_id or 0),
                        at=entry.at)


def balance(session: Session, customer_id: int) -> int:
    """A customer's points balance: the sum of their ledger rows (0 without any)."""
    return int(session.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0))
                              .where(PointsEntry.customer_id == customer_id)) or 0)
