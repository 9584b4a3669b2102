"""Feedback items: write (text encrypted; category, sentiment and keywords computed at write time), handle
(status, owner, first response), the first-response SLA, lists and the negative-feedback counts for churn reasons.

Times are the shop's local wall-clock time without a zone, like the order times of the imported files; "now" is
the server's local time (:func:`local_now`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from cryptography.exceptions import InvalidTag
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.feedback.categories import Rule, categorise
from kehu.feedback.rules import load_rules
from kehu.feedback.text import detect_language, keywords, sentiment
from kehu.privacy import FieldCipher
from kehu.store import Customer, Feedback, User, session_scope

#: Encryption field name of ``feedback.text_enc``.
TEXT_FIELD = "feedback"
KINDS: tuple[str, ...] = ("complaint", "review")
STATUSES: tuple[str, ...] = ("new", "in_progress", "resolved")
SOURCES: tuple[str, ...] = ("form", "import", "api", "demo")
#: Channels offered by the form; imported files may name others (up to 32 characters).
CHANNELS: tuple[str, ...] = ("phone", "wechat", "app", "web", "email", "store", "marketplace", "other")
#: Longest text kept (characters).
TEXT_MAX = 4000
#: Feedback at or below this sentiment is negative (as are complaints and ratings of 1 or 2 stars).
NEGATIVE_SENTIMENT = -0.25
#: Feedback at or above this sentiment is positive.
POSITIVE_SENTIMENT = 0.25
#: The window of :func:`complaints_90d`, in days.
COMPLAINT_WINDOW_DAYS = 90


def local_now() -> datetime:
    """The server's local time, to the second, without a zone."""
    return datetime.now().replace(microsecond=0)


@dataclass(frozen=True)
class Analysis:
    """What is computed from a text at write time."""

    language: str
    category: str
    sentiment: float
    keywords: list[str]


def analyse(text: str | None, rules: list[Rule], *, rating: int | None = None) -> Analysis:
    """Language, category, sentiment and keywords of ``text`` under ``rules``.

    Without a sentiment word in the text (or without text), a star rating gives the sentiment instead:
    1 → −0.8, 2 → −0.4, 3 → 0, 4 → 0.4, 5 → 0.8.
    """
    text = (text or "").strip()
    language = detect_language(text) if text else "zh"
    score = sentiment(text, language) if text else 0.0
    if score == 0.0 and rating is not None:
        score = round((rating - 3) * 0.4, 3)
    return Analysis(language=language, category=categorise(text, rules), sentiment=score,
                    keywords=keywords(text, language) if text else [])


def sentiment_label(score: float) -> str:
    """``negative``, ``neutral`` or ``positive`` for a sentiment score (see :data:`NEGATIVE_SENTIMENT`)."""
    if score <= NEGATIVE_SENTIMENT:
        return "negative"
    if score >= POSITIVE_SENTIMENT:
        return "positive"
    return "neutral"


def is_negative(item: Feedback) -> bool:
    """A complaint, a negative text or a rating of 1 or 2 stars."""
    return item.kind == "complaint" or item.sentiment <= NEGATIVE_SENTIMENT or (
        item.rating is not None and item.rating <= 2)


def negative_clause() -> ColumnElement[bool]:
    """:func:`is_negative` as a SQL condition."""
    return or_(Feedback.kind == "complaint", Feedback.sentiment <= NEGATIVE_SENTIMENT,
               and_(Feedback.rating.is_not(None), Feedback.rating <= 2))


def row_key(cipher: FieldCipher, *, customer_id: int, created_at: datetime, kind: str, text: str | None) -> str:
    """The keyed hash that makes an import idempotent: the same customer, time, kind and text give the same key.

    Keyed (HMAC through the blind index), so the key reveals nothing about the text."""
    digest = hashlib.sha256((text or "").encode()).hexdigest()
    value = f"{customer_id}\x00{created_at.isoformat(timespec='seconds')}\x00{kind}\x00{digest}"
    key = cipher.blind_index("feedback_row", value)
    assert key is not None
    return key


def check_values(*, kind: str, rating: int | None, text: str | None,
                 channel: str | None) -> tuple[str | None, str | None]:
    """Checked ``text`` and ``channel`` (trimmed, ``None`` when blank); raises :class:`InvalidInput` naming the
    value for an unknown kind, a rating outside 1 … 5, a text over :data:`TEXT_MAX` characters, no text and no
    rating, or a channel over 32 characters."""
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if rating is not None and not 1 <= rating <= 5:
        raise InvalidInput(f"rating {rating} is not between 1 and 5 stars")
    clean = (text or "").strip() or None
    if clean is not None and len(clean) > TEXT_MAX:
        raise InvalidInput(f"the text has {len(clean)} characters; at most {TEXT_MAX} are kept")
    if clean is None and rating is None:
        raise InvalidInput("feedback needs a text or a rating")
    chan = (channel or "").strip() or None
    if chan is not None and len(chan) > 32:
        raise InvalidInput(f"channel {chan[:40]!r} is longer than 32 characters")
    return clean, chan


