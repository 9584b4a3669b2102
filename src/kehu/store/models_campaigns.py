"""Tables of the campaigns and surveys part (migration 0009).

A **campaign** targets the customers of one class, stage, churn-risk band or user segment in one classification
snapshot, minus those without marketing consent; a deterministic hash puts a set share of them in the holdout
(:mod:`kehu.campaigns.holdout`). The treatment arm gets the offer: a coupon code unique per customer (uniqueness held
by the database) or a call-back task for an agent. Results are computed from the store's paid orders when asked
(:mod:`kehu.campaigns.results`), never stored, so a late import of orders shows up in them.

A **survey** is an NPS (0–10) or CSAT (1–5) questionnaire; each customer answers at most once (a unique constraint),
through a signed link or an import. The free-text comment is stored only as ciphertext (field ``survey_comment``);
the follow-up task of a detractor is a row of ``tasks`` (the feedback and tasks part) named in ``task_id``.

Task ids are plain integers, not foreign keys: a task belongs to the tasks part and may be deleted there.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
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


class Campaign(Base):
    """A marketing or win-back campaign: its target, holdout share, offer, attribution window and costs."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    #: The template it was made from (``winback``), or NULL.
    template: Mapped[str | None] = mapped_column(String(16))
    #: ``lifecycle_stage`` | ``rfm_group`` | ``rfm_class`` | ``churn_risk`` | ``segment``.
    target_kind: Mapped[str] = mapped_column(String(16))
    #: The codes targeted (stages, groups, classes), the lowest churn risk (one number as text), or a segment id.
    target_values: Mapped[list] = mapped_column(JSON)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("classification_snapshots.id", ondelete="SET NULL"))
    #: The snapshot's date, kept when the snapshot is replaced or deleted.
    as_of: Mapped[date] = mapped_column(Date)
    #: ``coupon`` | ``callback``.
    offer: Mapped[str] = mapped_column(String(16))
    holdout_share: Mapped[float] = mapped_column(Float)
    starts_on: Mapped[date] = mapped_column(Date)
    attribution_days: Mapped[int] = mapped_column(Integer)
    coupon_value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_per_contact_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Call-back tasks are due this many days after the start.
    callback_due_days: Mapped[int | None] = mapped_column(Integer)
    #: Customers in the target before the consent exclusion, and those left out for lack of consent.
    targeted: Mapped[int] = mapped_column(Integer, default=0)
    excluded_no_consent: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="launched")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class CampaignMember(Base):
    """One customer of a campaign: the arm drawn for them, their coupon code or call-back task."""

    __tablename__ = "campaign_members"
    __table_args__ = (UniqueConstraint("coupon_code", name="uq_campaign_members_coupon_code"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    #: ``treatment`` | ``holdout``.
    arm: Mapped[str] = mapped_column(String(16))
    coupon_code: Mapped[str | None] = mapped_column(String(24))
    task_id: Mapped[int | None] = mapped_column(Integer)


class Survey(Base):
    """An NPS or CSAT questionnaire; detractors' follow-ups go to ``owner_id`` or round-robin to the agents."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    #: ``nps`` (0–10) | ``csat`` (1–5).
    kind: Mapped[str] = mapped_column(String(8))
    #: The question shown on the answer page; NULL = the standard question of the kind, in the page's language.
    question: Mapped[str | None] = mapped_column(String(500))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    follow_up_days: Mapped[int] = mapped_column(Integer, default=2)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class SurveyInvite(Base):
    """A customer who was given an answer link (for the response rate)."""

    __tablename__ = "survey_invites"

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    invited_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class SurveyResponse(Base):
    """One customer's answer to a survey: at most one per customer and survey."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("survey_id", "customer_id", name="uq_survey_responses_once"),
        Index("ix_survey_responses_survey_answered", "survey_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment_enc: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(DateTime)
    #: ``link`` | ``import``.
    source: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
