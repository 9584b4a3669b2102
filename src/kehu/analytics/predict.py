"""The predictive columns of a classification snapshot, from the models of :mod:`kehu.models`.

For every buyer: P(alive) and the expected purchases in the next 90 and 365 days (BG/NBD), the expected spend per
purchase (Gamma-Gamma), the 12-month customer lifetime value and its tier, the churn risk of the supervised model
(or 1 − P(alive) when there is too little history to train it) with up to three reasons, the behaviour cluster and
up to ten product recommendations. Prospects (no purchase yet) get recommendations only.

Time is measured in days throughout: x = purchase days − 1 (same-day orders merged), t_x = last − first purchase
day, T = as-of date − first purchase day. Money goes into the models in yuan (cents / 100) and comes back in cents.

A model that cannot be fitted on the data at hand (too few buyers, too short a history, no repeat purchases) leaves
its columns empty and says why in the snapshot's model report; it never fails the classification.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import roc_auc_score

from kehu.config import Settings
from kehu.errors import InvalidInput, KehuError
from kehu.models.beta_geo import BetaGeoModel
from kehu.models.churn import ChurnModel, churn_features, churn_labels
from kehu.models.clusters import fit_clusters
from kehu.models.clv import customer_lifetime_value
from kehu.models.gamma_gamma import GammaGammaModel
from kehu.models.reasons import churn_reasons, population_medians
from kehu.models.recommend import ItemItemRecommender, hit_rate_at_k

#: Arrow types of the prediction columns of the ``classifications`` table.
PREDICTION_SCHEMA = pa.schema([
    ("p_alive", pa.float64()), ("expected_purchases_90d", pa.float64()), ("expected_purchases_365d", pa.float64()),
    ("expected_aov_cents", pa.int64()), ("clv_365d_cents", pa.int64()), ("clv_tier", pa.string()),
    ("churn_risk", pa.float64()), ("churn_reasons", pa.string()), ("cluster", pa.int16()),
    ("recommendations", pa.string()),
])
#: The columns of the classification table the models read (beyond the snapshot's own).
MODEL_INPUT_COLUMNS = ("purchase_days", "first_day_cents")
RECOMMENDATIONS = 10
#: Fewer buyers than this give BG/NBD estimates too uncertain to score anyone with (parameters run off).
MIN_BUYERS = 50
CLUSTER_FEATURES = ("recency_days", "frequency", "monetary_cents", "aov_cents", "tenure_days", "median_gap_days")
_EPOCH = date(1970, 1, 1)

StepFn = Callable[[str], None]


def _days(column: pa.ChunkedArray) -> np.ndarray:
    """A date32 column as days since 1970-01-01 (float, NaN for NULL)."""
    return np.asarray(column.cast(pa.int32()).to_numpy(zero_copy_only=False), dtype="float64")


def clv_tiers(clv: np.ndarray, *, high_share: float, medium_share: float) -> np.ndarray:
    """``high`` for the top ``high_share`` of the values, ``medium`` for the next ``medium_share``, else ``low``.

    NaN values (prospects) get ``None``. Ties at a boundary go to the higher tier.
    """
    tiers = np.full(len(clv), None, dtype=object)
    known = ~np.isnan(clv)
    if not known.any():
        return tiers
    values = clv[known]
    high_cut = np.quantile(values, 1 - high_share)
    medium_cut = np.quantile(values, max(0.0, 1 - high_share - medium_share))
    tiers[known] = np.where(values >= high_cut, "high", np.where(values >= medium_cut, "medium", "low"))
    return tiers


def predict(table: pa.Table, orders: pa.Table | None, customers: pa.Table | None, lines: pa.Table | None, *,
            as_of: date, settings: Settings, step: StepFn | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """The prediction columns (:data:`PREDICTION_SCHEMA`) aligned with the rows of ``table``, and the model report.

    Parameters
    ----------
    table
        The classification rows (:func:`kehu.analytics.classify.classification_table`), with
        :data:`MODEL_INPUT_COLUMNS`.
    orders, customers
        The paid orders up to ``as_of`` and the customer ids, as read for classification; ``None`` when the orders
        stay in the engine (Spark reading ``KEHU_SPARK_ORDERS``). BG/NBD and Gamma-Gamma need only ``table``'s
        per-customer triples; without the orders the churn risk is 1 − P(alive) (no reasons) and the clusters are
        fitted on ``table``'s own features.
    lines
        Purchased products: ``customer_id``, ``product_id``, ``ordered_at``; ``None`` or empty when the store has
        no order lines (no recommendations then).
    """
    report: dict[str, Any] = {"time_unit": "days", "seconds": {}}
    n = table.num_rows
    out: dict[str, Any] = {name: np.full(n, np.nan) for name in ("p_alive", "expected_purchases_90d",
                                                                 "expected_purchases_365d", "churn_risk")}
    out["expected_aov_cents"] = np.full(n, np.nan)
    out["clv_365d_cents"] = np.full(n, np.nan)
    out["clv_tier"] = np.full(n, None, dtype=object)
    out["churn_reasons"] = np.full(n, None, dtype=object)
    out["cluster"] = np.full(n, -1, dtype=np.int64)
    out["recommendations"] = np.full(n, None, dtype=object)

    purchase_days = table.column("purchase_days").to_numpy(zero_copy_only=False).astype("int64")
    buyers = purchase_days > 0
    first = _days(table.column("first_order_date"))[buyers]
    last = _days(table.column("last_order_date"))[buyers]
    as_of_days = float((as_of - _EPOCH).days)
    x = (purchase_days[buyers] - 1).astype("float64")
    t_x = last - first
    age = as_of_days - first

    def timed(name: str) -> Callable[[], None]:
        if step:
            step(name)
        started = time.perf_counter()
        return lambda: report["seconds"].__setitem__(name, round(time.perf_counter() - started, 3))

    done = timed("clv")
    bg = _fit_bgnbd(x, t_x, age, report)
    if bg is not None:
        out["p_alive"][buyers] = bg.probability_alive(x, t_x, age)
        out["expected_purchases_90d"][buyers] = bg.expected_purchases(90, x, t_x, age)
        out["expected_purchases_365d"][buyers] = bg.expected_purchases(365, x, t_x, age)
        monetary = table.column("monetary_cents").to_numpy(zero_copy_only=False)[buyers].astype("float64")
        first_day = table.column("first_day_cents").to_numpy(zero_copy_only=False)[buyers].astype("float64")
        repeat_spend = np.where(x > 0, (monetary - first_day) / np.maximum(x, 1) / 100.0, 0.0)
        gg = _fit_gamma_gamma(x, repeat_spend, report)
        if gg is not None:
            # Repeat buyers whose repeat days were free (zero spend) are given the population's mean spend.
            spend_m = np.where((x > 0) & (repeat_spend > 0), repeat_spend, gg.mean_spend_)
            out["expected_aov_cents"][buyers] = np.round(gg.expected_spend(x, spend_m) * 100)
            clv = customer_lifetime_value(bg, gg, x, t_x, age, spend_m, horizon_months=12,
                                          monthly_discount_rate=settings.clv_monthly_discount_rate)
            out["clv_365d_cents"][buyers] = np.round(clv * 100)
            out["clv_tier"] = clv_tiers(out["clv_365d_cents"], high_share=settings.clv_high_share,
                                        medium_share=settings.clv_medium_share)
            report["clv"] = {"horizon_months": 12, "monthly_discount_rate": settings.clv_monthly_discount_rate,
                             "total_cents": int(np.nansum(out["clv_365d_cents"]))}
    done()

    customer_ids = table.column("customer_id").to_numpy(zero_copy_only=False).astype("int64")
    if orders is None or customers is None:
        done = timed("clusters")
        out["churn_risk"][buyers] = 1.0 - out["p_alive"][buyers]
        report["churn"] = {"error": "the orders stay in the engine, so no churn model is trained; the risk is "
                                    "1 − P(alive)", "risk": "1 - p_alive"}
        frame = pd.DataFrame({name: table.column(name).to_numpy(zero_copy_only=False).astype("float64")
                              for name in CLUSTER_FEATURES if name in table.column_names}, index=customer_ids)
        frame["tenure_days"] = as_of_days - _days(table.column("first_order_date"))
        _cluster(frame[frame["frequency"] > 0].reindex(columns=list(CLUSTER_FEATURES)), out, report,
                 pd.Series(np.arange(n), index=customer_ids))
        done()
        report["recommendations"] = {"error": "the order lines stay in the engine"}
        return _columns(out), json_ready(report)
    done = timed("churn")
    features = churn_features(orders, customers, as_of=as_of, horizon_days=settings.churn_horizon_days)
    # Negative feedback of the last 90 days: a reason in words (not a model feature: past splits have no
    # complaints history to learn from when feedback was recorded only recently). Imported here: kehu.feedback
    # reads files through kehu.ingest, which imports kehu.analytics.
    from kehu.feedback import complaints_90d

    complaints = complaints_90d(settings, as_of)
    features["complaints_90d"] = features.index.map(lambda c: complaints.get(int(c), 0)).astype("int64")
    risk = _churn_risk(orders, customers, features, as_of, settings, report)
    position = pd.Series(np.arange(n), index=customer_ids)
    if risk is not None:
        out["churn_risk"][position.loc[features.index].to_numpy()] = risk
    elif bg is not None:
        out["churn_risk"][buyers] = 1.0 - out["p_alive"][buyers]
    # A warning is for customers who can still be kept: the churned (by the lifecycle rules) have already gone.
    stage = np.asarray(table.column("lifecycle_stage").to_pylist(), dtype=object)
    at_risk = (out["churn_risk"] >= settings.churn_risk_threshold) & (stage != "churned")
    if at_risk.any():
        risky = features.loc[features.index.isin(customer_ids[at_risk])]
        reasons = churn_reasons(risky, population=population_medians(features))
        rows = position.loc[risky.index].to_numpy()
        out["churn_reasons"][rows] = [json.dumps(r, ensure_ascii=False) if r else None for r in reasons]
    report["churn"]["at_risk"] = int(at_risk.sum())
    done()

    done = timed("clusters")
    _cluster(features.reindex(columns=list(CLUSTER_FEATURES)), out, report, position)
    done()

    done = timed("recommendations")
    out["recommendations"] = _recommend(lines, table, customer_ids, as_of, settings, report)
    done()
    return _columns(out), json_ready(report)


def _cluster(frame: pd.DataFrame, out: dict[str, Any], report: dict[str, Any], position: pd.Series) -> None:
    """Behaviour clusters of the customers in ``frame`` (indexed by customer id) into ``out["cluster"]``."""
    try:
        result = fit_clusters(frame)
    except KehuError as e:
        report["clusters"] = {"error": str(e)}
    else:
        out["cluster"][position.loc[frame.index].to_numpy()] = result.labels
        report["clusters"] = result.to_json()


def _columns(out: dict[str, Any]) -> pa.Table:
    """The prediction columns as an Arrow table of :data:`PREDICTION_SCHEMA`."""
    columns = {
        "p_alive": pa.array(out["p_alive"], pa.float64(), from_pandas=True),
        "expected_purchases_90d": pa.array(out["expected_purchases_90d"], pa.float64(), from_pandas=True),
        "expected_purchases_365d": pa.array(out["expected_purchases_365d"], pa.float64(), from_pandas=True),
        "expected_aov_cents": _int_or_null(out["expected_aov_cents"]),
        "clv_365d_cents": _int_or_null(out["clv_365d_cents"]),
        "clv_tier": pa.array(out["clv_tier"], pa.string()),
        "churn_risk": pa.array(out["churn_risk"], pa.float64(), from_pandas=True),
        "churn_reasons": pa.array(out["churn_reasons"], pa.string()),
        "cluster": pa.array(out["cluster"], pa.int16(), mask=out["cluster"] < 0),
        "recommendations": pa.array(out["recommendations"], pa.string()),
    }
    return pa.table(columns, schema=PREDICTION_SCHEMA)


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, tuples as lists and NaN/inf as ``None`` (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _int_or_null(values: np.ndarray) -> pa.Array:
    mask = np.isnan(values)
    return pa.array(np.where(mask, 0, values).astype("int64"), pa.int64(), mask=mask)


def _fit_bgnbd(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, report: dict[str, Any]) -> BetaGeoModel | None:
    if len(x) < MIN_BUYERS:
        report["bg_nbd"] = {"error": f"too few buyers for BG/NBD: {len(x)}, at least {MIN_BUYERS} are needed"}
        return None
    if not (x > 0).any():
        report["bg_nbd"] = {"error": "no repeat purchases yet: BG/NBD needs customers who bought on two days or more"}
        return None
    try:
        bg = BetaGeoModel(time_unit="days").fit(x, t_x, age)
    except KehuError as e:
        report["bg_nbd"] = {"error": str(e)}
        return None
    report["bg_nbd"] = {"params": bg.params_, "standard_errors": bg.standard_errors_,
                        "log_likelihood": bg.log_likelihood_, "customers": int(len(x))}
    return bg


def _fit_gamma_gamma(x: np.ndarray, spend: np.ndarray, report: dict[str, Any]) -> GammaGammaModel | None:
    usable = (x > 0) & (spend > 0)
    try:
        gg = GammaGammaModel().fit(x[usable], spend[usable])
        mean = gg.mean_spend_
    except KehuError as e:
        report["gamma_gamma"] = {"error": str(e)}
        return None
    report["gamma_gamma"] = {"params": gg.params_, "standard_errors": gg.standard_errors_,
                             "log_likelihood": gg.log_likelihood_, "customers": int(usable.sum()),
                             "mean_spend_yuan": float(mean)}
    return gg


def _palive_baseline(frame: pd.DataFrame, at: date) -> np.ndarray:
    """1 − P(alive), the model-based churn view the supervised model is compared with (a column of the churn
    features). It is 0 for every one-time buyer (a BG/NBD customer can only drop out right after a repeat
    purchase), so where most buyers bought once it ranks the likeliest churners lowest; the report therefore also
    gives the AUC of BG/NBD's P(no purchase in the horizon), which has no such blind spot."""
    p_alive = frame["p_alive"].to_numpy(dtype="float64")
    if np.isnan(p_alive).any():
        raise InvalidInput(f"BG/NBD could not be fitted on the features at {at.isoformat()}, so there is no "
                           "1 − P(alive) baseline")
    return 1.0 - p_alive