def add_feedback(session: Session, cipher: FieldCipher, *, customer_id: int, kind: str, text: str | None,
                 created_at: datetime | None = None, channel: str | None = None, rating: int | None = None,
                 source: str = "form", created_by: int | None = None, rules: list[Rule] | None = None,
                 status: str = "new", first_response_at: datetime | None = None,
                 resolved_at: datetime | None = None, import_run_id: int | None = None,
                 key: str | None = None, analysis: Analysis | None = None) -> Feedback:
    """Store one feedback item (flushed, so it has its id) and return it.

    The text is encrypted (field :data:`TEXT_FIELD`); language, category (``rules``, default: the stored rules),
    sentiment and keywords are computed now and kept in plain columns (or taken from ``analysis``, computed by
    :func:`analyse` for the same text, rating and rules: a bulk load reuses it for repeated texts). ``created_at``
    defaults to now. A resolved
    item without ``resolved_at`` gets ``created_at``'s time. Raises :class:`NotFound` for an unknown customer and
    :class:`InvalidInput` for bad values or a customer whose personal data was erased.
    """
    clean, chan = check_values(kind=kind, rating=rating, text=text, channel=channel)
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if customer.erased_at is not None:
        raise InvalidInput(f"customer {customer_id}'s personal data was erased on request; no new feedback is kept")
    at = (created_at or local_now()).replace(microsecond=0, tzinfo=None)
    found = analysis or analyse(clean, rules if rules is not None else load_rules(session), rating=rating)
    if status == "resolved" and resolved_at is None:
        resolved_at = first_response_at or at
    item = Feedback(customer_id=customer_id, created_at=at, channel=chan, kind=kind, rating=rating,
                    text_enc=cipher.encrypt(TEXT_FIELD, clean), language=found.language, category=found.category,
                    sentiment=found.sentiment, keywords=found.keywords, status=status, source=source,
                    first_response_at=first_response_at, resolved_at=resolved_at, created_by=created_by,
                    import_run_id=import_run_id, row_key=key)
    session.add(item)
    session.flush()
    return item


def text_decrypter(cipher: FieldCipher) -> Callable[[str | None], str | None]:
    """``decrypt(text_enc)``: the text, or ``None`` when there is none or it does not decrypt with this key."""

    def decrypt(token: str | None) -> str | None:
        try:
            return cipher.decrypt(TEXT_FIELD, token)
        except (InvalidTag, ValueError):
            return None

    return decrypt


def get_feedback(session: Session, feedback_id: int) -> Feedback:
    """The feedback item ``feedback_id``; :class:`NotFound` otherwise."""
    item = session.get(Feedback, feedback_id)
    if item is None:
        raise NotFound(f"feedback {feedback_id} does not exist")
    return item


def update_feedback(session: Session, item: Feedback, *, now: datetime, status: str | None = None,
                    owner_id: int | None = None, clear_owner: bool = False, responded: bool = False) -> Feedback:
    """Change the status and/or owner of ``item``; record the first response.

    The first response is the first of: ``responded`` (the agent answered the customer), a status other than
    ``new``. Resolving sets ``resolved_at``; reopening clears it. The owner must be an active user.
    """
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if clear_owner:
        item.owner_id = None
    elif owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None or not owner.is_active:
            raise InvalidInput(f"user {owner_id} cannot own feedback: choose an active user")
        item.owner_id = owner_id
    if status is not None and status != item.status:
        item.status = status
        item.resolved_at = now if status == "resolved" else None
    if item.first_response_at is None and (responded or item.status != "new"):
        item.first_response_at = now
    session.flush()
    return item


# --- SLA ------------------------------------------------------------------------------------------------------


def sla_due(item: Feedback, sla_hours: int) -> datetime:
    """When the first response is due: ``created_at`` + ``sla_hours``."""
    return item.created_at + timedelta(hours=sla_hours)


def sla_state(item: Feedback, now: datetime, sla_hours: int) -> str:
    """The first-response SLA of ``item`` at ``now``.

    ``met`` / ``breached``: answered (or resolved without a recorded answer: then the resolution counts) within /
    after ``sla_hours``; ``overdue``: not answered and past due; ``pending``: not answered, not yet due.
    """
    due = sla_due(item, sla_hours)
    answered = item.first_response_at or (item.resolved_at if item.status == "resolved" else None)
    if answered is not None:
        return "met" if answered <= due else "breached"
    return "overdue" if now > due else "pending"


