"""Churn features, labels and the time-split gradient-boosting model (kehu.models.churn)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from factories import orders_table
from kehu.errors import ConvergenceError, InvalidInput, NotFitted
from kehu.models.churn import FEATURE_COLUMNS, ChurnModel, churn_features, churn_labels

AS_OF = date(2024, 6, 30)
H = 90


def synthetic_orders(n: int = 3_000, *, seed: int = 7, end: date = AS_OF, days: int = 730) -> tuple[pa.Table,
                                                                                                    pa.Table]:
    """Seeded orders of ``n`` customers over ``days`` days up to ``end``, plus 50 registered non-buyers.

    Each customer arrives on a uniform day of the first 80% of the period and buys as a Poisson process whose
    usual gap is log-uniform between 5 and 180 days (weekly shoppers to twice-a-year buyers, so that a quiet month
    means different things for different people). They stop for good at an exponential time (mean 400 days) after
    arriving, after fading out: in the 90 days before stopping they buy at half their usual rate. Order values are
    lognormal around 90 yuan; 3% of orders are unpaid, 2% fully and 5% partly refunded.
    """
    rng = np.random.default_rng(seed)
    start = end - timedelta(days=days - 1)
    arrive = rng.uniform(0, 0.8 * days, n)
    rate = 1 / np.exp(rng.uniform(np.log(5), np.log(180), n))
    stop = arrive + rng.exponential(400, n)
    fade = np.maximum(arrive, stop - 90)
    owners, times = [np.arange(n)], [arrive]
    for lo, hi, factor in ((arrive, np.minimum(fade, days), 1.0), (fade, np.minimum(stop, days), 0.5)):
        length = np.maximum(hi - lo, 0)
        k = rng.poisson(rate * factor * length)
        who = np.repeat(np.arange(n), k)
        owners.append(who)
        times.append(lo[who] + rng.uniform(0, 1, k.sum()) * length[who])
    owner, t = np.concatenate(owners), np.concatenate(times)
    m = len(t)
    level = rng.lognormal(np.log(9_000), 0.5, n)
    amount = np.maximum(100, (level[owner] * rng.lognormal(0, 0.3, m)).round()).astype("int64")
    u = rng.uniform(0, 1, m)
    refunded = np.where(u < 0.02, amount, np.where(u < 0.07, (amount * 0.3).round(), 0)).astype("int64")
    paid = rng.uniform(0, 1, m) >= 0.03
    base = datetime.combine(start, datetime.min.time())
    orders = pa.table({
        "customer_id": pa.array(owner + 1, pa.int64()),
        "ordered_at": pa.array([base + timedelta(days=float(x)) for x in t], pa.timestamp("us")),
        "amount_cents": pa.array(amount, pa.int64()),
        "refunded_cents": pa.array(refunded, pa.int64()),
        "is_paid": pa.array(paid, pa.bool_()),
    })
    customers = pa.table({"id": pa.array(np.arange(1, n + 51), pa.int64())})
    return orders, customers


def recency_baseline(features: pd.DataFrame, _at: date) -> np.ndarray:
    """Naive churn score: rank of days since the last purchase."""
    return features["recency_days"].rank().to_numpy()


@pytest.fixture(scope="module")
def synthetic() -> tuple[pa.Table, pa.Table]:
    return synthetic_orders()


@pytest.fixture(scope="module")
def fitted(synthetic: tuple[pa.Table, pa.Table]) -> ChurnModel:
    orders, customers = synthetic
    return ChurnModel(horizon_days=H).fit(orders, customers, as_of=AS_OF, baseline=recency_baseline)


# ------------------------------------------------------------------------------------------------ features


def test_features_of_a_hand_made_table() -> None:
    orders, customers = orders_table([
        (1, "2024-01-01", 10), (1, "2024-03-01", 20), (1, "2024-05-01", 30, 5),  # gaps 60 and 61 days
        (2, "2024-06-30", 50), (2, "2024-06-30", 40, 0, False),  # bought on as_of; one unpaid order
        (3, "2024-02-01", 7), (3, "2024-06-20", 10, 10),  # the later order fully refunded: not a purchase
        (4, "2024-04-01", 100), (4, "2024-04-01", 60),  # same-day repeat
        (7, "2024-06-01", 10), (7, "2024-06-01", 10), (7, "2024-06-01", 10), (7, "2024-06-11", 10),
        (5, None, None),  # prospect
        (6, "2024-07-01", 10),  # buys only after as_of
    ])
    f = churn_features(orders, customers, as_of=AS_OF)
    assert list(f.columns) == list(FEATURE_COLUMNS)
    assert f.index.tolist() == [1, 2, 3, 4, 7]
    one = f.loc[1]
    assert (one.recency_days, one.frequency, one.monetary_cents, one.aov_cents, one.tenure_days) == (
        60, 3, 5500, 1833, 181)
    assert one.median_gap_days == one.usual_gap_days == 60.5
    assert one.gap_ratio == pytest.approx(60 / 60.5)
    assert (one.orders_90d, one.spend_90d_cents, one.orders_prev_90d, one.spend_prev_90d_cents) == (1, 2500, 1, 2000)
    assert (one.paid_orders, one.refunded_orders, one.refund_share) == (3, 1, pytest.approx(1 / 3))
    two = f.loc[2]
    assert (two.recency_days, two.frequency, two.orders_90d, two.paid_orders) == (0, 1, 1, 1)
    assert np.isnan(two.median_gap_days) and np.isnan(two.usual_gap_days) and np.isnan(two.gap_ratio)
    three = f.loc[3]
    assert (three.recency_days, three.frequency, three.orders_90d, three.orders_prev_90d) == (150, 1, 0, 1)
    assert (three.paid_orders, three.refunded_orders, three.refund_share) == (2, 1, 0.5)
    four = f.loc[4]  # two orders on one day: a gap of 0 between orders, but a single shopping day
    assert (four.median_gap_days, four.frequency, four.aov_cents) == (0.0, 2, 8000)
    assert np.isnan(four.usual_gap_days) and np.isnan(four.gap_ratio)
    seven = f.loc[7]  # order gaps 0, 0, 10: median 0; shopping-day gap 10
    assert (seven.median_gap_days, seven.usual_gap_days, seven.gap_ratio) == (0.0, 10.0, 1.9)
    assert f.dtypes["recency_days"] == np.int64 and f.dtypes["gap_ratio"] == np.float64


def test_features_window_boundaries() -> None:
    # Ages 89 and 90 days: the last day of the recent window and the first of the previous one; 179 and 180 the
    # last of the previous window and outside both.
    days = [AS_OF - timedelta(days=a) for a in (89, 90, 179, 180)]
    orders, customers = orders_table([(1, d.isoformat(), 10) for d in days])
    f = churn_features(orders, customers, as_of=AS_OF).loc[1]
    assert (f.orders_90d, f.spend_90d_cents, f.orders_prev_90d, f.spend_prev_90d_cents) == (1, 1000, 2, 2000)


def test_features_do_not_leak_orders_after_the_feature_date(synthetic: tuple[pa.Table, pa.Table]) -> None:
    orders, customers = synthetic
    at = AS_OF - timedelta(days=H)
    next_day = datetime.combine(at + timedelta(days=1), datetime.min.time())
    cut = orders.filter(pc.field("ordered_at") < pa.scalar(next_day, pa.timestamp("us")))
    assert 0 < cut.num_rows < orders.num_rows
    # Later orders that would change features if they leaked: the first instant after the feature date, a refund,
    # an unpaid order, and a brand-new customer.
    late = pa.table({
        "customer_id": pa.array([1, 2, 3, 99_999], pa.int64()),
        "ordered_at": pa.array([next_day, next_day + timedelta(days=5), next_day, next_day], pa.timestamp("us")),
        "amount_cents": pa.array([99_900, 5_000, 2_000, 1_000], pa.int64()),
        "refunded_cents": pa.array([0, 2_500, None, 0], pa.int64()),
        "is_paid": pa.array([True, True, False, True], pa.bool_()),
    })
    expected = churn_features(cut, customers, as_of=at)
    assert len(expected) > 1_000
    pd.testing.assert_frame_equal(churn_features(orders, customers, as_of=at), expected)
    pd.testing.assert_frame_equal(churn_features(pa.concat_tables([orders, late]), customers, as_of=at), expected)


def test_features_of_no_orders_is_an_empty_frame() -> None:
    orders, customers = orders_table([(1, None, None)])
    f = churn_features(orders, customers, as_of=AS_OF)
    assert f.empty and list(f.columns) == list(FEATURE_COLUMNS)


def test_features_name_a_missing_column() -> None:
    orders, customers = orders_table([(1, "2024-01-01", 10)])
    with pytest.raises(InvalidInput, match="missing column.*refunded_cents"):
        churn_features(orders.drop(["refunded_cents"]), customers, as_of=AS_OF)


# ------------------------------------------------------------------------------------------------ labels


def test_labels_of_a_hand_made_table() -> None:
    start, end = date(2024, 6, 1), date(2024, 6, 30)
    orders, _ = orders_table([
        (1, "2024-06-15", 10),  # bought in the window
        (2, "2024-06-01", 10),  # only on the start day: outside (start, end]
        (3, "2024-06-30", 10),  # on the end day: inside
        (4, "2024-07-01", 10),  # after the end
        (5, "2024-06-15", 10, 10),  # fully refunded: not a purchase
        (6, "2024-06-15", 10, 4),  # partly refunded: a purchase
        (7, "2024-06-15", 10, 0, False),  # unpaid
        (8, "2024-06-02", 10), (8, "2024-06-03", 10),
    ])
    ids = [8, 7, 6, 5, 4, 3, 2, 1, 42]  # any order; 42 has no orders at all
    labels = churn_labels(orders, ids, start=start, end=end)
    assert labels.dtype == np.bool_
    assert labels.tolist() == [False, True, False, True, True, False, True, False, True]


def test_labels_need_a_window() -> None:
    orders, _ = orders_table([(1, "2024-06-15", 10)])
    with pytest.raises(InvalidInput, match="end 2024-06-01 must be after its start 2024-06-01"):
        churn_labels(orders, [1], start=date(2024, 6, 1), end=date(2024, 6, 1))


# ------------------------------------------------------------------------------------------------ model


def test_model_auc_beats_a_recency_baseline(fitted: ChurnModel) -> None:
    assert fitted.auc_ > 0.7
    assert fitted.baseline_auc_ is not None
    assert fitted.auc_ > fitted.baseline_auc_
    assert 0.05 < fitted.churn_rate_ < 0.95
    assert fitted.train_rows_ > 1_000 and fitted.test_rows_ > fitted.train_rows_ // 2


def test_predict_risk_is_a_probability_that_ranks_churners_first(
        fitted: ChurnModel, synthetic: tuple[pa.Table, pa.Table]) -> None:
    orders, customers = synthetic
    f = churn_features(orders, customers, as_of=AS_OF)
    risk = fitted.predict_risk(f)
    assert risk.shape == (len(f),) and risk.dtype == np.float64
    assert ((risk >= 0) & (risk <= 1)).all()
    # Customers who bought in the last month are less at risk than those silent for a year.
    assert risk[f.recency_days.to_numpy() <= 30].mean() < risk[f.recency_days.to_numpy() >= 365].mean()
    assert fitted.predict_risk(f.iloc[:0]).shape == (0,)


def test_report_is_json_ready(fitted: ChurnModel) -> None:
    report = json.loads(json.dumps(fitted.report()))
    assert report["horizon_days"] == H and report["as_of"] == "2024-06-30"
    assert report["auc"] == pytest.approx(fitted.auc_, abs=1e-6)
    assert report["baseline_auc"] == pytest.approx(fitted.baseline_auc_, abs=1e-6)
    assert report["splits"]["train"] == {"features_at": "2024-01-02", "labels": ["2024-01-02", "2024-04-01"]}
    assert report["splits"]["test"] == {"features_at": "2024-04-01", "labels": ["2024-04-01", "2024-06-30"]}
    assert report["train_rows"] == fitted.train_rows_ and report["test_rows"] == fitted.test_rows_
    assert report["feature_importances"] and max(report["feature_importances"].values()) > 0


def test_fit_without_baseline_and_with_a_subsample(synthetic: tuple[pa.Table, pa.Table]) -> None:
    orders, customers = synthetic
    model = ChurnModel(horizon_days=H, max_train_rows=400, random_state=3).fit(orders, customers, as_of=AS_OF)
    again = ChurnModel(horizon_days=H, max_train_rows=400, random_state=3).fit(orders, customers, as_of=AS_OF)
    assert model.train_rows_ == 400 and model.refit_rows_ == 400
    assert model.baseline_auc_ is None and model.report()["baseline_auc"] is None
    assert model.report()["baseline_error"] is None
    assert model.auc_ == again.auc_  # seeded
    assert model.auc_ > 0.65


def test_baseline_must_score_every_row(synthetic: tuple[pa.Table, pa.Table]) -> None:
    orders, customers = synthetic
    with pytest.raises(InvalidInput, match="baseline returned 1 scores for .* feature rows"):
        ChurnModel().fit(orders, customers, as_of=AS_OF, baseline=lambda f, d: np.zeros(1))


def test_a_failing_baseline_is_reported_not_fatal(synthetic: tuple[pa.Table, pa.Table]) -> None:
    orders, customers = synthetic

    def broken(features: pd.DataFrame, at: date) -> np.ndarray:
        raise ConvergenceError("BG/NBD fit did not converge")

    model = ChurnModel(max_train_rows=500).fit(orders, customers, as_of=AS_OF, baseline=broken)
    assert model.baseline_auc_ is None and model.auc_ > 0.7
    assert model.report()["baseline_error"] == "BG/NBD fit did not converge"


def test_fit_says_how_much_history_is_needed() -> None:
    orders, customers = orders_table([(1, "2024-05-01", 10), (2, "2024-05-02", 10), (1, "2024-06-20", 10)])
    with pytest.raises(InvalidInput, match=r"churn model needs orders from at least 2 × horizon = 180 days before "
                                           r"2024-06-30 \(on or before 2024-01-02\); the first order is on 2024-05-01"):
        ChurnModel(horizon_days=90).fit(orders, customers, as_of=AS_OF)
    with pytest.raises(InvalidInput, match="2 × horizon = 60 days before 2024-06-30"):
        ChurnModel(horizon_days=30).fit(orders.slice(0, 0), customers, as_of=AS_OF)


def test_fit_needs_both_classes() -> None:
    # Everyone buys every 30 days up to as-of: nobody churns.
    rows = [(c, (date(2023, 1, 1) + timedelta(days=30 * k + c)).isoformat(), 10) for c in range(1, 6)
            for k in range(18)]
    orders, customers = orders_table(rows)
    with pytest.raises(InvalidInput, match=r"training split has a single class: all 5 customers bought again"):
        ChurnModel(horizon_days=90).fit(orders, customers, as_of=AS_OF)


def test_hyper_parameters_are_checked() -> None:
    orders, customers = orders_table([(1, "2023-01-01", 10)])
    with pytest.raises(InvalidInput, match="horizon_days must be at least 1, not 0"):
        ChurnModel(horizon_days=0).fit(orders, customers, as_of=AS_OF)


def test_methods_need_fit_first() -> None:
    model = ChurnModel()
    with pytest.raises(NotFitted, match="call fit"):
        model.predict_risk(pd.DataFrame({c: [1] for c in FEATURE_COLUMNS}))
    with pytest.raises(NotFitted, match="not fitted"):
        model.report()


def test_predict_risk_names_missing_columns(fitted: ChurnModel) -> None:
    with pytest.raises(InvalidInput, match="missing column.*gap_ratio"):
        fitted.predict_risk(pd.DataFrame({"recency_days": [3], "frequency": [1]}))


def test_a_feature_without_any_value_does_not_break_the_fit() -> None:
    from kehu.models.churn import MODEL_FEATURES, _matrix

    frame = pd.DataFrame({c: [1.0, 2.0, 3.0] for c in MODEL_FEATURES})
    frame["p_alive"] = np.nan
    x = _matrix(frame)
    assert not np.isnan(x[:, list(MODEL_FEATURES).index("p_alive")]).any()
