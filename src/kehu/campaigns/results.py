"""A campaign's measured effect: treatment against holdout over the attribution window.

Per customer of each arm: converted (at least one purchase in the window) and revenue (the purchases' amounts net of
refunds, in cents). A purchase is a paid order that is not fully refunded (DESIGN.md), dated on ``starts_on`` …
``starts_on + attribution_days − 1``. Then:

* conversion per arm with its Wilson interval, and the difference treatment − holdout with **Newcombe's hybrid
  score interval** (the Wald interval beside it);
* revenue per customer per arm, and the difference with **Welch's t interval** on the per-customer revenues;
* incremental revenue = that difference × treated customers (and its interval, scaled the same way);
* cost = cost per contact × treated customers + coupon value × redemptions, where a redemption is a treated
  customer with a discounted purchase in the window (orders carry no coupon code, so a discount in the window is
  taken as the coupon's use; an upper bound when customers have other discounts);
* return on cost = (incremental revenue − cost) / cost.

Everything is computed from the store when asked, so orders imported later are counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from kehu.campaigns import holdout
from kehu.campaigns.service import is_finished, window
from kehu.campaigns.stats import (
    Interval,
    mean_interval,
    newcombe_difference,
    wald_difference,
    welch_difference,
    wilson,
)
from kehu.store import Campaign, CampaignMember, Order

CONFIDENCE = 0.95


@dataclass(frozen=True)
class ArmResult:
    """One arm's customers, converters, orders, revenue (cents) and their shares and means."""

    arm: str
    customers: int
    converted: int
    orders: int
    revenue_cents: int
    redemptions: int
    conversion: Interval
    revenue_per_customer_cents: float | None
    #: Mean revenue per customer (cents) with its t interval.
    revenue_mean: Interval


@dataclass(frozen=True)
class CampaignResult:
    """The comparison of the arms (see the module's description for the definitions)."""

    campaign_id: int
    window_start: date
    window_end: date
    finished: bool
    treatment: ArmResult
    holdout: ArmResult
    conversion_diff: Interval
    conversion_diff_wald: Interval
    revenue_diff_cents: Interval
    incremental_revenue_cents: Interval
    incremental_conversions: float | None
    cost_cents: int
    return_on_cost: float | None

    @property
    def measurable(self) -> bool:
        """True when both arms have customers, so the differences are defined."""
        return self.treatment.customers > 0 and self.holdout.customers > 0


def per_customer(session: Session, campaign: Campaign) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                           np.ndarray]]:
    """arm → (revenue cents, orders, discounted orders, customer ids) per member, members in customer-id order.

    One grouped query: members left-joined to their purchases in the window.
    """
    start, end = window(campaign)
    m, o = CampaignMember, Order
    refunded = func.coalesce(o.refunded_cents, 0)
    purchase = and_(o.customer_id == m.customer_id, o.ordered_at >= datetime.combine(start, datetime.min.time()),
                    o.ordered_at < datetime.combine(end, datetime.min.time()), o.is_paid.is_(True),
                    or_(refunded == 0, refunded < o.amount_cents))
    stmt = (select(m.customer_id, m.arm, func.coalesce(func.sum(o.amount_cents - refunded), 0), func.count(o.id),
                   func.sum(case((func.coalesce(o.discount_cents, 0) > 0, 1), else_=0)))
            .select_from(m).outerjoin(o, purchase)
            .where(m.campaign_id == campaign.id)
            .group_by(m.customer_id, m.arm).order_by(m.customer_id))
    rows: dict[str, list[tuple[int, int, int, int]]] = {a: [] for a in holdout.ARMS}
    row: Any
    for row in session.execute(stmt):
        cid, arm, revenue, orders, discounted = row
        rows[str(arm)].append((int(revenue or 0), int(orders or 0), int(discounted or 0), int(cid)))
    out = {}
    for arm, values in rows.items():
        arr = np.array(values, dtype=np.int64).reshape(-1, 4)
        out[arm] = (arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
    return out


def _arm(arm: str, revenue: np.ndarray, orders: np.ndarray, discounted: np.ndarray) -> ArmResult:
    n = int(revenue.size)
    converted = int((orders > 0).sum())
    return ArmResult(arm=arm, customers=n, converted=converted, orders=int(orders.sum()),
                     revenue_cents=int(revenue.sum()), redemptions=int((discounted > 0).sum()),
                     conversion=wilson(converted, n, CONFIDENCE),
                     revenue_per_customer_cents=float(revenue.mean()) if n else None,
                     revenue_mean=mean_interval(revenue, CONFIDENCE))


def campaign_result(session: Session, campaign: Campaign, today: date | None = None) -> CampaignResult:
    """The result of ``campaign`` as of now (``finished`` says whether the window is over; before that the numbers
    are interim)."""
    data = per_customer(session, campaign)
    t_rev, t_orders, t_disc, _ = data[holdout.TREATMENT]
    h_rev, h_orders, h_disc, _ = data[holdout.HOLDOUT]
    t = _arm(holdout.TREATMENT, t_rev, t_orders, t_disc)
    h = _arm(holdout.HOLDOUT, h_rev, h_orders, h_disc)
    conv = newcombe_difference(t.converted, t.customers, h.converted, h.customers, CONFIDENCE)
    wald = wald_difference(t.converted, t.customers, h.converted, h.customers, CONFIDENCE)
    rev = welch_difference(t_rev, h_rev, CONFIDENCE)
    incremental = rev.scaled(t.customers)
    redemptions = t.redemptions if campaign.offer == "coupon" else 0
    cost = campaign.cost_per_contact_cents * t.customers + campaign.coupon_value_cents * redemptions
    roi = None
    if cost > 0 and incremental.estimate is not None:
        roi = (incremental.estimate - cost) / cost
    start, end = window(campaign)
    return CampaignResult(
        campaign_id=campaign.id, window_start=start, window_end=end, finished=is_finished(campaign, today),
        treatment=t, holdout=h, conversion_diff=conv, conversion_diff_wald=wald, revenue_diff_cents=rev,
        incremental_revenue_cents=incremental,
        incremental_conversions=None if conv.estimate is None else conv.estimate * t.customers,
        cost_cents=int(cost), return_on_cost=roi,
    )
