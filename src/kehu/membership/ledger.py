"""The points ledger of one customer, as pure functions: replay the rows, plan the rows a refresh or a redemption adds.

Rules (DESIGN.md, membership):

* **Earn.** A paid order earns ``floor(amount yuan × rate)`` points (one batch per order), credited at the order's
  time, or when the ledger already has later rows, at the newest row's time (points are never slipped in before
  rows that were written already, so nothing written is ever re-decided). The batch expires
  :func:`~kehu.membership.tiers.add_months` (credit day, ``expiry_months``) later, at 00:00 of that day.
* **Reverse.** A refund takes back the same share of the order's points: cumulatively
  ``floor(earned × min(refunded, basis) / basis)``; a second partial refund adds a reversal for the difference.
  An order that turns unpaid after earning is reversed whole. The points come from the order's own batch first,
  then from the oldest live batches; points already spent are not taken back (``uncovered``), so the balance never
  goes negative. The refund's own time is unknown to the store, so the reversal is placed at the earliest time
  that leaves the written rows alone: right after the earn when both are new, else at the newest row's time.
* **Redeem.** Takes points from the oldest live batches first (FIFO). More than the balance is refused.
* **Expire.** On a batch's expiry day what is left of it is removed (an expiry of 0 closes an emptied batch).

Rows are applied in ledger order (``seq``); :class:`Book` is the state after them: each batch's remaining points
and the balance, which always equals the sum of the rows and the sum of the remaining points, and is never
negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_FLOOR, Decimal

from kehu.errors import InvalidInput
from kehu.membership.tiers import add_months

KINDS: tuple[str, ...] = ("earn", "reverse", "expire", "redeem")
_RANK = {"earn": 0, "reverse": 1, "expire": 2}


@dataclass(frozen=True)
class Entry:
    """One ledger row as the ledger logic sees it (:class:`kehu.store.PointsEntry` without the bookkeeping).

    ``points`` is signed (earn positive, the rest negative or 0); ``order_id`` is the earning order of earn,
    reverse and expire rows; ``seq`` the row's place in the customer's ledger.
    """

    kind: str
    points: int
    at: datetime
    ref: str
    seq: int
    order_id: int | None = None
    basis_cents: int = 0
    expires_on: date | None = None
    uncovered: int = 0


@dataclass(frozen=True)
class OrderFact:
    """What the ledger needs of one order: store id, time, amount and refunded amount in cents, paid or not."""

    id: int
    ordered_at: datetime
    amount_cents: int
    refunded_cents: int = 0
    is_paid: bool = True

    @property
    def refunded_effective(self) -> int:
        """The refunded cents that count: all of the amount once the order is no longer paid."""
        refunded = max(self.refunded_cents, 0)
        return refunded if self.is_paid else max(refunded, self.amount_cents)


@dataclass
class Batch:
    """The points one order earned and what became of them."""

    order_id: int
    expires_on: date
    earned: int
    remaining: int
    basis_cents: int
    at: datetime
    #: Points its expiry removed, and how many of those later reversals were excused (they cannot be taken back).
    expired: int = 0
    excused: int = 0
    closed: bool = False


@dataclass
class Book:
    """The state of one customer's ledger after some rows: batches in FIFO order, the balance, the newest time."""

    batches: dict[int, Batch] = field(default_factory=dict)
    balance: int = 0
    watermark: datetime | None = None
    last_seq: int = 0
    #: order id → the largest refunded amount already reversed (``basis_cents`` of its reversals).
    reversed_basis: dict[int, int] = field(default_factory=dict)

    def _live(self, at: datetime, but: int | None = None) -> list[Batch]:
        return [b for k, b in self.batches.items() if k != but and not b.closed and b.expires_on > at.date()]

    def live(self, at: datetime) -> int:
        """Points that can be spent at ``at``: what is left of batches not yet expired on that day."""
        return sum(b.remaining for b in self._live(at))

    def take(self, points: int, at: datetime, first: int | None = None) -> int:
        """Remove up to ``points`` (≥ 0): from batch ``first`` when given, then from the oldest batches still live
        at ``at``. Returns how many were removed (fewer when fewer are there)."""
        own = [self.batches[first]] if first is not None and first in self.batches else []
        order = own + self._live(at, but=first)
        taken = 0
        for batch in order:
            step = min(batch.remaining, points - taken)
            if step > 0:
                batch.remaining -= step
                taken += step
            if taken >= points:
                break
        self.balance -= taken
        return taken

    def plan_reversal(self, order_id: int, want: int, at: datetime) -> tuple[int, int]:
        """``(taken, uncovered)`` for a reversal of ``want`` points of ``order_id``'s batch at ``at``: what is left
        of the batch first; of the rest, points the batch lost to expiry are not taken back (the customer never had
        the use of them), the others (spent) come from the live batches as far as they reach."""
        batch = self.batches.get(order_id)
        own = batch.remaining if batch else 0
        from_own = min(want, own)
        rest = want - from_own
        if batch is not None:
            rest -= min(rest, batch.expired - batch.excused)
        from_others = min(rest, sum(b.remaining for b in self._live(at, but=order_id)))
        taken = from_own + from_others
        return taken, want - taken

    def apply(self, entry: Entry) -> None:
        """Apply one written row (its points are taken as written)."""
        self.last_seq = max(self.last_seq, entry.seq)
        self.watermark = entry.at if self.watermark is None else max(self.watermark, entry.at)
        batch = self.batches.get(entry.order_id) if entry.order_id is not None else None
        if entry.kind == "earn":
            key = entry.order_id if entry.order_id is not None else -entry.seq
            self.batches[key] = Batch(order_id=key, expires_on=entry.expires_on or date.max, earned=entry.points,
                                      remaining=entry.points, basis_cents=entry.basis_cents, at=entry.at)
            self.balance += entry.points
        elif entry.kind == "reverse":
            self.take(-entry.points, entry.at, first=entry.order_id)
            if batch is not None:
                batch.excused += min(entry.uncovered, batch.expired - batch.excused)
            if entry.order_id is not None:
                done = self.reversed_basis.get(entry.order_id, 0)
                self.reversed_basis[entry.order_id] = max(done, entry.basis_cents)
        elif entry.kind == "expire":
            if batch is not None:
                step = min(batch.remaining, -entry.points)
                batch.remaining -= step
                batch.expired += step
                batch.closed = True
                self.balance -= step
            else:  # a batch this book never saw: keep the balance equal to the sum of the rows
                self.balance += entry.points
        elif entry.kind == "redeem":
            self.take(-entry.points, entry.at)
        else:
            raise ValueError(f"unknown ledger kind {entry.kind!r}")


