"""The points ledger's rules, by hand (golden scenarios) and as properties (hypothesis): earn, partial refunds,
FIFO redemption, expiry at exactly 24 months, idempotent re-runs, a balance that is the ledger's sum and never
negative."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kehu.errors import InvalidInput
from kehu.membership.ledger import Book, Entry, OrderFact, earn_points, plan_redeem, replay, reversal_target, settle

RATE = Decimal(1)


def _settle(book: Book, orders: list[OrderFact], through: date, rate: Decimal = RATE) -> list[Entry]:
    return settle(book, orders, cutoff=datetime.combine(through + timedelta(days=1), datetime.min.time()),
                  through=through, rate=rate, expiry_months=24)


def _order(oid: int, day: str, yuan: float, refunded: float = 0, paid: bool = True) -> OrderFact:
    return OrderFact(id=oid, ordered_at=datetime.fromisoformat(day).replace(hour=12), amount_cents=round(yuan * 100),
                     refunded_cents=round(refunded * 100), is_paid=paid)


def _check(book: Book, entries: list[Entry]) -> None:
    """The invariants: balance = sum of the rows = sum of what is left of the batches, never negative; a replay
    of the rows gives the same book; ``at`` never goes back along ``seq``."""
    assert book.balance == sum(e.points for e in entries) >= 0
    assert book.balance == sum(b.remaining for b in book.batches.values())
    assert all(b.remaining >= 0 for b in book.batches.values())
    again = replay(entries)
    assert again.balance == book.balance
    assert {k: b.remaining for k, b in again.batches.items()} == {k: b.remaining for k, b in book.batches.items()}
    ordered = sorted(entries, key=lambda e: e.seq)
    assert [e.seq for e in ordered] == list(range(1, len(ordered) + 1))
    assert all(a.at <= b.at for a, b in zip(ordered, ordered[1:], strict=False))


def test_earn_is_rounded_down_per_order_and_never_negative() -> None:
    assert earn_points(12_345, Decimal(1)) == 123
    assert earn_points(12_399, Decimal("0.1")) == 12
    assert earn_points(99, Decimal(1)) == 0
    assert earn_points(-500, Decimal(1)) == 0
    assert earn_points(10_000, Decimal(0)) == 0


def test_reversal_target_is_proportional_and_whole_on_full_refund() -> None:
    assert reversal_target(200, 5_000, 20_000) == 50
    assert reversal_target(123, 12_345, 12_345) == 123
    assert reversal_target(123, 99_999, 12_345) == 123  # more refunded than paid: all points, no more
    assert reversal_target(3, 1, 3) == 1
    assert reversal_target(0, 100, 100) == 0


def test_golden_earn_and_partial_refunds() -> None:
    """200 yuan earns 200 points; a 50 yuan refund takes back 50, a later refund up to 120 yuan 70 more; turning
    unpaid takes back the rest."""
    book = Book()
    order = _order(1, "2024-01-10", 200)
    rows = _settle(book, [order], date(2024, 1, 31))
    assert [(r.kind, r.points, r.ref) for r in rows] == [("earn", 200, "e:1")]
    assert rows[0].expires_on == date(2026, 1, 10) and rows[0].basis_cents == 20_000

    refunded = _order(1, "2024-01-10", 200, refunded=50)
    more = _settle(book, [refunded], date(2024, 2, 29))
    assert [(r.kind, r.points, r.ref, r.uncovered) for r in more] == [("reverse", -50, "r:1:5000", 0)]
    assert more[0].at == rows[0].at  # placed right after the newest written row: no history is rewritten
    rows += more
    more = _settle(book, [_order(1, "2024-01-10", 200, refunded=120)], date(2024, 3, 31))
    assert [(r.kind, r.points) for r in more] == [("reverse", -70)]
    rows += more
    more = _settle(book, [_order(1, "2024-01-10", 200, refunded=120, paid=False)], date(2024, 4, 30))
    assert [(r.kind, r.points) for r in more] == [("reverse", -80)]
    rows += more
    assert book.balance == 0
    _check(book, rows)


def test_golden_first_sight_of_a_refunded_order_earns_then_reverses_at_once() -> None:
    book = Book()
    rows = _settle(book, [_order(7, "2024-05-01", 99.99, refunded=33.33)], date(2024, 6, 30))
    assert [(r.kind, r.points, r.seq) for r in rows] == [("earn", 99, 1), ("reverse", -33, 2)]
    assert rows[1].at == rows[0].at
    _check(book, rows)


def test_golden_redeem_consumes_the_oldest_points_first() -> None:
    """A (100, January) and B (50, June); redeeming 120 empties A and takes 20 of B, so A's expiry removes nothing
    and B's the 30 left."""
    book = Book()
    orders = [_order(1, "2023-01-10", 100), _order(2, "2023-06-10", 50)]
    rows = _settle(book, orders, date(2024, 3, 1))
    entry = plan_redeem(book, 120, datetime(2024, 3, 1, 9), ref="d:1")
    rows.append(entry)
    assert entry.points == -120 and entry.seq == 3
    assert (book.batches[1].remaining, book.batches[2].remaining) == (0, 30)
    rows += _settle(book, orders, date(2025, 12, 31))
    expiries = [(r.order_id, r.points, r.at) for r in rows if r.kind == "expire"]
    assert expiries == [(1, 0, datetime(2025, 1, 10)), (2, -30, datetime(2025, 6, 10))]
    assert book.balance == 0
    _check(book, rows)


