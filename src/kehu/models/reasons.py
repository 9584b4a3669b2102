"""Why a customer may be leaving, in plain words (Chinese and English).

:func:`churn_reasons` applies simple rules to a :func:`kehu.models.churn.churn_features` frame and returns, per
customer, up to three structured reasons ``{"code": ..., <numbers>}``; :func:`reason_text` renders one of them.
The reasons explain the features, not the model: they are what an agent can say on the phone and check in the
customer's history. Each rule has a threshold; a reason's strength is how far past its threshold the customer is
(its value divided by the threshold, so every firing reason has strength ≥ 1), and reasons are ranked by strength,
ties in the order of :data:`REASON_CODES`.

Codes and their numbers (all plain ``int`` / ``float``, JSON-ready):

* ``long_gap`` — no purchase for ``days`` days, ``ratio`` × their usual gap of ``usual_gap_days`` between
  shopping days (gap_ratio ≥ 2; it needs two or more purchase days, and a usual gap of at least a week: a burst of
  purchases on consecutive days is no rhythm to compare with, and "500× their usual gap" would say nothing);
* ``one_and_done`` — a single purchase, ``days`` days ago (one shopping day: frequency 1, or several orders all
  on one day; and recency > 90);
* ``spend_drop`` — spent ``drop_pct`` % less in the last ``window_days`` days than in the ``window_days`` before
  (``spend_cents`` vs ``prev_spend_cents``; a drop of at least 50 % from a positive spend);
* ``fewer_orders`` — ``orders`` orders in the last ``window_days`` days, down from ``prev_orders`` (at least two
  before, at most half as many now);
* ``refunds`` — refunded ``refunded`` of their ``orders`` paid orders, ``share_pct`` % (share ≥ 1/3; strength
  capped at the number of refunded orders, so a single refund never outranks a strong gap);
* ``long_inactive`` — no purchase for ``days`` days, ``ratio`` × the typical customer's ``typical_days`` (recency
  ≥ 2 × the population median and > 90 days; left out when ``long_gap`` or ``one_and_done`` already gives the days);
* ``no_recent_purchase`` — no purchase for ``days`` days (recency > 90 when none of the three reasons above
  applies: e.g. two purchases a few days apart long ago, in a population where most customers are long gone);
* ``complaints`` — ``count`` complaints in the last ``window_days`` days. **Extension point**: read from a
  ``complaints_90d`` column when the frame has one; the feedback module is to fill it (complaints are not in the
  store yet), and until then the rule never fires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

#: Every reason code, in tie-break order.
REASON_CODES: tuple[str, ...] = (
    "long_gap", "one_and_done", "spend_drop", "fewer_orders", "refunds", "complaints", "long_inactive",
    "no_recent_purchase",
)

#: Thresholds of the rules (days, ratios, shares).
LONG_GAP_RATIO = 2.0
LONG_GAP_MIN_USUAL_DAYS = 7
ONE_AND_DONE_DAYS = 90
SPEND_DROP_SHARE = 0.5
FEWER_ORDERS_MIN_PREV = 2
FEWER_ORDERS_SHARE = 0.5
REFUND_SHARE = 1 / 3
LONG_INACTIVE_FACTOR = 2.0
LONG_INACTIVE_MIN_DAYS = 90
NO_RECENT_PURCHASE_DAYS = 90
#: Length of the windows of the ``*_90d`` features, in days.
WINDOW_DAYS = 90
#: The column the feedback module is to fill with each customer's complaints in the last 90 days.
COMPLAINTS_COLUMN = "complaints_90d"

Reason = dict[str, Any]


def population_medians(features: pd.DataFrame) -> dict[str, float]:
    """Medians of the numeric columns of ``features`` (NaN ignored), for ``churn_reasons(population=...)``.

    Compute them once on the whole customer base and pass them when explaining a few customers, so that
    "typical" means the whole population rather than the rows at hand. Columns without a value are left out.
    """
    medians: dict[str, float] = {}
    for column in features.columns:
        values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        values = values[~np.isnan(values)]
        if values.size:
            medians[str(column)] = float(np.median(values))
    return medians


def _column(features: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as float64 (NaN where missing; all NaN when the frame lacks it)."""
    if name not in features.columns:
        return np.full(len(features), np.nan)
    return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _int(value: float) -> int:
    return int(round(float(value)))


def _ratio(value: float) -> float:
    return round(float(value), 1)


