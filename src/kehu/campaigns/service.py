"""Creating and launching campaigns, and reading them back.

Launching a campaign (:func:`launch_campaign`) is one transaction: the target's customers in the snapshot, minus
those without marketing consent, are split by the deterministic holdout hash; each treated customer gets a coupon
code (unique in the database) or a call-back task (:func:`kehu.tasks.create_task`, round-robin over the agents
unless an owner is named); the launch is audited. The split is stored, so results never depend on re-drawing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kehu.campaigns import coupons, holdout, owners
from kehu.campaigns.targets import Target, find_snapshot, target_members
from kehu.errors import InvalidInput, NotFound
from kehu.privacy import audit
from kehu.store import Campaign, CampaignMember
from kehu.users import Actor

OFFERS: tuple[str, ...] = ("coupon", "callback")
TEMPLATES: tuple[str, ...] = ("winback",)
#: Longest attribution window accepted (days).
MAX_WINDOW_DAYS = 365
#: A call-back campaign makes one task per treated customer; above this many the list is too long for agents.
MAX_CALLBACKS = 5_000
#: Rows per insert of members.
BATCH = 5_000
#: The win-back template's defaults: 20% holdout, a ¥20 coupon, ¥0.50 per message, 30 days.
WINBACK_DEFAULTS: dict[str, Any] = {
    "target": Target("lifecycle_stage", ("churned", "at_risk")),
    "holdout_share": 0.2,
    "offer": "coupon",
    "coupon_value_cents": 2_000,
    "cost_per_contact_cents": 50,
    "attribution_days": 30,
}


@dataclass(frozen=True)
class CampaignSpec:
    """What a campaign is, before it is launched.

    Parameters
    ----------
    name
        Shown in lists and exports (1–128 characters).
    target
        Whom it is for (:class:`kehu.campaigns.targets.Target`).
    as_of
        The snapshot whose classes define the target; ``None`` = the newest ready snapshot.
    offer
        ``coupon`` (a code per treated customer) or ``callback`` (a task per treated customer).
    holdout_share
        Share of the target held out as the control group, 0–0.9 (0 = no measurement of uplift).
    starts_on
        First day of the attribution window; ``None`` = today, or the snapshot date when that is later. Not before
        the snapshot date (orders the targeting already saw cannot be effects).
    attribution_days
        Length of the window in days (1–365): orders on ``starts_on`` … ``starts_on + days − 1`` count.
    coupon_value_cents, cost_per_contact_cents
        The offer's cost: each redeemed coupon's value and each treated customer's contact cost, in cents.
    callback_due_days, callback_owner_id
        Call-back tasks are due this many days after the start and go to this user, else round-robin to agents.
    """

    name: str
    target: Target
    as_of: date | None = None
    offer: str = "coupon"
    holdout_share: float = 0.2
    starts_on: date | None = None
    attribution_days: int = 30
    coupon_value_cents: int = 0
    cost_per_contact_cents: int = 0
    callback_due_days: int = 3
    callback_owner_id: int | None = None
    template: str | None = None


def winback_spec(*, name: str | None = None, as_of: date | None = None, today: date | None = None) -> CampaignSpec:
    """The win-back template (挽回): churned and at-risk customers of the newest snapshot (or ``as_of``), 20% held
    out, a ¥20 coupon, ¥0.50 per contact, 30 days from today."""
    today = today or date.today()
    return CampaignSpec(name=name or f"挽回活动 Win-back {today.isoformat()}", as_of=as_of, template="winback",
                        **WINBACK_DEFAULTS)


def check_spec(spec: CampaignSpec) -> CampaignSpec:
    """``spec`` with its fields checked and cleaned; :class:`InvalidInput` naming the field otherwise."""
    name = " ".join((spec.name or "").split())
    if not name or len(name) > 128:
        raise InvalidInput("a campaign needs a name of 1 to 128 characters")
    if spec.offer not in OFFERS:
        raise InvalidInput(f"unknown offer {spec.offer!r}; use coupon or callback")
    if spec.template is not None and spec.template not in TEMPLATES:
        raise InvalidInput(f"unknown template {spec.template!r}; use {', '.join(TEMPLATES)}")
    share = holdout.check_share(spec.holdout_share)
    if not 1 <= spec.attribution_days <= MAX_WINDOW_DAYS:
        raise InvalidInput(f"attribution window {spec.attribution_days} days must be 1 to {MAX_WINDOW_DAYS} days")
    for what, value in (("coupon value", spec.coupon_value_cents), ("cost per contact", spec.cost_per_contact_cents)):
        if value < 0 or value > 10**10:
            raise InvalidInput(f"{what} must be between ¥0 and ¥100,000,000")
    if not 0 <= spec.callback_due_days <= MAX_WINDOW_DAYS:
        raise InvalidInput(f"call-back due days {spec.callback_due_days} must be 0 to {MAX_WINDOW_DAYS}")
    return replace(spec, name=name, target=spec.target.check(), holdout_share=share)


def window(campaign: Campaign) -> tuple[date, date]:
    """The attribution window as [first day, day after the last day)."""
    return campaign.starts_on, campaign.starts_on + timedelta(days=campaign.attribution_days)


def is_finished(campaign: Campaign, today: date | None = None) -> bool:
    """True once the attribution window has ended (``today`` on or after the day after its last day)."""
    return (today or date.today()) >= window(campaign)[1]


def _insert_members(session: Session, rows: list[dict[str, Any]], with_coupons: bool) -> None:
    """Insert member rows in batches; coupon collisions with older codes (astronomically rare) are retried with
    fresh codes, at most 5 times per batch."""
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        for attempt in range(5):
            try:
                with session.begin_nested():
                    session.execute(insert(CampaignMember), batch)
                break
            except IntegrityError:
                if not with_coupons or attempt == 4:
                    raise
                fresh = iter(coupons.new_codes(len(batch)))
                batch = [{**r, "coupon_code": next(fresh) if r["coupon_code"] else None} for r in batch]


def launch_campaign(session: Session, spec: CampaignSpec, *, actor: Actor, today: date | None = None) -> Campaign:
    """Create the campaign of ``spec``, draw its arms, give the treatment its offer, audit it; return it (flushed).

    Raises :class:`InvalidInput` for a bad spec, a target with nobody who may be marketed to, a call-back list
    longer than :data:`MAX_CALLBACKS`; :class:`NotFound` without the snapshot.
    """
    spec = check_spec(spec)
    snapshot = find_snapshot(session, spec.as_of)
    today = today or date.today()
    starts_on = spec.starts_on or max(today, snapshot.as_of)
    if starts_on < snapshot.as_of:
        raise InvalidInput(f"the campaign cannot start ({starts_on.isoformat()}) before its snapshot "
                           f"({snapshot.as_of.isoformat()}): orders the targeting already saw are no effect")
    owner_id = owners.check_owner(session, spec.callback_owner_id)
    members = target_members(session, snapshot, spec.target)
    allowed = [cid for cid, ok in members if ok]
    if not allowed:
        raise InvalidInput(f"no customer of this target in the snapshot of {snapshot.as_of.isoformat()} has given "
                           f"marketing consent ({len(members)} in the target); choose another target")
    campaign = Campaign(
        name=spec.name, template=spec.template, target_kind=spec.target.kind, target_values=list(spec.target.values),
        snapshot_id=snapshot.id, as_of=snapshot.as_of, offer=spec.offer, holdout_share=spec.holdout_share,
        starts_on=starts_on, attribution_days=spec.attribution_days, coupon_value_cents=spec.coupon_value_cents,
        cost_per_contact_cents=spec.cost_per_contact_cents,
        callback_due_days=spec.callback_due_days if spec.offer == "callback" else None,
        targeted=len(members), excluded_no_consent=len(members) - len(allowed), status="launched",
        created_by=actor.user_id,
    )
    session.add(campaign)
    session.flush()
    arms = {cid: holdout.arm(campaign.id, cid, spec.holdout_share) for cid in allowed}
    treated = [cid for cid in allowed if arms[cid] == holdout.TREATMENT]
    if spec.offer == "callback" and len(treated) > MAX_CALLBACKS:
        raise InvalidInput(f"{len(treated):,} call-backs is more than agents can make ({MAX_CALLBACKS:,} at most); "
                           "narrow the target or offer a coupon")
    codes = iter(coupons.new_codes(len(treated))) if spec.offer == "coupon" else None
    rows = [{"campaign_id": campaign.id, "customer_id": cid, "arm": arms[cid],
             "coupon_code": next(codes) if codes is not None and arms[cid] == holdout.TREATMENT else None,
             "task_id": None} for cid in allowed]
    _insert_members(session, rows, with_coupons=codes is not None)
    tasks = 0
    if spec.offer == "callback":
        tasks = _callback_tasks(session, campaign, treated, owner_id, actor)
    audit.record(session, action="create", user_id=actor.user_id, username=actor.username, target_type="campaign",
                 target_id=campaign.id, ip=actor.ip, via=actor.via,
                 detail={"template": spec.template, "target": spec.target.kind, "values": list(spec.target.values),
                         "as_of": snapshot.as_of.isoformat(), "offer": spec.offer, "holdout_share": spec.holdout_share,
                         "members": len(allowed), "treatment": len(treated), "tasks": tasks,
                         "excluded_no_consent": campaign.excluded_no_consent})
    return campaign


def _callback_tasks(session: Session, campaign: Campaign, treated: list[int], owner_id: int | None,
                    actor: Actor) -> int:
    """One call-back task (``call_back``, source ``campaign``) per treated customer, linked from the member row."""
    from kehu.tasks import create_task

    agents = owners.active_agents(session)
    due = datetime.combine(campaign.starts_on + timedelta(days=campaign.callback_due_days or 0),
                           datetime.max.time()).replace(microsecond=0)
    title = f"活动回访 Campaign call-back: {campaign.name}"
    for turn, cid in enumerate(treated):
        task = create_task(session, customer_id=cid, kind="call_back", title=title,
                           owner_id=owners.owner_for(owner_id, agents, turn), due_at=due, source_type="campaign",
                           source_id=campaign.id, created_by=actor.user_id)
        member = session.get(CampaignMember, (campaign.id, cid))
        assert member is not None
        member.task_id = task.id
    session.flush()
    return len(treated)


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign with this id; :class:`NotFound` otherwise."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist; `kehu campaign list` shows them")
    return campaign


def list_campaigns(session: Session, limit: int = 200) -> list[Campaign]:
    """The newest campaigns first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())
                                .limit(limit)))


def arm_sizes(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """campaign id → {arm: customers} for the given campaigns."""
    out: dict[int, dict[str, int]] = {i: dict.fromkeys(holdout.ARMS, 0) for i in campaign_ids}
    if not campaign_ids:
        return out
    rows = session.execute(select(CampaignMember.campaign_id, CampaignMember.arm, func.count())
                           .where(CampaignMember.campaign_id.in_(campaign_ids))
                           .group_by(CampaignMember.campaign_id, CampaignMember.arm))
    for cid, arm, n in rows:
        out[cid][arm] = int(n)
    return out


def expected_holdout(n: int, share: float) -> tuple[float, float]:
    """Mean and standard deviation of the holdout size for ``n`` customers and ``share`` (binomial), to judge a
    split: a realised size within 3 standard deviations is what a fair hash gives."""
    return n * share, math.sqrt(n * share * (1 - share))
