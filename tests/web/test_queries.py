"""The page queries on each store (SQLite and PostgreSQL): same figures, counts, months, pages and profiles."""

from __future__ import annotations

from datetime import date

import pytest

from kehu.errors import NotFound
from kehu.store import session_scope
from kehu.web import queries


@pytest.fixture
def built(store_settings, fx):  # type: ignore[no-untyped-def]
    return store_settings, fx.build_store(store_settings)


def test_snapshot_choice(built, fx) -> None:  # type: ignore[no-untyped-def]
    settings, store = built
    with session_scope(settings.store_url) as session:
        assert queries.pick_snapshot(session).as_of == fx.AS_OF
        assert queries.pick_snapshot(session, fx.OLD_AS_OF).as_of == fx.OLD_AS_OF
        assert [s.as_of for s in queries.ready_snapshots(session)] == [fx.AS_OF, fx.OLD_AS_OF]
        with pytest.raises(NotFound, match="no ready classification snapshot dated 2025-09-30"):
            queries.pick_snapshot(session, date(2025, 9, 30))  # still building


def test_key_figures_count_only_purchases_up_to_the_date(built, fx) -> None:  # type: ignore[no-untyped-def]
    settings, store = built
    with session_scope(settings.store_url) as session:
        figures = queries.key_figures(session, until=fx.AS_OF)
        everything = queries.key_figures(session)
    assert figures.customers == store.customers
    assert (figures.buyers, figures.orders, figures.revenue_cents) == (
        store.buyers,
        store.orders,
        store.revenue_cents,
    )
    assert figures.repeat_buyers == store.repeat_buyers
    assert everything.orders == store.orders + 1  # O-LATER; never the unpaid or fully refunded ones
    assert everything.revenue_cents == store.revenue_cents + 77_700


def test_partial_refund_counts_net(built) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from kehu.store import Order

    settings, _ = built
    with session_scope(settings.store_url) as session:
        before = queries.key_figures(session).revenue_cents
        order = session.scalar(select(Order).where(Order.external_id == "O00001"))
        order.refunded_cents = 1_234
    with session_scope(settings.store_url) as session:
        assert queries.key_figures(session).revenue_cents == before - 1_234


def test_aov_and_repeat_share_of_nothing() -> None:
    empty = queries.KeyFigures(customers=0, buyers=0, orders=0, revenue_cents=0, repeat_buyers=0)
    assert empty.aov_cents is None and empty.repeat_share is None
    assert queries.KeyFigures(3, 2, 3, 1_000, 1).aov_cents == 333
    assert queries.KeyFigures(3, 2, 2, 1_001, 1).aov_cents == 501  # half up


def test_counts_and_months(built) -> None:  # type: ignore[no-untyped-def]
    settings, store = built
    with session_scope(settings.store_url) as session:
        stages = dict(queries.counts_by(session, store.snapshot_id, "lifecycle_stage"))
        classes = dict(queries.counts_by(session, store.snapshot_id, "rfm_class"))
        months = queries.monthly_revenue(session, until=date(2025, 6, 30))
        with pytest.raises(ValueError, match="cannot count by"):
            queries.counts_by(session, store.snapshot_id, "province; DROP TABLE customers")
    assert stages == {"active": 15, "new": 15, "at_risk": 15, "churned": 14, "prospect": 1}
    assert classes[None] == 1 and classes["important_value"] == 15
    assert months[0] == ("2024-01", 60_000)
    assert sum(c for _, c in months) == store.revenue_cents
    assert [m for m, _ in months] == sorted(m for m, _ in months)


def test_customer_page_filters_sorts_and_pages(built) -> None:  # type: ignore[no-untyped-def]
    settings, store = built
    with session_scope(settings.store_url) as session:
        first = queries.customer_page(
            session,
            snapshot_id=store.snapshot_id,
            filters=queries.CustomerFilters(),
            sort="external_id",
            direction="asc",
        )
        last = queries.customer_page(
            session,
            snapshot_id=store.snapshot_id,
            filters=queries.CustomerFilters(),
            sort="recency_days",
            direction="desc",
            page=2,
        )
        filtered = queries.customer_page(
            session,
            snapshot_id=store.snapshot_id,
            filters=queries.CustomerFilters(rfm_class="general_development", province="浙江"),
        )
    assert (first.total, first.pages, len(first.rows)) == (60, 2, 50)
    assert [c.external_id for c, _ in first.rows[:3]] == ["C0000", "C0001", "C0002"]
    assert last.rows[-1][0].external_id == "C0059"  # no recency: last either way
    assert filtered.total == 15
    assert all(k.rfm_class == "general_development" and c.province == "浙江" for c, k in filtered.rows)
    money = [k.monetary_cents for _, k in filtered.rows]
    assert money == sorted(money, reverse=True)


def test_profile(built) -> None:  # type: ignore[no-untyped-def]
    settings, store = built
    with session_scope(settings.store_url) as session:
        profile = queries.customer_profile(session, customer_id=store.vip_id, snapshot_id=store.snapshot_id)
        with pytest.raises(NotFound, match="customer 987654 does not exist"):
            queries.customer_profile(session, customer_id=987654, snapshot_id=None)
    assert profile.customer.external_id == "C0000"
    assert profile.classification.rfm_class == "important_value"
    assert [o.external_id for o, _ in profile.orders] == ["O-LATER", "O-REFUND", "O-UNPAID", "O00001"]
    assert profile.order_count == 4
    assert [line.product_name for line in profile.orders[-1][1]] == ["保温杯 Thermos"]


def test_list_totals_are_kept_per_snapshot_but_not_for_province_or_search(built, fx) -> None:  # type: ignore[no-untyped-def]
    settings, store = built
    queries._TOTALS.clear()
    with session_scope(settings.store_url) as session:
        plain = queries.customer_page(session, snapshot_id=store.snapshot_id, filters=queries.CustomerFilters())
        assert len(queries._TOTALS) == 1
        again = queries.customer_page(session, snapshot_id=store.snapshot_id, filters=queries.CustomerFilters(),
                                      sort="recency_days", page=2)
        assert again.total == plain.total and len(queries._TOTALS) == 1  # the sort does not change the count
        queries.customer_page(session, snapshot_id=store.snapshot_id,
                              filters=queries.CustomerFilters(province="广东"))
        assert len(queries._TOTALS) == 1  # customers can move province: counted every time
