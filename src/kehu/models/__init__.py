"""Predictive models: CLV (BG/NBD, Gamma-Gamma), churn, clusters, recommendations.

Pure maths on arrays and frames; reading the store and writing snapshots is :mod:`kehu.analytics.predict`'s job.
"""

from kehu.models.beta_geo import BetaGeoModel
from kehu.models.churn import ChurnModel, churn_features, churn_labels
from kehu.models.clusters import ClusterResult, fit_clusters
from kehu.models.clv import customer_lifetime_value
from kehu.models.gamma_gamma import GammaGammaModel
from kehu.models.reasons import churn_reasons, reason_text
from kehu.models.recommend import ItemItemRecommender, hit_rate_at_k
from kehu.models.summary import summary_from_transactions
from kehu.models.validation import HoldoutReport, holdout_report

__all__ = [
    "BetaGeoModel",
    "ChurnModel",
    "ClusterResult",
    "GammaGammaModel",
    "HoldoutReport",
    "ItemItemRecommender",
    "churn_features",
    "churn_labels",
    "churn_reasons",
    "customer_lifetime_value",
    "fit_clusters",
    "hit_rate_at_k",
    "holdout_report",
    "reason_text",
    "summary_from_transactions",
]
