"""Predictions for the web fixture store (tests/web/factories.py): fills the prediction columns of the current
snapshot, its model report, and a few products — the shapes ``kehu classify`` writes.

Buyer ``i`` (external id ``C{i:04d}``, 59 buyers, C0059 is the prospect):

* CLV ``(59 - i) × ¥100``, tier ``high`` for i < 12, ``medium`` for i < 30, else ``low`` (12 / 18 / 29);
* churn risk ``0.1 + 0.25 × (i % 4)`` (bands 0–25 … 75–100 %: 15 / 15 / 15 / 14), P(alive) ``0.8 − 0.2 × (i % 4)``;
* cluster ``i % 3`` (20 / 20 / 19), clusters 0 and 1 named, cluster 2 without a name;
* the VIP (C0000) has two churn reasons and recommendations of products 2, 1, an unknown id and 3 (no name);
  the prospect has recommendations only.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from kehu.config import Settings
from kehu.store import Classification, ClassificationSnapshot, Customer, Product, session_scope

BUYERS = 59
TIER_COUNTS = {"high": 12, "medium": 18, "low": 29}
BAND_COUNTS = [15, 15, 15, 14]
CLUSTER_COUNTS = {0: 20, 1: 20, 2: 19}
VIP_REASONS = [
    {"code": "long_gap", "days": 210, "ratio": 3.0, "usual_gap_days": 70.0},
    {"code": "one_and_done", "days": 120},
]
PRODUCTS = [("SKU-A", "保温杯 Thermos"), ("SKU-B", "茶叶礼盒 Tea gift box"), ("SKU-C", None)]
CLUSTER_NAMES = {0: ("高频高消费", "frequent high spenders"), 1: ("新客户群", "newcomers")}

MODELS: dict[str, Any] = {
    "time_unit": "days",
    "bg_nbd": {
        "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
        "standard_errors": {"r": 0.01, "alpha": 0.2, "a": 0.1, "b": 0.3},
        "log_likelihood": -9582.4,
        "customers": 59,
    },
    "gamma_gamma": {"params": {"p": 6.25, "q": 3.74, "v": 15.44}, "mean_spend_yuan": 35.1},
    "clv": {"horizon_months": 12, "monthly_discount_rate": 0.01, "total_cents": 17_700_000},
    "churn": {
        "auc": 0.8123,
        "baseline_auc": 0.7004,
        "bgnbd_no_purchase_auc": 0.7531,
        "horizon_days": 90,
        "train_rows": 40,
        "test_rows": 50,
        "churn_rate": 0.4,
        "risk": "gradient boosting",
        "at_risk": 29,
    },
    "clusters": {
        "k": 3,
        "silhouette": 0.41,
        "clusters": [
            {"id": 0, "size": 20, "share": 0.34, "name_zh": "高频高消费", "name_en": "frequent high spenders"},
            {"id": 1, "size": 20, "share": 0.34, "name_zh": "新客户群", "name_en": "newcomers"},
            {"id": 2, "size": 19, "share": 0.32},
        ],
    },
    "recommendations": {"products": 3, "hit_rate": {"model": 0.23, "popularity": 0.11, "customers": 40, "k": 10}},
    "seconds": {"clv": 0.1},
}


def tier(i: int) -> str:
    return "high" if i < 12 else "medium" if i < 30 else "low"


def add_predictions(settings: Settings, snapshot_id: int, models: dict[str, Any] | None = None) -> list[int]:
    """Fill the predictions of ``snapshot_id`` (see the module docstring) and set its model report (default
    :data:`MODELS`); returns the product ids in :data:`PRODUCTS` order."""
    with session_scope(settings.store_url) as session:
        products = [Product(sku=sku, name=name, category="家居") for sku, name in PRODUCTS]
        session.add_all(products)
        session.flush()
        ids = [p.id for p in products]
        session.get(ClassificationSnapshot, snapshot_id).models = MODELS if models is None else models
        stmt = (
            select(Classification, Customer.external_id)
            .join(Customer, Customer.id == Classification.customer_id)
            .where(Classification.snapshot_id == snapshot_id)
        )
        for k, external_id in session.execute(stmt):
            i = int(external_id[1:])
            if i >= BUYERS:  # the prospect: recommendations only
                k.recommendations = json.dumps([ids[0]])
                continue
            k.p_alive = 0.8 - 0.2 * (i % 4)
            k.expected_purchases_90d = 0.5 + i / 100
            k.expected_purchases_365d = 2 + i / 50
            k.expected_aov_cents = 12_345
            k.clv_365d_cents = (BUYERS - i) * 10_000
            k.clv_tier = tier(i)
            k.churn_risk = 0.1 + 0.25 * (i % 4)
            k.cluster = i % 3
            if i == 0:
                k.churn_reasons = json.dumps(VIP_REASONS, ensure_ascii=False)
                k.recommendations = json.dumps([ids[1], ids[0], 987_654, ids[2]])
    return ids
