"""Launching campaigns and measuring them, on SQLite and PostgreSQL: the deterministic holdout, the consent
exclusion, unique coupon codes, call-back tasks, the per-arm results against a hand computation, the contact list."""

from __future__ import annotations

import csv
import io
from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kehu.campaigns import (
    CampaignSpec,
    Target,
    arm,
    campaign_result,
    contact_rows,
    draw,
    launch_campaign,
    newcombe_difference,
    welch_difference,
)
from kehu.campaigns.coupons import is_code
from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.privacy import FieldCipher
from kehu.store import AuditEvent, CampaignMember, Task, session_scope
from kehu.users import Actor

ACTOR = Actor(username="tester", via="cli")
WINBACK = Target("lifecycle_stage", ("churned", "at_risk"))


def _launch(settings: Settings, **changes: object) -> int:
    spec = CampaignSpec(**{"name": "Win-back test", "target": WINBACK, "holdout_share": 0.3, "offer": "coupon",
                           "coupon_value_cents": 1_000, "cost_per_contact_cents": 50, "attribution_days": 30,
                           **changes})  # type: ignore[arg-type]
    with session_scope(settings.store_url) as session:
        return launch_campaign(session, spec, actor=ACTOR, today=date(2025, 7, 1)).id


def _members(settings: Settings, campaign_id: int) -> dict[int, CampaignMember]:
    with session_scope(settings.store_url) as session:
        rows = session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign_id)).all()
        return {m.customer_id: m for m in rows}


def test_holdout_draw_is_deterministic_uniform_and_close_to_its_share() -> None:
    assert draw(7, 123) == draw(7, 123)
    assert draw(7, 123) != draw(8, 123)
    values = np.array([draw(42, i) for i in range(20_000)])
    assert values.min() >= 0 and values.max() < 1
    # Uniform: each decile holds about a tenth (binomial sd ≈ 42 customers).
    counts = np.histogram(values, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - 2_000) < 5 * 42)
    held = sum(arm(42, i, 0.2) == "holdout" for i in range(20_000))
    assert abs(held - 4_000) < 4 * np.sqrt(20_000 * 0.2 * 0.8)


def test_launch_splits_deterministically_and_excludes_customers_without_consent(store_settings, cfx) -> None:
    store = cfx.build(store_settings, 300)
    campaign_id = _launch(store_settings)
    members = _members(store_settings, campaign_id)
    # Exactly the target's customers who may be marketed to: no consent (False or NULL) and erased are left out.
    assert sorted(members) == store.marketable(("churned", "at_risk"))
    assert len(members) < len(store.targeted(("churned", "at_risk")))
    assert store.erased.isdisjoint(members)
    # The stored split is the hash's split.
    for cid, member in members.items():
        assert member.arm == ("holdout" if draw(campaign_id, cid) < 0.3 else "treatment")
    held = sum(m.arm == "holdout" for m in members.values())
    n = len(members)
    assert abs(held - 0.3 * n) < 4 * np.sqrt(n * 0.3 * 0.7)
    # Coupons: one per treated customer, none for the holdout, all unique and well formed.
    codes = [m.coupon_code for m in members.values() if m.arm == "treatment"]
    assert all(code and is_code(code) for code in codes)
    assert len(set(codes)) == len(codes)
    assert all(m.coupon_code is None for m in members.values() if m.arm == "holdout")
    with session_scope(store_settings.store_url) as session:
        from kehu.store import Campaign

        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.targeted == len(store.targeted(("churned", "at_risk")))
        assert campaign.excluded_no_consent == campaign.targeted - n
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.target_type == "campaign", AuditEvent.action == "create")) == 1


