"""Churn reasons in plain words (kehu.models.reasons): rules on hand-made feature rows, texts in zh and en."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from factories import orders_table
from kehu.models.churn import churn_features
from kehu.models.reasons import REASON_CODES, churn_reasons, population_medians, reason_text

NAN = math.nan
#: A customer with nothing to explain: recent, steady, no refunds.
QUIET = {"recency_days": 10, "frequency": 6, "monetary_cents": 60_000, "aov_cents": 10_000, "tenure_days": 300,
         "median_gap_days": 50.0, "usual_gap_days": 50.0, "gap_ratio": 0.2,
         "orders_90d": 2, "spend_90d_cents": 20_000, "orders_prev_90d": 2, "spend_prev_90d_cents": 20_000,
         "refund_share": 0.0, "paid_orders": 6, "refunded_orders": 0}


def frame(*rows: dict) -> pd.DataFrame:
    """Feature rows: each dict overrides :data:`QUIET`; ids 1, 2, ..."""
    data = [{**QUIET, **row} for row in rows]
    return pd.DataFrame(data, index=pd.Index(range(1, len(data) + 1), name="customer_id"))


POPULATION = {"recency_days": 40.0}


def codes(reasons: list[dict]) -> list[str]:
    return [r["code"] for r in reasons]


def test_a_steady_customer_has_no_reason() -> None:
    assert churn_reasons(frame({}), population=POPULATION) == [[]]


def test_long_gap_gives_the_days_and_the_multiple_of_the_usual_gap() -> None:
    [reasons] = churn_reasons(frame({"recency_days": 210, "usual_gap_days": 70.0, "gap_ratio": 3.0,
                                     "orders_90d": 0, "orders_prev_90d": 0, "spend_90d_cents": 0,
                                     "spend_prev_90d_cents": 0}), population={"recency_days": 150.0})
    assert reasons == [{"code": "long_gap", "days": 210, "ratio": 3.0, "usual_gap_days": 70.0}]
    assert reason_text(reasons[0], "en") == "no purchase for 210 days, 3× their usual gap"
    assert reason_text(reasons[0], "zh") == "已 210 天未购买，是其平时购买间隔的 3 倍"


def test_long_gap_starts_at_twice_the_usual_gap() -> None:
    at, below = churn_reasons(frame({"gap_ratio": 2.0, "recency_days": 80, "usual_gap_days": 40.0},
                                    {"gap_ratio": 1.99, "recency_days": 79, "usual_gap_days": 39.7}),
                              population={"recency_days": 80.0})
    assert codes(at) == ["long_gap"] and below == []


def test_long_gap_needs_a_usual_gap_of_a_week() -> None:
    burst, week = churn_reasons(frame({"recency_days": 500, "usual_gap_days": 6.0, "gap_ratio": 500 / 6},
                                      {"recency_days": 70, "usual_gap_days": 7.0, "gap_ratio": 10.0}),
                                population={"recency_days": 100.0})
    # Two purchases a few days apart, then silence: compared with other customers instead.
    assert codes(burst) == ["long_inactive"] and burst[0]["days"] == 500
    [gone] = churn_reasons(frame({"recency_days": 500, "usual_gap_days": 6.0, "gap_ratio": 500 / 6}),
                           population={"recency_days": 400.0})  # most customers are long gone
    assert gone == [{"code": "no_recent_purchase", "days": 500}]
    assert reason_text(gone[0], "en") == "no purchase for 500 days"
    assert reason_text(gone[0], "zh") == "已 500 天未购买"
    assert week == [{"code": "long_gap", "days": 70, "ratio": 10.0, "usual_gap_days": 7.0}]


def test_one_and_done_after_90_days() -> None:
    single = {"frequency": 1, "median_gap_days": NAN, "usual_gap_days": NAN, "gap_ratio": NAN,
              "orders_90d": 0, "orders_prev_90d": 0, "spend_90d_cents": 0, "spend_prev_90d_cents": 0, "paid_orders": 1}
    late, on_time = churn_reasons(frame({**single, "recency_days": 91}, {**single, "recency_days": 90}),
                                  population=POPULATION)
    assert late == [{"code": "one_and_done", "days": 91}] and on_time == []
    # Several orders on a single day are one visit.
    [same_day] = churn_reasons(frame({**single, "frequency": 3, "recency_days": 200}), population=POPULATION)
    assert same_day == [{"code": "one_and_done", "days": 200}]
    assert reason_text(late[0], "en") == "only one purchase, 91 days ago"
    assert "91" in reason_text(late[0], "zh")


def test_spend_drop_and_fewer_orders() -> None:
    [reasons] = churn_reasons(frame({"orders_90d": 1, "orders_prev_90d": 4, "spend_90d_cents": 5_000,
                                     "spend_prev_90d_cents": 40_000}), population=POPULATION)
    # spend fell 87.5% (strength 1.75), orders 75% (strength 1.5)
    assert reasons == [
        {"code": "spend_drop", "drop_pct": 88, "window_days": 90, "spend_cents": 5_000, "prev_spend_cents": 40_000},
        {"code": "fewer_orders", "orders": 1, "prev_orders": 4, "window_days": 90},
    ]
    assert reason_text(reasons[0], "en") == "spent 88% less in the last 90 days than in the 90 days before"
    assert reason_text(reasons[0], "zh") == "近 90 天消费比之前 90 天减少 88%"
    assert reason_text(reasons[1], "en") == "1 orders in the last 90 days, down from 4 in the 90 days before"
    assert reason_text(reasons[1], "zh") == "近 90 天下单 1 次，之前 90 天为 4 次"


def test_spend_drop_thresholds() -> None:
    half, less, from_nothing = churn_reasons(frame(
        {"spend_90d_cents": 10_000, "spend_prev_90d_cents": 20_000},
        {"spend_90d_cents": 10_001, "spend_prev_90d_cents": 20_000},
        {"spend_90d_cents": 0, "spend_prev_90d_cents": 0, "orders_90d": 0, "orders_prev_90d": 0},
    ), population=POPULATION)
    assert codes(half) == ["spend_drop"] and half[0]["drop_pct"] == 50
    assert less == [] and from_nothing == []


def test_fewer_orders_needs_two_orders_before() -> None:
    one_before, = churn_reasons(frame({"orders_90d": 0, "orders_prev_90d": 1}), population=POPULATION)
    assert one_before == []


def test_refunds_with_counts_or_share_only() -> None:
    with_counts, share_only = churn_reasons(frame(
        {"refund_share": 0.5, "paid_orders": 6, "refunded_orders": 3},
        {"refund_share": 0.4, "paid_orders": NAN, "refunded_orders": NAN},
    ), population=POPULATION)
    assert with_counts == [{"code": "refunds", "share_pct": 50, "refunded": 3, "orders": 6}]
    assert share_only == [{"code": "refunds", "share_pct": 40}]
    assert reason_text(with_counts[0], "en") == "refunded 3 of their 6 orders (50%)"
    assert reason_text(with_counts[0], "zh") == "6 笔订单中有 3 笔退款（50%）"
    assert reason_text(share_only[0], "en") == "refunds on 40% of their orders"
    assert reason_text(share_only[0], "zh") == "40% 的订单有退款"


def test_long_inactive_compares_with_the_population() -> None:
    row = {"recency_days": 120, "gap_ratio": 1.5, "usual_gap_days": 80.0}  # not a long gap for them
    [reasons] = churn_reasons(frame(row), population={"recency_days": 40.0})
    assert reasons == [{"code": "long_inactive", "days": 120, "ratio": 3.0, "typical_days": 40}]
    assert reason_text(reasons[0], "en") == "no purchase for 120 days, 3× a typical customer's 40 days"
    assert reason_text(reasons[0], "zh") == "已 120 天未购买，是一般客户（40 天）的 3 倍"
    # Against a population that is just as quiet it is no reason (the plain days are); nor under 90 days.
    assert churn_reasons(frame(row), population={"recency_days": 100.0}) == [
        [{"code": "no_recent_purchase", "days": 120}]]
    assert churn_reasons(frame({**row, "recency_days": 90}), population={"recency_days": 10.0}) == [[]]


def test_long_inactive_is_not_repeated_after_a_long_gap() -> None:
    [reasons] = churn_reasons(frame({"recency_days": 400, "gap_ratio": 8.0, "usual_gap_days": 50.0}),
                              population={"recency_days": 40.0})
    assert codes(reasons) == ["long_gap"]


def test_population_defaults_to_the_frame_medians() -> None:
    rows = frame({"recency_days": 10}, {"recency_days": 20}, {"recency_days": 30},
                 {"recency_days": 300, "gap_ratio": 1.0, "usual_gap_days": 300.0})
    assert population_medians(rows)["recency_days"] == 25.0
    assert churn_reasons(rows)[3] == [{"code": "long_inactive", "days": 300, "ratio": 12.0, "typical_days": 25}]


def test_at_most_three_reasons_strongest_first() -> None:
    everything = {"recency_days": 300, "usual_gap_days": 30.0, "gap_ratio": 10.0,  # strength 5
                  "orders_90d": 0, "orders_prev_90d": 3,  # strength 2
                  "spend_90d_cents": 0, "spend_prev_90d_cents": 30_000,  # strength 2
                  "refund_share": 0.5, "paid_orders": 8, "refunded_orders": 4,  # strength 1.5
                  "complaints_90d": 3}  # strength 3
    [reasons] = churn_reasons(frame(everything), population=POPULATION)
    assert codes(reasons) == ["long_gap", "complaints", "spend_drop"]  # spend_drop wins the tie by code order
    [two] = churn_reasons(frame(everything), max_reasons=2, population=POPULATION)
    assert codes(two) == ["long_gap", "complaints"]
    [five] = churn_reasons(frame(everything), max_reasons=5, population=POPULATION)
    assert codes(five) == ["long_gap", "complaints", "spend_drop", "fewer_orders", "refunds"]
    assert churn_reasons(frame(everything), max_reasons=0) == [[]]
    json.dumps(five)  # plain numbers


def test_nullable_columns_from_the_feedback_module() -> None:
    rows = frame({}, {}).astype({"frequency": "Int64"})
    rows["complaints_90d"] = pd.array([pd.NA, 4], dtype="Int64")
    assert churn_reasons(rows, population=POPULATION) == [[], [{"code": "complaints", "count": 4, "window_days": 90}]]


def test_complaints_extension_point() -> None:
    rows = frame({"complaints_90d": 2}, {"complaints_90d": 0}, {"complaints_90d": 1})
    reasons = churn_reasons(rows, population=POPULATION)
    assert reasons == [[{"code": "complaints", "count": 2, "window_days": 90}], [],
                       [{"code": "complaints", "count": 1, "window_days": 90}]]
    assert reason_text(reasons[0][0], "en") == "2 complaints in the last 90 days"
    assert reason_text(reasons[2][0], "en") == "1 complaint in the last 90 days"
    assert reason_text(reasons[0][0], "zh") == "近 90 天投诉 2 次"
    assert churn_reasons(frame({}), population=POPULATION) == [[]]  # no column: the rule never fires


@pytest.mark.parametrize("code", REASON_CODES)
def test_every_code_renders_its_numbers_in_both_languages(code: str) -> None:
    rows = frame(
        {"recency_days": 333, "usual_gap_days": 37.0, "gap_ratio": 9.0},
        {"frequency": 1, "recency_days": 333, "usual_gap_days": NAN, "gap_ratio": NAN},
        {"spend_90d_cents": 1_000, "spend_prev_90d_cents": 33_300},
        {"orders_90d": 1, "orders_prev_90d": 7},
        {"refund_share": 0.75, "paid_orders": 4, "refunded_orders": 3},
        {"complaints_90d": 7},
        {"recency_days": 333, "gap_ratio": 1.0},
        {"recency_days": 333, "gap_ratio": 1.0, "usual_gap_days": 333.0},
    )
    population = {"recency_days": 37.0} if code != "no_recent_purchase" else {"recency_days": 300.0}
    found = [r for reasons in churn_reasons(rows, population=population) for r in reasons
             if r["code"] == code]
    assert found
    for reason in found:
        # Every number but the money (kept for display elsewhere) and the usual gap (implied by the ratio).
        numbers = [str(v) for k, v in reason.items()
                   if k != "code" and not k.endswith("cents") and k != "usual_gap_days"]
        for language in ("zh", "en"):
            text = reason_text(reason, language)
            assert not text.startswith(("other reason", "其他原因"))
            for number in numbers:
                assert number.removesuffix(".0") in text, (language, text, number)


def test_reason_text_is_total() -> None:
    assert reason_text({"code": "price_hike", "pct": 10}, "en") == "other reason: price_hike"
    assert reason_text({"code": "price_hike"}, "zh") == "其他原因：price_hike"
    assert reason_text({"code": "long_gap"}, "en") == "other reason: long_gap"  # numbers missing
    assert reason_text({"code": "long_gap", "days": "many", "ratio": 2}, "zh") == "其他原因：long_gap"
    assert reason_text({"code": "one_and_done", "days": float("nan")}, "en") == "other reason: one_and_done"
    assert reason_text({}, "en") == "other reason: unknown"
    assert reason_text({"code": "one_and_done", "days": 100}, "fr") == "only one purchase, 100 days ago"  # type: ignore[arg-type]


def test_reasons_of_real_features_and_an_empty_frame() -> None:
    orders, customers = orders_table([
        (1, "2023-01-01", 10), (1, "2023-01-31", 10), (1, "2023-03-02", 10),  # every 30 days, then silence
        (2, "2024-06-01", 10),
        (3, "2023-06-01", 10),
        (4, "2023-05-01", 10), (4, "2023-05-01", 20),  # two orders, one day
    ])
    f = churn_features(orders, customers, as_of=date(2024, 6, 30))
    reasons = churn_reasons(f)
    assert codes(reasons[0]) == ["long_gap"] and reasons[0][0]["days"] == 486 and reasons[0][0]["ratio"] == 16.2
    assert reasons[1] == []
    assert codes(reasons[2]) == ["one_and_done"]
    assert reasons[3] == [{"code": "one_and_done", "days": 426}]
    assert churn_reasons(f.iloc[:0]) == []
    assert all(isinstance(v, (int, float, str)) for rs in reasons for r in rs for v in r.values())
    assert np.isfinite([r["days"] for rs in reasons for r in rs]).all()
