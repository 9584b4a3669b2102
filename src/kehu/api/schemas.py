"""Pydantic schemas of the REST API, split by role (``…Create``, ``…Update``, ``…Public``).

Money is integer cents (``…_cents``) as in the store, never a float; times are ISO 8601 without zone (store time);
personal fields in ``…Public`` are masked unless the response says they were revealed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")


def _clean_text(value: str) -> str:
    """Refuse text the store cannot keep: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _plain_text(value: str) -> str:
    """Like :func:`_clean_text`, and no control characters at all (ids, provinces, names of things)."""
    _clean_text(value)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


_Clean = AfterValidator(_clean_text)
_Plain = AfterValidator(_plain_text)
#: Free text (personal fields; line breaks allowed) of at most N characters: NUL and lone surrogates refused.
Text64 = Annotated[str, StringConstraints(max_length=64), _Clean]
Text128 = Annotated[str, StringConstraints(max_length=128), _Clean]
Text512 = Annotated[str, StringConstraints(max_length=512), _Clean]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"), _Clean]
#: One line of text (ids, places, names of things) of at most N characters, stripped, no control characters.
Plain32 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), _Plain]
Plain64 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), _Plain]
Name64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _Plain]
Id128 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), _Plain]

Gender = Literal["male", "female"]


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, the ``page`` number (from 1), ``per_page`` (at most 200) and the ``total``
    number of items over all pages."""

    items: list[T]
    page: int
    per_page: int
    total: int


class ErrorDetail(BaseModel):
    """One validation problem: where (``field``, ``in``: body/query/path/form) and what."""

    model_config = ConfigDict(populate_by_name=True)

    field: str
    in_: str = Field(alias="in")
    problem: str


class ErrorInfo(BaseModel):
    """A stable ``code`` and a ``message`` in the request's language."""

    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """Every error response of the API."""

    error: ErrorInfo


class TokenOut(BaseModel):
    """A bearer token (OAuth2 password flow)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


# ---------------------------------------------------------------------------------------------------------- customers


class CustomerFields(BaseModel):
    """Fields a client may write. Personal fields are encrypted before they are stored; phone and e-mail are
    normalised (``+86 138 0013 8000`` → ``13800138000``, e-mail lower-cased) and indexed for search."""

    model_config = ConfigDict(extra="forbid")

    name: Text128 | None = None
    phone: Text64 | None = None
    email: Email | None = None
    address: Text512 | None = None
    id_number: Text64 | None = None
    gender: Gender | None = None
    birth_year: int | None = Field(None, ge=1900, le=2100)
    province: Plain32 | None = None
    city: Plain64 | None = None
    channel: Plain32 | None = None
    registered_at: datetime | None = Field(None, description="registration time (store time, no zone)")
    marketing_consent: bool | None = Field(
        None, description="recorded as a consent event (source ``api``) when given; null leaves it unknown")


class CustomerCreate(CustomerFields):
    """A new customer. ``external_id`` is the id in the client's own system (unique per source); a random one is
    made when it is left out. API-created customers have the source ``api``."""

    external_id: Id128 | None = None


class CustomerUpdate(CustomerFields):
    """A partial update: only the fields sent are changed; ``null`` clears a field (``marketing_consent: null`` is
    refused: consent is withdrawn with ``false``)."""


class CustomerPublic(BaseModel):
    """A customer as the API shows it. ``name``, ``phone``, ``email``, ``address`` and ``id_number`` are masked
    (``张**``, ``138****5678``) unless listed in ``revealed``."""

    id: int
    source: str
    external_id: str
    name: str | None
    phone: str | None
    email: str | None
    address: str | None
    id_number: str | None
    gender: str | None
    birth_year: int | None
    province: str | None
    city: str | None
    channel: str | None
    registered_at: datetime | None
    marketing_consent: bool | None
    created_at: datetime | None
    erased: bool
    revealed: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------------------- orders


class OrderLinePublic(BaseModel):
    """One line of an order."""

    line_no: int
    product_id: int | None
    sku: str | None
    product_name: str | None
    category: str | None
    quantity: int
    unit_price_cents: int | None
    discount_cents: int


class OrderPublic(BaseModel):
    """An order. ``net_cents`` = amount − refunded; ``is_purchase``: paid and not fully refunded (DESIGN.md)."""

    id: int
    source: str
    external_id: str
    customer_id: int
    ordered_at: datetime
    amount_cents: int
    refunded_cents: int
    discount_cents: int
    net_cents: int
    status: str | None
    is_paid: bool
    is_purchase: bool
    channel: str | None
    province: str | None
    city: str | None


class OrderDetail(OrderPublic):
    """An order with its lines."""

    lines: list[OrderLinePublic]


# ------------------------------------------------------------------------------------------------------------ imports


class ImportAccepted(BaseModel):
    """An import was queued: follow it at ``url``."""

    run_id: int
    status: str
    url: str


class ImportRunPublic(BaseModel):
    """An import run from the store (``file`` is the file's name only)."""

    id: int
    kind: str
    format: str
    file: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int
    has_rejects: bool
    message: str | None


class ImportProgress(BaseModel):
    """The state of an import run (see :func:`kehu.ingest.jobs.get_progress`): ``stage`` is ``queued``, ``read``,
    ``validate``, ``load`` or ``finished`` (``null`` for runs of another process), ``percent`` 0–100."""

    run_id: int
    status: str
    finished: bool
    stage: str | None
    done: int
    total: int
    percent: int | None
    kind: str
    format: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int
    message: str | None
    has_rejects: bool
    started_at: str | None
    finished_at: str | None


# ---------------------------------------------------------------------------------------------------- classifications


class SnapshotPublic(BaseModel):
    """A classification snapshot: its date, status and size; ``summary`` holds its key figures."""

    id: int
    as_of: date
    status: str
    created_at: datetime | None
    customers: int
    has_predictions: bool
    summary: dict[str, Any] | None
    message: str | None = None  # why a failed snapshot failed (status "failed")


class SnapshotDetail(SnapshotPublic):
    """A snapshot with its RFM cut points, settings and model report."""

    cut_points: dict[str, Any]
    settings: dict[str, Any]
    models: dict[str, Any] | None


class ClassificationPublic(BaseModel):
    """One customer's row of a snapshot: features, scores, classes, stage and predictions (``null`` when the
    models did not run). ``churn_reasons``: up to three ``{"code": …, numbers}``; ``recommendations``: product ids,
    best first."""

    snapshot_id: int
    as_of: date
    customer_id: int
    external_id: str
    recency_days: int | None
    frequency: int
    monetary_cents: int
    aov_cents: int | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_class: str | None
    rfm_group: str
    lifecycle_stage: str
    first_order_date: date | None
    last_order_date: date | None
    median_gap_days: float | None
    p_alive: float | None
    expected_purchases_90d: float | None
    expected_purchases_365d: float | None
    expected_aov_cents: int | None
    clv_365d_cents: int | None
    clv_tier: str | None
    churn_risk: float | None
    churn_reasons: list[dict[str, Any]] | None
    cluster: int | None
    recommendations: list[int] | None


# --------------------------------------------------------------------------------------------------------------- keys


class ApiKeyCreate(BaseModel):
    """A name to tell the key apart (e.g. the script that uses it)."""

    model_config = ConfigDict(extra="forbid")

    name: Name64


class ApiKeyPublic(BaseModel):
    """An API key as listed: never the key itself, only its prefix."""

    id: int
    name: str
    prefix: str
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    """A new key: ``key`` is shown this once and cannot be read again; send it as ``X-API-Key``."""

    key: str
