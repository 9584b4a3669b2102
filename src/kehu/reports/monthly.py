"""The monthly customer report (月度客户报告): one month's key figures, classes, migration, CLV, churn, campaigns
and NPS, built from the store.

The month ``YYYY-MM`` is compared with the month before it. Class figures come from two snapshots: the newest ready
snapshot dated on or before the month's last day (*current*) and the newest one on or before the previous month's
last day (*previous*). Each missing part (no previous snapshot, no CLV columns, no churn model, no campaign, no NPS
answer) becomes a note code in :attr:`MonthlyReport.notes` instead of an error; only "no snapshot at all on or before
the month's end" raises :class:`NotFound`.

Definitions
-----------
* revenue of a month: paid orders not fully refunded, amount net of refunds (cents), ordered in the month, counted
  from the orders when the report is built (not from a snapshot's ``summary``, which misses orders imported after
  it), so the figures agree with the campaign results;
* buyers / orders of a month: distinct customers / orders among those purchases;
* shares are of the snapshot's customers (prospects included), in 0…1;
* migration: customers present in both snapshots, RFM group *from* (previous) → *to* (current);
* at risk: ``churn_risk >= threshold`` and not churned (the snapshot's own count from ``models.churn.at_risk`` when
  present).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from kehu.campaigns import CampaignResult, campaign_result, list_campaigns, window
from kehu.campaigns.stats import Interval
from kehu.errors import InvalidInput, NotFound
from kehu.store import Classification, ClassificationSnapshot, Order
from kehu.surveys import Score, list_surveys, nps, survey_results

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: Migration flows listed (largest first, customers who changed group only).
TOP_FLOWS = 10
CLV_TIERS = ("high", "medium", "low")


def parse_month(text: str) -> tuple[date, date]:
    """``YYYY-MM`` → (first day, last day) of that month; :class:`InvalidInput` naming the value otherwise."""
    m = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise InvalidInput(f"month {text!r} is not a month like 2026-10 (YYYY-MM)")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def previous_month(first: date) -> tuple[date, date]:
    """(first day, last day) of the month before the month starting on ``first``."""
    last = first - timedelta(days=1)
    return last.replace(day=1), last


@dataclass(frozen=True)
class Figure:
    """A key figure of the month beside the previous month's; ``change`` = value − previous (``None`` if unknown)."""

    key: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        return None if self.value is None or self.previous is None else self.value - self.previous

    @property
    def change_pct(self) -> float | None:
        """Relative change in percent; ``None`` when the previous value is 0 or unknown."""
        if self.change is None or not self.previous:
            return None
        return 100.0 * self.change / self.previous


@dataclass(frozen=True)
class Share:
    """One class, group or stage: customers and share in the current and previous snapshot (shares 0…1)."""

    code: str
    count: int
    share: float
    previous_count: int | None
    previous_share: float | None

    @property
    def change(self) -> int | None:
        return None if self.previous_count is None else self.count - self.previous_count


@dataclass(frozen=True)
class Flow:
    """Customers whose RFM group went from ``source`` (previous snapshot) to ``target`` (current)."""

    source: str
    target: str
    count: int


@dataclass(frozen=True)
class ClvTier:
    """A CLV tier of the current snapshot: buyers and their summed 365-day CLV (cents)."""

    tier: str
    customers: int
    clv_cents: int


@dataclass(frozen=True)
class Churn:
    """Churn figures of the current snapshot: customers at risk, mean risk of buyers (0…1), the model's AUC."""

    at_risk: int
    mean_risk: float | None
    auc: float | None
    baseline_auc: float | None


@dataclass(frozen=True)
class CampaignRow:
    """A campaign whose attribution window overlaps the month, with its measured uplift."""

    campaign_id: int
    name: str
    starts_on: date
    ends_on: date
    finished: bool
    result: CampaignResult


@dataclass(frozen=True)
class SurveyMonth:
    """The NPS of one survey from its answers given in the month."""

    survey_id: int
    name: str
    score: Score


@dataclass
class MonthlyReport:
    """Everything the report shows; see the module's description for the definitions."""

    month: str
    first_day: date
    last_day: date
    previous_month: str
    as_of: date
    previous_as_of: date | None
    figures: list[Figure]
    rfm_classes: list[Share]
    rfm_groups: list[Share]
    stages: list[Share]
    migrated: int | None
    stayed: int | None
    flows: list[Flow]
    clv_total_cents: int | None
    clv_tiers: list[ClvTier]
    churn: Churn | None
    campaigns: list[CampaignRow]
    nps: Score | None
    nps_surveys: list[SurveyMonth]
    notes: list[str] = field(default_factory=list)


