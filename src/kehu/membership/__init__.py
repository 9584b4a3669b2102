"""Membership (会员体系): tiers by trailing-12-month paid spend with dated upgrades and downgrades, and a points
ledger (earn on paid orders, redeem FIFO, expire, reverse on refund) whose sum is the balance.

* :func:`membership_refresh` — bring tiers, tier history and ledger up to an as-of date (idempotent).
* :func:`redeem_points` — spend points, audited; more than the balance is refused.
* :func:`membership_summary` — one customer's card; :func:`membership_overview` — the membership page.
* :func:`membership_demo` — redemptions for the demo store.
"""

from kehu.membership.demo import membership_demo
from kehu.membership.ledger import Book, Entry, OrderFact, plan_redeem, replay, settle
from kehu.membership.refresh import RedeemResult, RefreshReport, balance, membership_refresh, redeem_points
from kehu.membership.summary import MemberSummary, Overview, customer_ledger, membership_overview, membership_summary
from kehu.membership.tiers import TIERS, add_months, tier_history, tier_name

__all__ = [
    "TIERS",
    "Book",
    "Entry",
    "MemberSummary",
    "OrderFact",
    "Overview",
    "RedeemResult",
    "RefreshReport",
    "add_months",
    "balance",
    "customer_ledger",
    "membership_demo",
    "membership_overview",
    "membership_refresh",
    "membership_summary",
    "plan_redeem",
    "redeem_points",
    "replay",
    "settle",
    "tier_history",
    "tier_name",
]