def replay(entries: Iterable[Entry]) -> Book:
    """The book after ``entries`` applied in ``seq`` order."""
    book = Book()
    for entry in sorted(entries, key=lambda e: e.seq):
        book.apply(entry)
    return book


def earn_points(amount_cents: int, rate: Decimal) -> int:
    """``floor(amount_cents / 100 × rate)``, never negative: 123.45 yuan at 1 point per yuan is 123 points."""
    if amount_cents <= 0 or rate <= 0:
        return 0
    return int((Decimal(amount_cents) * rate / 100).to_integral_value(rounding=ROUND_FLOOR))


def reversal_target(earned: int, refunded_cents: int, basis_cents: int) -> int:
    """The points a refund of ``refunded_cents`` (cumulative) takes back of ``earned`` points earned on
    ``basis_cents``: ``floor(earned × min(refunded, basis) / basis)``; all of them for a full refund."""
    if basis_cents <= 0 or earned <= 0 or refunded_cents <= 0:
        return 0
    return earned * min(refunded_cents, basis_cents) // basis_cents


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min)


@dataclass(frozen=True)
class _Event:
    at: datetime
    rank: int  # earn, reverse, expire: the order of events at the same time
    order_id: int
    kind: str
    points: int = 0  # earn: the points; reverse: the points wanted back
    basis_cents: int = 0
    expires_on: date | None = None


