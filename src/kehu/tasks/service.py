"""Agents' tasks: create, list (overdue first), update status and outcome.

A task is about one customer, has an owner (a user) and a due time, and may name what it came from
(``source_type``/``source_id``: ``feedback`` and a feedback id, ``survey_response`` and a response id). The title is a
short label stored in plain text, so phone numbers and e-mail addresses in it are replaced by ``***``; the outcome
is free text and stored encrypted (field :data:`OUTCOME_FIELD`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, NotFound
from kehu.privacy import FieldCipher
from kehu.store import Customer, Task, User

#: Encryption field name of ``tasks.outcome_enc``.
OUTCOME_FIELD = "task_outcome"
#: Task kinds with a label in both languages; other short codes (``[a-z_]``, up to 32) are accepted as they are.
KINDS: tuple[str, ...] = ("call_back", "follow_up", "survey_follow_up", "complaint", "other")
#: Statuses, in their natural order; ``done`` and ``cancelled`` are closed.
STATUSES: tuple[str, ...] = ("open", "in_progress", "done", "cancelled")
OPEN_STATUSES: tuple[str, ...] = ("open", "in_progress")
#: Longest title kept (characters); longer titles are cut.
TITLE_MAX = 200

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS_RE = re.compile(r"(?P<date>\d{4}[-/.]\d{1,2}[-/.]\d{1,2})(?!\d)|\+?\d[\d\s-]{5,}\d")


def scrub_pii(text: str) -> str:
    """``text`` with e-mail addresses and runs of 7 or more digits (phone, ID or card numbers) replaced by ``***``.

    Dates like ``2025-06-30`` survive (their digit runs are short); ``138 0013 8000`` does not.
    """
    text = _EMAIL_RE.sub("***", text)
    return _DIGITS_RE.sub(
        lambda m: m.group() if m.group("date") or sum(c.isdigit() for c in m.group()) < 7 else "***", text)


def _as_datetime(value: datetime | date) -> datetime:
    """A due time: a ``date`` means the end of that day (23:59:59); aware datetimes become naive UTC-less."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59))
    raise InvalidInput(f"due date {value!r} is not a date or a time")


def create_task(session: Session, *, customer_id: int, kind: str, title: str, owner_id: int | None,
                due_at: datetime | date, source_type: str | None = None, source_id: int | None = None,
                created_by: int | None) -> Task:
    """Add an open task to ``session`` (flushed, so ``task.id`` is set) and return it.

    Parameters
    ----------
    customer_id
        Store id of the customer the task is about; :class:`~kehu.errors.NotFound` if there is none.
    kind
        ``call_back``, ``follow_up``, ``survey_follow_up``, ``complaint``, ``other`` or another short lower-case
        code (letters, digits, ``_``; at most 32 characters).
    title
        What to do, in a few words; required, cut to 200 characters, phone numbers and e-mails replaced by ``***``.
    owner_id
        The user who does it (must exist and be active), or ``None`` for unassigned.
    due_at
        When it is due; a ``date`` means the end of that day. Past times are allowed (the task is overdue at once).
    source_type, source_id
        What the task came from, e.g. ``("feedback", 12)`` or ``("survey_response", 7)``; both or neither.
    created_by
        The user who created it, ``None`` for the system (an automatic follow-up).

    Raises
    ------
    InvalidInput
        Empty title, malformed kind, only one of ``source_type``/``source_id``, inactive owner.
    NotFound
        Unknown customer or owner.
    """
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise InvalidInput(f"task kind {kind!r} is not one of {', '.join(KINDS)} (or a short lower-case code)")
    clean = scrub_pii(" ".join((title or "").split()))[:TITLE_MAX]
    if not clean:
        raise InvalidInput("a task needs a title: say in a few words what to do")
    if (source_type is None) != (source_id is None):
        raise InvalidInput("give both source_type and source_id, or neither")
    if source_type is not None and not _KIND_RE.match(source_type):
        raise InvalidInput(f"source type {source_type!r} is not a short lower-case code like 'feedback'")
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None:
            raise NotFound(f"user {owner_id} does not exist; choose an owner from the users list")
        if not owner.is_active:
            raise InvalidInput(f"user {owner.username!r} is disabled and cannot own tasks")
    task = Task(customer_id=customer_id, kind=kind, title=clean, owner_id=owner_id, due_at=_as_datetime(due_at),
                status="open", source_type=source_type, source_id=source_id, created_by=created_by)
    session.add(task)
    session.flush()
    return task


