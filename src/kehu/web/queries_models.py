"""The read queries behind the prediction parts of the pages: CLV tiers and histogram, churn-risk bands, clusters,
recommended products.

Each chart is one aggregate over the snapshot's rows (``WHERE snapshot_id = …``, a probe of the primary key),
grouped in the database; Python only sees a handful of groups, never the customers. A snapshot made without
predictions has NULL in every prediction column, and every function here then returns empty results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from kehu.store import Classification, Product
from kehu.web.predictions import CLV_TIERS

#: Upper bounds of the churn-risk bands (the last band includes 1.0).
CHURN_BANDS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
HISTOGRAM_BINS = 10


def _int(value: Any) -> int:
    """A count, sum or code from a result row as ``int`` (``NULL`` as 0)."""
    return int(value or 0)


@dataclass(frozen=True)
class TierRow:
    """Customers of one CLV tier, their total 12-month CLV and the range of their CLVs (cents)."""

    tier: str
    customers: int
    clv_cents: int
    min_cents: int
    max_cents: int


def clv_tiers(session: Session, snapshot_id: int) -> list[TierRow]:
    """Customers and total CLV per tier of a snapshot, ``high`` first (unknown tiers last); empty without
    predictions."""
    clv = Classification.clv_365d_cents
    stmt = (
        select(
            Classification.clv_tier,
            func.count(),
            func.coalesce(func.sum(clv), 0),
            func.min(clv),
            func.max(clv),
        )
        .where(Classification.snapshot_id == snapshot_id, Classification.clv_tier.is_not(None))
        .group_by(Classification.clv_tier)
    )
    rows = [
        TierRow(
            tier=str(tier),
            customers=_int(n),
            clv_cents=_int(total),
            min_cents=_int(low),
            max_cents=_int(high),
        )
        for tier, n, total, low, high in session.execute(stmt).all()
    ]
    rank = {tier: i for i, tier in enumerate(CLV_TIERS)}
    return sorted(rows, key=lambda row: (rank.get(row.tier, len(rank)), row.tier))


#: Round bin widths: these × 10ⁿ cents.
NICE_STEPS: tuple[float, ...] = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def nice_width(raw: float) -> int:
    """The smallest round width (:data:`NICE_STEPS` × 10ⁿ cents, at least 100 cents, one yuan) ≥ ``raw``."""
    if raw <= 100:
        return 100
    power = 10 ** math.floor(math.log10(raw))
    return next(round(step * power) for step in NICE_STEPS if round(step * power) >= raw)


@dataclass(frozen=True)
class HistogramBin:
    """Customers whose CLV is in ``[low_cents, high_cents)``."""

    low_cents: int
    high_cents: int
    customers: int


def clv_histogram(
    session: Session, snapshot_id: int, *, low: int, high: int, bins: int = HISTOGRAM_BINS
) -> list[HistogramBin]:
    """Customers per CLV bin between ``low`` and ``high`` cents (the range of :func:`clv_tiers`).

    The bins have a round width (:func:`nice_width`) and start at a multiple of it, so there are about ``bins``
    of them (at most ``bins + 1``); empty bins are included. One ``GROUP BY`` of the integer bucket number.
    """
    if high < low:
        return []
    width = nice_width((high - low) / bins)
    start = (low // width) * width
    count = (high - start) // width + 1
    clv = Classification.clv_365d_cents
    # A subquery, so that the GROUP BY names the bucket column rather than repeating an expression with
    # parameters (PostgreSQL would not recognise it as the same expression).
    buckets = (
        select(((clv - literal(start)) // literal(width)).label("bucket"))
        .where(Classification.snapshot_id == snapshot_id, clv.is_not(None), clv >= low, clv <= high)
        .subquery()
    )
    stmt = select(buckets.c.bucket, func.count()).group_by(buckets.c.bucket)
    found = {_int(b): _int(n) for b, n in session.execute(stmt).all()}
    return [
        HistogramBin(low_cents=start + i * width, high_cents=start + (i + 1) * width, customers=found.get(i, 0))
        for i in range(count)
    ]


def churn_bands(session: Session, snapshot_id: int) -> list[int]:
    """Customers per churn-risk band (0–25 %, 25–50 %, 50–75 %, 75–100 %); all zero without predictions."""
    risk = Classification.churn_risk
    band = case(
        *((risk < literal(bound), i) for i, bound in enumerate(CHURN_BANDS[:-1])),
        else_=len(CHURN_BANDS) - 1,
    )
    banded = (
        select(band.label("band"))
        .where(Classification.snapshot_id == snapshot_id, risk.is_not(None))
        .subquery()
    )
    stmt = select(banded.c.band, func.count()).group_by(banded.c.band)
    counts = [0] * len(CHURN_BANDS)
    for index, n in session.execute(stmt).all():
        counts[_int(index)] += _int(n)
    return counts


def cluster_sizes(session: Session, snapshot_id: int) -> list[tuple[int, int]]:
    """(cluster, customers) of a snapshot, by cluster number; empty without predictions."""
    stmt = (
        select(Classification.cluster, func.count())
        .where(Classification.snapshot_id == snapshot_id, Classification.cluster.is_not(None))
        .group_by(Classification.cluster)
        .order_by(Classification.cluster)
    )
    return [(_int(cluster), _int(n)) for cluster, n in session.execute(stmt).all()]


def product_names(session: Session, product_ids: Iterable[int]) -> list[tuple[int, str]]:
    """(id, name — else SKU) of the products ``product_ids`` in the given order; unknown ids are left out."""
    wanted = list(dict.fromkeys(product_ids))
    if not wanted:
        return []
    stmt = select(Product.id, Product.name, Product.sku).where(Product.id.in_(wanted))
    names = {int(pid): (name or sku) for pid, name, sku in session.execute(stmt).all()}
    return [(pid, names[pid]) for pid in wanted if pid in names]
