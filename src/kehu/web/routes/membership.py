"""Membership pages: the overview (members per tier, upgrades and downgrades per month, points issued, redeemed,
expired and outstanding), one customer's card with the full points ledger, and redeeming points.

The overview holds counts only, so every role may see it (``view_membership``); a customer's ledger needs
``view_customers``; redeeming needs ``redeem_points`` (admin, agent) and is audited. Chart data goes to
``static/membership.js`` in the JSON block ``#kehu-membership-charts``; every chart's numbers are also in a table.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.errors import InvalidInput, NotFound
from kehu.membership import customer_ledger, membership_overview, membership_summary, redeem_points
from kehu.membership.summary import Overview
from kehu.membership.tiers import TIERS
from kehu.store import Customer
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator
from kehu.web.present import masked_pii

router = APIRouter()

MembershipViewer = Annotated[SignedIn, Depends(require("view_membership"))]
CustomersViewer = Annotated[SignedIn, Depends(require("view_customers"))]
Redeemer = Annotated[SignedIn, Depends(require("redeem_points"))]
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
FLASH_KEY = "membership_flash"
#: Ledger rows shown on a customer's membership page (newest first).
LEDGER_ROWS = 500


def overview_charts(overview: Overview, lang: str) -> list[dict[str, Any]]:
    """The three charts of the membership page as ``static/membership.js`` draws them: one bar per tier, and
    grouped bars per month (upgrades and downgrades; points issued, redeemed, expired and reversed)."""
    t = translator(lang)
    charts: list[dict[str, Any]] = [{
        "id": "mem-chart-tiers",
        "title": t("mem_chart_tiers"),
        "y_title": t("mem_members_axis"),
        "labels": [t(f"mem_tier_{tier}") for tier, _, _ in overview.tiers],
        "series": [{"name": t("mem_col_members"), "values": [n for _, n, _ in overview.tiers]}],
        "colors": ["#a0aec0", "#718096", "#b7791f", "#2b6cb0"],
    }]
    if overview.months:
        charts.append({
            "id": "mem-chart-changes",
            "title": t("mem_chart_changes"),
            "x_title": t("mem_month_axis"),
            "y_title": t("mem_members_axis"),
            "labels": [m for m, _, _ in overview.months],
            "series": [{"name": t("mem_upgrades"), "values": [u for _, u, _ in overview.months]},
                       {"name": t("mem_downgrades"), "values": [d for _, _, d in overview.months]}],
            "colors": ["#2f855a", "#c05621"],
        })
    if overview.points_months:
        rows = overview.points_months
        charts.append({
            "id": "mem-chart-points",
            "title": t("mem_chart_points"),
            "x_title": t("mem_month_axis"),
            "y_title": t("mem_points_axis"),
            "labels": [r[0] for r in rows],
            "series": [{"name": t(key), "values": [r[i + 1] for r in rows]}
                       for i, key in enumerate(("mem_earned", "mem_redeemed", "mem_expired", "mem_reversed"))],
            "colors": ["#2b6cb0", "#2f855a", "#a0aec0", "#c53030"],
        })
    return charts


@router.get("/membership")
def membership_page(request: Request, db: DbSession, user: MembershipViewer) -> Response:
    """Members per tier, upgrades and downgrades per month, points per month and in total, the tier rules; or how
    to compute them when no refresh has run."""
    overview = membership_overview(db)
    lang = lang_of(request)
    context = {
        "active": "membership",
        "overview": overview,
        "charts": overview_charts(overview, lang) if overview.run else [],
        "tiers": TIERS,
    }
    return render(request.app.state.templates, request, "membership.html", context)


def _customer(db: Session, customer_id: int) -> Customer:
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def _customer_page(request: Request, db: Session, customer_id: int, *, error: str | None = None,
                   form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    customer = _customer(db, customer_id)
    flash = request.session.pop(FLASH_KEY, None)
    if not (isinstance(flash, dict) and flash.get("customer") == customer_id):
        flash = None
    context = {
        "active": "membership",
        "customer": customer,
        "masked_name": masked_pii(request.app.state.cipher, customer).name,
        "membership": membership_summary(db, customer_id),
        "ledger": customer_ledger(db, customer_id, limit=LEDGER_ROWS),
        "flash": flash,
        "error": error,
        "form": form or {},
        "full_page": True,
    }
    return render(request.app.state.templates, request, "membership_customer.html", context, status_code)


@router.get("/membership/customers/{customer_id}")
def customer_membership(request: Request, db: DbSession, user: CustomersViewer, customer_id: CustomerId) -> Response:
    """One customer's membership card, tier history and points ledger (newest first, with the balance after each
    row); the redeem form for roles that may redeem."""
    return _customer_page(request, db, customer_id)


@router.post("/membership/customers/{customer_id}/redeem")
def redeem(
    request: Request,
    db: DbSession,
    user: Redeemer,
    customer_id: CustomerId,
    points: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Redeem points of the customer's balance (:func:`kehu.membership.redeem_points`: oldest points first,
    audited); then back to the customer's membership page with the new balance. A wrong number, a missing reason
    or more points than the balance shows the page again with the message (400)."""
    check_csrf(request, csrf_token)
    _customer(db, customer_id)
    text = points.strip().replace(",", "")
    try:
        if not text.isascii() or not text.isdigit():
            raise InvalidInput(f"points to redeem must be a whole number above 0, not {points.strip()!r}")
        result = redeem_points(db, settings=request.app.state.settings, customer_id=customer_id, points=int(text),
                               reason=reason, user_id=user.id, username=user.username, via="web",
                               ip=request.client.host if request.client else None)
    except InvalidInput as exc:
        db.rollback()
        return _customer_page(request, db, customer_id, error=str(exc), form={"points": points, "reason": reason},
                              status_code=400)
    db.commit()
    request.session[FLASH_KEY] = {"customer": customer_id, "points": result.points, "balance": result.balance}
    return RedirectResponse(local_url(request, f"/membership/customers/{customer_id}") + "#ledger", status_code=303)