def _snapshot_at(session: Session, day: date) -> ClassificationSnapshot | None:
    return session.scalar(select(ClassificationSnapshot).where(
        ClassificationSnapshot.status == "ready", ClassificationSnapshot.as_of <= day)
        .order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc()).limit(1))


def _purchases(first: date, last: date) -> Any:  # noqa: ANN401
    refunded = func.coalesce(Order.refunded_cents, 0)
    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    return and_(Order.is_paid.is_(True), or_(refunded == 0, refunded < Order.amount_cents),
                Order.ordered_at >= start, Order.ordered_at < end)


def month_activity(session: Session, first: date, last: date) -> tuple[int, int, int]:
    """(buyers, orders, net revenue in cents) of the purchases dated ``first`` … ``last``."""
    refunded = func.coalesce(Order.refunded_cents, 0)
    row = session.execute(select(func.count(func.distinct(Order.customer_id)), func.count(Order.id),
                                 func.coalesce(func.sum(Order.amount_cents - refunded), 0))
                          .where(_purchases(first, last))).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def _counts(session: Session, snapshot_id: int, column: Any) -> dict[str, int]:  # noqa: ANN401
    rows: Any = session.execute(select(column, func.count()).where(Classification.snapshot_id == snapshot_id)
                           .group_by(column)).all()
    return {str(code) if code is not None else "": int(n) for code, n in rows}


def _shares(now: dict[str, int], before: dict[str, int] | None, order: list[str]) -> list[Share]:
    total = sum(now.values()) or 1
    total_before = sum(before.values()) or 1 if before is not None else 1
    codes = [c for c in order if c in now or (before and c in before)]
    codes += sorted(c for c in set(now) | set(before or {}) if c not in codes)
    return [Share(code=c, count=now.get(c, 0), share=now.get(c, 0) / total,
                  previous_count=None if before is None else before.get(c, 0),
                  previous_share=None if before is None else before.get(c, 0) / total_before) for c in codes]


def _migration(session: Session, previous_id: int, current_id: int) -> tuple[int, int, list[Flow]]:
    a, b = aliased(Classification), aliased(Classification)
    rows = session.execute(select(a.rfm_group, b.rfm_group, func.count())
                           .join(b, and_(b.customer_id == a.customer_id, b.snapshot_id == current_id))
                           .where(a.snapshot_id == previous_id).group_by(a.rfm_group, b.rfm_group)).all()
    moved = [Flow(str(s), str(t), int(n)) for s, t, n in rows if s != t]
    stayed = sum(int(n) for s, t, n in rows if s == t)
    moved.sort(key=lambda f: (-f.count, f.source, f.target))
    return sum(f.count for f in moved), stayed, moved[:TOP_FLOWS]


def _clv(session: Session, snapshot_id: int) -> tuple[int | None, list[ClvTier]]:
    c = Classification
    rows = session.execute(select(c.clv_tier, func.count(), func.coalesce(func.sum(c.clv_365d_cents), 0))
                           .where(c.snapshot_id == snapshot_id, c.clv_365d_cents.is_not(None))
                           .group_by(c.clv_tier)).all()
    if not rows:
        return None, []
    by_tier = {str(t): (int(n or 0), int(s or 0)) for t, n, s in rows}
    order = [t for t in CLV_TIERS if t in by_tier] + sorted(t for t in by_tier if t not in CLV_TIERS)
    tiers = [ClvTier(t, *by_tier[t]) for t in order]
    return sum(t.clv_cents for t in tiers), tiers


def _churn(session: Session, snapshot: ClassificationSnapshot, threshold: float) -> Churn | None:
    c = Classification
    row: Any = session.execute(select(func.avg(c.churn_risk), func.count(c.churn_risk))
                               .where(c.snapshot_id == snapshot.id)).one()
    mean, known = row
    models: dict[str, Any] = snapshot.models if isinstance(snapshot.models, dict) else {}
    found = models.get("churn")
    churn: dict[str, Any] = found if isinstance(found, dict) else {}
    if not known and not churn:
        return None
    at_risk = churn.get("at_risk")
    if at_risk is None:
        at_risk = session.scalar(select(func.count()).where(
            c.snapshot_id == snapshot.id, c.churn_risk >= threshold,
            or_(c.lifecycle_stage.is_(None), c.lifecycle_stage != "churned"))) or 0
    auc, base = churn.get("auc"), churn.get("baseline_auc")
    return Churn(at_risk=int(at_risk), mean_risk=None if mean is None else float(mean),
                 auc=None if auc is None else float(auc), baseline_auc=None if base is None else float(base))


