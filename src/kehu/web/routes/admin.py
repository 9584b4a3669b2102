"""Admin pages: users and roles, the audit log (paged, filtered, CSV), privacy requests (export / erase one customer).

Every page needs an admin permission from :data:`kehu.web.auth.PERMISSIONS` (``manage_users``, ``view_audit``,
``privacy_requests``); every form is CSRF-checked. Changes go through :mod:`kehu.users` and
:mod:`kehu.privacy.subject`, which audit them. A user mistake re-renders the page with a message (4xx), never a
traceback. Outcomes are shown once after the redirect (a "flash" kept in the signed session cookie).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.analytics.export import neutralise_formulas
from kehu.errors import InvalidInput, KehuError, NotFound
from kehu.privacy import audit
from kehu.privacy.subject import erase_customer, export_customer, find_customer
from kehu.store import AuditEvent, ConsentEvent, Customer, CustomerNote, Order, User
from kehu.users import Actor, add_user, list_users, set_active, set_role
from kehu.web.auth import ROLES, SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator
from kehu.web.present import masked_pii

router = APIRouter(prefix="/admin")

UserAdmin = Annotated[SignedIn, Depends(require("manage_users"))]
AuditViewer = Annotated[SignedIn, Depends(require("view_audit"))]
PrivacyAdmin = Annotated[SignedIn, Depends(require("privacy_requests"))]
Csrf = Annotated[str | None, Form()]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]

#: Audit rows per page, and the most rows one CSV download holds (newest first; narrow the filters for more).
AUDIT_PAGE = 50
AUDIT_CSV_MAX = 100_000
FLASH = "admin_flash"


def _actor(request: Request, user: SignedIn) -> Actor:
    return Actor(user_id=user.id, username=user.username, via="web",
                 ip=request.client.host if request.client else None)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _flash(request: Request, key: str, **params: str) -> None:
    """Keep one message (an i18n key and its parameters) for the next page this session shows."""
    request.session[FLASH] = {"key": key, "params": params}


def _take_flash(request: Request) -> dict[str, Any] | None:
    value = request.session.pop(FLASH, None)
    return value if isinstance(value, dict) and isinstance(value.get("key"), str) else None


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    area = name.removeprefix("admin_").removesuffix(".html").split("_")[0]
    base = {"active": "admin", "admin_page": area, "flash": _take_flash(request)}
    return render(request.app.state.templates, request, name, {**base, **context}, status_code)


# --- index -----------------------------------------------------------------------------------------------------------


@router.get("")
def admin_index(request: Request, db: DbSession, user: UserAdmin) -> Response:
    """What the admin can do, with a few counts: users, active admins, audit events of the last 7 days, erased
    customers."""
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=7)
    figures = {
        "users": db.scalar(select(func.count()).select_from(User)) or 0,
        "active_admins": db.scalar(select(func.count()).select_from(User)
                                   .where(User.role == "admin", User.is_active.is_(True))) or 0,
        "audit_week": db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.at >= since)) or 0,
        "erased": db.scalar(select(func.count()).select_from(Customer).where(Customer.erased_at.is_not(None))) or 0,
    }
    return _page(request, "admin.html", {"figures": figures})


# --- users -----------------------------------------------------------------------------------------------------------


def _users_page(request: Request, db: Session, user: SignedIn, *, error: str | None = None,
                form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    t = translator(lang_of(request))
    context = {"users": list_users(db), "roles": ROLES, "error": error, "form": form or {}, "me": user.id,
               "role_label": lambda role: t("admin_role_" + role)}
    return _page(request, "admin_users.html", context, status_code)


@router.get("/users")
def users(request: Request, db: DbSession, user: UserAdmin) -> Response:
    """Every user with role and state; forms to add one, change a role, disable or enable."""
    return _users_page(request, db, user)


@router.post("/users")
def users_add(request: Request, db: DbSession, user: UserAdmin,
              username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=1024)],
              password2: Annotated[str, Form(max_length=1024)], role: Annotated[str, Form(max_length=16)],
              csrf_token: Csrf = None) -> Response:
    """Add a user (the password typed twice); back to the list with a message, or the form again with the error."""
    check_csrf(request, csrf_token)
    form = {"username": username, "role": role}
    try:
        if password != password2:
            raise InvalidInput("the two passwords differ")
        added = add_user(db, username=username, password=password, role=role, actor=_actor(request, user))
    except KehuError as exc:
        db.rollback()
        return _users_page(request, db, user, error=str(exc), form=form, status_code=exc.status)
    _flash(request, "admin_user_added", name=added.username, role=added.role)
    return RedirectResponse(local_url(request, "/admin/users"), status_code=303)


def _change_user(request: Request, db: Session, user: SignedIn, target: int, change: str, value: str) -> Response:
    try:
        if target == user.id:
            raise InvalidInput("you cannot change your own role or disable yourself here; ask another admin")
        if change == "role":
            done = set_role(db, target, value, actor=_actor(request, user))
            _flash(request, "admin_role_changed", name=done.username, role=done.role)
        else:
            if value not in ("true", "false"):
                raise InvalidInput(f"active must be true or false, got {value!r}")
            done = set_active(db, target, value == "true", actor=_actor(request, user))
            _flash(request, "admin_user_enabled" if done.is_active else "admin_user_disabled", name=done.username)
    except KehuError as exc:
        db.rollback()
        return _users_page(request, db, user, error=str(exc), status_code=exc.status)
    return RedirectResponse(local_url(request, "/admin/users"), status_code=303)


@router.post("/users/{user_id}/role")
def users_role(request: Request, db: DbSession, user: UserAdmin, user_id: UserId,
               role: Annotated[str, Form(max_length=16)], csrf_token: Csrf = None) -> Response:
    """Change a user's role (not one's own; the last active admin stays admin)."""
    check_csrf(request, csrf_token)
    return _change_user(request, db, user, user_id, "role", role)


@router.post("/users/{user_id}/active")
def users_active(request: Request, db: DbSession, user: UserAdmin, user_id: UserId,
                 active: Annotated[str, Form(max_length=5)], csrf_token: Csrf = None) -> Response:
    """Disable (``active=false``) or enable (``true``) a user (not oneself; the last active admin stays)."""
    check_csrf(request, csrf_token)
    return _change_user(request, db, user, user_id, "active", active)


# --- audit log -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """The audit page's filters; ``None`` means any. Dates are inclusive days (UTC, as the log stores time)."""

    action: str | None = None
    username: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def params(self) -> dict[str, str | None]:
        """The filters as query parameters (for links that keep them)."""
        return {"action": self.action, "user": self.username,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}

    def where(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` restricted to these filters."""
        if self.action:
            stmt = stmt.where(AuditEvent.action == self.action)
        if self.username:
            stmt = stmt.where(AuditEvent.username == self.username)
        if self.date_from:
            stmt = stmt.where(AuditEvent.at >= datetime.combine(self.date_from, datetime.min.time()))
        if self.date_to:
            stmt = stmt.where(AuditEvent.at < datetime.combine(self.date_to + timedelta(days=1), datetime.min.time()))
        return stmt


def _day(value: str | None, name: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not a date like 2025-06-30") from None


def _audit_filters(action: str | None, user_name: str | None, date_from: str | None,
                   date_to: str | None) -> AuditFilters:
    action = (action or "").strip() or None
    if action is not None and action not in audit.ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; use one of {', '.join(sorted(audit.ACTIONS))}")
    filters = AuditFilters(action=action, username=(user_name or "").strip() or None,
                           date_from=_day(date_from, "from"), date_to=_day(date_to, "to"))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise InvalidInput(f"from {filters.date_from} is after to {filters.date_to}")
    return filters


AuditAction = Annotated[str | None, Query(max_length=32)]
AuditUser = Annotated[str | None, Query(alias="user", max_length=64)]
AuditFrom = Annotated[str | None, Query(alias="from", max_length=10)]
AuditTo = Annotated[str | None, Query(alias="to", max_length=10)]


def detail_text(detail: dict[str, Any] | None) -> str:
    """An audit detail as compact JSON text (``""`` when there is none)."""
    return "" if not detail else json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


@router.get("/audit")
def audit_log(request: Request, db: DbSession, user: AuditViewer, action: AuditAction = None,
              user_name: AuditUser = None, date_from: AuditFrom = None, date_to: AuditTo = None,
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    """The audit log, newest first, 50 a page, filtered by action, user and day range."""
    filters = _audit_filters(action, user_name, date_from, date_to)
    total = db.scalar(filters.where(select(func.count()).select_from(AuditEvent))) or 0
    pages = max(1, -(-total // AUDIT_PAGE))
    page = min(page, pages)
    events = list(db.scalars(filters.where(select(AuditEvent)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                             .offset((page - 1) * AUDIT_PAGE).limit(AUDIT_PAGE)))
    usernames = [u for u in db.scalars(select(AuditEvent.username).distinct().where(AuditEvent.username.is_not(None))
                                       .order_by(AuditEvent.username)) if u]
    t = translator(lang_of(request))

    def action_label(code: str) -> str:
        try:
            return t("action_" + code)
        except KeyError:  # an action added to the log without a label yet
            return code

    context = {"events": events, "filters": filters, "total": total, "page": page, "pages": pages,
               "actions": sorted(audit.ACTIONS), "usernames": usernames, "detail_text": detail_text,
               "action_label": action_label}
    return _page(request, "admin_audit.html", context)


@router.get("/audit.csv")
def audit_csv(request: Request, db: DbSession, user: AuditViewer, action: AuditAction = None,
              user_name: AuditUser = None, date_from: AuditFrom = None, date_to: AuditTo = None) -> Response:
    """The filtered audit log as CSV (UTF-8 with BOM, newest first, at most 100,000 rows), every text cell
    formula-neutralised; the download itself is audited (``export``)."""
    filters = _audit_filters(action, user_name, date_from, date_to)
    events = list(db.scalars(filters.where(select(AuditEvent)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                             .limit(AUDIT_CSV_MAX)))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "at_utc", "user_id", "username", "action", "target_type", "target_id", "detail", "ip",
                     "via"])
    for e in events:
        cells = [e.username, e.action, e.target_type, e.target_id, detail_text(e.detail), e.ip, e.via]
        writer.writerow([e.id, e.at.isoformat(sep=" ", timespec="seconds") if e.at else "", e.user_id,
                         *neutralise_formulas(cells)])
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="audit_log",
                 detail={"rows": len(events), "filters": {k: v for k, v in filters.params().items() if v}},
                 ip=_ip(request), via="web")
    name = f"kehu-audit-{date.today().isoformat()}.csv"
    return Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- privacy requests ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """What the store holds on one customer, as the privacy page shows it (personal fields masked)."""

    customer: Customer
    pii: Any
    orders: int
    notes: int
    consents: int


def _holding(request: Request, db: Session, customer: Customer) -> Holding:
    def count(model: Any) -> int:
        return int(db.scalar(select(func.count()).select_from(model).where(model.customer_id == customer.id)) or 0)

    return Holding(customer=customer, pii=masked_pii(request.app.state.cipher, customer), orders=count(Order),
                   notes=count(CustomerNote), consents=count(ConsentEvent))


def _sources(db: Session) -> list[str]:
    return list(db.scalars(select(Customer.source).distinct().order_by(Customer.source)))


@router.get("/privacy")
def privacy(request: Request, db: DbSession, user: PrivacyAdmin,
            customer: Annotated[str | None, Query(max_length=128)] = None,
            source: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    """Look a customer up by source id (and source); show what is held, with export and erase buttons."""
    holding, error, status = None, None, 200
    customer = (customer or "").strip() or None
    if customer:
        try:
            holding = _holding(request, db, find_customer(db, customer, (source or "").strip() or None))
        except KehuError as exc:
            error, status = str(exc), exc.status
    context = {"query": customer or "", "source": source or "", "sources": _sources(db), "holding": holding,
               "error": error}
    return _page(request, "admin_privacy.html", context, status)


def _customer(db: Session, customer_id: int) -> Customer:
    found = db.get(Customer, customer_id)
    if found is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return found


@router.post("/privacy/{customer_id}/export")
def privacy_export(request: Request, db: DbSession, user: PrivacyAdmin, customer_id: CustomerId,
                   csrf_token: Csrf = None) -> Response:
    """Everything held on the customer as a JSON download (decrypted); audited as ``privacy_export``."""
    check_csrf(request, csrf_token)
    data = export_customer(db, request.app.state.cipher, _customer(db, customer_id).id, user_id=user.id,
                           username=user.username, via="web", ip=_ip(request))
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return Response(body, media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="kehu-customer-{customer_id}.json"'})


def _confirm_page(request: Request, db: Session, customer: Customer, *, error: str | None = None,
                  status_code: int = 200) -> Response:
    return _page(request, "admin_privacy_erase.html", {"holding": _holding(request, db, customer), "error": error},
                 status_code)


@router.get("/privacy/{customer_id}/erase")
def privacy_erase_confirm(request: Request, db: DbSession, user: PrivacyAdmin, customer_id: CustomerId) -> Response:
    """The confirmation step: what erasure removes and keeps, and a box to type the customer's source id."""
    return _confirm_page(request, db, _customer(db, customer_id))


@router.post("/privacy/{customer_id}/erase")
def privacy_erase(request: Request, db: DbSession, user: PrivacyAdmin, customer_id: CustomerId,
                  confirm: Annotated[str, Form(max_length=128)] = "", csrf_token: Csrf = None) -> Response:
    """Erase the customer's personal data when ``confirm`` repeats their source id; audited as ``privacy_erase``."""
    check_csrf(request, csrf_token)
    customer = _customer(db, customer_id)
    external_id = customer.external_id
    if confirm.strip() != external_id:
        return _confirm_page(request, db, customer, status_code=400,
                             error=f"the id typed does not match {external_id!r}; nothing was erased")
    erase_customer(db, customer_id, user_id=user.id, username=user.username, via="web", ip=_ip(request))
    _flash(request, "admin_erased", name=external_id, id=str(customer_id))
    return RedirectResponse(local_url(request, "/admin/privacy", customer=customer.external_id), status_code=303)
