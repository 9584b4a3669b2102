"""Marketing consent: every grant or withdrawal is kept with its time and source; the newest one is in force.

``customers.marketing_consent`` mirrors the newest event so lists and filters need no join. The history is never
rewritten: a withdrawal is a new event with ``granted=False``. Each event is audited (action ``consent``) in the same
transaction as the event itself; the caller commits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, NotFound
from kehu.privacy import audit
from kehu.store import ConsentEvent, Customer, User

#: Longest ``source`` a consent event can keep (the column is ``String(32)``).
SOURCE_MAX_LENGTH = 32


def _now() -> datetime:
    """The current time in UTC, without time zone (as every ``DateTime`` column of the store)."""
    return datetime.now(UTC).replace(tzinfo=None)


def record_consent(session: Session, *, customer_id: int, granted: bool, source: str,
                   user_id: int | None) -> ConsentEvent:
    """Record a grant (``granted=True``) or a withdrawal (``False``) of marketing consent for one customer.

    Parameters
    ----------
    customer_id
        The store id of the customer (``customers.id``).
    granted
        ``True`` when the customer agrees to marketing, ``False`` when they withdraw (or refuse).
    source
        Where the decision came from, e.g. ``web``, ``api``, ``import``, ``phone``, ``store``: 1 to 32 characters,
        surrounding spaces removed. Not personal data.
    user_id
        The user who recorded it (``None`` for the system, e.g. an import).

    The event's ``at`` is now (UTC). ``customers.marketing_consent`` is set to ``granted`` (the newest event is in
    force) and an audit event ``consent`` is added; nothing is committed: the caller commits or rolls back.

    Raises
    ------
    NotFound
        No customer has this id, or the customer was erased (an erased customer cannot be contacted at all).
    InvalidInput
        ``source`` is empty or longer than 32 characters.
    """
    source = (source or "").strip()
    if not source or len(source) > SOURCE_MAX_LENGTH:
        raise InvalidInput(f"consent source must be 1 to {SOURCE_MAX_LENGTH} characters, got {source!r}")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    if customer.erased_at is not None:
        raise NotFound(f"customer {customer_id} was erased on request; consent cannot be recorded")
    event = ConsentEvent(customer_id=customer_id, granted=bool(granted), source=source, at=_now(),
                         recorded_by=user_id)
    session.add(event)
    customer.marketing_consent = bool(granted)
    username = None
    if user_id is not None:
        user = session.get(User, user_id)
        username = user.username if user is not None else None
    audit.record(session, action="consent", user_id=user_id, username=username, target_type="customer",
                 target_id=customer_id, detail={"granted": bool(granted), "source": source})
    session.flush()
    return event


def consent_history(session: Session, customer_id: int) -> list[ConsentEvent]:
    """Every consent event of one customer, oldest first (ties by id); an empty list when there is none.

    The last element, when there is one, is the decision in force. An unknown customer id gives an empty list.
    """
    stmt = (select(ConsentEvent).where(ConsentEvent.customer_id == customer_id)
            .order_by(ConsentEvent.at, ConsentEvent.id))
    return list(session.scalars(stmt))


def consent_in_force(session: Session, customer_id: int) -> bool | None:
    """The newest recorded decision of one customer (``True``/``False``), ``None`` when none was ever recorded."""
    history = consent_history(session, customer_id)
    return history[-1].granted if history else None
