"""Per-customer features as Ibis expressions: one definition, any engine Ibis compiles for.

Only purchases count: paid orders that are not fully refunded; their value is the amount net of refunds, in cents.
Dates are calendar days of ``ordered_at`` (the shop's local time as imported).
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

#: Months after the first purchase that the cohorts follow (the purchase summary's cohort table).
COHORT_MONTHS = 12
#: Days of the day key of the last gap: larger than any gap between two orders (about 2,870 years).
_DAY_KEY = 2**20


def purchases(orders: ir.Table, *, as_of: date, window_days: int | None = None) -> ir.Table:
    """Paid, not fully refunded orders on or before ``as_of`` (and within ``window_days`` of it, when given).

    ``orders`` needs ``customer_id``, ``ordered_at`` (timestamp), ``amount_cents``, ``refunded_cents``,
    ``is_paid``. Returns ``customer_id``, ``order_date``, ``order_month`` (:func:`month_index` of
    the date), ``net_cents``.
    """
    kept = orders.filter(is_purchase(orders), orders.ordered_at < ibis.timestamp(as_of + timedelta(days=1)))
    bought = kept.select(
        customer_id=kept.customer_id,
        order_date=kept.ordered_at.date(),
        order_month=month_index(kept.ordered_at.date()),
        net_cents=(kept.amount_cents - kept.refunded_cents.fill_null(0)).cast("int64"),
    )
    return bought if window_days is None else within_window(bought, as_of=as_of, window_days=window_days)


def is_purchase(orders: ir.Table) -> ir.BooleanValue:
    """True for the orders that count as purchases: paid and not fully refunded."""
    refunded = orders.refunded_cents.fill_null(0)
    return orders.is_paid & ((refunded == 0) | (refunded < orders.amount_cents))


def last_purchase(orders: ir.Table) -> ir.DateValue:
    """The calendar day of the latest purchase among ``orders`` (as :func:`purchases` takes them), as a scalar
    expression; NULL without any purchase."""
    return orders.filter(is_purchase(orders)).ordered_at.max().date()


def monthly_revenue(bought: ir.Table) -> ir.Table:
    """Net cents of the purchases ``bought`` (as :func:`purchases` gives them) per calendar month: ``month``
    (:func:`month_index`), ``cents``, by month."""
    return bought.group_by(month=bought.order_month).aggregate(cents=bought.net_cents.sum().cast("int64"))


def within_window(bought: ir.Table, *, as_of: date, window_days: int) -> ir.Table:
    """The rows of ``bought`` (as :func:`purchases` gives them, up to ``as_of``) in the ``window_days`` days that
    end with ``as_of``."""
    return bought.filter(bought.order_date >= ibis.date(as_of - timedelta(days=window_days - 1)))


def month_index(day: ir.DateValue) -> ir.IntegerValue:
    """Calendar month as year · 12 + month − 1."""
    return (day.year() * 12 + day.month() - 1).cast("int64")


def customer_features(purchased: ir.Table, customers: ir.Table, *, as_of: date) -> ir.Table:
    """One row per customer (all of ``customers``, buyers or not) with the RFM and lifecycle inputs, from
    ``purchased`` as :func:`purchases` gives it: :func:`features_from_history` of :func:`purchase_history`.

    Columns: ``customer_id``, ``frequency`` (orders; 0 for prospects), ``monetary_cents`` (net paid, 0 for
    prospects), ``aov_cents`` (monetary / frequency rounded half up; NULL for prospects), ``recency_days`` (days from
    the last order date to ``as_of``; NULL for prospects), ``first_order_date``, ``last_order_date``,
    ``median_gap_days`` (median of the day gaps between consecutive orders; NULL with fewer than 2 orders) and
    ``last_gap_days`` (the gap before the latest order; NULL with fewer than 2 orders), ``purchase_days`` (distinct
    days with a purchase: same-day orders merged, as the CLV models count them; 0 for prospects) and
    ``first_day_cents`` (net paid on the first purchase day; NULL for prospects), so that the mean spend of the
    repeat purchase days is ``(monetary_cents - first_day_cents) / (purchase_days - 1)``; ``repeat_months`` (a bit
    set: bit k, 1 ≤ k ≤ :data:`COHORT_MONTHS`, when the customer bought in the k-th calendar month after the month of
    their first purchase; 0 for prospects), which the purchase summary's cohorts count.
    """
    return features_from_history(purchase_history(purchased), customers, as_of=as_of)


#: The columns of :func:`purchase_history`, in order.
HISTORY_COLUMNS = ("customer_id", "frequency", "monetary_cents", "first_order_date", "last_order_date",
                   "median_gap_days", "last_gap_days", "purchase_days", "first_day_cents", "repeat_months")


def purchase_history(purchased: ir.Table) -> ir.Table:
    """One row per customer with a purchase in ``purchased`` (as :func:`purchases` gives it): the columns
    :data:`HISTORY_COLUMNS`, those of :func:`customer_features` that do not depend on the as-of date (see there).
    """
    # One window, ordered by day only: the multiset of gaps, the first day and the smallest gap of the last day do
    # not depend on how orders of the same day are ordered among themselves, so the result is the same on every
    # engine. Calendar months are computed once per row and compared as integers.
    by_day = ibis.window(group_by=purchased.customer_id, order_by=purchased.order_date)
    month = purchased.order_month
    previous_month = month.lag().over(by_day)
    after_first = month - month.first().over(by_day)
    with_gaps = purchased.mutate(
        gap_days=purchased.order_date.delta(purchased.order_date.lag().over(by_day), unit="day"),
        first_day=purchased.order_date.first().over(by_day),
        day_key=purchased.order_date.epoch_days().cast("int64") * _DAY_KEY,
        # The first purchase of a calendar month k months after the first one: bit k, once per month.
        month_bit=ibis.ifelse(
            (previous_month.isnull() | (previous_month != month)) & after_first.between(1, COHORT_MONTHS),
            (ibis.literal(1, "int32") << after_first.cast("int32")).cast("int64"), ibis.literal(0, "int64")),
    )
    per_customer = with_gaps.group_by("customer_id").aggregate(
        frequency=with_gaps.count(),
        monetary_cents=with_gaps.net_cents.sum().cast("int64"),
        first_order_date=with_gaps.order_date.min(),
        last_order_date=with_gaps.order_date.max(),
        median_gap_days=with_gaps.gap_days.median().cast("float64"),
        # The gap before the latest order: among the latest day's rows the smallest gap (0 when that day has
        # several orders). Gaps stay below _DAY_KEY days, so the largest day · _DAY_KEY − gap is on the latest
        # day, with its smallest gap; NULL when no row has a gap (one order).
        last_gap_key=(with_gaps.day_key - with_gaps.gap_days).max(),
        last_day_key=with_gaps.day_key.max(),
        purchase_days=(with_gaps.gap_days.fill_null(1) > 0).sum().cast("int64"),
        first_day_cents=with_gaps.net_cents.sum(where=with_gaps.order_date == with_gaps.first_day).cast("int64"),
        repeat_months=with_gaps.month_bit.sum().cast("int64"),
    )
    per_customer = per_customer.mutate(
        frequency=per_customer.frequency.cast("int64"),
        last_gap_days=(per_customer.last_day_key - per_customer.last_gap_key).cast("int64"),
    )
    return per_customer.select(*HISTORY_COLUMNS)


def features_from_history(history: ir.Table, customers: ir.Table, *, as_of: date) -> ir.Table:
    """:func:`customer_features` at ``as_of`` from the buyers' :func:`purchase_history` (of the purchases up to
    ``as_of``) and all customers (``id``): prospects get their zeros and NULLs, everyone recency and AOV."""
    as_of_lit = ibis.date(as_of)
    joined = customers.select(customer_id=customers.id).left_join(history, "customer_id")
    joined = joined.select(
        customer_id=joined.customer_id,
        frequency=joined.frequency.fill_null(0).cast("int64"),
        monetary_cents=joined.monetary_cents.fill_null(0).cast("int64"),
        first_order_date=joined.first_order_date,
        last_order_date=joined.last_order_date,
        median_gap_days=joined.median_gap_days,
        last_gap_days=joined.last_gap_days,
        purchase_days=joined.purchase_days.fill_null(0).cast("int64"),
        first_day_cents=joined.first_day_cents,
        repeat_months=joined.repeat_months.fill_null(0).cast("int64"),
    )
    return joined.mutate(
        recency_days=as_of_lit.delta(joined.last_order_date, unit="day").cast("int64"),
        aov_cents=ibis.ifelse(
            joined.frequency > 0,
            ((joined.monetary_cents * 2 + joined.frequency) // (joined.frequency * 2)).cast("int64"),
            ibis.null("int64"),
        ),
    )
