"""The read queries behind the dashboard's charts: RFM score grid, classes × groups × stages, geography, channel
mix, migration between two snapshots, and the cohorts stored with a snapshot.

Each function is one aggregate (one ``GROUP BY``) in the database; Python only sees a few hundred groups at most,
never the customers, and derives several charts from one result where it can (the score grid, classes, groups,
stages, the treemap, the funnel and revenue by class all come from :func:`snapshot_breakdown`). Money stays
integer cents.

A ready snapshot's rows never change, so what is computed from them alone is kept in a small in-process cache
(:func:`cached`, keyed by store, snapshot id and creation time); the channel mix is kept per orders revision
(``store_meta.orders_revision``, bumped by every writer of orders). On SQLite at 1M customers / 10M orders the
scans cost about 0.6 s (breakdown), 0.5 s (geography), 0.8 s (migration) and 3.6 s (channel mix) of CPU
(docs in the dashboard's route module).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from kehu.analytics.geo import CITY_TIERS, city_tier
from kehu.store import Classification, ClassificationSnapshot, Customer, Order, StoreMeta
from kehu.web.queries import is_purchase, net_cents

#: Number of months after the first purchase that the cohort table follows (matches the snapshot's summary).
COHORT_MONTHS = 12
#: Newest cohorts shown on the dashboard (older ones stay in the snapshot's summary).
COHORT_ROWS = 24


#: Results kept by :func:`cached` (least recently used dropped first).
CACHE_ENTRIES = 64
_cache: OrderedDict[Hashable, Any] = OrderedDict()
_cache_lock = threading.Lock()
T = TypeVar("T")


def cached(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its result kept under ``key`` by an earlier call in this process.

    ``key`` must name everything the result depends on (e.g. the store, the snapshot id and its creation time);
    results are shared, so callers must not change them. Two requests computing the same key at once both
    compute it (no lock is held while computing).
    """
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]  # type: ignore[no-any-return]
    value = compute()
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return value


def snapshot_key(session: Session, snapshot: ClassificationSnapshot, what: str) -> tuple[Any, ...]:
    """A cache key for ``what`` computed from ``snapshot``'s rows alone: the store's URL (password hidden), the
    snapshot's id and creation time (an id may come back on SQLite after a delete, a creation time does not)."""
    return (what, store_of(session), snapshot.id, snapshot.created_at)


def store_of(session: Session) -> str:
    """The URL of ``session``'s store, password hidden: the part of a cache key that tells stores apart."""
    return str(session.get_bind().engine.url)


def orders_revision(session: Session) -> int | None:
    """``store_meta.orders_revision``: goes up with every transaction that writes orders; ``None`` when the store
    has none (a store no import has written to)."""
    value = session.scalar(select(StoreMeta.value).where(StoreMeta.key == "orders_revision"))
    return None if value is None else int(value)


def _int(value: Any) -> int:
    """A count or sum from a result row as ``int`` (``NULL`` as 0)."""
    return int(value or 0)


def _text(value: Any) -> str | None:
    """A text column from a result row (``NULL`` stays ``None``)."""
    return None if value is None else str(value)


def mean_cents(total_cents: int, count: int) -> int | None:
    """``total_cents / count`` rounded half up to whole cents; ``None`` when ``count`` is 0."""
    if count <= 0:
        return None
    return (2 * total_cents + count) // (2 * count)


# --- one scan of the snapshot: score grid, classes, groups, stages ----------------------------------------------


@dataclass(frozen=True)
class BreakdownRow:
    """Customers of one (R score, F score, class, group, stage) combination of a snapshot and their monetary sum
    (cents); scores and class are ``None`` for prospects."""

    r_score: int | None
    f_score: int | None
    rfm_class: str | None
    rfm_group: str | None
    lifecycle_stage: str | None
    customers: int
    monetary_cents: int


def snapshot_breakdown(session: Session, snapshot_id: int) -> list[BreakdownRow]:
    """Customers and monetary per (R score, F score, RFM class, RFM group, lifecycle stage) of a snapshot: one
    scan of its rows, from which :func:`rfm_grid` and :func:`totals_by` give every one- and two-way count. In
    practice a few hundred rows (the group follows from the scores), at most 6 × 6 × 9 × 11 × 6."""
    k = Classification
    keys = (k.r_score, k.f_score, k.rfm_class, k.rfm_group, k.lifecycle_stage)
    stmt = (
        select(*keys, func.count(), func.coalesce(func.sum(k.monetary_cents), 0))
        .where(k.snapshot_id == snapshot_id)
        .group_by(*keys)
    )
    return [
        BreakdownRow(
            None if r is None else int(r),
            None if f is None else int(f),
            _text(c),
            _text(g),
            _text(s),
            _int(n),
            _int(cents),
        )
        for r, f, c, g, s, n, cents in session.execute(stmt)
    ]