def _churn_risk(orders: pa.Table, customers: pa.Table, features: pd.DataFrame, as_of: date, settings: Settings,
                report: dict[str, Any]) -> np.ndarray | None:
    horizon = settings.churn_horizon_days
    model = ChurnModel(horizon_days=horizon)
    seen: dict[str, Any] = {}

    def baseline(frame: pd.DataFrame, at: date) -> np.ndarray:
        seen.update(frame=frame, at=at)
        return _palive_baseline(frame, at)

    try:
        model.fit(orders, customers, as_of=as_of, baseline=baseline)
    except KehuError as e:
        report["churn"] = {"error": str(e), "risk": "1 - p_alive"}
        return None
    report["churn"] = {**model.report(), "risk": "gradient boosting", "baseline": "1 - p_alive"}
    if seen and seen["frame"]["p_no_purchase"].notna().all():
        frame, at = seen["frame"], seen["at"]
        labels = churn_labels(orders, frame.index.to_numpy(), start=at, end=at + timedelta(days=horizon))
        if labels.any() and not labels.all():
            score = frame["p_no_purchase"].to_numpy(dtype="float64")
            report["churn"]["bgnbd_no_purchase_auc"] = round(float(roc_auc_score(labels, score)), 6)
    if features.empty:
        return np.zeros(0)
    return np.asarray(model.predict_risk(features))