def overdue_clause(now: datetime, sla_hours: int) -> ColumnElement[bool]:
    """SQL: not answered, not resolved and created more than ``sla_hours`` before ``now``."""
    return and_(Feedback.first_response_at.is_(None), Feedback.status != "resolved",
                Feedback.created_at < now - timedelta(hours=sla_hours))


# --- lists ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackFilter:
    """The inbox's filters: status (``open`` = new or in progress, ``all``, or one status), category, kind,
    sentiment label, owner, customer, month (``YYYY-MM``), ``overdue`` only; ``limit`` rows from ``offset``."""

    status: str = "open"
    category: str | None = None
    kind: str | None = None
    sentiment: str | None = None
    owner_id: int | None = None
    customer_id: int | None = None
    month: str | None = None
    overdue: bool = False
    limit: int = 50
    offset: int = 0


def _month_start(month: str) -> date:
    """``YYYY-MM`` → its first day; :class:`InvalidInput` otherwise."""
    try:
        year, number = month.split("-")
        return date(int(year), int(number), 1)
    except ValueError:
        raise InvalidInput(f"month {month!r} is not a month like 2025-06") from None


def list_feedback(session: Session, *, now: datetime, sla_hours: int,
                  filters: FeedbackFilter | None = None) -> tuple[list[Feedback], int]:
    """Feedback matching ``filters`` and the total count: overdue first, then open before resolved, then newest
    first (ties by id)."""
    f = filters or FeedbackFilter()
    query = select(Feedback)
    if f.status == "open":
        query = query.where(Feedback.status != "resolved")
    elif f.status != "all":
        if f.status not in STATUSES:
            raise InvalidInput(f"status {f.status!r} is not one of open, all, {', '.join(STATUSES)}")
        query = query.where(Feedback.status == f.status)
    if f.category:
        query = query.where(Feedback.category == f.category)
    if f.kind:
        query = query.where(Feedback.kind == f.kind)
    if f.sentiment == "negative":
        query = query.where(Feedback.sentiment <= NEGATIVE_SENTIMENT)
    elif f.sentiment == "positive":
        query = query.where(Feedback.sentiment >= POSITIVE_SENTIMENT)
    elif f.sentiment == "neutral":
        query = query.where(Feedback.sentiment > NEGATIVE_SENTIMENT, Feedback.sentiment < POSITIVE_SENTIMENT)
    if f.owner_id is not None:
        query = query.where(Feedback.owner_id == f.owner_id)
    if f.customer_id is not None:
        query = query.where(Feedback.customer_id == f.customer_id)
    if f.month:
        start = _month_start(f.month)
        following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        query = query.where(Feedback.created_at >= datetime.combine(start, time.min),
                            Feedback.created_at < datetime.combine(following, time.min))
    overdue = overdue_clause(now, sla_hours)
    if f.overdue:
        query = query.where(overdue)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rank = case((overdue, 0), (Feedback.status != "resolved", 1), else_=2)
    rows = session.scalars(query.order_by(rank, Feedback.created_at.desc(), Feedback.id.desc())
                           .limit(f.limit).offset(f.offset)).all()
    return list(rows), int(total)


# --- churn reasons --------------------------------------------------------------------------------------------


def complaints_90d(session_or_settings: Session | Settings, as_of: date) -> dict[int, int]:
    """Negative feedback per customer in the 90 days up to ``as_of``: ``{customer store id: count}``.

    Counts complaints, negative texts (sentiment ≤ :data:`NEGATIVE_SENTIMENT`) and ratings of 1–2 stars given on
    the days ``as_of − 89`` … ``as_of`` (both included; times on ``as_of`` count up to its end). Customers without
    any are left out (their count is 0). Takes an open store session or the settings (then opens the store).
    """
    if isinstance(session_or_settings, Settings):
        with session_scope(session_or_settings.store_url) as session:
            return complaints_90d(session, as_of)
    session = session_or_settings
    start = datetime.combine(as_of - timedelta(days=COMPLAINT_WINDOW_DAYS - 1), time.min)
    end = datetime.combine(as_of + timedelta(days=1), time.min)
    rows = session.execute(
        select(Feedback.customer_id, func.count())
        .where(Feedback.created_at >= start, Feedback.created_at < end, negative_clause())
        .group_by(Feedback.customer_id)
    ).all()
    return {int(cid): int(n) for cid, n in rows}


__all__ = ["CHANNELS", "KINDS", "STATUSES", "TEXT_FIELD", "Analysis", "FeedbackFilter", "add_feedback", "analyse",
           "complaints_90d", "get_feedback", "is_negative", "list_feedback", "local_now", "row_key",
           "sentiment_label", "sla_state", "text_decrypter", "update_feedback"]
