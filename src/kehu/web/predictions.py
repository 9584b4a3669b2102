"""What the pages show of a snapshot's predictions: one customer's predictions, cluster names and the model
report (``ClassificationSnapshot.models``).

Everything here reads untrusted shapes defensively: the model report may be NULL, any part of it may be missing
or be ``{"error": "..."}``, and the JSON columns of a classification may be NULL or malformed. A part that cannot
be read is simply absent (``None`` or empty), so pages render without it instead of failing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kehu.models.reasons import reason_text
from kehu.store import Classification

#: At most this many recommended products on a profile.
MAX_RECOMMENDATIONS = 10
#: At most this many churn reasons on a profile.
MAX_REASONS = 3


#: CLV tiers from the most valuable down (kehu.analytics.predict.clv_tiers).
CLV_TIERS: tuple[str, ...] = ("high", "medium", "low")


def tier_label(tier: str | None, t: Callable[..., str]) -> str:
    """A CLV tier's name through the translator ``t`` (``tier_high`` …); an unknown tier as given."""
    if tier in CLV_TIERS:
        return t(f"tier_{tier}")
    return tier or ""


def part(models: Any, name: str) -> dict[str, Any]:
    """``models[name]`` when it is a dict (possibly ``{"error": ...}``), else ``{}``."""
    if not isinstance(models, Mapping):
        return {}
    return part_of(models.get(name))


