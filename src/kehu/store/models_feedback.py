"""Tables of the feedback and tasks part: feedback items (complaints, reviews), the editable keyword rules that
categorise them, and the agents' tasks (call-backs, follow-ups).

Feedback text may hold personal data, so it is stored only as ciphertext (``text_enc``, field ``feedback``); what is
computed from it at write time (category, sentiment, keywords) sits in plain columns and never holds digits or
e-mail addresses. A task's ``title`` is a short label scrubbed of phone numbers and e-mail addresses; its free-text
``outcome`` is encrypted (field ``task_outcome``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from kehu.store.models import Base


class Feedback(Base):
    """One complaint or review of a customer, with what was computed from its text when it was written."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_customer_created", "customer_id", "created_at"),
        Index("ix_feedback_created_at", "created_at"),
        Index("ix_feedback_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    #: When the customer gave the feedback (naive UTC-less local time, like orders).
    created_at: Mapped[datetime] = mapped_column(DateTime)
    channel: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # complaint | review
    rating: Mapped[int | None] = mapped_column(SmallInteger)  # 1..5 stars, optional
    text_enc: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))  # zh | en
    category: Mapped[str] = mapped_column(String(32))  # product_quality | service_attitude | logistics | price | other
    sentiment: Mapped[float] = mapped_column(Float)  # -1 .. 1
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | in_progress | resolved
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(16), default="form")  # form | import | api
    #: Keyed hash of (customer, time, kind, text) so that importing the same file twice adds nothing.
    row_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class FeedbackRule(Base):
    """A keyword that puts feedback into a category; editable by admins and analysts."""

    __tablename__ = "feedback_rules"
    __table_args__ = (UniqueConstraint("category", "keyword", name="uq_feedback_rules_category_keyword"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    #: Lower-cased; matched as a substring for Chinese and as a whole word (or phrase) for English.
    keyword: Mapped[str] = mapped_column(String(64))
    weight: Mapped[int] = mapped_column(SmallInteger, default=1)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class Task(Base):
    """A piece of work for an agent about one customer: a call-back, a follow-up.

    ``source_type``/``source_id`` optionally name what the task came from (``feedback`` and its id,
    ``survey_response`` and its id).
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_owner_status", "owner_id", "status"),
        Index("ix_tasks_customer_id", "customer_id"),
        Index("ix_tasks_source", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | in_progress | done | cancelled
    outcome_enc: Mapped[str | None] = mapped_column(Text)
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
