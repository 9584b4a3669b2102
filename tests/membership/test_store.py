"""Membership in the store, on SQLite and PostgreSQL: a refresh earns, reverses and expires points and writes tiers
with their upgrade and downgrade days; re-running adds nothing; redemptions are FIFO, audited and never exceed the
balance; the balance is the ledger's sum for random order, refund and redemption sequences."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import kehu.membership.refresh as refresh_module
from kehu.errors import InvalidInput, NotFound
from kehu.membership import balance, membership_refresh, membership_summary, redeem_points
from kehu.membership.ledger import replay
from kehu.membership.refresh import check_reason, ledger_entries
from kehu.store import AuditEvent, MembershipRun, MemberTier, PointsEntry, TierChange, session_scope


def _ledger(shop, customer_id: int) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    return shop.query(lambda s: [(r.kind, r.points, r.at.date().isoformat()) for r in s.scalars(
        select(PointsEntry).where(PointsEntry.customer_id == customer_id).order_by(PointsEntry.seq))])


def _counts(shop) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return shop.query(lambda s: tuple(s.scalar(select(func.count()).select_from(m))
                                      for m in (PointsEntry, TierChange, MemberTier, MembershipRun)))


def _changes(shop, customer_id: int) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]
    return shop.query(lambda s: [(c.changed_on.isoformat(), c.from_tier, c.to_tier, c.direction) for c in s.scalars(
        select(TierChange).where(TierChange.customer_id == customer_id).order_by(TierChange.changed_on))])


def _redeem(shop, customer_id: int, points: int, at: datetime, reason: str = "兑换优惠券"):  # type: ignore[no-untyped-def]
    with session_scope(shop.settings.store_url) as session:
        return redeem_points(session, settings=shop.settings, customer_id=customer_id, points=points, reason=reason,
                             at=at, username="tester", via="cli")


def test_golden_refresh_earns_reverses_expires_and_keeps_tier_history(shop) -> None:  # type: ignore[no-untyped-def]
    mei = shop.customer("MEI")
    shop.order(mei, "2023-03-15 10:00", 600)
    shop.order(mei, "2023-05-02 11:00", 400)             # exactly 1,000 in the window: silver on 2023-05-02
    big = shop.order(mei, "2024-01-20 09:30", 5_000)     # 6,000: gold
    shop.order(mei, "2024-02-01 12:00", 999, paid=False)  # not paid: no points, no spend
    lee = shop.customer("LEE")                           # no orders: no tier, no points

    report = membership_refresh(shop.settings, date(2024, 2, 29))
    assert report.members == 1 and report.by_tier["gold"] == 1 and report.upgrades == 2
    assert _ledger(shop, mei) == [("earn", 600, "2023-03-15"), ("earn", 400, "2023-05-02"),
                                  ("earn", 5_000, "2024-01-20")]
    tier = shop.query(lambda s: s.get(MemberTier, mei))
    assert (tier.tier, tier.since, tier.spend_cents) == ("gold", date(2024, 1, 20), 600_000)
    assert shop.query(lambda s: s.get(MemberTier, lee)) is None
    assert _changes(shop, mei) == [("2023-05-02", "standard", "silver", "up"), ("2024-01-20", "silver", "gold", "up")]

    # Re-running over the same orders adds nothing (only the run is recorded).
    before = _counts(shop)
    again = membership_refresh(shop.settings, date(2024, 2, 29))
    assert (again.rows, again.changes_written, again.tiers_written) == (0, 0, 0)
    assert _counts(shop)[:3] == before[:3]

    # A partial refund of the big order: 1,250 of 5,000 yuan takes back a quarter of its points, placed right after
    # the newest row; the tiers are recomputed with the order's net amount, so the gold upgrade never happened.
    shop.refund(big, 1_250)
    report = membership_refresh(shop.settings, date(2024, 3, 31))
    assert report.points == {"reverse": -1_250}
    assert _ledger(shop, mei)[-1] == ("reverse", -1_250, "2024-01-20")
    assert _changes(shop, mei) == [("2023-05-02", "standard", "silver", "up")]

    # Redeem 700: the oldest points go first (all 600 of March 2023, then 100 of May 2023).
    result = _redeem(shop, mei, 700, datetime(2024, 4, 1, 10))
    assert result.balance == 6_000 - 1_250 - 700

    # Expiry at exactly 24 months: nothing left of the March batch on 2025-03-15, 300 of May's on 2025-05-02.
    membership_refresh(shop.settings, date(2025, 3, 14))
    assert [k for k, _, _ in _ledger(shop, mei)].count("expire") == 0
    membership_refresh(shop.settings, date(2025, 5, 2))
    assert [e for e in _ledger(shop, mei) if e[0] == "expire"] == [("expire", 0, "2025-03-15"),
                                                                    ("expire", -300, "2025-05-02")]
    assert shop.query(lambda s: balance(s, mei)) == 3_750

    # Downgrade when the refunded big order leaves the window on 2025-01-20 (recomputed as of a later date).
    membership_refresh(shop.settings, date(2025, 6, 30))
    assert _changes(shop, mei) == [("2023-05-02", "standard", "silver", "up"),
                                   ("2025-01-20", "silver", "standard", "down")]
    card = shop.query(lambda s: membership_summary(s, mei))
    assert (card.tier, card.since, card.spend_cents) == ("standard", date(2025, 1, 20), 0)
    assert (card.next_tier, card.to_next_cents) == ("silver", 100_000)
    assert (card.balance, card.earned, card.redeemed, card.expired, card.reversed) == (3_750, 6_000, 700, 300, 1_250)
    assert card.expiring == [(date(2026, 1, 20), 3_750)]
    assert [r.kind for r in card.recent][:2] == ["expire", "expire"] and card.recent[0].balance == 3_750

    # An earlier as-of date recomputes the tiers for that date; the ledger stays as written.
    rows = _counts(shop)[0]
    membership_refresh(shop.settings, date(2024, 2, 29))
    assert _changes(shop, mei) == [("2023-05-02", "standard", "silver", "up")]
    assert shop.query(lambda s: s.get(MemberTier, mei)).tier == "silver"
    assert _counts(shop)[0] == rows


def test_redeem_beyond_the_balance_is_refused_and_changes_nothing(shop) -> None:  # type: ignore[no-untyped-def]
    c = shop.customer("C1")
    shop.order(c, "2024-01-10 10:00", 150)
    membership_refresh(shop.settings, date(2024, 1, 31))
    with pytest.raises(InvalidInput, match=r"cannot redeem 151 points: customer C1 has 150"):
        _redeem(shop, c, 151, datetime(2024, 2, 1))
    assert _ledger(shop, c) == [("earn", 150, "2024-01-10")]
    assert _redeem(shop, c, 150, datetime(2024, 2, 1)).balance == 0
    with pytest.raises(InvalidInput, match="has 0"):
        _redeem(shop, c, 1, datetime(2024, 2, 2))


def test_redeem_settles_first_so_expired_points_cannot_be_spent(shop) -> None:  # type: ignore[no-untyped-def]
    c = shop.customer("OLD")
    shop.order(c, "2021-06-01 10:00", 300)
    shop.order(c, "2024-06-01 10:00", 80)
    # No refresh ran: the redemption earns first, then expires the 2021 batch (on 2023-06-01), then checks.
    with pytest.raises(InvalidInput, match="has 80"):
        _redeem(shop, c, 100, datetime(2024, 7, 1))
    assert _redeem(shop, c, 80, datetime(2024, 7, 1)).balance == 0
    assert [k for k, _, _ in _ledger(shop, c)] == ["earn", "expire", "earn", "redeem"]


@pytest.mark.parametrize(("reason", "message"), [
    ("", "give a reason"),
    ("   ", "give a reason"),
    ("x" * 101, "keep it to 100"),
    ("call back 138 1234 5678", "phone number, e-mail address or ID number"),
    ("sent to a@b.cn", "phone number, e-mail address or ID number"),
    ("身份证 110101199003071234", "phone number, e-mail address or ID number"),
])
def test_redeem_reason_is_a_short_label_without_personal_data(reason: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_reason(reason)
    assert check_reason("  兑换  优惠券 2 张 ") == "兑换 优惠券 2 张"


def test_redeem_unknown_customer_bad_reason_and_audit(shop) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="customer 999999 does not exist"):
        _redeem(shop, 999_999, 1, datetime(2024, 2, 1))
    c = shop.customer("A")
    shop.order(c, "2024-01-10 10:00", 150)
    with pytest.raises(InvalidInput, match="phone number"):
        _redeem(shop, c, 10, datetime(2024, 2, 1), reason="回电 13812345678")
    assert _ledger(shop, c) == []
    result = _redeem(shop, c, 50, datetime(2024, 2, 1), reason="积分抵现")
    event = shop.query(lambda s: s.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)))
    assert (event.action, event.target_type, event.target_id, event.username, event.via) == (
        "update", "customer", str(c), "tester", "cli")
    assert event.detail == {"points_redeemed": 50, "balance": 100}
    row = shop.query(lambda s: s.get(PointsEntry, result.entry_id))
    assert (row.kind, row.points, row.reason) == ("redeem", -50, "积分抵现")


def test_the_ledger_is_never_settled_past_today(shop) -> None:  # type: ignore[no-untyped-def]
    c = shop.customer("FUTURE")
    shop.order(c, "2024-01-10 10:00", 100)
    report = membership_refresh(shop.settings, date(2099, 1, 1))
    assert report.points_through == date.today() and report.as_of == date(2099, 1, 1)
    assert all(d <= date.today().isoformat() for _, _, d in _ledger(shop, c))
    assert shop.query(lambda s: s.get(MemberTier, c)).tier == "standard"  # the order left the window by 2099


def test_two_writers_on_one_customer_collide_instead_of_double_spending(shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    c = shop.customer("RACE")
    shop.order(c, "2024-01-10 10:00", 100)
    membership_refresh(shop.settings, date(2024, 1, 31))
    with session_scope(shop.settings.store_url) as session:
        entries = ledger_entries(session, [c])

    def stale(session, ids):  # type: ignore[no-untyped-def]
        """Another writer spends the points just after this redemption read the ledger."""
        with session_scope(shop.settings.store_url) as other:
            other.add(PointsEntry(customer_id=c, seq=2, kind="redeem", points=-100, at=datetime(2024, 2, 1),
                                  ref="d:other", basis_cents=0, uncovered=0, reason="其他"))
        return {c: entries[c]}

    monkeypatch.setattr(refresh_module, "ledger_entries", stale)
    with pytest.raises(InvalidInput, match="changed while redeeming"):
        _redeem(shop, c, 100, datetime(2024, 2, 1, 12))
    monkeypatch.undo()
    assert shop.query(lambda s: balance(s, c)) == 0


_ops = st.lists(st.one_of(
    st.tuples(st.just("order"), st.integers(1, 30), st.integers(0, 400_000)),   # weeks after the previous step, cents
    st.tuples(st.just("refund"), st.integers(0, 20), st.integers(0, 100)),      # which order, percent
    st.tuples(st.just("redeem"), st.integers(0, 40), st.integers(1, 3_000)),    # weeks, points
    st.tuples(st.just("refresh"), st.integers(0, 60), st.just(0)),              # weeks
), max_size=10)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=_ops)
def test_balance_is_the_ledger_sum_and_never_negative_in_the_store(shop, monkeypatch, ops) -> None:  # type: ignore[no-untyped-def]
    # The random timelines run past today: let the ledger be settled to any date.
    monkeypatch.setattr(refresh_module, "today", lambda: date(2100, 1, 1))
    c = shop.customer(f"H{shop.orders}-{len(ops)}-{datetime.now().timestamp()}")
    now = datetime(2022, 1, 3, 10)
    orders: list[tuple[int, int]] = []
    for kind, a, b in ops:
        if kind == "order":
            now += timedelta(weeks=a)
            orders.append((shop.order(c, now.isoformat(sep=" "), b / 100), b))
        elif kind == "refund" and orders:
            oid, cents = orders[a % len(orders)]
            shop.refund(oid, cents * b / 100 / 100)
        elif kind == "redeem":
            now += timedelta(weeks=a, hours=1)
            try:
                _redeem(shop, c, b, now)
            except InvalidInput as exc:
                assert "cannot redeem" in str(exc)
        elif kind == "refresh":
            now += timedelta(weeks=a)
            membership_refresh(shop.settings, now.date())

        def check(s):  # type: ignore[no-untyped-def]
            entries = ledger_entries(s, [c]).get(c, [])
            book = replay(entries)
            total = balance(s, c)
            assert total == sum(e.points for e in entries) == book.balance >= 0
            assert total == sum(batch.remaining for batch in book.batches.values())
            return total

        shop.query(check)
    membership_refresh(shop.settings, date(2030, 1, 1))
    assert shop.query(lambda s: balance(s, c)) == 0  # everything has expired by then
    before = _counts(shop)[0]
    membership_refresh(shop.settings, date(2030, 1, 1))
    assert _counts(shop)[0] == before