def test_golden_expiry_at_exactly_24_months() -> None:
    """Points earned on 2023-03-15 can be spent on 2025-03-14 and are gone on 2025-03-15 at 00:00."""
    order = _order(1, "2023-03-15", 300)
    book = Book()
    rows = _settle(book, [order], date(2025, 3, 14))
    assert [r.kind for r in rows] == ["earn"] and rows[0].expires_on == date(2025, 3, 15)
    assert book.live(datetime(2025, 3, 14, 23, 59)) == 300
    assert book.live(datetime(2025, 3, 15, 0, 0)) == 0  # a redemption on the expiry day cannot use them
    with pytest.raises(InvalidInput, match=r"cannot redeem 1 points: .* has 0"):
        plan_redeem(book, 1, datetime(2025, 3, 15, 8), ref="d:x")
    more = _settle(book, [order], date(2025, 3, 15))
    assert [(r.kind, r.points, r.at) for r in more] == [("expire", -300, datetime(2025, 3, 15))]
    rows += more
    assert book.balance == 0
    _check(book, rows)


def test_leap_day_points_expire_on_the_last_day_of_february() -> None:
    book = Book()
    rows = _settle(book, [_order(1, "2024-02-29", 10)], date(2024, 3, 1))
    assert rows[0].expires_on == date(2026, 2, 28)


def test_refund_after_the_points_were_spent_takes_from_newer_points_and_never_goes_negative() -> None:
    book = Book()
    a, b = _order(1, "2024-01-01", 100), _order(2, "2024-02-01", 40)
    rows = _settle(book, [a], date(2024, 1, 15))
    rows.append(plan_redeem(book, 100, datetime(2024, 1, 20), ref="d:1"))
    rows += _settle(book, [a, b], date(2024, 2, 15))
    more = _settle(book, [_order(1, "2024-01-01", 100, refunded=100), b], date(2024, 3, 1))
    assert [(r.kind, r.points, r.uncovered) for r in more] == [("reverse", -40, 60)]
    rows += more
    assert book.balance == 0
    _check(book, rows)


def test_refund_after_expiry_takes_nothing_from_newer_points() -> None:
    """Points that expired were never of use to the customer: a late refund does not take newer points instead."""
    book = Book()
    old, new = _order(1, "2022-01-05", 100), _order(2, "2024-01-05", 80)
    rows = _settle(book, [old, new], date(2024, 2, 1))
    assert [r.kind for r in rows] == ["earn", "expire", "earn"]
    more = _settle(book, [_order(1, "2022-01-05", 100, refunded=100), new], date(2024, 2, 2))
    assert [(r.kind, r.points, r.uncovered) for r in more] == [("reverse", 0, 100)]
    rows += more
    assert book.balance == 80
    _check(book, rows)


def test_rerun_over_the_same_orders_adds_nothing() -> None:
    orders = [_order(1, "2023-01-10", 100, refunded=10), _order(2, "2023-06-10", 50), _order(3, "2024-06-10", 5)]
    book = Book()
    rows = _settle(book, orders, date(2025, 7, 1))
    assert _settle(book, orders, date(2025, 7, 1)) == []
    assert _settle(replay(rows), orders, date(2025, 7, 1)) == []
    assert len({r.ref for r in rows}) == len(rows)


