"""The feedback dashboard's numbers: categories and sentiment per month, per customer group, the SLA, the words
of negative feedback.

Everything is counted over the feedback given in a window of whole months (default: the 12 months up to the month
of the newest feedback). Groups are the RFM score-grid groups of the newest ready classification snapshot dated on
or before the window's end (the newest one at all when none is that old); customers it does not cover are
``unclassified``. When user segments exist (:mod:`kehu.segments`), :func:`segment_breakdown` gives the same per
segment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.feedback.categories import CATEGORIES
from kehu.feedback.service import NEGATIVE_SENTIMENT, sla_state
from kehu.store import Classification, ClassificationSnapshot, Feedback

#: The default window, in months.
DEFAULT_MONTHS = 12
#: Keywords listed for negative feedback.
TOP_KEYWORDS = 15


@dataclass
class GroupRow:
    """Feedback of one customer group."""

    code: str
    count: int = 0
    negative: int = 0
    sentiment_sum: float = 0.0
    by_category: dict[str, int] = field(default_factory=dict)

    @property
    def mean_sentiment(self) -> float | None:
        """Mean sentiment, ``None`` without feedback."""
        return round(self.sentiment_sum / self.count, 3) if self.count else None

    @property
    def negative_share(self) -> float | None:
        """Share of negative feedback, ``None`` without feedback."""
        return self.negative / self.count if self.count else None


@dataclass
class FeedbackStats:
    """The numbers of the feedback dashboard for the months ``months`` (``YYYY-MM``, oldest first)."""

    start: date
    end: date
    months: list[str]
    total: int = 0
    complaints: int = 0
    negative: int = 0
    open: int = 0
    overdue: int = 0
    answered: int = 0
    answered_in_time: int = 0
    sentiment_sum: float = 0.0
    by_category: dict[str, int] = field(default_factory=dict)
    monthly_category: dict[str, dict[str, int]] = field(default_factory=dict)
    monthly_count: dict[str, int] = field(default_factory=dict)
    monthly_sentiment_sum: dict[str, float] = field(default_factory=dict)
    monthly_negative: dict[str, int] = field(default_factory=dict)
    groups: list[GroupRow] = field(default_factory=list)
    group_kind: str = "rfm_group"
    snapshot_as_of: date | None = None
    negative_keywords: list[tuple[str, int]] = field(default_factory=list)

    @property
    def mean_sentiment(self) -> float | None:
        """Mean sentiment over the window, ``None`` without feedback."""
        return round(self.sentiment_sum / self.total, 3) if self.total else None

    @property
    def sla_share(self) -> float | None:
        """Share of answered feedback answered within the SLA, ``None`` when none was answered."""
        return self.answered_in_time / self.answered if self.answered else None

    def monthly_mean(self, month: str) -> float | None:
        """Mean sentiment of ``month``, ``None`` without feedback that month."""
        n = self.monthly_count.get(month, 0)
        return round(self.monthly_sentiment_sum.get(month, 0.0) / n, 3) if n else None


def _month(d: date | datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def window(session: Session, *, end: date | None = None, months: int = DEFAULT_MONTHS) -> tuple[date, date]:
    """(first day, last day) of the ``months`` whole months ending with the month of ``end`` (default: the newest
    feedback's date, else today)."""
    if end is None:
        newest = session.scalar(select(func.max(Feedback.created_at)))
        end = newest.date() if newest else date.today()
    last = _add_months(date(end.year, end.month, 1), 1) - timedelta(days=1)
    first = _add_months(date(end.year, end.month, 1), -(months - 1))
    return first, last


def _snapshot(session: Session, end: date) -> ClassificationSnapshot | None:
    ready = select(ClassificationSnapshot).where(ClassificationSnapshot.status == "ready")
    order = (ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc())
    found = session.scalar(ready.where(ClassificationSnapshot.as_of <= end).order_by(*order).limit(1))
    return found or session.scalar(ready.order_by(*order).limit(1))


def feedback_stats(session: Session, *, now: datetime, sla_hours: int, end: date | None = None,
                   months: int = DEFAULT_MONTHS) -> FeedbackStats:
    """The dashboard's numbers (see the module docstring). ``now`` and ``sla_hours`` decide what is overdue."""
    months = max(1, min(months, 120))
    first, last = window(session, end=end, months=months)
    labels = [_month(_add_months(first, i)) for i in range(months)]
    stats = FeedbackStats(start=first, end=last, months=labels)
    snapshot = _snapshot(session, last)
    stats.snapshot_as_of = snapshot.as_of if snapshot else None
    group_of: dict[int, str] = {}
    if snapshot is not None:
        group_of = {int(cid): str(code) for cid, code in session.execute(
            select(Classification.customer_id, Classification.rfm_group)
            .join(Feedback, Feedback.customer_id == Classification.customer_id)
            .where(Classification.snapshot_id == snapshot.id, Feedback.created_at >= datetime.combine(first, time.min),
                   Feedback.created_at < datetime.combine(last + timedelta(days=1), time.min))
            .distinct())}
    groups: dict[str, GroupRow] = {}
    words: Counter[str] = Counter()
    rows = session.scalars(select(Feedback).where(
        Feedback.created_at >= datetime.combine(first, time.min),
        Feedback.created_at < datetime.combine(last + timedelta(days=1), time.min)))
    by_category: Counter[str] = Counter()
    monthly: dict[str, Counter[str]] = defaultdict(Counter)
    for item in rows:
        month = _month(item.created_at)
        negative = item.kind == "complaint" or item.sentiment <= NEGATIVE_SENTIMENT or (
            item.rating is not None and item.rating <= 2)
        stats.total += 1
        stats.complaints += item.kind == "complaint"
        stats.negative += negative
        stats.sentiment_sum += item.sentiment
        by_category[item.category] += 1
        monthly[month][item.category] += 1
        stats.monthly_count[month] = stats.monthly_count.get(month, 0) + 1
        stats.monthly_sentiment_sum[month] = stats.monthly_sentiment_sum.get(month, 0.0) + item.sentiment
        stats.monthly_negative[month] = stats.monthly_negative.get(month, 0) + negative
        state = sla_state(item, now, sla_hours)
        if item.status != "resolved":
            stats.open += 1
        if state == "overdue":
            stats.overdue += 1
        if state in ("met", "breached"):
            stats.answered += 1
            stats.answered_in_time += state == "met"
        group = groups.setdefault(group_of.get(item.customer_id, "unclassified"),
                                  GroupRow(group_of.get(item.customer_id, "unclassified")))
        group.count += 1
        group.negative += negative
        group.sentiment_sum += item.sentiment
        group.by_category[item.category] = group.by_category.get(item.category, 0) + 1
        if negative:
            words.update(item.keywords or [])
    stats.by_category = {c: by_category.get(c, 0) for c in CATEGORIES}
    stats.monthly_category = {m: {c: monthly[m].get(c, 0) for c in CATEGORIES} for m in labels}
    stats.groups = sorted(groups.values(), key=lambda g: (-g.count, g.code))
    stats.negative_keywords = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_KEYWORDS]
    return stats