@dataclass(frozen=True)
class GridCell:
    """Customers with R score ``r_score`` and F score ``f_score`` (1–5) and the sum of their monetary (cents)."""

    r_score: int
    f_score: int
    customers: int
    monetary_cents: int

    @property
    def mean_monetary_cents(self) -> int | None:
        """Mean monetary of the cell in cents (rounded half up); ``None`` for an empty cell."""
        return mean_cents(self.monetary_cents, self.customers)


def rfm_grid(rows: Iterable[BreakdownRow]) -> dict[tuple[int, int], GridCell]:
    """The 5×5 score grid of a snapshot's breakdown: ``(r_score, f_score)`` → cell, all 25 cells present (empty
    ones with 0). Prospects (no score) are not in the grid; a score outside 1–5 is ignored."""
    counts: dict[tuple[int, int], list[int]] = {(r, f): [0, 0] for r in range(1, 6) for f in range(1, 6)}
    for row in rows:
        acc = counts.get((row.r_score or 0, row.f_score or 0))
        if acc is not None:
            acc[0] += row.customers
            acc[1] += row.monetary_cents
    return {key: GridCell(*key, n, cents) for key, (n, cents) in counts.items()}


Dimension = Literal["rfm_class", "rfm_group", "lifecycle_stage"]


@dataclass(frozen=True)
class Total:
    """Customers and their monetary sum (cents) of one value of a dimension."""

    customers: int
    monetary_cents: int


def totals_by(rows: Iterable[BreakdownRow], *dims: Dimension) -> dict[tuple[str | None, ...], Total]:
    """Sum ``rows`` over every dimension but ``dims``: ``(value, …)`` → total (``None`` is a value: no class)."""
    customers: dict[tuple[str | None, ...], int] = defaultdict(int)
    cents: dict[tuple[str | None, ...], int] = defaultdict(int)
    for row in rows:
        key = tuple(getattr(row, d) for d in dims)
        customers[key] += row.customers
        cents[key] += row.monetary_cents
    return {key: Total(customers[key], cents[key]) for key in customers}


# --- geography ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceRow:
    """Customers of a snapshot living in one (province, city), how many of them bought, and their monetary."""

    province: str | None
    city: str | None
    customers: int
    buyers: int
    monetary_cents: int