def test_orders_after_the_cutoff_and_unpaid_orders_earn_nothing() -> None:
    book = Book()
    rows = _settle(book, [_order(1, "2024-05-02", 100), _order(2, "2024-04-01", 50, paid=False)], date(2024, 5, 1))
    assert rows == []


def test_redeem_must_be_a_positive_whole_number_within_the_balance() -> None:
    book = Book()
    _settle(book, [_order(1, "2024-01-10", 100)], date(2024, 1, 31))
    at = datetime(2024, 2, 1)
    for bad in (0, -5, 1.5, True):
        with pytest.raises(InvalidInput, match="whole number above 0"):
            plan_redeem(book, bad, at, ref="d:x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"cannot redeem 101 points: customer C1 has 100"):
        plan_redeem(book, 101, at, ref="d:x", customer="C1")
    assert book.balance == 100 and book.last_seq == 1  # a refused redemption changes nothing


def test_a_redeem_before_the_newest_row_is_placed_after_it() -> None:
    book = Book()
    rows = _settle(book, [_order(1, "2024-03-10", 100)], date(2024, 3, 31))
    entry = plan_redeem(book, 10, datetime(2024, 1, 1), ref="d:1")
    assert entry.at == rows[-1].at


# --- property: random orders, refunds, redemptions and refresh dates -------------------------------------------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, 40), st.integers(0, 300_000)),          # day offset (weeks), cents
        st.tuples(st.just("refund"), st.integers(0, 30), st.floats(0, 1.2)),               # which order, share
        st.tuples(st.just("unpay"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("redeem"), st.integers(0, 30), st.integers(1, 4_000)),           # day offset (weeks)
        st.tuples(st.just("settle"), st.integers(0, 30), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, rate=st.sampled_from([Decimal(1), Decimal("0.5"), Decimal(2)]))
def test_balance_is_the_ledger_sum_and_never_negative(ops: list[tuple[str, int, float]], rate: Decimal) -> None:
    start = datetime(2022, 1, 3, 10)
    now = start
    orders: dict[int, OrderFact] = {}
    book = Book()
    rows: list[Entry] = []
    for kind, a, b in ops:
        if kind == "order":
            now = max(now, start + timedelta(weeks=a))
            oid = len(orders) + 1
            orders[oid] = OrderFact(id=oid, ordered_at=now, amount_cents=int(b), refunded_cents=0)
        elif kind in ("refund", "unpay") and orders:
            oid = 1 + a % len(orders)
            o = orders[oid]
            if kind == "refund":
                refunded = max(o.refunded_cents, int(o.amount_cents * b))  # refunds only grow
                orders[oid] = OrderFact(o.id, o.ordered_at, o.amount_cents, refunded, o.is_paid)
            else:
                orders[oid] = OrderFact(o.id, o.ordered_at, o.amount_cents, o.refunded_cents, False)
        elif kind == "redeem":
            now = max(now, start + timedelta(weeks=a)) + timedelta(hours=1)
            rows += settle(book, orders.values(), cutoff=now, through=now.date(), rate=rate, expiry_months=24)
            available = book.live(now)
            if b > available:
                with pytest.raises(InvalidInput, match="cannot redeem"):
                    plan_redeem(book, int(b), now, ref="d:x")
            else:
                rows.append(plan_redeem(book, int(b), now, ref=f"d:{len(rows)}"))
        elif kind == "settle":
            through = (max(now, start + timedelta(weeks=a))).date()
            now = max(now, datetime.combine(through, datetime.min.time()))
            rows += settle(book, orders.values(), cutoff=now + timedelta(days=1), through=through, rate=rate,
                           expiry_months=24)
        _check(book, rows)
    # A final refresh far ahead: every batch is closed, the balance is what is left of live batches only (0).
    end = date(2030, 1, 1)
    cutoff = datetime(2030, 1, 2)
    rows += settle(book, orders.values(), cutoff=cutoff, through=end, rate=rate, expiry_months=24)
    _check(book, rows)
    assert book.balance == 0
    assert settle(book, orders.values(), cutoff=cutoff, through=end, rate=rate, expiry_months=24) == []
    assert len({r.ref for r in rows}) == len(rows)