def segment_breakdown(session: Session, *, start: date, end: date, snapshot_as_of: date | None,
                      limit: int = 30) -> list[dict[str, Any]] | None:
    """Feedback per user segment and profile tag (:mod:`kehu.segments`) over ``start`` … ``end``, or ``None`` when
    segments are not part of this installation; ``[]`` without segments or without a snapshot.

    Membership is the segment's in the snapshot of ``snapshot_as_of`` (the one the RFM groups use), read through
    :func:`kehu.segments.segment_member_ids`. Each row: ``name``, ``is_tag``, ``count``, ``negative``,
    ``mean_sentiment`` (``None`` without feedback); a customer counts in every segment they belong to. At most
    ``limit`` segments (user segments first, then tags); a segment whose rule no longer compiles is left out.
    """
    try:
        from kehu.segments import list_segments, segment_member_ids
    except ImportError:
        return None
    from kehu.errors import KehuError

    if snapshot_as_of is None:
        return []
    snapshot = _snapshot(session, snapshot_as_of)
    if snapshot is None:
        return []
    rows = session.execute(select(Feedback.customer_id, Feedback.sentiment, Feedback.kind, Feedback.rating).where(
        Feedback.created_at >= datetime.combine(start, time.min),
        Feedback.created_at < datetime.combine(end + timedelta(days=1), time.min))).all()
    by_customer: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for cid, score, kind, rating in rows:
        negative = kind == "complaint" or score <= NEGATIVE_SENTIMENT or (rating is not None and rating <= 2)
        by_customer[int(cid)].append((float(score), negative))
    out: list[dict[str, Any]] = []
    for segment in list_segments(session)[:limit]:
        try:
            members = segment_member_ids(session, segment_id=segment.id, snapshot_id=snapshot.id)
        except KehuError:
            continue
        mine = [x for cid in members for x in by_customer.get(cid, ())]
        out.append({"name": segment.name, "is_tag": bool(segment.is_tag), "count": len(mine),
                    "negative": sum(1 for _, neg in mine if neg),
                    "mean_sentiment": round(sum(v for v, _ in mine) / len(mine), 3) if mine else None})
    return out


__all__ = ["FeedbackStats", "GroupRow", "feedback_stats", "segment_breakdown", "window"]