def geography(session: Session, snapshot_id: int) -> list[PlaceRow]:
    """Customers, buyers and monetary (cents) per (province, city) of the customers in a snapshot; provinces and
    cities as stored (``customers.province``/``city``, not personal data)."""
    k = Classification
    stmt = (
        select(
            Customer.province,
            Customer.city,
            func.count(),
            func.coalesce(func.sum(case((k.frequency > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(k.monetary_cents), 0),
        )
        .select_from(k)
        .join(Customer, Customer.id == k.customer_id)
        .where(k.snapshot_id == snapshot_id)
        .group_by(Customer.province, Customer.city)
    )
    return [PlaceRow(_text(p), _text(c), _int(n), _int(b), _int(cents)) for p, c, n, b, cents in session.execute(stmt)]


@dataclass(frozen=True)
class PlaceTotal:
    """Customers, buyers and monetary (cents) of a province or a city tier."""

    key: str | None
    customers: int
    buyers: int
    monetary_cents: int


def _place_totals(rows: Iterable[PlaceRow], key_of: Any) -> dict[str | None, list[int]]:
    sums: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        acc = sums[key_of(row)]
        acc[0] += row.customers
        acc[1] += row.buyers
        acc[2] += row.monetary_cents
    return sums


def by_province(rows: Iterable[PlaceRow]) -> list[PlaceTotal]:
    """Totals per province, most customers first (ties by name); customers without a province (``None`` or
    blank) together last."""
    sums = _place_totals(rows, lambda row: (row.province or "").strip() or None)
    named = sorted(((p, v) for p, v in sums.items() if p), key=lambda item: (-item[1][0], item[0] or ""))
    out = [PlaceTotal(p, *v) for p, v in named]
    if None in sums:
        out.append(PlaceTotal(None, *sums[None]))
    return out


def by_city_tier(rows: Iterable[PlaceRow]) -> list[PlaceTotal]:
    """Totals per city tier (:func:`kehu.analytics.geo.city_tier`), in tier order, every tier present."""
    sums = _place_totals(rows, lambda row: city_tier(row.city, row.province))
    return [PlaceTotal(tier, *sums.get(tier, [0, 0, 0])) for tier in CITY_TIERS]


# --- channels -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRow:
    """Purchases through one sales channel (``orders.channel``; ``None`` when not recorded) and their revenue."""

    channel: str | None
    orders: int
    revenue_cents: int


def channel_mix(session: Session, *, until: date) -> list[ChannelRow]:
    """Purchases (paid, not fully refunded) and revenue (net of refunds, cents) per channel up to ``until``
    (inclusive), largest revenue first, unknown channel last."""
    end = datetime.combine(until + timedelta(days=1), time.min)
    stmt = (
        select(Order.channel, func.count(), func.coalesce(func.sum(net_cents()), 0))
        .where(is_purchase(), Order.ordered_at < end)
        .group_by(Order.channel)
    )
    rows = [ChannelRow(ch, _int(n), _int(cents)) for ch, n, cents in session.execute(stmt)]
    return sorted(rows, key=lambda r: (r.channel is None, -r.revenue_cents, r.channel or ""))


# --- migration between snapshots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationRow:
    """Customers who were in (group, stage) at the earlier date and are in (group, stage) at the later one;
    ``None`` on the earlier side: the customer was not in the earlier snapshot."""

    from_group: str | None
    to_group: str
    from_stage: str | None
    to_stage: str
    customers: int


def migration(session: Session, *, earlier_id: int, later_id: int) -> list[MigrationRow]:
    """How the customers of the later snapshot moved between RFM groups and lifecycle stages since the earlier
    one: one ``GROUP BY`` over the later snapshot joined (left, on the primary key) with the earlier."""
    later = aliased(Classification)
    earlier = aliased(Classification)
    stmt = (
        select(earlier.rfm_group, later.rfm_group, earlier.lifecycle_stage, later.lifecycle_stage, func.count())
        .select_from(later)
        .outerjoin(earlier, and_(earlier.snapshot_id == earlier_id, earlier.customer_id == later.customer_id))
        .where(later.snapshot_id == later_id)
        .group_by(earlier.rfm_group, later.rfm_group, earlier.lifecycle_stage, later.lifecycle_stage)
    )
    return [MigrationRow(fg, tg, fs, ts, _int(n)) for fg, tg, fs, ts, n in session.execute(stmt)]


def flows(rows: Iterable[MigrationRow], kind: Literal["group", "stage"]) -> list[tuple[str | None, str, int]]:
    """``(from, to, customers)`` per pair of groups (``kind="group"``) or stages, largest first (ties by codes)."""
    sums: dict[tuple[str | None, str], int] = defaultdict(int)
    for row in rows:
        if kind == "group":
            sums[(row.from_group, row.to_group)] += row.customers
        else:
            sums[(row.from_stage, row.to_stage)] += row.customers
    return sorted(((a, b, n) for (a, b), n in sums.items()), key=lambda t: (-t[2], t[0] or "", t[1]))


# --- cohorts --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """Customers whose first purchase was in ``month`` (``YYYY-MM``) and how many bought again in each of the
    following months; ``None`` for a month after the snapshot's date (not yet observed)."""

    month: str
    customers: int
    returned: list[int | None]

    @property
    def shares(self) -> list[float | None]:
        """Share of the cohort buying in month +1 … +12 (``None`` where not observed)."""
        return [None if n is None else (n / self.customers if self.customers else 0.0) for n in self.returned]


def _month_index(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def snapshot_cohorts(snapshot: ClassificationSnapshot, *, rows: int = COHORT_ROWS) -> list[Cohort] | None:
    """The newest ``rows`` monthly cohorts stored with ``snapshot`` by ``kehu classify``, oldest first; ``None``
    when the snapshot was made before cohorts were computed (its summary has no ``cohorts``).

    A month +k counts as observed when it is not after the snapshot's month (the snapshot's own month is partial
    but observed).
    """
    stored = (snapshot.summary or {}).get("cohorts")
    if stored is None:
        return None
    last = snapshot.as_of.year * 12 + snapshot.as_of.month - 1
    out = []
    for month, customers, returned in stored[-rows:] if rows else []:
        first = _month_index(str(month))
        out.append(
            Cohort(
                month=str(month),
                customers=int(customers),
                returned=[int(n) if first + k <= last else None for k, n in enumerate(returned, start=1)],
            )
        )
    return out
