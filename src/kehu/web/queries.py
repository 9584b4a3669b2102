"""The read queries behind the pages (SQLAlchemy 2 ``select()``), on SQLite and PostgreSQL alike.

Money stays integer cents here; templates format it. Purchases are paid orders that are not fully refunded
(DESIGN.md); revenue is what was paid minus what was refunded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Select, and_, case, false, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, NotFound
from kehu.privacy import FieldCipher, normalise_email, normalise_phone
from kehu.store import (
    Classification,
    ClassificationSnapshot,
    ConsentEvent,
    Customer,
    CustomerNote,
    Order,
    OrderLine,
    SavedView,
    User,
)

PAGE_SIZE = 50
PROFILE_ORDERS = 200

SortKey = Literal["recency_days", "frequency", "monetary_cents", "external_id", "clv_365d_cents", "churn_risk"]
SortDir = Literal["asc", "desc"]
SORT_KEYS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_cents",
    "external_id",
    "clv_365d_cents",
    "churn_risk",
)


def is_purchase() -> ColumnElement[bool]:
    """The condition that makes an order a purchase: paid and not fully refunded."""
    return and_(Order.is_paid.is_(True), func.coalesce(Order.refunded_cents, 0) < Order.amount_cents)


def net_cents() -> ColumnElement[int]:
    """What an order brought in: amount minus refunds."""
    return Order.amount_cents - func.coalesce(Order.refunded_cents, 0)


def ready_snapshots(session: Session) -> list[ClassificationSnapshot]:
    """All ready snapshots, newest first."""
    stmt = (
        select(ClassificationSnapshot)
        .where(ClassificationSnapshot.status == "ready")
        .order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc())
    )
    return list(session.scalars(stmt))


def pick_snapshot(session: Session, as_of: date | None = None) -> ClassificationSnapshot | None:
    """The newest ready snapshot, or the newest ready one dated ``as_of``.

    ``None`` when there is no ready snapshot at all; :class:`NotFound` when ``as_of`` names a date without
    one.
    """
    stmt = select(ClassificationSnapshot).where(ClassificationSnapshot.status == "ready")
    if as_of is not None:
        stmt = stmt.where(ClassificationSnapshot.as_of == as_of)
    stmt = stmt.order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc()).limit(1)
    snapshot = session.scalar(stmt)
    if snapshot is None and as_of is not None:
        raise NotFound(f"no ready classification snapshot dated {as_of.isoformat()}; run `kehu classify`")
    return snapshot


@dataclass(frozen=True)
class KeyFigures:
    """Headline numbers over purchases (up to a date when given)."""

    customers: int
    buyers: int
    orders: int
    revenue_cents: int
    repeat_buyers: int

    @property
    def aov_cents(self) -> int | None:
        """Average order value in cents (rounded half up), ``None`` without orders."""
        if not self.orders:
            return None
        return (2 * self.revenue_cents + self.orders) // (2 * self.orders)

    @property
    def repeat_share(self) -> float | None:
        """Share of buyers with two or more purchases, ``None`` without buyers."""
        return self.repeat_buyers / self.buyers if self.buyers else None


def _until(stmt: Select, until: date | None) -> Select:
    if until is None:
        return stmt
    return stmt.where(Order.ordered_at < datetime.combine(until + timedelta(days=1), time.min))


def key_figures(session: Session, *, until: date | None = None) -> KeyFigures:
    """Customers in the store; buyers, purchases, revenue and repeat buyers up to ``until`` (inclusive)."""
    customers = session.scalar(select(func.count()).select_from(Customer)) or 0
    per_customer = _until(
        select(Order.customer_id, func.count().label("n"), func.sum(net_cents()).label("cents"))
        .where(is_purchase())
        .group_by(Order.customer_id),
        until,
    ).subquery()
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(per_customer.c.n), 0),
            func.coalesce(func.sum(per_customer.c.cents), 0),
            func.coalesce(func.sum(case((per_customer.c.n >= 2, 1), else_=0)), 0),
        ).select_from(per_customer)
    ).one()
    return KeyFigures(
        customers=int(customers),
        buyers=int(row[0]),
        orders=int(row[1]),
        revenue_cents=int(row[2]),
        repeat_buyers=int(row[3]),
    )


def snapshot_figures(session: Session, snapshot: ClassificationSnapshot) -> KeyFigures:
    """The key figures of ``snapshot``: stored with it by ``kehu classify``, or computed from the orders for a
    snapshot made before snapshots carried them."""
    summary = snapshot.summary or {}
    if "orders" not in summary:
        return key_figures(session, until=snapshot.as_of)
    return KeyFigures(
        customers=int(summary["customers"]),
        buyers=int(summary["buyers"]),
        orders=int(summary["orders"]),
        revenue_cents=int(summary["revenue_cents"]),
        repeat_buyers=int(summary["repeat_buyers"]),
    )


def snapshot_months(session: Session, snapshot: ClassificationSnapshot) -> list[tuple[str, int]]:
    """Monthly revenue up to the snapshot's date: stored with it, or computed from the orders (older snapshots)."""
    summary = snapshot.summary or {}
    if "monthly" not in summary:
        return monthly_revenue(session, until=snapshot.as_of)
    return [(str(month), int(cents)) for month, cents in summary["monthly"]]


