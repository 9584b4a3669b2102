"""Membership tiers by trailing-window paid spend, and each customer's dated upgrades and downgrades.

A customer's spend on day ``d`` is the paid, not refunded amount of their orders placed on a day ``o`` with
``o <= d < add_months(o, window)``: an order counts from its day until the same day ``window`` months later (the
month's last day when that day does not exist). The tier is the highest one whose threshold the spend reaches
(thresholds are "from": exactly 1,000 yuan is silver). Spend changes only on the day an order is placed or leaves
the window, so the whole history up to an as-of date is a short list of events per customer, computed here for
every customer at once with NumPy (no Python loop per customer or per order).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np

from kehu.config import Settings

#: Tier codes from lowest to highest; the index is the tier's rank.
TIERS: tuple[str, ...] = ("standard", "silver", "gold", "diamond")
#: Chinese names of the tiers (DESIGN.md).
TIER_NAMES_ZH: dict[str, str] = {"standard": "普通", "silver": "银卡", "gold": "金卡", "diamond": "钻石"}
TIER_NAMES_EN: dict[str, str] = {"standard": "Standard", "silver": "Silver", "gold": "Gold", "diamond": "Diamond"}


def tier_name(code: str | None, lang: str) -> str:
    """The display name of a tier code in ``lang`` (``zh`` or ``en``); an unknown code is shown as it is."""
    if code is None:
        return "—"
    names = TIER_NAMES_ZH if lang == "zh" else TIER_NAMES_EN
    return names.get(code, code)


def thresholds_cents(settings: Settings) -> np.ndarray:
    """The lower bounds of the tiers in cents, rising: ``[0, silver, gold, diamond]`` (settings are in yuan)."""
    return np.array(
        [0, settings.membership_silver_yuan * 100, settings.membership_gold_yuan * 100,
         settings.membership_diamond_yuan * 100],
        dtype=np.int64,
    )


def tier_of(spend_cents: int, thresholds: np.ndarray) -> str:
    """The tier of one spend in cents (negative spend counts as 0)."""
    return TIERS[int(np.searchsorted(thresholds, max(spend_cents, 0), side="right")) - 1]


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, on the month's last day when ``day``'s day does not exist
    (2024-02-29 + 24 months = 2026-02-28; 2024-01-31 + 1 month = 2024-02-29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_months_np(days: np.ndarray, months: int) -> np.ndarray:
    """:func:`add_months` over an array of ``datetime64[D]`` days (same month-end rule)."""
    days = days.astype("datetime64[D]")
    month = days.astype("datetime64[M]")
    offset = (days - month.astype("datetime64[D]")).astype(np.int64)  # 0-based day of month
    target = month + np.timedelta64(months, "M")
    length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    return target.astype("datetime64[D]") + np.minimum(offset, length - 1).astype("timedelta64[D]")


@dataclass(frozen=True)
class TierHistory:
    """Every customer's tier path up to an as-of date.

    ``customer_id``, ``tier`` (rank into :data:`TIERS`), ``since`` and ``spend_cents`` hold one entry per customer
    with a purchase on or before the as-of date (sorted by customer id); ``change_*`` one entry per upgrade or
    downgrade (sorted by customer, then day).
    """

    customer_id: np.ndarray
    tier: np.ndarray
    since: np.ndarray
    spend_cents: np.ndarray
    change_customer: np.ndarray
    change_day: np.ndarray
    change_from: np.ndarray
    change_to: np.ndarray
    change_spend: np.ndarray


def tier_history(customer_id: np.ndarray, day: np.ndarray, net_cents: np.ndarray, *, as_of: date,
                 window_months: int, thresholds: np.ndarray) -> TierHistory:
    """The tier path of every customer from their purchases.

    Parameters
    ----------
    customer_id, day, net_cents
        One entry per paid order: the customer's store id, the order's day (``datetime64[D]``) and its paid amount
        less refunds in cents. Orders after ``as_of`` and entries with ``net_cents <= 0`` are ignored.
    as_of
        The last day of the history; an order leaving the window after it is not an event.
    window_months
        How long an order counts towards the tier (12 in DESIGN.md).
    thresholds
        :func:`thresholds_cents`.

    A customer starts as ``standard``; the first order that reaches a threshold is an upgrade on that order's day.
    Several events on one day make one change at most (the tier at the end of the day).
    """
    cid = np.asarray(customer_id, dtype=np.int64)
    days = np.asarray(day).astype("datetime64[D]")
    net = np.asarray(net_cents, dtype=np.int64)
    end = np.datetime64(as_of, "D")
    keep = (net > 0) & (days <= end)
    cid, days, net = cid[keep], days[keep], net[keep]
    leave = add_months_np(days, window_months)
    gone = leave <= end
    ev_c = np.concatenate([cid, cid[gone]])
    ev_d = np.concatenate([days, leave[gone]])
    ev_v = np.concatenate([net, -net[gone]])
    empty_i = np.zeros(0, dtype=np.int64)
    empty_d = np.zeros(0, dtype="datetime64[D]")
    if len(ev_c) == 0:
        return TierHistory(empty_i, empty_i, empty_d, empty_i, empty_i, empty_d, empty_i, empty_i, empty_i)
    order = np.lexsort((ev_d, ev_c))
    ev_c, ev_d, ev_v = ev_c[order], ev_d[order], ev_v[order]
    # One row per (customer, day): the day's net change.
    first_of_day = np.ones(len(ev_c), dtype=bool)
    first_of_day[1:] = (ev_c[1:] != ev_c[:-1]) | (ev_d[1:] != ev_d[:-1])
    starts = np.flatnonzero(first_of_day)
    c, d, v = ev_c[starts], ev_d[starts], np.add.reduceat(ev_v, starts)
    # Running spend within each customer: the global running sum less its value before the customer's first row.
    new_customer = np.ones(len(c), dtype=bool)
    new_customer[1:] = c[1:] != c[:-1]
    running = np.cumsum(v)
    before = np.where(new_customer, running - v, 0)
    base = np.maximum.accumulate(np.where(new_customer, np.arange(len(c)), 0))
    spend = running - before[base]
    rank = np.searchsorted(thresholds, np.maximum(spend, 0), side="right").astype(np.int64) - 1
    previous = np.empty_like(rank)
    previous[0] = 0
    previous[1:] = rank[:-1]
    previous[new_customer] = 0
    changed = rank != previous
    # Per customer: the last row's tier and spend; since = the last change's day, else the first purchase's day.
    last = np.append(np.flatnonzero(new_customer)[1:] - 1, len(c) - 1)
    first = np.flatnonzero(new_customer)
    change_rows = np.flatnonzero(changed)
    since = d[first].copy()
    if len(change_rows):
        # For each customer, the last changed row at or before its last row.
        owner = np.searchsorted(first, change_rows, side="right") - 1
        last_change = np.full(len(first), -1, dtype=np.int64)
        np.maximum.at(last_change, owner, change_rows)
        has = last_change >= 0
        since[has] = d[last_change[has]]
    return TierHistory(
        customer_id=c[first],
        tier=rank[last],
        since=since,
        spend_cents=spend[last],
        change_customer=c[change_rows],
        change_day=d[change_rows],
        change_from=previous[change_rows],
        change_to=rank[change_rows],
        change_spend=spend[change_rows],
    )