def is_overdue(task: Task, now: datetime) -> bool:
    """True when ``task`` is still open (open or in progress) and its due time is before ``now``."""
    return task.status in OPEN_STATUSES and task.due_at < now


@dataclass(frozen=True)
class TaskFilter:
    """What :func:`list_tasks` returns: ``owner_id`` (``None``: everyone's), ``status`` (``"open"`` means open or
    in progress, ``"all"`` everything, else one status), ``customer_id``, ``limit`` rows from ``offset``."""

    owner_id: int | None = None
    status: str = "open"
    customer_id: int | None = None
    limit: int = 100
    offset: int = 0


def list_tasks(session: Session, *, now: datetime, filters: TaskFilter | None = None) -> tuple[list[Task], int]:
    """Tasks matching ``filters`` and their total count: overdue first, then open before closed, then by due time
    (earliest first) and id."""
    f = filters or TaskFilter()
    query = select(Task)
    if f.owner_id is not None:
        query = query.where(Task.owner_id == f.owner_id)
    if f.customer_id is not None:
        query = query.where(Task.customer_id == f.customer_id)
    if f.status == "open":
        query = query.where(Task.status.in_(OPEN_STATUSES))
    elif f.status != "all":
        if f.status not in STATUSES:
            raise InvalidInput(f"task status {f.status!r} is not one of open, all, {', '.join(STATUSES)}")
        query = query.where(Task.status == f.status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    is_open = Task.status.in_(OPEN_STATUSES)
    overdue_rank = case((is_open & (Task.due_at < now), 0), (is_open, 1), else_=2)
    rows = session.scalars(query.order_by(overdue_rank, Task.due_at, Task.id).limit(f.limit).offset(f.offset)).all()
    return list(rows), int(total)


def get_task(session: Session, task_id: int) -> Task:
    """The task with id ``task_id``; :class:`~kehu.errors.NotFound` otherwise."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def update_task(session: Session, *, task: Task, cipher: FieldCipher, now: datetime, status: str | None = None,
                outcome: str | None = None, owner_id: int | None = None, due_at: datetime | date | None = None,
                clear_owner: bool = False) -> Task:
    """Change a task's status, outcome (encrypted), owner or due time; ``None`` leaves a field as it is.

    Closing a task (``done``/``cancelled``) sets ``completed_at`` to ``now``; reopening clears it. An empty outcome
    string removes the outcome.
    """
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"task status {status!r} is not one of {', '.join(STATUSES)}")
        if status in OPEN_STATUSES:
            task.completed_at = None
        elif task.status in OPEN_STATUSES:
            task.completed_at = now
        task.status = status
    if outcome is not None:
        task.outcome_enc = cipher.encrypt(OUTCOME_FIELD, outcome.strip()[:4000] or None)
    if clear_owner:
        task.owner_id = None
    elif owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None or not owner.is_active:
            raise InvalidInput(f"user {owner_id} cannot own tasks: choose an active user")
        task.owner_id = owner_id
    if due_at is not None:
        task.due_at = _as_datetime(due_at)
    session.flush()
    return task


def task_outcome(task: Task, cipher: FieldCipher) -> str | None:
    """The decrypted outcome of ``task`` (``None`` when there is none)."""
    return cipher.decrypt(OUTCOME_FIELD, task.outcome_enc)


def default_due(now: datetime, hours: int = 48) -> datetime:
    """A default due time ``hours`` after ``now`` (used by forms and automatic follow-ups)."""
    return (now + timedelta(hours=hours)).replace(microsecond=0)