def test_coupon_codes_are_unique_in_the_database(store_settings, cfx) -> None:
    cfx.build(store_settings, 120)
    first = _launch(store_settings)
    second = _launch(store_settings, name="Second")
    a = [m for m in _members(store_settings, first).values() if m.coupon_code]
    b = [m for m in _members(store_settings, second).values() if m.coupon_code]
    assert {m.coupon_code for m in a}.isdisjoint({m.coupon_code for m in b})
    with pytest.raises(IntegrityError), session_scope(store_settings.store_url) as session:
        member = session.get(CampaignMember, (second, b[0].customer_id))
        assert member is not None
        member.coupon_code = a[0].coupon_code
        session.flush()


def test_results_match_a_hand_computation(store_settings, cfx) -> None:
    store = cfx.build(store_settings, 240)
    campaign_id = _launch(store_settings, starts_on=date(2025, 7, 1))
    members = _members(store_settings, campaign_id)
    treated = sorted(c for c, m in members.items() if m.arm == "treatment")
    held = sorted(c for c, m in members.items() if m.arm == "holdout")
    day = cfx.day
    inside = [(c, day(1 + i % 29), 20_000 + 100 * i) for i, c in enumerate(treated[::3])]
    inside += [(held[0], day(5), 15_000), (held[0], day(6), 5_000)]  # two orders, one converted customer
    cfx.add_orders(store_settings, inside)
    cfx.add_orders(store_settings, [(treated[1], day(1), 50_000)], discount=1_000)  # a redemption
    # Not counted: before the start (day 0 is the snapshot date), on the day after the window, unpaid, refunded.
    cfx.add_orders(store_settings, [(treated[2], day(0), 99_900), (treated[2], day(31), 99_900)])
    cfx.add_orders(store_settings, [(treated[4], day(3), 88_800)], paid=False)
    cfx.add_orders(store_settings, [(treated[5], day(3), 77_700)], refunded=77_700)
    cfx.add_orders(store_settings, [(treated[7], day(3), 10_000)], refunded=2_500)  # partly refunded: 7,500 counts

    revenue = {c: 0 for c in members}
    orders = {c: 0 for c in members}
    for c, _, cents in [*inside, (treated[1], None, 50_000), (treated[7], None, 7_500)]:
        revenue[c] += cents
        orders[c] += 1
    t_rev = np.array([revenue[c] for c in treated], dtype=float)
    h_rev = np.array([revenue[c] for c in held], dtype=float)
    t_conv = sum(orders[c] > 0 for c in treated)
    h_conv = sum(orders[c] > 0 for c in held)

    with session_scope(store_settings.store_url) as session:
        from kehu.store import Campaign

        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        r = campaign_result(session, campaign, today=date(2025, 8, 1))
    assert r.finished
    assert (r.treatment.customers, r.holdout.customers) == (len(treated), len(held))
    assert (r.treatment.converted, r.holdout.converted) == (t_conv, h_conv)
    assert r.holdout.orders == 2
    assert r.treatment.revenue_cents == int(t_rev.sum())
    assert r.holdout.revenue_cents == 20_000
    expected = newcombe_difference(t_conv, len(treated), h_conv, len(held))
    assert (r.conversion_diff.low, r.conversion_diff.high) == pytest.approx((expected.low, expected.high))
    welch = welch_difference(t_rev, h_rev)
    assert r.revenue_diff_cents.estimate == pytest.approx(t_rev.mean() - h_rev.mean())
    assert (r.revenue_diff_cents.low, r.revenue_diff_cents.high) == pytest.approx((welch.low, welch.high))
    assert r.incremental_revenue_cents.estimate == pytest.approx((t_rev.mean() - h_rev.mean()) * len(treated))
    assert r.treatment.redemptions == 1
    assert r.cost_cents == 50 * len(treated) + 1_000 * 1
    assert r.return_on_cost == pytest.approx((r.incremental_revenue_cents.estimate - r.cost_cents) / r.cost_cents)
    assert len(store.ids) == 240


