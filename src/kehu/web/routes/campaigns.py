"""Campaign pages: the list with the win-back template (one click), the form for a new campaign, the result page
(conversion and revenue per arm with their intervals, the uplift, incremental revenue and return on cost) and the
contact-list export (masked unless a role with ``reveal_pii`` asks to reveal; audited; formula-safe).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS
from kehu.campaigns import (
    CampaignSpec,
    Target,
    arm_sizes,
    campaign_result,
    contact_rows,
    describe,
    get_campaign,
    is_finished,
    launch_campaign,
    list_campaigns,
    to_bytes,
    winback_spec,
    window,
)
from kehu.campaigns.results import CampaignResult
from kehu.campaigns.service import WINBACK_DEFAULTS
from kehu.campaigns.stats import Interval
from kehu.campaigns.targets import find_snapshot, segment_choices, target_counts
from kehu.errors import InvalidInput, NotFound
from kehu.privacy import audit
from kehu.store import Campaign, ClassificationSnapshot, User
from kehu.users import Actor
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator

router = APIRouter()

Viewer = Annotated[SignedIn, Depends(require("view_campaigns"))]
Manager = Annotated[SignedIn, Depends(require("manage_campaigns"))]
Exporter = Annotated[SignedIn, Depends(require("export_data"))]
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CsrfToken = Annotated[str | None, Form()]
Codes = Annotated[list[str], Form()]


def _actor(request: Request, user: SignedIn) -> Actor:
    return Actor(user_id=user.id, username=user.username, via="web",
                 ip=request.client.host if request.client else None)


def _cents(text: str, what: str) -> int:
    """Yuan typed in a form (``20``, ``0.5``) → cents; :class:`InvalidInput` naming the field otherwise."""
    try:
        amount = Decimal((text or "0").strip().lstrip("¥") or "0")
    except InvalidOperation:
        raise InvalidInput(f"{what}: {text!r} is not an amount in yuan, e.g. 20 or 0.5") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal(100_000_000):
        raise InvalidInput(f"{what}: {text!r} must be an amount in yuan between 0 and 100,000,000")
    return int((amount * 100).to_integral_value())


def _snapshots(db: Session) -> list[date]:
    return list(db.scalars(select(ClassificationSnapshot.as_of).where(ClassificationSnapshot.status == "ready")
                           .distinct().order_by(ClassificationSnapshot.as_of.desc()).limit(50)))


def _agents_and_owners(db: Session) -> list[tuple[int, str, str]]:
    """(id, name, role) of the active users who may own call-backs (agents and admins)."""
    return [(int(i), str(n), str(r)) for i, n, r in db.execute(
        select(User.id, User.username, User.role).where(User.is_active.is_(True), User.role.in_(("agent", "admin")))
        .order_by(User.username))]


def _iv(iv: Interval, scale: float = 1.0) -> dict[str, float | None]:
    def s(v: float | None) -> float | None:
        return None if v is None else v * scale

    return {"value": s(iv.estimate), "low": s(iv.low), "high": s(iv.high), "sig": iv.excludes_zero}


def _target_of(c: Campaign) -> Target:
    return Target(c.target_kind, tuple(c.target_values))


# --- list and template --------------------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns_page(request: Request, db: DbSession, user: Viewer) -> Response:
    """The campaigns, newest first (arms, window, status), and the win-back template for roles that may launch."""
    lang = lang_of(request)
    campaigns = list_campaigns(db)
    sizes = arm_sizes(db, [c.id for c in campaigns])
    names = dict(segment_choices(db))
    rows = [{"c": c, "target": describe(_target_of(c), lang, names), "sizes": sizes[c.id],
             "finished": is_finished(c), "end": window(c)[1] - timedelta(days=1)} for c in campaigns]
    template: dict[str, Any] | None = None
    if user.can("manage_campaigns"):
        try:
            snapshot = find_snapshot(db)
        except NotFound:
            snapshot = None
        if snapshot is not None:
            targeted, allowed = target_counts(db, snapshot, WINBACK_DEFAULTS["target"])
            template = {"as_of": snapshot.as_of, "targeted": targeted, "allowed": allowed, **WINBACK_DEFAULTS}
    context = {"active": "campaigns", "rows": rows, "template": template}
    return render(request.app.state.templates, request, "campaigns.html", context)


@router.post("/campaigns/winback")
def launch_winback(request: Request, db: DbSession, user: Manager, csrf_token: CsrfToken = None) -> Response:
    """One click: the win-back template (churned and at-risk customers of the newest snapshot, 20% holdout, ¥20
    coupon, 30 days) launched at once; then its page."""
    check_csrf(request, csrf_token)
    campaign = launch_campaign(db, winback_spec(), actor=_actor(request, user))
    db.commit()
    return RedirectResponse(local_url(request, f"/campaigns/{campaign.id}", launched=1), status_code=303)


# --- new campaign -------------------------------------------------------------------------------------------


@router.get("/campaigns/new")
def new_campaign(
    request: Request, db: DbSession, user: Manager,
    template: Annotated[Literal["winback", ""], Query()] = "",
) -> Response:
    """The form of a new campaign; ``?template=winback`` fills it with the win-back template."""
    snapshots = _snapshots(db)
    spec = winback_spec() if template == "winback" else None
    form = {
        "name": spec.name if spec else "",
        "target_kind": spec.target.kind if spec else "lifecycle_stage",
        "values": set(spec.target.values) if spec else set(),
        "holdout": int(round((spec.holdout_share if spec else 0.2) * 100)),
        "offer": spec.offer if spec else "coupon",
        "days": spec.attribution_days if spec else 30,
        "coupon": f"{(spec.coupon_value_cents if spec else 0) / 100:.2f}",
        "cost": f"{(spec.cost_per_contact_cents if spec else 0) / 100:.2f}",
        "template": template,
    }
    context = {
        "active": "campaigns", "form": form, "snapshots": snapshots,
        "kinds": {"lifecycle_stage": list(LIFECYCLE_STAGES), "rfm_group": list(RFM_GROUPS),
                  "rfm_class": list(RFM_CLASSES)},
        "segments": segment_choices(db), "owners": _agents_and_owners(db), "today": date.today(),
    }
    return render(request.app.state.templates, request, "campaign_new.html", context)


@router.post("/campaigns")
def create_campaign(
    request: Request,
    db: DbSession,
    user: Manager,
    name: Annotated[str, Form(max_length=200)],
    target_kind: Annotated[Literal["lifecycle_stage", "rfm_group", "rfm_class", "churn_risk", "segment"], Form()],
    offer: Annotated[Literal["coupon", "callback"], Form()],
    holdout_percent: Annotated[float, Form(ge=0, le=90)],
    attribution_days: Annotated[int, Form(ge=1, le=365)],
    lifecycle_stage: Codes = [],  # noqa: B006 - FastAPI copies form defaults
    rfm_group: Codes = [],  # noqa: B006
    rfm_class: Codes = [],  # noqa: B006
    churn_risk: Annotated[str, Form(max_length=16)] = "",
    segment: Annotated[str, Form(max_length=16)] = "",
    as_of: Annotated[date | None, Form()] = None,
    starts_on: Annotated[date | None, Form()] = None,
    coupon_value: Annotated[str, Form(max_length=20)] = "0",
    cost_per_contact: Annotated[str, Form(max_length=20)] = "0",
    callback_due_days: Annotated[int, Form(ge=0, le=365)] = 3,
    callback_owner: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
    template: Annotated[Literal["winback", ""], Form()] = "",
    csrf_token: CsrfToken = None,
) -> Response:
    """Launch the campaign of the form (the target's values are those of the chosen kind); then its page."""
    check_csrf(request, csrf_token)
    values = {"lifecycle_stage": lifecycle_stage, "rfm_group": rfm_group, "rfm_class": rfm_class,
              "churn_risk": [churn_risk], "segment": [segment]}[target_kind]
    spec = CampaignSpec(name=name, target=Target(target_kind, tuple(values)), as_of=as_of, offer=offer,
                        holdout_share=round(holdout_percent / 100, 4), starts_on=starts_on,
                        attribution_days=attribution_days,
                        coupon_value_cents=_cents(coupon_value, "coupon value") if offer == "coupon" else 0,
                        cost_per_contact_cents=_cents(cost_per_contact, "cost per contact"),
                        callback_due_days=callback_due_days, callback_owner_id=callback_owner,
                        template=template or None)
    campaign = launch_campaign(db, spec, actor=_actor(request, user))
    db.commit()
    return RedirectResponse(local_url(request, f"/campaigns/{campaign.id}", launched=1), status_code=303)


# --- result -------------------------------------------------------------------------------------------------


def _charts(r: CampaignResult, lang: str) -> list[dict[str, Any]]:
    t = translator(lang)
    arms = [t("camp_arm_treatment"), t("camp_arm_holdout")]
    conv = [r.treatment.conversion, r.holdout.conversion]
    rev = [r.treatment.revenue_mean, r.holdout.revenue_mean]
    return [
        {"id": "chart-conversion", "kind": "bars_ci", "labels": arms, "percent": True,
         "values": [iv.estimate for iv in conv], "low": [iv.low for iv in conv], "high": [iv.high for iv in conv],
         "y_title": t("camp_conversion")},
        {"id": "chart-revenue", "kind": "bars_ci", "labels": arms, "money": True,
         "values": [None if iv.estimate is None else iv.estimate / 100 for iv in rev],
         "low": [None if iv.low is None else iv.low / 100 for iv in rev],
         "high": [None if iv.high is None else iv.high / 100 for iv in rev],
         "y_title": t("camp_revenue_per_customer")},
    ]


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, db: DbSession, user: Viewer, campaign_id: CampaignId,
                  launched: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    """A campaign's definition and result: figures, per-arm table, charts with 95% intervals, method notes, and
    the contact-list export for roles that may export."""
    lang = lang_of(request)
    campaign = get_campaign(db, campaign_id)
    result = campaign_result(db, campaign)
    start, end = window(campaign)
    creator = db.get(User, campaign.created_by) if campaign.created_by else None
    context = {
        "active": "campaigns",
        "c": campaign,
        "r": result,
        "target": describe(_target_of(campaign), lang, dict(segment_choices(db))),
        "window_start": start,
        "window_last": end - timedelta(days=1),
        "creator": creator.username if creator else None,
        "launched": bool(launched),
        "figures": {
            "conversion_diff": _iv(result.conversion_diff, 100),
            "revenue_diff": _iv(result.revenue_diff_cents),
            "incremental_revenue": _iv(result.incremental_revenue_cents),
        },
        "charts": _charts(result, lang),
        "can_reveal": user.can("reveal_pii"),
    }
    return render(request.app.state.templates, request, "campaign.html", context)


@router.post("/campaigns/{campaign_id}/export")
def export_contacts(
    request: Request,
    db: DbSession,
    user: Exporter,
    campaign_id: CampaignId,
    arm: Annotated[Literal["treatment", "holdout", "all"], Form()] = "treatment",
    format: Annotated[Literal["csv", "xlsx"], Form()] = "csv",
    reveal: Annotated[bool, Form()] = False,
    csrf_token: CsrfToken = None,
) -> Response:
    """The contact list of an arm as CSV or XLSX: masked, or in plaintext when ``reveal`` is asked by a role with
    ``reveal_pii`` (403 otherwise). Audited (``export``: format, arm, rows, revealed) before the file is sent."""
    check_csrf(request, csrf_token)
    if reveal and not user.can("reveal_pii"):
        from fastapi import HTTPException

        raise HTTPException(status_code=403)
    campaign = get_campaign(db, campaign_id)
    header, rows = contact_rows(db, request.app.state.cipher, campaign, arm=arm, reveal=reveal, lang=lang_of(request))
    body = to_bytes(header, rows, format)
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="campaign",
                 target_id=campaign.id, detail={"format": format, "arm": arm, "rows": len(rows), "revealed": reveal},
                 ip=request.client.host if request.client else None, via="web")
    db.commit()
    media = "text/csv; charset=utf-8" if format == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    filename = f"campaign-{campaign.id}-{arm}{'-revealed' if reveal else ''}.{format}"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
