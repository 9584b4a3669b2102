"""Tables of the user-segments part (migration 0006): segments and profile tags, their members in each
classification snapshot, their sizes over time, and the per-snapshot customer traits the rule language reads
beside the snapshot's columns (:mod:`kehu.segments`).

Membership rows do not reference ``customers`` by a foreign key on purpose: they are written by the hundred
thousand with ``INSERT … SELECT`` from ``classifications`` (whose customer ids are checked there), and on
PostgreSQL a foreign-key check locks each referenced customer row. They go with their snapshot or segment
(``ON DELETE CASCADE``); :func:`kehu.segments.service.refresh_segments` also removes rows of snapshots deleted by a
connection that did not cascade (the SQLite snapshot writer runs without foreign keys).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from kehu.store.models import Base


class Segment(Base):
    """A named boolean rule over the customer feature table (:mod:`kehu.segments.rules`); a profile tag when
    ``is_tag``. Archived segments keep their history but are no longer refreshed or listed."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    is_tag: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The code of a default profile tag (:data:`kehu.segments.tags.DEFAULT_TAGS`), NULL for one made by a user.
    builtin: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: Who made it: a user name, or ``cli:<account>`` / ``system``.
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime)


class SegmentMember(Base):
    """One customer in one segment in one snapshot."""

    __tablename__ = "segment_members"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("classification_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class SegmentSize(Base):
    """How many customers a segment had in a snapshot (written with the members)."""

    __tablename__ = "segment_sizes"

    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("classification_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    customers: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime)


class SegmentTrait(Base):
    """Behaviour traits of one buyer at a snapshot's date that the snapshot itself does not hold: the share of
    purchases with a discount, the average price rank of the items bought within their category, complaints in
    the last 180 days. Only customers with a purchase (or a complaint) have a row."""

    __tablename__ = "segment_traits"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("classification_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discount_share: Mapped[float | None] = mapped_column(Float)
    price_rank: Mapped[float | None] = mapped_column(Float)
    complaints_180d: Mapped[int | None] = mapped_column(Integer)


class SegmentRefresh(Base):
    """When a snapshot's traits and segment memberships were last computed."""

    __tablename__ = "segment_refreshes"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("classification_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    traits_at: Mapped[datetime] = mapped_column(DateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime)