def test_callback_campaign_opens_a_task_per_treated_customer_round_robin(store_settings, cfx) -> None:
    cfx.build(store_settings, 80)
    agents = [cfx.add_user(store_settings, f"agent{i}", "agent") for i in range(3)]
    cfx.add_user(store_settings, "gone", "agent", active=False)
    campaign_id = _launch(store_settings, offer="callback", callback_due_days=5, coupon_value_cents=0)
    members = _members(store_settings, campaign_id)
    treated = [m for m in members.values() if m.arm == "treatment"]
    assert treated and all(m.task_id and m.coupon_code is None for m in treated)
    assert all(m.task_id is None for m in members.values() if m.arm == "holdout")
    with session_scope(store_settings.store_url) as session:
        tasks = session.scalars(select(Task).where(Task.source_type == "campaign", Task.source_id == campaign_id)
                                .order_by(Task.id)).all()
        assert len(tasks) == len(treated)
        assert {t.kind for t in tasks} == {"call_back"}
        assert [t.owner_id for t in tasks[:6]] == agents + agents
        assert tasks[0].due_at.date() == date(2025, 7, 6)


def test_bad_specs_are_refused_with_a_message(store_settings, cfx) -> None:
    cfx.build(store_settings, 40)
    with pytest.raises(InvalidInput, match="holdout share"):
        _launch(store_settings, holdout_share=0.95)
    with pytest.raises(InvalidInput, match="unknown lifecycle stage 'gone'"):
        _launch(store_settings, target=Target("lifecycle_stage", ("gone",)))
    with pytest.raises(InvalidInput, match="before its snapshot"):
        _launch(store_settings, starts_on=date(2025, 1, 1))
    with pytest.raises(NotFound, match="no ready classification snapshot dated 2020-01-01"):
        _launch(store_settings, as_of=date(2020, 1, 1))
    with pytest.raises(InvalidInput, match="churn-risk threshold"):
        _launch(store_settings, target=Target("churn_risk", ("2",)))


def test_churn_risk_target(settings, cfx) -> None:
    store = cfx.build(settings, 60)
    campaign_id = _launch(settings, target=Target("churn_risk", ("0.8",)), holdout_share=0.0)
    expected = [c for i, c in enumerate(store.ids) if (i % 10) / 10 >= 0.8 and store.consent[c]
                and c not in store.erased]
    assert sorted(_members(settings, campaign_id)) == expected


def test_contact_list_is_masked_unless_revealed_and_formula_safe(settings, cfx) -> None:
    cfx.build(settings, 60, formula_id=True)
    campaign_id = _launch(settings, holdout_share=0.0, target=Target("lifecycle_stage", ("at_risk",)))
    cipher = FieldCipher.from_settings(settings)
    with session_scope(settings.store_url) as session:
        from kehu.store import Campaign

        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        header, rows = contact_rows(session, cipher, campaign, lang="en")
        _, shown = contact_rows(session, cipher, campaign, reveal=True, lang="zh")
    assert header[:4] == ["customer id", "name", "phone", "e-mail"]
    first = rows[0]
    assert first[0] == "'=HYPERLINK(\"x\")"
    assert all("****" in row[2] for row in rows)
    assert all(row[5] and is_code(row[5]) for row in rows)
    assert any(row[2].startswith("139") and "*" not in row[2] for row in shown)
    from kehu.campaigns import to_bytes

    text = to_bytes(header, rows, "csv").decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0][0] == "customer id" and len(parsed) == len(rows) + 1


def test_user_segment_target(settings, cfx) -> None:  # type: ignore[no-untyped-def]
    from kehu.segments import add_segment

    store = cfx.build(settings, 60)
    with session_scope(settings.store_url) as session:
        segment_id = add_segment(session, name="流失老客", rule="lifecycle_stage = '流失客户'").id
    campaign_id = _launch(settings, target=Target("segment", (str(segment_id),)), holdout_share=0.0)
    assert sorted(_members(settings, campaign_id)) == store.marketable(("churned",))
    with session_scope(settings.store_url) as session:
        from kehu.campaigns import describe
        from kehu.campaigns.targets import segment_choices

        names = dict(segment_choices(session))
    assert describe(Target("segment", (str(segment_id),)), "zh", names) == "流失老客"