def churn_reasons(features: pd.DataFrame, *, max_reasons: int = 3,
                  population: Mapping[str, float] | None = None) -> list[list[Reason]]:
    """Up to ``max_reasons`` reasons per row of ``features``, strongest first (see the module docstring).

    Parameters
    ----------
    features
        A :func:`kehu.models.churn.churn_features` frame (any subset of its columns: a rule whose inputs are
        missing or NaN does not fire), optionally with a ``complaints_90d`` column.
    max_reasons
        At most this many reasons per row (0 gives empty lists).
    population
        Medians of the whole customer base (:func:`population_medians`); used for ``long_inactive``
        (``recency_days``). Default: computed from ``features`` itself.

    Returns
    -------
    list of list of dict
        One list per row, in the frame's order; each reason is ``{"code": ..., <numbers>}`` with plain ints and
        floats. A row without any reason gets ``[]``.
    """
    n = len(features)
    if n == 0 or max_reasons <= 0:
        return [[] for _ in range(n)]
    pop = dict(population) if population is not None else population_medians(features)

    recency = _column(features, "recency_days")
    frequency = _column(features, "frequency")
    gap = _column(features, "usual_gap_days")
    ratio = _column(features, "gap_ratio")
    spend = _column(features, "spend_90d_cents")
    prev_spend = _column(features, "spend_prev_90d_cents")
    orders = _column(features, "orders_90d")
    prev_orders = _column(features, "orders_prev_90d")
    share = _column(features, "refund_share")
    refunded = _column(features, "refunded_orders")
    paid = _column(features, "paid_orders")
    complaints = _column(features, COMPLAINTS_COLUMN)
    typical = float(pop.get("recency_days", math.nan))

    single_day = frequency == 1
    if "usual_gap_days" in features.columns:  # several orders, all on one day: one visit
        single_day |= (frequency >= 2) & np.isnan(gap)

    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(prev_spend > 0, 1 - spend / prev_spend, np.nan)
        order_drop = np.where(prev_orders > 0, 1 - orders / prev_orders, np.nan)
        inactive = recency / max(typical, 1.0) if typical == typical else np.full(n, np.nan)

    # code → strength per row: how far past its threshold (≥ 1), NaN where the rule does not fire.
    strengths: dict[str, np.ndarray] = {
        "long_gap": np.where((ratio >= LONG_GAP_RATIO) & (gap >= LONG_GAP_MIN_USUAL_DAYS), ratio / LONG_GAP_RATIO,
                             np.nan),
        "one_and_done": np.where(single_day & (recency > ONE_AND_DONE_DAYS), recency / ONE_AND_DONE_DAYS, np.nan),
        "spend_drop": np.where(drop >= SPEND_DROP_SHARE, drop / SPEND_DROP_SHARE, np.nan),
        "fewer_orders": np.where((prev_orders >= FEWER_ORDERS_MIN_PREV) & (order_drop >= FEWER_ORDERS_SHARE),
                                 order_drop / FEWER_ORDERS_SHARE, np.nan),
        # Weighted by the evidence: one refunded order out of one is a weaker signal than three out of three.
        "refunds": np.where((share >= REFUND_SHARE - 1e-9) & (share > 0),
                            np.fmin(share / REFUND_SHARE, np.where(refunded >= 1, refunded, np.nan)), np.nan),
        "complaints": np.where(complaints >= 1, complaints, np.nan),
        "long_inactive": np.where(
            (inactive >= LONG_INACTIVE_FACTOR) & (recency > LONG_INACTIVE_MIN_DAYS),
            inactive / LONG_INACTIVE_FACTOR, np.nan,
        ),
    }
    # long_inactive repeats the days that long_gap and one_and_done already give; no_recent_purchase is the plain
    # fallback when none of the three speaks of the silence.
    said = ~np.isnan(strengths["long_gap"]) | ~np.isnan(strengths["one_and_done"])
    strengths["long_inactive"] = np.where(said, np.nan, strengths["long_inactive"])
    said |= ~np.isnan(strengths["long_inactive"])
    strengths["no_recent_purchase"] = np.where(~said & (recency > NO_RECENT_PURCHASE_DAYS),
                                               recency / NO_RECENT_PURCHASE_DAYS, np.nan)

    # code → the reason dict of row i, built only for the reasons kept.
    build: dict[str, Callable[[int], Reason]] = {
        "long_gap": lambda i: {"code": "long_gap", "days": _int(recency[i]), "ratio": _ratio(ratio[i]),
                               "usual_gap_days": _ratio(gap[i])},
        "one_and_done": lambda i: {"code": "one_and_done", "days": _int(recency[i])},
        "spend_drop": lambda i: {"code": "spend_drop", "drop_pct": _int(100 * drop[i]), "window_days": WINDOW_DAYS,
                                 "spend_cents": _int(spend[i]), "prev_spend_cents": _int(prev_spend[i])},
        "fewer_orders": lambda i: {"code": "fewer_orders", "orders": _int(orders[i]),
                                   "prev_orders": _int(prev_orders[i]), "window_days": WINDOW_DAYS},
        "refunds": lambda i: _refund_reason(share[i], refunded[i], paid[i]),
        "complaints": lambda i: {"code": "complaints", "count": _int(complaints[i]), "window_days": WINDOW_DAYS},
        "long_inactive": lambda i: {"code": "long_inactive", "days": _int(recency[i]), "ratio": _ratio(inactive[i]),
                                    "typical_days": _int(typical)},
        "no_recent_purchase": lambda i: {"code": "no_recent_purchase", "days": _int(recency[i])},
    }

    matrix = np.column_stack([strengths[code] for code in REASON_CODES])  # rows × codes
    fired = ~np.isnan(matrix)
    # Sort by strength descending, ties by code order: a stable sort of −strength with NaN (not fired) last.
    order = np.argsort(np.where(fired, -matrix, np.inf), axis=1, kind="stable")
    counts = np.minimum(fired.sum(axis=1), max_reasons)
    result: list[list[Reason]] = []
    for i in range(n):
        result.append([build[REASON_CODES[j]](i) for j in order[i, : counts[i]]])
    return result