def _campaigns(session: Session, first: date, last: date, today: date | None) -> list[CampaignRow]:
    out = []
    for campaign in list_campaigns(session, limit=1000):
        start, end = window(campaign)  # [start, end)
        if start <= last and end > first:
            out.append(CampaignRow(campaign_id=int(campaign.id), name=campaign.name, starts_on=start,
                                   ends_on=end - timedelta(days=1), finished=end <= (today or date.today()),
                                   result=campaign_result(session, campaign, today=today)))
    out.sort(key=lambda r: (r.starts_on, r.campaign_id))
    return out


def _nps(session: Session, first: date, last: date) -> tuple[Score | None, list[SurveyMonth]]:
    from kehu.store import SurveyResponse

    month = first.strftime("%Y-%m")
    surveys = [s for s in list_surveys(session, limit=1000) if s.kind == "nps"]
    per_survey: list[SurveyMonth] = []
    for survey in surveys:
        result = survey_results(session, survey)
        for g in result.monthly:
            if g.key == month and g.score.n:
                per_survey.append(SurveyMonth(int(survey.id), survey.name, g.score))
    if not per_survey:
        return None, []
    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    scores = session.scalars(select(SurveyResponse.score).where(
        SurveyResponse.survey_id.in_([s.survey_id for s in per_survey]),
        SurveyResponse.answered_at >= start, SurveyResponse.answered_at < end)).all()
    return nps([int(s) for s in scores]), sorted(per_survey, key=lambda s: s.survey_id)


def monthly_report(session: Session, month: str, *, churn_threshold: float = 0.5,
                   today: date | None = None) -> MonthlyReport:
    """The report of ``month`` (``YYYY-MM``); see the module's description.

    Raises
    ------
    InvalidInput
        ``month`` is not ``YYYY-MM``.
    NotFound
        No ready snapshot is dated on or before the month's last day.
    """
    from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS

    first, last = parse_month(month)
    p_first, p_last = previous_month(first)
    key, p_key = first.strftime("%Y-%m"), p_first.strftime("%Y-%m")
    current = _snapshot_at(session, last)
    if current is None:
        raise NotFound(f"no classification snapshot on or before {last.isoformat()}; run `kehu classify --as-of "
                       f"{last.isoformat()}` or pick a later month")
    previous = _snapshot_at(session, p_last)
    if previous is not None and previous.id == current.id:
        previous = None
    notes: list[str] = []
    if previous is None:
        notes.append("no_previous_snapshot")
    if current.as_of < last:
        notes.append("snapshot_before_month_end")

    buyers, orders, revenue = month_activity(session, first, last)
    p_buyers, p_orders, p_revenue = month_activity(session, p_first, p_last)
    figures = [
        Figure("customers", current.customers, None if previous is None else previous.customers),
        Figure("buyers", buyers, p_buyers),
        Figure("orders", orders, p_orders),
        Figure("revenue_cents", revenue, p_revenue),
    ]

    prev_id = None if previous is None else previous.id
    classes = _shares(_counts(session, current.id, Classification.rfm_class),
                      None if prev_id is None else _counts(session, prev_id, Classification.rfm_class),
                      list(RFM_CLASSES))
    classes = [s for s in classes if s.code]  # prospects have no class
    groups = _shares(_counts(session, current.id, Classification.rfm_group),
                     None if prev_id is None else _counts(session, prev_id, Classification.rfm_group),
                     list(RFM_GROUPS))
    stages = _shares(_counts(session, current.id, Classification.lifecycle_stage),
                     None if prev_id is None else _counts(session, prev_id, Classification.lifecycle_stage),
                     list(LIFECYCLE_STAGES))
    migrated = stayed = None
    flows: list[Flow] = []
    if prev_id is not None:
        migrated, stayed, flows = _migration(session, prev_id, current.id)

    clv_total, clv_tiers = _clv(session, current.id)
    if clv_total is None:
        notes.append("no_clv")
    churn = _churn(session, current, churn_threshold)
    if churn is None:
        notes.append("no_churn")
    campaigns = _campaigns(session, first, last, today)
    if not campaigns:
        notes.append("no_campaigns")
    score, surveys = _nps(session, first, last)
    if score is None:
        notes.append("no_nps")
    return MonthlyReport(month=key, first_day=first, last_day=last, previous_month=p_key, as_of=current.as_of,
                         previous_as_of=None if previous is None else previous.as_of, figures=figures,
                         rfm_classes=classes, rfm_groups=groups, stages=stages, migrated=migrated, stayed=stayed,
                         flows=flows, clv_total_cents=clv_total, clv_tiers=clv_tiers, churn=churn,
                         campaigns=campaigns, nps=score, nps_surveys=surveys, notes=notes)


__all__ = ["Churn", "ClvTier", "CampaignRow", "Figure", "Flow", "Interval", "MonthlyReport", "Share", "SurveyMonth",
           "month_activity", "monthly_report", "parse_month", "previous_month"]