def _recommend(lines: pa.Table | None, table: pa.Table, customer_ids: np.ndarray, as_of: date, settings: Settings,
               report: dict[str, Any]) -> np.ndarray:
    empty = np.full(len(customer_ids), None, dtype=object)
    if lines is None or lines.num_rows == 0:
        report["recommendations"] = {"error": "no order lines with products in the store"}
        return empty
    segments = pd.Series(table.column("rfm_group").to_pylist(), index=customer_ids)
    buyer = lines.column("customer_id").to_numpy(zero_copy_only=False).astype("int64")
    product = lines.column("product_id").to_numpy(zero_copy_only=False).astype("int64")
    model = ItemItemRecommender(n=RECOMMENDATIONS).fit(buyer, product, segments=segments)
    recommended = model.recommend(customer_ids, segments=segments)
    evaluation: dict[str, Any]
    try:
        ordered_at = lines.column("ordered_at").to_numpy(zero_copy_only=False)
        split = as_of - timedelta(days=settings.churn_horizon_days)
        evaluation = hit_rate_at_k(buyer, product, ordered_at, split=split, k=RECOMMENDATIONS, segments=segments)
        evaluation["split"] = split.isoformat()
    except KehuError as e:
        evaluation = {"error": str(e)}
    report["recommendations"] = {"products": int(len(np.unique(product))), "hit_rate": evaluation}
    return np.array([json.dumps([int(p) for p in items]) if items else None for items in recommended], dtype=object)