def settle(book: Book, orders: Iterable[OrderFact], *, cutoff: datetime, through: date, rate: Decimal,
           expiry_months: int) -> list[Entry]:
    """The rows to append so that the ledger is current: earns for paid orders placed before ``cutoff``,
    reversals for refunds not yet reversed, expiries of batches whose expiry day is on or before ``through``.

    ``book`` must be the replay of the customer's written rows; it is updated as if the returned rows were
    written. Running it again on the result returns no rows (idempotent). Every returned row's time is at or after
    the newest written row's, and the rows come in time order.
    """
    wm = book.watermark
    events: list[_Event] = []
    known = {k: (b.earned, b.basis_cents, b.at) for k, b in book.batches.items()}
    for order in sorted(orders, key=lambda o: (o.ordered_at, o.id)):
        if order.id in known:
            earned, basis, earn_at = known[order.id]
        else:
            if not order.is_paid or order.ordered_at >= cutoff:
                continue
            earned, basis = earn_points(order.amount_cents, rate), max(order.amount_cents, 0)
            earn_at = order.ordered_at if wm is None else max(order.ordered_at, wm)
            expires_on = add_months(earn_at.date(), expiry_months)
            events.append(_Event(earn_at, 0, order.id, "earn", earned, basis, expires_on))
            if expires_on <= through:
                events.append(_Event(_midnight(expires_on), 2, order.id, "expire"))
        refunded = order.refunded_effective
        done = book.reversed_basis.get(order.id, 0)
        if refunded > done:
            want = reversal_target(earned, refunded, basis) - reversal_target(earned, done, basis)
            at = earn_at if wm is None else max(earn_at, wm)
            events.append(_Event(at, 1, order.id, "reverse", want, refunded))
    for key, batch in book.batches.items():
        if not batch.closed and batch.expires_on <= through:
            at = _midnight(batch.expires_on)
            events.append(_Event(at if wm is None else max(at, wm), 2, key, "expire"))
    events.sort(key=lambda e: (e.at, e.rank, e.order_id))
    out: list[Entry] = []
    for event in events:
        seq, oid = book.last_seq + 1, event.order_id
        if event.kind == "earn":
            entry = Entry(kind="earn", points=event.points, at=event.at, ref=f"e:{oid}", seq=seq, order_id=oid,
                          basis_cents=event.basis_cents, expires_on=event.expires_on)
        elif event.kind == "reverse":
            taken, uncovered = book.plan_reversal(oid, event.points, event.at)
            entry = Entry(kind="reverse", points=-taken, at=event.at, ref=f"r:{oid}:{event.basis_cents}", seq=seq,
                          order_id=oid, basis_cents=event.basis_cents, uncovered=uncovered)
        else:
            entry = Entry(kind="expire", points=-book.batches[oid].remaining, at=event.at, ref=f"x:{oid}", seq=seq,
                          order_id=oid)
        book.apply(entry)
        out.append(entry)
    return out


def plan_redeem(book: Book, points: int, at: datetime, *, ref: str, customer: str = "") -> Entry:
    """The redeem row taking ``points`` (a positive integer) at ``at``; :class:`InvalidInput` when the customer
    has fewer points. ``book`` is updated."""
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidInput(f"points to redeem must be a whole number above 0, not {points!r}")
    available = book.live(at)
    if points > available:
        who = f"customer {customer} has" if customer else "the customer has"
        raise InvalidInput(f"cannot redeem {points:,} points: {who} {available:,} (the balance never goes below 0)")
    at = at if book.watermark is None else max(at, book.watermark)
    entry = Entry(kind="redeem", points=-points, at=at, ref=ref, seq=book.last_seq + 1)
    book.apply(entry)
    return entry
