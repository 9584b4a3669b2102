"""Campaigns (营销活动 / 挽回): a target at a snapshot minus customers without marketing consent, a deterministic
holdout, an offer (coupon codes or call-back tasks), a contact list, and the measured uplift with 95% intervals."""

from kehu.campaigns.demo import seed_demo_campaign
from kehu.campaigns.export import contact_rows, to_bytes
from kehu.campaigns.holdout import ARMS, HOLDOUT, TREATMENT, arm, draw
from kehu.campaigns.results import ArmResult, CampaignResult, campaign_result
from kehu.campaigns.service import (
    OFFERS,
    CampaignSpec,
    arm_sizes,
    get_campaign,
    is_finished,
    launch_campaign,
    list_campaigns,
    winback_spec,
    window,
)
from kehu.campaigns.stats import Interval, newcombe_difference, wald_difference, welch_difference, wilson
from kehu.campaigns.targets import KINDS, Target, describe, find_snapshot, target_members

__all__ = [
    "ARMS",
    "HOLDOUT",
    "KINDS",
    "OFFERS",
    "TREATMENT",
    "ArmResult",
    "CampaignResult",
    "CampaignSpec",
    "Interval",
    "Target",
    "arm",
    "arm_sizes",
    "campaign_result",
    "contact_rows",
    "describe",
    "draw",
    "find_snapshot",
    "get_campaign",
    "is_finished",
    "launch_campaign",
    "list_campaigns",
    "newcombe_difference",
    "seed_demo_campaign",
    "target_members",
    "to_bytes",
    "wald_difference",
    "welch_difference",
    "wilson",
    "window",
    "winback_spec",
]