def _refund_reason(share: float, refunded: float, paid: float) -> Reason:
    reason: Reason = {"code": "refunds", "share_pct": _int(100 * share)}
    if refunded == refunded and paid == paid and paid > 0:
        reason["refunded"] = _int(refunded)
        reason["orders"] = _int(paid)
    return reason


# ------------------------------------------------------------------------------------------------ text


def _num(value: Any) -> str:
    """A number for people: integers without decimals, others with one (3.0 → "3", 2.46 → "2.5")."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    rounded = round(number, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _refunds_text(r: Mapping[str, Any], zh: bool) -> str:
    if "refunded" in r and "orders" in r:
        if zh:
            return f"{_num(r['orders'])} 笔订单中有 {_num(r['refunded'])} 笔退款（{_num(r['share_pct'])}%）"
        return f"refunded {_num(r['refunded'])} of their {_num(r['orders'])} orders ({_num(r['share_pct'])}%)"
    if zh:
        return f"{_num(r['share_pct'])}% 的订单有退款"
    return f"refunds on {_num(r['share_pct'])}% of their orders"


_TEXTS: dict[str, tuple[Callable[[Mapping[str, Any]], str], Callable[[Mapping[str, Any]], str]]] = {
    # code → (Chinese, English)
    "long_gap": (
        lambda r: f"已 {_num(r['days'])} 天未购买，是其平时购买间隔的 {_num(r['ratio'])} 倍",
        lambda r: f"no purchase for {_num(r['days'])} days, {_num(r['ratio'])}× their usual gap",
    ),
    "one_and_done": (
        lambda r: f"只购买过 1 次，距今已 {_num(r['days'])} 天",
        lambda r: f"only one purchase, {_num(r['days'])} days ago",
    ),
    "spend_drop": (
        lambda r: f"近 {_num(r['window_days'])} 天消费比之前 {_num(r['window_days'])} 天减少 {_num(r['drop_pct'])}%",
        lambda r: f"spent {_num(r['drop_pct'])}% less in the last {_num(r['window_days'])} days than in the "
                  f"{_num(r['window_days'])} days before",
    ),
    "fewer_orders": (
        lambda r: f"近 {_num(r['window_days'])} 天下单 {_num(r['orders'])} 次，之前 {_num(r['window_days'])} 天为 "
                  f"{_num(r['prev_orders'])} 次",
        lambda r: f"{_num(r['orders'])} orders in the last {_num(r['window_days'])} days, down from "
                  f"{_num(r['prev_orders'])} in the {_num(r['window_days'])} days before",
    ),
    "refunds": (lambda r: _refunds_text(r, True), lambda r: _refunds_text(r, False)),
    "complaints": (
        lambda r: f"近 {_num(r['window_days'])} 天投诉 {_num(r['count'])} 次",
        lambda r: f"{_num(r['count'])} complaint{'' if float(r['count']) == 1 else 's'} in the last "
                  f"{_num(r['window_days'])} days",
    ),
    "no_recent_purchase": (
        lambda r: f"已 {_num(r['days'])} 天未购买",
        lambda r: f"no purchase for {_num(r['days'])} days",
    ),
    "long_inactive": (
        lambda r: f"已 {_num(r['days'])} 天未购买，是一般客户（{_num(r['typical_days'])} 天）的 {_num(r['ratio'])} 倍",
        lambda r: f"no purchase for {_num(r['days'])} days, {_num(r['ratio'])}× a typical customer's "
                  f"{_num(r['typical_days'])} days",
    ),
}


def reason_text(reason: Mapping[str, Any], language: Literal["zh", "en"] = "zh") -> str:
    """One reason of :func:`churn_reasons` in words.

    Pure and total: an unknown code, or a known code with missing or non-numeric numbers, gives a generic text
    that names the code (e.g. ``"other reason: foo"`` / ``"其他原因：foo"``); any ``language`` other than ``"zh"``
    is rendered in English.

    Examples
    --------
    >>> reason_text({"code": "long_gap", "days": 210, "ratio": 3.0, "usual_gap_days": 70}, "en")
    'no purchase for 210 days, 3× their usual gap'
    >>> reason_text({"code": "long_gap", "days": 210, "ratio": 3.0, "usual_gap_days": 70}, "zh")
    '已 210 天未购买，是其平时购买间隔的 3 倍'
    """
    zh = language == "zh"
    code = str(reason.get("code", "")) if isinstance(reason, Mapping) else ""
    texts = _TEXTS.get(code)
    if texts is not None:
        try:
            return texts[0 if zh else 1](reason)
        except (KeyError, TypeError, ValueError, OverflowError):
            pass
    return f"其他原因：{code or '未知'}" if zh else f"other reason: {code or 'unknown'}"
