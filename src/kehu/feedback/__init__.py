"""Customer feedback (客户反馈): complaints and reviews with a category by editable keyword rules, a sentiment
score and keywords (Chinese and English, offline), status, owner and a first-response SLA.

Entry points: :func:`add_feedback` (one item), :func:`import_feedback` (a CSV/XLSX file), :func:`complaints_90d`
(negative feedback per customer for the churn reasons), :func:`feedback_stats` (the dashboard),
:func:`load_demo_feedback` (demo data).
"""

from kehu.feedback.categories import CATEGORIES, CATEGORY_NAMES, DEFAULT_RULES, Rule, categorise, category_name
from kehu.feedback.demo import load_demo_feedback
from kehu.feedback.importer import FeedbackImportReport, import_feedback
from kehu.feedback.privacy import erase_customer_feedback, export_customer_feedback
from kehu.feedback.rules import add_rule, delete_rule, ensure_default_rules, load_rules, recategorise, reset_rules
from kehu.feedback.service import (
    CHANNELS,
    KINDS,
    STATUSES,
    TEXT_FIELD,
    Analysis,
    FeedbackFilter,
    add_feedback,
    analyse,
    complaints_90d,
    get_feedback,
    is_negative,
    list_feedback,
    local_now,
    sentiment_label,
    sla_state,
    text_decrypter,
    update_feedback,
)
from kehu.feedback.stats import FeedbackStats, feedback_stats
from kehu.feedback.text import detect_language, keywords, sentiment

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "CHANNELS",
    "DEFAULT_RULES",
    "KINDS",
    "STATUSES",
    "TEXT_FIELD",
    "Analysis",
    "FeedbackFilter",
    "FeedbackImportReport",
    "FeedbackStats",
    "Rule",
    "add_feedback",
    "add_rule",
    "analyse",
    "categorise",
    "category_name",
    "complaints_90d",
    "delete_rule",
    "detect_language",
    "ensure_default_rules",
    "erase_customer_feedback",
    "export_customer_feedback",
    "feedback_stats",
    "get_feedback",
    "import_feedback",
    "is_negative",
    "keywords",
    "list_feedback",
    "load_demo_feedback",
    "load_rules",
    "local_now",
    "recategorise",
    "reset_rules",
    "sentiment",
    "sentiment_label",
    "sla_state",
    "text_decrypter",
    "update_feedback",
]
