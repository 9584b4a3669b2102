"""Analytics: per-customer features, RFM scores and classes, score-grid groups, lifecycle stages, snapshots."""

from kehu.analytics.classify import ClassifyReport, classification_table, classify
from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS, label
from kehu.analytics.lifecycle import LifecycleRules, lifecycle_stage
from kehu.analytics.rfm import population_stats, rfm_table

__all__ = [
    "LIFECYCLE_STAGES",
    "RFM_CLASSES",
    "RFM_GROUPS",
    "ClassifyReport",
    "LifecycleRules",
    "classification_table",
    "classify",
    "label",
    "lifecycle_stage",
    "population_stats",
    "rfm_table",
]