def part_of(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else ``{}``."""
    return dict(value) if isinstance(value, Mapping) else {}


def number(value: Any) -> float | None:
    """``value`` as a finite float, ``None`` for anything else (booleans, strings, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def json_list(text: str | None) -> list[Any]:
    """A JSON column holding a list: its items, or ``[]`` when NULL, malformed or not a list."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []


def product_ids(text: str | None, limit: int = MAX_RECOMMENDATIONS) -> list[int]:
    """The product ids of a ``recommendations`` column, best first (non-integers skipped)."""
    ids = [item for item in json_list(text) if isinstance(item, int) and not isinstance(item, bool)]
    return ids[:limit]


def reason_texts(text: str | None, lang: str) -> list[str]:
    """The churn reasons of a ``churn_reasons`` column in words (:func:`kehu.models.reasons.reason_text`)."""
    language: Literal["zh", "en"] = "zh" if lang == "zh" else "en"
    return [reason_text(r, language) for r in json_list(text)[:MAX_REASONS] if isinstance(r, Mapping)]


def cluster_names(models: Any, lang: str) -> dict[int, str]:
    """Cluster number → its name in ``lang`` from the model report (empty without clusters)."""
    names: dict[int, str] = {}
    entries = part(models, "clusters").get("clusters")
    if not isinstance(entries, list):
        return names
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        cid = entry.get("id")
        name = entry.get("name_zh" if lang == "zh" else "name_en") or entry.get("name_en") or entry.get("name_zh")
        if isinstance(cid, int) and not isinstance(cid, bool) and isinstance(name, str) and name:
            names[cid] = name
    return names


@dataclass(frozen=True)
class CustomerPredictions:
    """One customer's predictions as the profile shows them; ``None`` where not computed."""

    p_alive: float | None
    expected_purchases_90d: float | None
    expected_purchases_365d: float | None
    expected_aov_cents: int | None
    clv_365d_cents: int | None
    clv_tier: str | None
    churn_risk: float | None
    churn_by_model: bool
    reasons: list[str] = field(default_factory=list)
    cluster: int | None = None
    cluster_name: str | None = None
    products: list[tuple[int, str]] = field(default_factory=list)

    @property
    def one_minus_p_alive(self) -> float | None:
        """1 − P(alive): the BG/NBD's view of churn, shown beside the churn model's risk."""
        return None if self.p_alive is None else 1.0 - self.p_alive

    @property
    def any(self) -> bool:
        """Whether there is anything to show."""
        return any(
            value is not None
            for value in (
                self.p_alive,
                self.expected_purchases_90d,
                self.expected_purchases_365d,
                self.expected_aov_cents,
                self.clv_365d_cents,
                self.churn_risk,
                self.cluster,
            )
        ) or bool(self.products)


def customer_predictions(
    k: Classification, models: Any, products: list[tuple[int, str]], lang: str
) -> CustomerPredictions:
    """The predictions of classification ``k`` with reasons and cluster name in ``lang``; ``products`` are the
    recommended products' (id, name) (:func:`kehu.web.queries_models.product_names`)."""
    cluster = k.cluster
    churn = part(models, "churn")
    return CustomerPredictions(
        p_alive=number(k.p_alive),
        expected_purchases_90d=number(k.expected_purchases_90d),
        expected_purchases_365d=number(k.expected_purchases_365d),
        expected_aov_cents=k.expected_aov_cents,
        clv_365d_cents=k.clv_365d_cents,
        clv_tier=k.clv_tier,
        churn_risk=number(k.churn_risk),
        churn_by_model=churn.get("risk") == "gradient boosting",
        reasons=reason_texts(k.churn_reasons, lang),
        cluster=cluster,
        cluster_name=cluster_names(models, lang).get(cluster) if cluster is not None else None,
        products=products,
    )


@dataclass(frozen=True)
class ModelQuality:
    """The model report's headline numbers; ``*_error`` says why a model was not fitted."""

    bg_nbd: dict[str, float] = field(default_factory=dict)
    bg_nbd_customers: int | None = None
    bg_nbd_error: str | None = None
    churn_auc: float | None = None
    baseline_auc: float | None = None
    no_purchase_auc: float | None = None
    baseline_error: str | None = None
    churn_risk_source: str | None = None
    churn_error: str | None = None
    hit_rate: float | None = None
    popularity_hit_rate: float | None = None
    hit_rate_k: int | None = None
    recommendations_error: str | None = None
    clv_total_cents: int | None = None
    clusters_k: int | None = None
    silhouette: float | None = None
    clusters_error: str | None = None

    @property
    def any(self) -> bool:
        """Whether the report has anything to show."""
        return any(value not in (None, {}) for value in self.__dict__.values())


def _error(section: dict[str, Any]) -> str | None:
    error = section.get("error")
    return str(error) if error else None


def model_quality(models: Any) -> ModelQuality:
    """The headline numbers of a snapshot's model report (all ``None`` when the report is NULL)."""
    bg = part(models, "bg_nbd")
    params = part_of(bg.get("params"))
    bg_params = {name: v for name in ("r", "alpha", "a", "b") if (v := number(params.get(name))) is not None}
    churn = part(models, "churn")
    recs = part(models, "recommendations")
    hits = part_of(recs.get("hit_rate"))
    customers = number(bg.get("customers"))
    k = number(hits.get("k"))
    clv_total = number(part(models, "clv").get("total_cents"))
    clusters = part(models, "clusters")
    clusters_k = number(clusters.get("k"))
    risk = churn.get("risk")
    return ModelQuality(
        bg_nbd=bg_params,
        bg_nbd_customers=None if customers is None else int(customers),
        bg_nbd_error=_error(bg),
        churn_auc=number(churn.get("auc")),
        baseline_auc=number(churn.get("baseline_auc")),
        no_purchase_auc=number(churn.get("bgnbd_no_purchase_auc")),
        baseline_error=str(churn["baseline_error"]) if churn.get("baseline_error") else None,
        churn_risk_source=risk if isinstance(risk, str) else None,
        churn_error=_error(churn),
        hit_rate=number(hits.get("model")),
        popularity_hit_rate=number(hits.get("popularity")),
        hit_rate_k=None if k is None else int(k),
        recommendations_error=_error(recs) or _error(hits),
        clv_total_cents=None if clv_total is None else int(clv_total),
        clusters_k=None if clusters_k is None else int(clusters_k),
        silhouette=number(clusters.get("silhouette")),
        clusters_error=_error(clusters),
    )
