"""Lifecycle stage (生命周期), DESIGN.md's rules in order; the first that holds wins.

s = days since the last order at the as-of date, g = median gap in days between consecutive orders.
1. prospect: no order. 2. churned: s > 365. 3. won back: s ≤ 90 and the gap before the latest order ≥ 365.
4. new: exactly one order and s ≤ 90. 5. at risk: two or more orders and s > max(2·g, 60), or one order and
s > 180. 6. active: everything else. Every number is a setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from kehu.config import Settings


@dataclass(frozen=True)
class LifecycleRules:
    """The thresholds of the lifecycle rules, in days (``gap_factor`` is a multiplier of the median gap)."""

    churned_days: int = 365
    winback_recent_days: int = 90
    winback_gap_days: int = 365
    new_days: int = 90
    gap_factor: float = 2.0
    at_risk_min_days: int = 60
    single_at_risk_days: int = 180

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleRules:
        """The rules as configured (``KEHU_LIFECYCLE_*``)."""
        return cls(
            churned_days=settings.lifecycle_churned_days,
            winback_recent_days=settings.lifecycle_winback_recent_days,
            winback_gap_days=settings.lifecycle_winback_gap_days,
            new_days=settings.lifecycle_new_days,
            gap_factor=settings.lifecycle_at_risk_gap_factor,
            at_risk_min_days=settings.lifecycle_at_risk_min_days,
            single_at_risk_days=settings.lifecycle_single_at_risk_days,
        )


def lifecycle_stage(features: ir.Table, rules: LifecycleRules | None = None) -> ir.StringValue:
    """The stage code of each row of ``features`` (needs ``frequency``, ``recency_days``, ``median_gap_days``,
    ``last_gap_days``); ``rules`` default to DESIGN.md's numbers."""
    rules = rules or LifecycleRules()
    s = features.recency_days
    n = features.frequency
    gap = features.median_gap_days
    threshold = ibis.greatest(gap * rules.gap_factor, ibis.literal(float(rules.at_risk_min_days)))
    return ibis.cases(
        (n == 0, "prospect"),
        (s > rules.churned_days, "churned"),
        ((s <= rules.winback_recent_days) & (features.last_gap_days >= rules.winback_gap_days), "won_back"),
        ((n == 1) & (s <= rules.new_days), "new"),
        (((n >= 2) & (s.cast("float64") > threshold)) | ((n == 1) & (s > rules.single_at_risk_days)), "at_risk"),
        else_="active",
    )
