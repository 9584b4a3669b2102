"""The monthly report's figures against direct queries, its notes for missing parts, and the month parser."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.reports import monthly_report, parse_month
from kehu.store import Classification, ClassificationSnapshot, Order, SurveyResponse, session_scope
from kehu.surveys import nps

from .conftest import END, PREVIOUS_END


def _snapshot_id(session, as_of: date) -> int:  # type: ignore[no-untyped-def]
    return int(session.scalar(select(ClassificationSnapshot.id).where(ClassificationSnapshot.as_of == as_of)))


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "oct 2026", "", "2026-10-01", "0999-01"])
def test_bad_month_strings_say_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        parse_month(text)


def test_month_bounds_include_leap_february() -> None:
    assert parse_month("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    assert parse_month(" 2026-12 ") == (date(2026, 12, 1), date(2026, 12, 31))


def test_october_figures_match_the_store(report_store: Settings) -> None:
    with session_scope(report_store.store_url) as s:
        r = monthly_report(s, "2026-10", churn_threshold=report_store.churn_risk_threshold, today=END)
        cur, prev = _snapshot_id(s, END), _snapshot_id(s, PREVIOUS_END)
        assert (r.as_of, r.previous_as_of) == (END, PREVIOUS_END)
        figures = {f.key: f for f in r.figures}
        refunded = func.coalesce(Order.refunded_cents, 0)
        for first, last, attr in ((datetime(2026, 10, 1), datetime(2026, 11, 1), "value"),
                                  (datetime(2026, 9, 1), datetime(2026, 10, 1), "previous")):
            where = (Order.is_paid.is_(True), Order.ordered_at >= first, Order.ordered_at < last,
                     refunded < Order.amount_cents)
            buyers, orders, revenue = s.execute(select(func.count(func.distinct(Order.customer_id)), func.count(),
                                                       func.sum(Order.amount_cents - refunded)).where(*where)).one()
            assert getattr(figures["buyers"], attr) == buyers > 0
            assert getattr(figures["orders"], attr) == orders
            assert getattr(figures["revenue_cents"], attr) == revenue
        assert figures["customers"].value == s.scalar(select(ClassificationSnapshot.customers)
                                                      .where(ClassificationSnapshot.id == cur))
        # Classes and stages: counts per code, shares summing to one, previous counts from the September snapshot.
        for shares, column in ((r.rfm_groups, Classification.rfm_group), (r.stages, Classification.lifecycle_stage)):
            for snap, attr in ((cur, "count"), (prev, "previous_count")):
                direct = dict(s.execute(select(column, func.count()).where(Classification.snapshot_id == snap)
                                        .group_by(column)).all())
                assert {x.code: getattr(x, attr) for x in shares if getattr(x, attr)} == direct
            assert sum(x.share for x in shares) == pytest.approx(1.0)
        assert sum(x.count for x in r.rfm_classes) == s.scalar(select(func.count()).where(
            Classification.snapshot_id == cur, Classification.rfm_class.is_not(None)))
        # Migration: customers in both snapshots, moved + stayed.
        both = s.scalar(select(func.count()).select_from(Classification).where(
            Classification.snapshot_id == cur,
            Classification.customer_id.in_(select(Classification.customer_id)
                                           .where(Classification.snapshot_id == prev))))
        assert r.migrated is not None and r.stayed is not None and r.migrated + r.stayed == both
        assert r.flows and all(f.source != f.target for f in r.flows)
        assert [f.count for f in r.flows] == sorted((f.count for f in r.flows), reverse=True)
        # CLV and churn from the snapshot's prediction columns and models.
        total = s.scalar(select(func.sum(Classification.clv_365d_cents)).where(Classification.snapshot_id == cur))
        assert r.clv_total_cents == total and {t.tier for t in r.clv_tiers} == {"high", "medium", "low"}
        models = s.scalar(select(ClassificationSnapshot.models).where(ClassificationSnapshot.id == cur))
        assert r.churn is not None and r.churn.auc == pytest.approx(models["churn"]["auc"])
        assert r.churn.at_risk == models["churn"]["at_risk"]
        # NPS of the month: every NPS answer dated in October.
        scores = s.scalars(select(SurveyResponse.score).where(SurveyResponse.answered_at >= datetime(2026, 10, 1),
                                                              SurveyResponse.answered_at < datetime(2026, 11, 1))).all()
        assert r.nps is not None and r.nps.n == len(scores) > 0
        assert r.nps.value.estimate == pytest.approx(nps(list(scores)).value.estimate)
        assert "no_previous_snapshot" not in r.notes and "no_nps" not in r.notes


def test_september_lists_the_campaign_and_notes_what_is_missing(report_store: Settings) -> None:
    with session_scope(report_store.store_url) as s:
        r = monthly_report(s, "2026-09", today=END)
    assert len(r.campaigns) == 1 and r.campaigns[0].finished
    res = r.campaigns[0].result
    assert res.treatment.customers > 0 and res.holdout.customers > 0 and res.conversion_diff.estimate is not None
    # September's snapshot ran without the models; its previous snapshot is the campaign's (end of August).
    assert r.as_of == PREVIOUS_END and r.previous_as_of == date(2026, 8, 31)
    assert "no_clv" in r.notes and "no_churn" in r.notes and r.clv_total_cents is None and r.churn is None


def test_a_month_without_a_previous_snapshot_or_campaigns_has_notes_not_errors(report_store: Settings) -> None:
    with session_scope(report_store.store_url) as s:
        r = monthly_report(s, "2026-08", today=END)
        assert r.previous_as_of is None and r.migrated is None and r.flows == []
        assert all(x.previous_count is None for x in r.rfm_groups)
        assert "no_previous_snapshot" in r.notes and len(r.campaigns) == 1  # the campaign starts on 31 August
        later = monthly_report(s, "2027-03", today=END)
        assert later.as_of == END and {"snapshot_before_month_end", "no_campaigns", "no_nps"} <= set(later.notes)
        assert later.figures[1].value == 0 and later.campaigns == [] and later.nps is None
        with pytest.raises(NotFound, match="no classification snapshot on or before 2020-01-31"):
            monthly_report(s, "2020-01")
