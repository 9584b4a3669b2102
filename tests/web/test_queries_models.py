"""The prediction queries on each store (SQLite and PostgreSQL), and reading the model report defensively."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from kehu.store import session_scope
from kehu.web import queries, queries_models
from kehu.web.predictions import (
    cluster_names,
    json_list,
    model_quality,
    number,
    product_ids,
    reason_texts,
    tier_label,
)


@pytest.fixture
def built(store_settings, fx, pfx):  # type: ignore[no-untyped-def]
    store = fx.build_store(store_settings)
    products = pfx.add_predictions(store_settings, store.snapshot_id)
    return store_settings, store, products


def test_clv_tiers_and_histogram(built, pfx) -> None:  # type: ignore[no-untyped-def]
    settings, store, _ = built
    with session_scope(settings.store_url) as session:
        tiers = queries_models.clv_tiers(session, store.snapshot_id)
        low = min(t.min_cents for t in tiers)
        high = max(t.max_cents for t in tiers)
        bins = queries_models.clv_histogram(session, store.snapshot_id, low=low, high=high)
    assert [t.tier for t in tiers] == ["high", "medium", "low"]
    assert {t.tier: t.customers for t in tiers} == pfx.TIER_COUNTS
    assert [t.clv_cents for t in tiers] == [6_420_000, 6_930_000, 4_350_000]
    assert (low, high) == (10_000, 590_000)
    assert sum(b.customers for b in bins) == pfx.BUYERS
    assert bins[0].low_cents == 0 and bins[-1].high_cents > high
    assert all(a.high_cents == b.low_cents for a, b in zip(bins, bins[1:], strict=False))
    assert [b.customers for b in bins] == [5] + [6] * 9  # ¥600 wide: ¥100–¥500 in the first, then 6 each


def test_churn_bands_and_clusters(built, pfx) -> None:  # type: ignore[no-untyped-def]
    settings, store, _ = built
    with session_scope(settings.store_url) as session:
        bands = queries_models.churn_bands(session, store.snapshot_id)
        clusters = queries_models.cluster_sizes(session, store.snapshot_id)
    assert bands == pfx.BAND_COUNTS
    assert clusters == list(pfx.CLUSTER_COUNTS.items())


def test_band_edges_belong_to_the_upper_band(built) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from kehu.store import Classification

    settings, store, _ = built
    with session_scope(settings.store_url) as session:
        for i, risk in enumerate([0.0, 0.25, 0.5, 0.75, 1.0]):
            session.execute(
                update(Classification)
                .where(Classification.snapshot_id == store.snapshot_id, Classification.customer_id == store.vip_id + i)
                .values(churn_risk=risk)
            )
    with session_scope(settings.store_url) as session:
        bands = queries_models.churn_bands(session, store.snapshot_id)
    # Before: C0000–C0004 were in bands 0, 1, 2, 3, 0; now 0, 1, 2, 3, 3.
    assert bands == [14, 15, 15, 15]


def test_snapshot_without_predictions_gives_nothing(built, fx) -> None:  # type: ignore[no-untyped-def]
    settings, store, _ = built
    with session_scope(settings.store_url) as session:
        old = queries.pick_snapshot(session, fx.OLD_AS_OF).id
        assert queries_models.clv_tiers(session, old) == []
        assert queries_models.churn_bands(session, old) == [0, 0, 0, 0]
        assert queries_models.cluster_sizes(session, old) == []
        assert queries_models.clv_histogram(session, old, low=5, high=1) == []


def test_histogram_of_a_single_value(built) -> None:  # type: ignore[no-untyped-def]
    settings, store, _ = built
    with session_scope(settings.store_url) as session:
        bins = queries_models.clv_histogram(session, store.snapshot_id, low=590_000, high=590_000)
    assert [(b.low_cents, b.high_cents, b.customers) for b in bins] == [(590_000, 590_100, 1)]


def test_product_names_in_the_given_order(built) -> None:  # type: ignore[no-untyped-def]
    settings, _, (thermos, tea, nameless) = built
    with session_scope(settings.store_url) as session:
        named = queries_models.product_names(session, [tea, 999_999, thermos, nameless, tea])
        assert queries_models.product_names(session, []) == []
    assert named == [(tea, "茶叶礼盒 Tea gift box"), (thermos, "保温杯 Thermos"), (nameless, "SKU-C")]


def test_list_filters_and_sorts_by_predictions(built, pfx) -> None:  # type: ignore[no-untyped-def]
    settings, store, _ = built
    with session_scope(settings.store_url) as session:
        high = queries.customer_page(
            session,
            snapshot_id=store.snapshot_id,
            filters=queries.CustomerFilters(clv_tier="high", cluster=0),
            sort="clv_365d_cents",
            direction="asc",
        )
        risky = queries.customer_page(
            session,
            snapshot_id=store.snapshot_id,
            filters=queries.CustomerFilters(),
            sort="churn_risk",
            direction="desc",
            page=2,
        )
    assert [c.external_id for c, _ in high.rows] == ["C0009", "C0006", "C0003", "C0000"]
    assert risky.rows[-1][0].external_id == "C0059"  # no risk: last
    risks = [k.churn_risk for _, k in risky.rows[:-1]]
    assert risks == sorted(risks, reverse=True)


def test_sort_keys_match_the_literal() -> None:
    assert set(queries.SORT_KEYS) == set(get_args(queries.SortKey))


@pytest.mark.parametrize(
    ("raw", "width"),
    [(0, 100), (100, 100), (101, 150), (58_000, 60_000), (61_000, 80_000), (90_000, 100_000), (1e9 + 1, 1.5e9)],
)
def test_nice_width(raw: float, width: int) -> None:
    assert queries_models.nice_width(raw) == width


# --- reading the model report and the JSON columns ----------------------------------------------------------


def test_model_quality_reads_the_report(pfx) -> None:
    q = model_quality(pfx.MODELS)
    assert q.bg_nbd == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert (q.churn_auc, q.baseline_auc, q.churn_risk_source) == (0.8123, 0.7004, "gradient boosting")
    assert (q.hit_rate, q.popularity_hit_rate, q.hit_rate_k) == (0.23, 0.11, 10)
    assert (q.clusters_k, q.silhouette, q.clv_total_cents) == (3, 0.41, 17_700_000)
    assert q.any


@pytest.mark.parametrize(
    "models",
    [
        None,
        {},
        [],
        "models",
        {"bg_nbd": {"params": "x"}, "churn": {"auc": "0.8", "baseline_auc": float("nan")}},
        {"bg_nbd": {"params": {"r": True, "alpha": None}}, "recommendations": {"hit_rate": [0.2]}},
    ],
)
def test_model_quality_of_odd_reports_is_empty(models) -> None:  # type: ignore[no-untyped-def]
    q = model_quality(models)
    assert not q.any
    assert q.bg_nbd == {} and q.churn_auc is None and q.hit_rate is None


def test_model_quality_errors() -> None:
    q = model_quality(
        {
            "bg_nbd": {"error": "no repeat purchases"},
            "churn": {"auc": 0.7, "baseline_auc": None, "baseline_error": "BG/NBD did not converge"},
            "recommendations": {"hit_rate": {"error": "x"}},
        }
    )
    assert q.bg_nbd_error == "no repeat purchases"
    assert (q.baseline_auc, q.baseline_error) == (None, "BG/NBD did not converge")
    assert q.recommendations_error == "x"


def test_cluster_names_by_language(pfx) -> None:
    assert cluster_names(pfx.MODELS, "zh") == {0: "高频高消费", 1: "新客户群"}
    assert cluster_names(pfx.MODELS, "en") == {0: "frequent high spenders", 1: "newcomers"}
    assert cluster_names({"clusters": {"clusters": [{"id": 4, "name_en": "only English"}]}}, "zh") == {
        4: "only English"
    }
    assert cluster_names(None, "en") == {} and cluster_names({"clusters": {"error": "x"}}, "en") == {}


def test_json_columns() -> None:
    assert json_list(None) == [] and json_list("") == [] and json_list("{") == [] and json_list('{"a": 1}') == []
    assert product_ids(json.dumps([3, "4", 5.0, True, 6])) == [3, 6]
    assert product_ids(json.dumps(list(range(30)))) == list(range(10))
    reasons = json.dumps([{"code": "one_and_done", "days": 120}, "x", {"code": "long_gap"}] * 2)
    assert reason_texts(reasons, "en") == ["only one purchase, 120 days ago", "other reason: long_gap"]
    assert reason_texts(reasons, "zh")[0] == "只购买过 1 次，距今已 120 天"


def test_number_and_tier_label() -> None:
    assert number(1) == 1.0 and number(0.5) == 0.5
    assert number(True) is None and number("1") is None and number(float("inf")) is None
    t = {"tier_high": "高价值"}.__getitem__
    assert tier_label("high", t) == "高价值"
    assert tier_label("platinum", t) == "platinum" and tier_label(None, t) == ""
