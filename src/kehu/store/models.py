"""The store's tables (SQLAlchemy 2 declarative models).

Money is integer cents (分) everywhere. Personal fields are stored only as ciphertext (``*_enc``) and keyed blind
indexes (``*_index``); see :mod:`kehu.privacy`. Source-system ids are unique per ``source`` (import format).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every kehu table."""


class Customer(Base):
    """A customer as known to one source system."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_customers_source_external"),
        Index("ix_customers_phone_index", "phone_index"),
        Index("ix_customers_email_index", "email_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    name_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_index: Mapped[str | None] = mapped_column(String(32))
    email_enc: Mapped[str | None] = mapped_column(Text)
    email_index: Mapped[str | None] = mapped_column(String(32))
    address_enc: Mapped[str | None] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    #: When personal fields were erased on the customer's request (PIPL/GDPR); orders stay, anonymised.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime)
    gender: Mapped[str | None] = mapped_column(String(8))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime)
    marketing_consent: Mapped[bool | None] = mapped_column(Boolean)
    row_hash: Mapped[str | None] = mapped_column(String(32))
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class Product(Base):
    """A product (SKU) with its category."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str | None] = mapped_column(String(256))
    category: Mapped[str | None] = mapped_column(String(64))


class Order(Base):
    """One order. ``is_paid`` orders that are not fully refunded are purchases.

    Whoever writes orders bumps ``store_meta.orders_revision`` in the same transaction
    (:func:`kehu.analytics.facts.bump_orders_revision`); the import does.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_orders_source_external"),
        Index("ix_orders_customer_ordered", "customer_id", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ordered_at: Mapped[datetime] = mapped_column(DateTime)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str | None] = mapped_column(String(32))
    is_paid: Mapped[bool] = mapped_column(Boolean, default=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(32))
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))


class OrderLine(Base):
    """One line of an order."""

    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str | None] = mapped_column(String(128))
    product_name: Mapped[str | None] = mapped_column(String(256))
    category: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class ImportRun(Base):
    """One run of ``kehu import``: what was read, what happened, where the rejects went."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    inserted: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    rejects_path: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)


class ClassificationSnapshot(Base):
    """A dated classification run; its rows are visible once ``status`` is ``ready``."""

    __tablename__ = "classification_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="building")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    customers: Mapped[int] = mapped_column(Integer, default=0)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    cut_points: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Key figures and monthly revenue of the purchases up to ``as_of``, computed with the snapshot so that the
    #: dashboard does not scan the orders (``customers``, ``buyers``, ``orders``, ``revenue_cents``,
    #: ``repeat_buyers``, ``monthly``: [[YYYY-MM, cents], …]). NULL for snapshots made before it existed.
    summary: Mapped[dict | None] = mapped_column(JSON)
    #: What the predictive models of this snapshot learnt and how well they did: BG/NBD and Gamma-Gamma
    #: parameters, the churn model's AUC beside the P(alive) baseline, the clusters and their names, the
    #: recommendations' hit rate. NULL when the models were not run.
    models: Mapped[dict | None] = mapped_column(JSON)
    #: While ``building``: the writing process (``running in process <pid> on <host>``), so a run whose process
    #: is gone can be marked ``failed`` (:func:`kehu.analytics.classify.mark_interrupted_snapshots`); once failed,
    #: why. NULL once ready.
    message: Mapped[str | None] = mapped_column(Text)


class Classification(Base):
    """One customer's features and classes in one snapshot."""

    __tablename__ = "classifications"
    # No index on customer_id alone: a customer's history is a probe of the primary key per snapshot, and a
    # second index would double the cost of writing a million-row snapshot.

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("classification_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    recency_days: Mapped[int | None] = mapped_column(Integer)
    frequency: Mapped[int] = mapped_column(Integer)
    monetary_cents: Mapped[int] = mapped_column(BigInteger)
    aov_cents: Mapped[int | None] = mapped_column(BigInteger)
    r_score: Mapped[int | None] = mapped_column(SmallInteger)
    f_score: Mapped[int | None] = mapped_column(SmallInteger)
    m_score: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_class: Mapped[str | None] = mapped_column(String(32))
    rfm_group: Mapped[str] = mapped_column(String(32))
    lifecycle_stage: Mapped[str] = mapped_column(String(32))
    first_order_date: Mapped[date | None] = mapped_column(Date)
    last_order_date: Mapped[date | None] = mapped_column(Date)
    median_gap_days: Mapped[float | None] = mapped_column(Float)
    # Predictions (NULL for prospects and when the models were not run); see kehu.analytics.predict.
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases_90d: Mapped[float | None] = mapped_column(Float)
    expected_purchases_365d: Mapped[float | None] = mapped_column(Float)
    expected_aov_cents: Mapped[int | None] = mapped_column(BigInteger)
    clv_365d_cents: Mapped[int | None] = mapped_column(BigInteger)
    clv_tier: Mapped[str | None] = mapped_column(String(8))
    churn_risk: Mapped[float | None] = mapped_column(Float)
    #: JSON list of up to three reasons, each ``{"code": ..., numbers}``; rendered by kehu.models.reasons.
    churn_reasons: Mapped[str | None] = mapped_column(Text)
    cluster: Mapped[int | None] = mapped_column(SmallInteger)
    #: JSON list of product ids, best first.
    recommendations: Mapped[str | None] = mapped_column(Text)


class StoreMeta(Base):
    """Counters kept with the data. ``orders_revision`` goes up by one in every transaction that writes orders, so
    the analytics mirror of the orders (:mod:`kehu.analytics.facts`) can tell whether it is current."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    """A person who signs in to the web app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class ApiKey(Base):
    """A key for scripts calling the REST API as ``user``; only a hash of the secret part is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    #: The first characters of the key, shown to tell keys apart; unique, used to find the row.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEvent(Base):
    """Who did what, when, from where: sign-ins, reveals, exports, imports, edits, deletions, role changes.

    ``detail`` never holds personal data in plaintext (field names and ids only).
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str | None] = mapped_column(String(16))


class ConsentEvent(Base):
    """A grant or withdrawal of marketing consent, with its time and source; the newest one is in force and is
    mirrored in ``customers.marketing_consent``."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CustomerNote(Base):
    """A note or an interaction (call, message, visit) an agent recorded on a customer; the text is encrypted."""

    __tablename__ = "customer_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # note | call | message | visit | email
    channel: Mapped[str | None] = mapped_column(String(32))
    body_enc: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class SavedView(Base):
    """A user's saved customer-list query (filters, sort) under a name."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    query: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