def counts_by(session: Session, snapshot_id: int, column: str) -> list[tuple[str | None, int]]:
    """Customers per value of ``column`` (rfm_class, rfm_group or lifecycle_stage) in a snapshot, largest
    first."""
    if column not in ("rfm_class", "rfm_group", "lifecycle_stage"):
        raise ValueError(f"cannot count by {column!r}")
    col = getattr(Classification, column)
    stmt = (
        select(col, func.count())
        .where(Classification.snapshot_id == snapshot_id)
        .group_by(col)
        .order_by(func.count().desc(), col)
    )
    return [(row[0], int(row[1])) for row in session.execute(stmt).all()]


def monthly_revenue(session: Session, *, until: date | None = None) -> list[tuple[str, int]]:
    """Revenue in cents per calendar month (``YYYY-MM``) of purchases up to ``until``, oldest first."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        month = func.strftime("%Y-%m", Order.ordered_at)
    else:
        month = func.to_char(Order.ordered_at, "YYYY-MM")
    stmt = _until(
        select(month.label("month"), func.sum(net_cents()))
        .where(is_purchase())
        .group_by(month)
        .order_by(month),
        until,
    )
    return [(str(row[0]), int(row[1] or 0)) for row in session.execute(stmt).all()]


def provinces(session: Session) -> list[str]:
    """The provinces customers live in, sorted."""
    stmt = (
        select(Customer.province).where(Customer.province.is_not(None)).distinct().order_by(Customer.province)
    )
    return [p for p in session.scalars(stmt) if p]


#: How long the province choices of a store are reused (seconds) while no customer is added.
PROVINCE_CACHE_SECONDS = 300.0
_province_cache: dict[str, tuple[float, Any, list[str]]] = {}


def province_choices(session: Session) -> list[str]:
    """:func:`provinces`, reused for :data:`PROVINCE_CACHE_SECONDS` per store as long as the largest customer id
    is the same (an import that adds customers refreshes it at once; a changed province of an existing customer
    shows within the period). ``DISTINCT province`` reads every customer row, about 1 s per million on SQLite,
    too much for every page of the list."""
    bind = session.get_bind()
    url = (bind.engine if isinstance(bind, Connection) else bind).url.render_as_string(hide_password=True)
    newest = session.scalar(select(func.max(Customer.id)))
    cached = _province_cache.get(url)
    now = monotonic()
    if cached is not None and cached[1] == newest and now - cached[0] < PROVINCE_CACHE_SECONDS:
        return list(cached[2])
    found = provinces(session)
    _province_cache[url] = (now, newest, found)
    return list(found)


@dataclass(frozen=True)
class CustomerFilters:
    """Filters of the customer list; ``None`` means any."""

    rfm_class: str | None = None
    lifecycle_stage: str | None = None
    province: str | None = None
    clv_tier: str | None = None
    cluster: int | None = None


@dataclass(frozen=True)
class CustomerSearch:
    """What the list's search box looks for, derived from the typed text by :func:`customer_search`.

    Names, addresses and ID numbers are encrypted with a random nonce, so SQL cannot search them; phones and
    e-mails are found through the blind index of their normalised value, i.e. only by the exact value.
    """

    #: Source customer ids starting with this text (case-sensitive).
    id_prefix: str
    #: Blind index of the normalised phone number, when the text has digits and no ``@``.
    phone_index: str | None = None
    #: Blind index of the normalised e-mail, when the text has an ``@``.
    email_index: str | None = None

    @property
    def kinds(self) -> list[str]:
        """What was searched (``id_prefix``, ``phone``, ``email``): for the audit log, which never gets the text."""
        found = ["id_prefix"]
        if self.phone_index:
            found.append("phone")
        if self.email_index:
            found.append("email")
        return found


def customer_search(cipher: FieldCipher, typed: str | None) -> CustomerSearch | None:
    """The search for the text ``typed`` into the list's box; ``None`` for blank text.

    Every search matches source customer ids that start with the text (``C00`` finds ``C0012``). Text with an
    ``@`` also matches the customer whose e-mail is that address (any case, surrounding spaces ignored); text
    with a digit and no ``@`` also matches the customer whose phone is that number in any common spelling
    (``+86 138 0013 8000``, ``'13800138000``, ``138-0013-8000``), as the import normalises them
    (:func:`kehu.privacy.normalise_phone`).
    """
    typed = (typed or "").strip()
    if not typed:
        return None
    phone_index = email_index = None
    if "@" in typed:
        email_index = cipher.blind_index("email", normalise_email(typed))
    elif any(ch.isdigit() for ch in typed):
        phone_index = cipher.blind_index("phone", normalise_phone(typed))
    return CustomerSearch(id_prefix=typed, phone_index=phone_index, email_index=email_index)


def _sources(session: Session) -> list[str]:
    """The distinct ``customers.source`` values, by a loose scan of the (source, external id) index: one index
    probe per source instead of reading every customer."""
    stmt = text(
        "WITH RECURSIVE s(source) AS ("
        " SELECT min(source) FROM customers"
        " UNION ALL"
        " SELECT (SELECT min(c.source) FROM customers c WHERE c.source > s.source) FROM s"
        " WHERE s.source IS NOT NULL"
        ") SELECT source FROM s WHERE source IS NOT NULL"
    )
    return [str(row[0]) for row in session.execute(stmt)]


def _id_prefix(session: Session, prefix: str) -> ColumnElement[bool]:
    """Customers whose source id starts with ``prefix``.

    On SQLite (binary collation) a range per source (``source = s AND external_id >= prefix AND external_id <
    successor``), so the unique (source, external id) index is used; elsewhere ``LIKE 'prefix%'`` with the
    wildcards escaped, exact under any collation.
    """
    if session.get_bind().dialect.name != "sqlite":
        return Customer.external_id.startswith(prefix, autoescape=True)
    last = ord(prefix[-1])
    if last >= 0x10FFFF:  # no successor: match the prefix itself only (never happens with typed text)
        return Customer.external_id == prefix
    upper = prefix[:-1] + chr(last + 1)
    sources = _sources(session)
    if not sources:
        return false()
    return and_(Customer.source.in_(sources), Customer.external_id >= prefix, Customer.external_id < upper)


def _search_condition(session: Session, search: CustomerSearch) -> ColumnElement[bool]:
    terms = [_id_prefix(session, search.id_prefix)]
    if search.phone_index:
        terms.append(Customer.phone_index == search.phone_index)
    if search.email_index:
        terms.append(Customer.email_index == search.email_index)
    return or_(*terms)


CursorValue = int | float | str | None


@dataclass(frozen=True)
class Cursor:
    """A place in the sorted list for keyset paging: the sort value and customer id of a row.

    ``after`` pages start just after that row, ``before`` pages end just before it. The token in the URL is
    URL-safe base64 of ``[value, id]`` in JSON (:meth:`token`, :meth:`parse`).
    """

    value: CursorValue
    customer_id: int
    before: bool = False

    def token(self) -> str:
        """The URL form of this cursor (``before`` is the parameter's name, not part of the token)."""
        raw = json.dumps([self.value, self.customer_id], ensure_ascii=False, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str, sort: SortKey, *, before: bool = False) -> Cursor:
        """The cursor of ``token`` for a list sorted by ``sort``; :class:`InvalidInput` when it is not one (a
        hand-edited URL): the message says to start again from the first page."""
        try:
            value, customer_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, TypeError):
            raise InvalidInput("the page link is damaged; open the list's first page again") from None
        wanted: tuple[type, ...] = (str,) if sort == "external_id" else (float, int) if sort == "churn_risk" else (int,)
        ok_value = value is None or (isinstance(value, wanted) and not isinstance(value, bool))
        ok_id = isinstance(customer_id, int) and not isinstance(customer_id, bool) and customer_id > 0
        if not (ok_value and ok_id):
            raise InvalidInput("the page link does not fit this sort order; open the list's first page again")
        return cls(value=value, customer_id=customer_id, before=before)


@dataclass(frozen=True)
class CustomerPage:
    """One page of the customer list.

    ``rows`` pairs each customer with its classification in the snapshot (``None`` only for a customer found by
    a search who is not in the snapshot). ``next_cursor`` / ``prev_cursor`` lead to the neighbouring pages by
    keyset (``None`` at either end, as far as this page can tell).
    """

    rows: list[tuple[Customer, Classification | None]]
    total: int
    page: int
    page_size: int
    next_cursor: Cursor | None = None
    prev_cursor: Cursor | None = None
    #: Whether the page was found by keyset (a cursor) rather than by offset.
    keyset: bool = False

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class _Matching:
    """The filtered rows of a list query: a statement selecting (customer id, sort value), and those columns."""

    stmt: Select
    customer_id: Any
    key: Any


def _matching(
    session: Session,
    *,
    snapshot_id: int,
    filters: CustomerFilters,
    search: CustomerSearch | None,
    sort: SortKey,
) -> _Matching:
    """The customers that pass the filters and search. Reads ``classifications`` alone when it can (the
    snapshot's rows by primary key), joins ``customers`` only for the province, the source id or a search; a
    search starts from the customers it finds, so a customer imported after the snapshot is found too."""
    conditions: list[ColumnElement[bool]] = []
    if filters.rfm_class:
        conditions.append(Classification.rfm_class == filters.rfm_class)
    if filters.lifecycle_stage:
        conditions.append(Classification.lifecycle_stage == filters.lifecycle_stage)
    if filters.clv_tier:
        conditions.append(Classification.clv_tier == filters.clv_tier)
    if filters.cluster is not None:
        conditions.append(Classification.cluster == filters.cluster)
    if filters.province:
        conditions.append(Customer.province == filters.province)
    key = Customer.external_id if sort == "external_id" else getattr(Classification, sort)
    if search is not None:
        in_snapshot = and_(Classification.snapshot_id == snapshot_id, Classification.customer_id == Customer.id)
        stmt = (
            select(Customer.id, key)
            .select_from(Customer)
            .outerjoin(Classification, in_snapshot)
            .where(_search_condition(session, search), *conditions)
        )
        return _Matching(stmt, Customer.id, key)
    # The snapshot id as a literal, so that the planner can use the newest snapshot's partial list indexes
    # (kehu.store.list_indexes); it is an int from the store, never user text.
    in_snapshot = Classification.snapshot_id == literal_column(str(int(snapshot_id)))
    stmt = select(Classification.customer_id, key).where(in_snapshot, *conditions)
    if filters.province or sort == "external_id":
        stmt = stmt.join(Customer, Customer.id == Classification.customer_id)
    return _Matching(stmt, Classification.customer_id, key)


def _ordered(m: _Matching, direction: SortDir, *, reverse: bool = False) -> Select:
    """``m`` sorted by its key in ``direction`` with NULLs last and ties by customer id (the same direction);
    ``reverse`` gives the exact opposite order (for the page before a cursor)."""
    ascending = (direction == "asc") != reverse
    key = m.key.asc() if ascending else m.key.desc()
    tie = m.customer_id.asc() if ascending else m.customer_id.desc()
    return m.stmt.order_by(key.nulls_first() if reverse else key.nulls_last(), tie)


def _past(m: _Matching, cursor: Cursor, direction: SortDir) -> ColumnElement[bool]:
    """Rows after the cursor's row in the list's order (before it when ``cursor.before``)."""
    key, ident, value = m.key, m.customer_id, cursor.value
    later_is_greater = (direction == "asc") != cursor.before

    def later(column: Any, bound: Any) -> ColumnElement[bool]:
        return column > bound if later_is_greater else column < bound

    if not cursor.before:
        if value is None:
            return and_(key.is_(None), later(ident, cursor.customer_id))
        return or_(later(key, value), and_(key == value, later(ident, cursor.customer_id)), key.is_(None))
    if value is None:
        return or_(key.is_not(None), and_(key.is_(None), later(ident, cursor.customer_id)))
    return and_(key.is_not(None), or_(later(key, value), and_(key == value, later(ident, cursor.customer_id))))


def _load_rows(
    session: Session, snapshot_id: int, ids: list[int]
) -> list[tuple[Customer, Classification | None]]:
    """The customers ``ids`` with their classification in the snapshot, in the order of ``ids``."""
    if not ids:
        return []
    in_snapshot = and_(Classification.snapshot_id == snapshot_id, Classification.customer_id == Customer.id)
    stmt = select(Customer, Classification).outerjoin(Classification, in_snapshot).where(Customer.id.in_(ids))
    found = {c.id: (c, k) for c, k in session.execute(stmt)}
    return [found[i] for i in ids if i in found]


#: Totals of the list by (store, snapshot, filters): a ready snapshot's rows never change, so a count that reads
#: only them is computed once per process. Not cached: a search, or a province filter (customers can be edited).
_TOTALS: dict[tuple[str, int, CustomerFilters], int] = {}
_TOTALS_MAX = 1024


def _total(session: Session, m: _Matching, snapshot_id: int, filters: CustomerFilters,
           search: CustomerSearch | None) -> int:
    cacheable = search is None and not filters.province
    key = (str(session.get_bind().engine.url), snapshot_id, filters)
    if cacheable and key in _TOTALS:
        return _TOTALS[key]
    total = session.scalar(select(func.count()).select_from(m.stmt.subquery())) or 0
    if cacheable:
        if len(_TOTALS) >= _TOTALS_MAX:
            _TOTALS.clear()
        _TOTALS[key] = int(total)
    return int(total)


def customer_page(
    session: Session,
    *,
    snapshot_id: int,
    filters: CustomerFilters,
    sort: SortKey = "monetary_cents",
    direction: SortDir = "desc",
    page: int = 1,
    page_size: int = PAGE_SIZE,
    search: CustomerSearch | None = None,
    cursor: Cursor | None = None,
) -> CustomerPage:
    """Customers of a snapshot with their classification: filtered, searched, sorted (ties by customer id), one
    page.

    Customers without a value of the sort column (prospects, or a snapshot without predictions) come last.
    Without a ``cursor`` the page is found by offset (``page``); with one, by keyset (the rows just after or
    before it), whose cost does not grow with the page number; ``page`` is then only the number shown.
    The sort reads only (customer id, sort value) pairs; the page's 50 rows are loaded afterwards by id.
    The total is exact: one ``COUNT`` over the snapshot's primary-key range (about 50 ms per million rows on
    SQLite; a province filter or a search adds the join), kept per process for a snapshot and filters that only
    read the snapshot's rows (:data:`_TOTALS`).
    """
    m = _matching(session, snapshot_id=snapshot_id, filters=filters, search=search, sort=sort)
    total = _total(session, m, snapshot_id, filters, search)
    if cursor is None:
        stmt = _ordered(m, direction).limit(page_size + 1).offset((page - 1) * page_size)
    else:
        m = _Matching(m.stmt.where(_past(m, cursor, direction)), m.customer_id, m.key)
        stmt = _ordered(m, direction, reverse=cursor.before).limit(page_size + 1)
    result: Any = session.execute(stmt)
    keys: list[tuple[int, CursorValue]] = [(int(cid), value) for cid, value in result]
    more = len(keys) > page_size
    keys = keys[:page_size]
    if cursor is not None and cursor.before:
        keys.reverse()
        has_prev, has_next = more, True
        if not more:
            page = 1  # reached the start, whatever number the link claimed
    else:
        has_prev, has_next = cursor is not None or page > 1, more
    rows = _load_rows(session, snapshot_id, [cid for cid, _ in keys])
    return CustomerPage(
        rows=rows,
        total=int(total),
        page=page,
        page_size=page_size,
        next_cursor=Cursor(keys[-1][1], keys[-1][0]) if keys and has_next else None,
        prev_cursor=Cursor(keys[0][1], keys[0][0], before=True) if keys and has_prev else None,
        keyset=cursor is not None,
    )


def customer_rows(
    session: Session,
    *,
    snapshot_id: int,
    filters: CustomerFilters,
    sort: SortKey = "monetary_cents",
    direction: SortDir = "desc",
    search: CustomerSearch | None = None,
    limit: int,
    batch: int = 1000,
) -> Iterator[tuple[Customer, Classification | None]]:
    """Every customer of the filtered, searched, sorted list (at most ``limit``), for an export: the ids in list
    order first, then the rows ``batch`` at a time, so memory stays flat however long the list is."""
    m = _matching(session, snapshot_id=snapshot_id, filters=filters, search=search, sort=sort)
    result: Any = session.execute(_ordered(m, direction).limit(limit))
    ids = [int(cid) for cid, _ in result]
    for start in range(0, len(ids), batch):
        chunk = _load_rows(session, snapshot_id, ids[start : start + batch])
        yield from chunk
        for customer, classification in chunk:  # let go of what was yielded; keep the rest of the session
            session.expunge(customer)
            if classification is not None:
                session.expunge(classification)


def count_customers(
    session: Session, *, snapshot_id: int, filters: CustomerFilters, search: CustomerSearch | None, limit: int
) -> int:
    """How many customers the list has, counting no further than ``limit`` (enough to refuse a too-large
    export without counting a million rows)."""
    m = _matching(session, snapshot_id=snapshot_id, filters=filters, search=search, sort="frequency")
    return int(session.scalar(select(func.count()).select_from(m.stmt.limit(limit).subquery())) or 0)


@dataclass(frozen=True)
class Profile:
    """One customer: the row, its classification in the snapshot (if any), its newest orders with lines."""

    customer: Customer
    classification: Classification | None
    orders: list[tuple[Order, list[OrderLine]]]
    order_count: int


def customer_profile(
    session: Session, *, customer_id: int, snapshot_id: int | None, max_orders: int = PROFILE_ORDERS
) -> Profile:
    """The profile of customer ``customer_id`` (store id); :class:`NotFound` when there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    classification = None
    if snapshot_id is not None:
        classification = session.get(Classification, (snapshot_id, customer_id))
    order_count = session.scalar(select(func.count()).where(Order.customer_id == customer_id)) or 0
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.ordered_at.desc(), Order.id.desc())
            .limit(max_orders)
        )
    )
    lines: dict[int, list[OrderLine]] = {o.id: [] for o in orders}
    if orders:
        stmt = select(OrderLine).where(OrderLine.order_id.in_(list(lines))).order_by(OrderLine.line_no)
        for line in session.scalars(stmt):
            lines[line.order_id].append(line)
    return Profile(
        customer=customer,
        classification=classification,
        orders=[(o, lines[o.id]) for o in orders],
        order_count=int(order_count),
    )


#: At most this many notes and interactions on a profile (newest first).
PROFILE_NOTES = 100
#: At most this many saved views per user.
MAX_SAVED_VIEWS = 50


def customer_notes(
    session: Session, customer_id: int, limit: int = PROFILE_NOTES
) -> list[tuple[CustomerNote, str | None]]:
    """A customer's notes and interactions, newest first (ties by id), each with its author's username
    (``None`` when the user was deleted); the text stays encrypted here."""
    stmt = (
        select(CustomerNote, User.username)
        .outerjoin(User, User.id == CustomerNote.user_id)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(CustomerNote.at.desc(), CustomerNote.id.desc())
        .limit(limit)
    )
    return [(note, name) for note, name in session.execute(stmt)]


def consent_events(session: Session, customer_id: int) -> list[tuple[ConsentEvent, str | None]]:
    """A customer's marketing-consent events, newest first (the first is in force), each with the username of
    who recorded it (``None`` for the system or a deleted user)."""
    stmt = (
        select(ConsentEvent, User.username)
        .outerjoin(User, User.id == ConsentEvent.recorded_by)
        .where(ConsentEvent.customer_id == customer_id)
        .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
    )
    return [(event, name) for event, name in session.execute(stmt)]


def saved_views(session: Session, user_id: int) -> list[SavedView]:
    """The saved list views of one user, by name."""
    stmt = select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name, SavedView.id)
    return list(session.scalars(stmt))


def save_view(session: Session, *, user_id: int, name: str, query: dict[str, str]) -> SavedView:
    """Save ``query`` (list parameters) as the user's view ``name`` (1–64 characters, spaces trimmed); a view of
    the same name is replaced. :class:`InvalidInput` for a bad name or when the user already has
    :data:`MAX_SAVED_VIEWS` other views."""
    name = " ".join(name.split())
    if not name or len(name) > 64:
        raise InvalidInput("a saved view needs a name of 1 to 64 characters")
    view = session.scalar(select(SavedView).where(SavedView.user_id == user_id, SavedView.name == name))
    if view is None:
        count = session.scalar(select(func.count()).where(SavedView.user_id == user_id)) or 0
        if count >= MAX_SAVED_VIEWS:
            raise InvalidInput(f"you have {MAX_SAVED_VIEWS} saved views already; delete one first")
        view = SavedView(user_id=user_id, name=name, query=query)
        session.add(view)
    else:
        view.query = query
    session.flush()
    return view


def delete_view(session: Session, *, user_id: int, view_id: int) -> None:
    """Delete the user's saved view ``view_id``; :class:`NotFound` when the user has no such view (another
    user's view counts as none)."""
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != user_id:
        raise NotFound(f"saved view {view_id} does not exist")
    session.delete(view)
