"""The demo's finished win-back campaign with a real, measurable effect.

:func:`seed_demo_campaign` runs after ``kehu demo`` has loaded and classified its data. It classifies the store once
more at a date 61 days before the newest snapshot (RFM and lifecycle only, a few seconds), launches the win-back
template there (churned and at-risk customers with marketing consent, 20% held out, a ¥30 coupon, ¥0.50 per
contact, 30 days), and then plays the campaign's effect: about 8% of the treated customers, chosen by a fixed hash,
buy once more in the window with the coupon's discount. Those orders are written in one transaction that also bumps
``store_meta.orders_revision``; the newest snapshot is then classified again so that it sees them. The holdout's
own purchases in the window are the data's, so the result page compares a real baseline with a real uplift.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from kehu.analytics import classify
from kehu.analytics.facts import bump_orders_revision
from kehu.campaigns.holdout import TREATMENT
from kehu.campaigns.service import WINBACK_DEFAULTS, CampaignSpec, launch_campaign
from kehu.campaigns.targets import find_snapshot
from kehu.config import Settings
from kehu.store import Campaign, CampaignMember, Customer, Order, open_store, session_scope
from kehu.users import Actor

#: How far before the newest snapshot the demo campaign starts (days), its window, and the treated share that buys
#: again because of it.
START_BEFORE_DAYS = 61
WINDOW_DAYS = 30
UPLIFT_SHARE = 0.08
COUPON_CENTS = 3_000
DEMO_NAME = "挽回活动 Win-back (demo)"


def _u(key: str) -> float:
    """A fixed number in [0, 1) for ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def seed_demo_campaign(settings: Settings, *, reclassify: bool = True) -> int:
    """Create the demo's finished win-back campaign and its effect; return the campaign's id.

    Needs a classified store (``kehu demo`` does that first). Runs again on the same store: an existing demo
    campaign is returned as it is. ``reclassify=False`` skips re-classifying the newest snapshot (tests).
    """
    url = settings.store_url
    open_store(url)
    with session_scope(url) as session:
        existing = session.scalar(select(Campaign.id).where(Campaign.name == DEMO_NAME))
        if existing is not None:
            return int(existing)
        newest = find_snapshot(session).as_of
    start = newest - timedelta(days=START_BEFORE_DAYS)
    classify(settings=settings.model_copy(update={"predict": False}), as_of=start)

    actor = Actor(username="demo", via="cli")
    with session_scope(url) as session:
        spec = CampaignSpec(name=DEMO_NAME, as_of=start, starts_on=start, template="winback",
                            **{**WINBACK_DEFAULTS, "coupon_value_cents": COUPON_CENTS,
                               "attribution_days": WINDOW_DAYS})
        campaign = launch_campaign(session, spec, actor=actor, today=date.today())
        campaign_id = campaign.id
        treated = session.execute(
            select(CampaignMember.customer_id, Customer.external_id, Customer.source, Customer.province,
                   Customer.channel)
            .join(Customer, Customer.id == CampaignMember.customer_id)
            .where(CampaignMember.campaign_id == campaign_id, CampaignMember.arm == TREATMENT)
            .order_by(CampaignMember.customer_id)).all()
        orders = []
        for cid, external_id, source, province, channel in treated:
            if _u(f"kehu-demo-uplift:{cid}") >= UPLIFT_SHARE:
                continue
            offset = int(_u(f"kehu-demo-day:{cid}") * WINDOW_DAYS)
            amount = 15_000 + int(_u(f"kehu-demo-amount:{cid}") * 45_000) // 100 * 100
            when = datetime.combine(start + timedelta(days=offset), time(14, 0))
            orders.append(Order(source=source, external_id=f"WB{campaign_id}-{external_id}", customer_id=cid,
                                ordered_at=when, amount_cents=amount, refunded_cents=0,
                                discount_cents=COUPON_CENTS, status="completed", is_paid=True,
                                channel=channel, province=province))
        session.add_all(orders)
        session.flush()
        bump_orders_revision(session.connection().connection.cursor())
    if reclassify:
        classify(settings=settings, as_of=newest)
    return campaign_id
