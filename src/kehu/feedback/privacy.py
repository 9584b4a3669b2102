"""Feedback and tasks in data-subject requests and key rotation.

:func:`export_customer_feedback` gives one customer's feedback (texts decrypted) and tasks (outcomes decrypted) for
the privacy export; :func:`erase_customer_feedback` removes their texts, keywords and task outcomes on erasure (the
category, sentiment, rating and dates stay, anonymous, for the aggregates). :data:`ENCRYPTED_COLUMNS` lists the
ciphertext columns of this part for a key rotation.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.feedback.service import TEXT_FIELD
from kehu.privacy import FieldCipher
from kehu.store import Feedback, Task
from kehu.tasks import OUTCOME_FIELD

#: (model, ciphertext column, encryption field name) of every encrypted column of feedback and tasks.
ENCRYPTED_COLUMNS: tuple[tuple[type, str, str], ...] = (
    (Feedback, "text_enc", TEXT_FIELD),
    (Task, "outcome_enc", OUTCOME_FIELD),
)


def _plain(value: Any) -> Any:  # noqa: ANN401
    return value.isoformat() if isinstance(value, datetime | date) else value


def _decrypt(cipher: FieldCipher, field: str, token: str | None) -> str | None:
    try:
        return cipher.decrypt(field, token)
    except (InvalidTag, ValueError):
        return "(does not decrypt with the current key)"


def export_customer_feedback(session: Session, cipher: FieldCipher,
                             customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """``{"feedback": [...], "tasks": [...]}`` of one customer, oldest first, texts and outcomes decrypted."""
    items = session.scalars(select(Feedback).where(Feedback.customer_id == customer_id)
                            .order_by(Feedback.created_at, Feedback.id)).all()
    tasks = session.scalars(select(Task).where(Task.customer_id == customer_id)
                            .order_by(Task.created_at, Task.id)).all()
    feedback = [{**{c.key: _plain(getattr(f, c.key)) for c in Feedback.__table__.columns
                    if c.key not in ("text_enc", "row_key", "customer_id")},
                 "text": _decrypt(cipher, TEXT_FIELD, f.text_enc)} for f in items]
    task_rows = [{**{c.key: _plain(getattr(t, c.key)) for c in Task.__table__.columns
                     if c.key not in ("outcome_enc", "customer_id")},
                  "outcome": _decrypt(cipher, OUTCOME_FIELD, t.outcome_enc)} for t in tasks]
    return {"feedback": feedback, "tasks": task_rows}


def erase_customer_feedback(session: Session, customer_id: int) -> int:
    """Remove the feedback texts, keywords and import keys and the task outcomes of one customer; returns how many
    feedback items and tasks were touched. Does not commit."""
    items = session.scalars(select(Feedback).where(Feedback.customer_id == customer_id)).all()
    for item in items:
        item.text_enc, item.keywords, item.row_key = None, [], None
    tasks = session.scalars(select(Task).where(Task.customer_id == customer_id)).all()
    for task in tasks:
        task.outcome_enc = None
    session.flush()
    return len(items) + len(tasks)


__all__ = ["ENCRYPTED_COLUMNS", "erase_customer_feedback", "export_customer_feedback"]
