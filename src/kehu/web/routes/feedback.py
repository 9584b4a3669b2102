"""Feedback pages: the dashboard (categories and sentiment per month and per customer group), the inbox (filters,
overdue first), one item (text, status, owner, first response, tasks), a form to enter feedback, the file import,
and the keyword rules.

Permissions (:data:`kehu.web.auth.PERMISSIONS`): ``view_feedback`` the dashboard (everyone); ``list_feedback`` the
inbox and items without their texts (analysts); ``handle_feedback`` texts, status, owner and new feedback (agents);
``edit_feedback_rules`` the rules; ``import_data`` the import. Every form is CSRF-checked; every change is audited
(ids and codes only, never the text).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.analytics.labels import label
from kehu.config import Settings
from kehu.errors import InvalidInput, KehuError, NotFound
from kehu.feedback import (
    CATEGORIES,
    CHANNELS,
    KINDS,
    STATUSES,
    FeedbackFilter,
    add_feedback,
    category_name,
    feedback_stats,
    get_feedback,
    import_feedback,
    list_feedback,
    load_rules,
    local_now,
    sentiment_label,
    sla_state,
    text_decrypter,
    update_feedback,
)
from kehu.feedback.categories import RULE_CATEGORIES, WEIGHT_MAX, matches
from kehu.feedback.rules import add_rule, delete_rule, recategorise, reset_rules, rule_rows
from kehu.feedback.service import sla_due
from kehu.feedback.stats import segment_breakdown
from kehu.privacy import FieldCipher, audit
from kehu.store import Customer, Feedback, ImportRun, Task, User
from kehu.tasks import STATUSES as TASK_STATUSES
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator
from kehu.web.present import masked_pii

router = APIRouter(prefix="/feedback")

Viewer = Annotated[SignedIn, Depends(require("view_feedback"))]
Lister = Annotated[SignedIn, Depends(require("list_feedback"))]
Handler = Annotated[SignedIn, Depends(require("handle_feedback"))]
RuleEditor = Annotated[SignedIn, Depends(require("edit_feedback_rules"))]
Importer = Annotated[SignedIn, Depends(require("import_data"))]
Csrf = Annotated[str | None, Form()]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]

#: Inbox rows per page.
PAGE = 50
#: Largest feedback file taken by the web import (larger: ``kehu feedback import``).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
ALLOWED_EXTENSIONS = (".csv", ".txt", ".xlsx")
#: Characters of a text shown in the inbox.
EXCERPT = 80
FLASH = "feedback_flash"
#: Heatmap colours: light (none) to the app's blue (most), as the dashboard's heatmap.
HEAT = [[0, "#edf2f7"], [1, "#2c5282"]]


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _flash(request: Request, key: str, **params: Any) -> None:  # noqa: ANN401
    request.session[FLASH] = {"key": key, "params": {k: str(v) for k, v in params.items()}}


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    flash = request.session.pop(FLASH, None)
    base = {"active": "feedback", "flash": flash if isinstance(flash, dict) else None}
    return render(request.app.state.templates, request, name, {**base, **context}, status_code)


def _names(lang: str) -> dict[str, dict[str, str]]:
    """Display names of the codes on these pages."""
    t = translator(lang)
    return {
        "category": {c: category_name(c, lang) for c in CATEGORIES},
        "kind": {k: t(f"fb_kind_{k}") for k in KINDS},
        "status": {s: t(f"fb_status_{s}") for s in STATUSES},
        "sentiment": {s: t(f"fb_sent_{s}") for s in ("negative", "neutral", "positive")},
        "sla": {s: t(f"fb_sla_{s}") for s in ("met", "breached", "overdue", "pending")},
        "channel": {c: t(f"fb_channel_{c}") for c in CHANNELS},
        "task_status": {s: t(f"task_status_{s}") for s in TASK_STATUSES},
    }


def _owners(db: Session) -> list[User]:
    """Users who may own feedback and tasks: active admins and agents."""
    return list(db.scalars(select(User).where(User.is_active.is_(True), User.role.in_(("admin", "agent")))
                           .order_by(User.username)))


def _customer_labels(db: Session, cipher: FieldCipher, ids: set[int]) -> dict[int, dict[str, Any]]:
    """store id → external id and masked name, for the customers on a page."""
    if not ids:
        return {}
    rows = db.scalars(select(Customer).where(Customer.id.in_(ids))).all()
    return {c.id: {"external_id": c.external_id, "name": masked_pii(cipher, c).name, "erased": c.erased_at is not None}
            for c in rows}


# --- dashboard ------------------------------------------------------------------------------------------------


def _charts(stats: Any, names: dict[str, dict[str, str]], t: Any, lang: str, link: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    cats = list(CATEGORIES)
    cat_names = [names["category"][c] for c in cats]
    group_names = [label("rfm_group", g.code, lang) if g.code != "unclassified" else t("fb_unclassified")
                   for g in stats.groups]
    charts: list[dict[str, Any]] = [
        {"id": "fb-chart-categories", "kind": "bar", "title": t("fb_chart_categories"),
         "labels": cat_names, "values": [stats.by_category[c] for c in cats], "y_title": t("fb_count"),
         "links": [link(category=c) for c in cats] if link else None},
        {"id": "fb-chart-monthly", "kind": "heatmap", "title": t("fb_chart_monthly"), "x": stats.months,
         "y": cat_names, "z": [[stats.monthly_category[m][c] for m in stats.months] for c in cats],
         "text": [[f"{m} · {n}: {stats.monthly_category[m][c]}" for m in stats.months] for c, n in zip(cats, cat_names,
                                                                                                      strict=True)],
         "show_values": True, "colorscale": HEAT, "zmin": 0,
         "links": [[link(category=c, month=m) for m in stats.months] for c in cats]
         if link else None},
        {"id": "fb-chart-sentiment", "kind": "bar", "title": t("fb_chart_sentiment"), "labels": stats.months,
         "values": [stats.monthly_mean(m) for m in stats.months], "single_color": True,
         "y_title": t("fb_mean_sentiment")},
    ]
    if stats.groups:
        charts.append({
            "id": "fb-chart-groups", "kind": "heatmap", "title": t("fb_chart_groups"), "x": cat_names, "y": group_names,
            "z": [[g.by_category.get(c, 0) for c in cats] for g in stats.groups],
            "text": [[f"{gn} · {cn}: {g.by_category.get(c, 0)}" for c, cn in zip(cats, cat_names, strict=True)]
                     for g, gn in zip(stats.groups, group_names, strict=True)],
            "show_values": True, "reverse_y": True, "colorscale": HEAT, "zmin": 0})
    return charts


@router.get("")
def dashboard(request: Request, db: DbSession, user: Viewer,
              months: Annotated[int, Query(ge=1, le=36)] = 12,
              end: Annotated[str | None, Query(max_length=7, pattern=r"^\d{4}-\d{2}$")] = None) -> Response:
    """Feedback over ``months`` months up to ``end`` (``YYYY-MM``; default: the month of the newest feedback):
    key figures, categories, categories per month, mean sentiment per month, categories per RFM group (and per
    user segment when segments exist), the words of negative feedback."""
    lang = lang_of(request)
    t = translator(lang)
    end_day = None
    if end:
        try:
            end_day = date(int(end[:4]), int(end[5:7]), 1)
        except ValueError:
            raise InvalidInput(f"end {end!r} is not a month like 2025-06") from None
    settings = _settings(request)
    now = local_now()
    stats = feedback_stats(db, now=now, sla_hours=settings.feedback_sla_hours, end=end_day, months=months)
    names = _names(lang)

    def link(**params: str) -> str:
        return local_url(request, "/feedback/items", status="all", **params)

    can_list = user.can("list_feedback")
    charts = _charts(stats, names, t, lang, link if can_list else None)
    group_names = {g.code: label("rfm_group", g.code, lang) if g.code != "unclassified" else t("fb_unclassified")
                   for g in stats.groups}
    context = {
        "stats": stats, "charts": charts, "names": names, "group_names": group_names, "months": months,
        "end": end or stats.end.strftime("%Y-%m"), "sla_hours": settings.feedback_sla_hours, "can_list": can_list,
        "segments": segment_breakdown(db, start=stats.start, end=stats.end, snapshot_as_of=stats.snapshot_as_of),
        "categories": CATEGORIES,
    }
    return _page(request, "feedback.html", context)


# --- inbox ----------------------------------------------------------------------------------------------------


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/items")
def inbox(request: Request, db: DbSession, user: Lister,
          status: Annotated[str, Query(max_length=16)] = "open",
          category: Annotated[str | None, Query(max_length=32)] = None,
          kind: Annotated[str | None, Query(max_length=16)] = None,
          sentiment: Annotated[str | None, Query(max_length=16)] = None,
          month: Annotated[str | None, Query(max_length=7)] = None,
          customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
          mine: bool = False, overdue: bool = False,
          page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """The feedback list: overdue first, then open, newest first; filters by status, category, kind, sentiment,
    month, customer, "mine", overdue. Texts (an excerpt) only for roles that handle feedback."""
    category, kind, sentiment, month = _blank(category), _blank(kind), _blank(sentiment), _blank(month)
    if category and category not in CATEGORIES:
        raise InvalidInput(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
    if kind and kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if sentiment and sentiment not in ("negative", "neutral", "positive"):
        raise InvalidInput(f"unknown sentiment {sentiment!r}; use negative, neutral or positive")
    settings = _settings(request)
    now = local_now()
    filters = FeedbackFilter(status=status, category=category, kind=kind, sentiment=sentiment, month=month,
                             customer_id=customer_id, owner_id=user.id if mine else None, overdue=overdue,
                             limit=PAGE, offset=(page - 1) * PAGE)
    items, total = list_feedback(db, now=now, sla_hours=settings.feedback_sla_hours, filters=filters)
    cipher: FieldCipher = request.app.state.cipher
    show_text = user.can("handle_feedback")
    decrypt = text_decrypter(cipher)
    owners = {u.id: u.username for u in db.scalars(select(User).where(
        User.id.in_({i.owner_id for i in items if i.owner_id is not None})))}
    customers = _customer_labels(db, cipher, {i.customer_id for i in items})
    rows = []
    for item in items:
        text = decrypt(item.text_enc) if show_text else None
        rows.append({"item": item, "owner": owners.get(item.owner_id or 0), "customer": customers.get(item.customer_id),
                     "sla": sla_state(item, now, settings.feedback_sla_hours),
                     "sentiment": sentiment_label(item.sentiment),
                     "excerpt": (text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")) if text else None})
    lang = lang_of(request)
    context = {
        "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE)), "names": _names(lang),
        "filters": filters, "mine": mine, "show_text": show_text, "categories": CATEGORIES, "kinds": KINDS,
        "statuses": STATUSES, "sla_hours": settings.feedback_sla_hours,
    }
    return _page(request, "feedback_items.html", context)


# --- one item -------------------------------------------------------------------------------------------------


def _item_page(request: Request, db: Session, user: SignedIn, item: Feedback, *, error: str | None = None,
               status_code: int = 200) -> Response:
    settings = _settings(request)
    cipher: FieldCipher = request.app.state.cipher
    now = local_now()
    text = text_decrypter(cipher)(item.text_enc)
    why = sorted({r.keyword for r in matches(text, load_rules(db)) if r.category == item.category}) if text else []
    tasks = list(db.scalars(select(Task).where(Task.source_type == "feedback", Task.source_id == item.id)
                            .order_by(Task.due_at, Task.id)))
    users = {u.id: u.username for u in db.scalars(select(User))}
    context = {
        "item": item, "text": text if user.can("handle_feedback") else None, "why": why,
        "customer": _customer_labels(db, cipher, {item.customer_id}).get(item.customer_id),
        "sla": sla_state(item, now, settings.feedback_sla_hours), "due": sla_due(item, settings.feedback_sla_hours),
        "sentiment": sentiment_label(item.sentiment), "names": _names(lang_of(request)), "owners": _owners(db),
        "users": users, "tasks": tasks, "now": now, "statuses": STATUSES, "error": error,
        "sla_hours": settings.feedback_sla_hours,
    }
    return _page(request, "feedback_item.html", context, status_code)


@router.get("/items/{item_id}")
def item_page(request: Request, db: DbSession, user: Lister, item_id: ItemId) -> Response:
    """One feedback item: what was computed (category and the keywords that chose it, sentiment, keywords), the
    SLA, status and owner, the tasks opened from it; the text for roles that handle feedback."""
    return _item_page(request, db, user, get_feedback(db, item_id))


@router.post("/items/{item_id}")
def update_item(request: Request, db: DbSession, user: Handler, item_id: ItemId,
                status: Annotated[str, Form(max_length=16)] = "",
                owner: Annotated[str, Form(max_length=12)] = "",
                responded: Annotated[str, Form(max_length=5)] = "",
                csrf_token: Csrf = None) -> Response:
    """Change the status and owner, or record the first response (audited: ``update``, the codes)."""
    check_csrf(request, csrf_token)
    item = get_feedback(db, item_id)
    try:
        owner_id = int(owner) if owner and owner != "none" else None
        update_feedback(db, item, now=local_now(), status=status or None, owner_id=owner_id,
                        clear_owner=owner == "none", responded=responded == "1")
    except (KehuError, ValueError) as exc:
        db.rollback()
        return _item_page(request, db, user, get_feedback(db, item_id), error=str(exc), status_code=400)
    audit.record(db, action="update", user_id=user.id, username=user.username, target_type="feedback",
                 target_id=item.id, detail={"status": item.status, "owner_id": item.owner_id,
                                            "responded": responded == "1"}, ip=_ip(request), via="web")
    db.commit()
    _flash(request, "fb_flash_updated")
    return RedirectResponse(local_url(request, f"/feedback/items/{item_id}"), status_code=303)


# --- new feedback ---------------------------------------------------------------------------------------------


def _find_customer(db: Session, customer_id: int | None, external_id: str | None) -> Customer:
    if customer_id is not None:
        found = db.get(Customer, customer_id)
        if found is None:
            raise NotFound(f"customer {customer_id} does not exist")
        return found
    ext = (external_id or "").strip()
    if not ext:
        raise InvalidInput("give the customer's id (as in the order files)")
    rows = db.scalars(select(Customer).where(Customer.external_id == ext).limit(2)).all()
    if not rows:
        raise NotFound(f"no customer with id {ext!r}; check the id on the customer list")
    if len(rows) > 1:
        raise InvalidInput(f"customers of several sources have id {ext!r}; open the form from the customer's profile")
    return rows[0]


def _new_page(request: Request, db: Session, *, customer_id: int | None, values: dict[str, Any],
              error: str | None = None, status_code: int = 200) -> Response:
    customer = None
    if customer_id is not None:
        found = db.get(Customer, customer_id)
        if found is not None:
            customer = {"id": found.id, "external_id": found.external_id,
                        "name": masked_pii(request.app.state.cipher, found).name}
    context = {"customer": customer, "values": values, "error": error, "kinds": KINDS, "channels": CHANNELS,
               "names": _names(lang_of(request)), "text_max": 4000}
    return _page(request, "feedback_new.html", context, status_code)


@router.get("/new")
def new_form(request: Request, db: DbSession, user: Handler,
             customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> Response:
    """The form to enter a complaint or a review (opened from a customer's profile with ``customer_id``)."""
    return _new_page(request, db, customer_id=customer_id, values={"kind": "complaint"})


@router.post("/new")
def create(request: Request, db: DbSession, user: Handler,
           kind: Annotated[str, Form(max_length=16)],
           text: Annotated[str, Form(max_length=4000)] = "",
           rating: Annotated[str, Form(max_length=2)] = "",
           channel: Annotated[str, Form(max_length=32)] = "",
           customer_id: Annotated[str, Form(max_length=20)] = "",
           external_id: Annotated[str, Form(max_length=128)] = "",
           csrf_token: Csrf = None) -> Response:
    """Store the feedback (text encrypted; category, sentiment, keywords computed now), audit ``create`` and show
    the new item; a mistake shows the form again with a message (400/404)."""
    check_csrf(request, csrf_token)
    values = {"kind": kind, "text": text, "rating": rating, "channel": channel, "external_id": external_id}
    cid = int(customer_id) if customer_id.isdigit() else None
    try:
        customer = _find_customer(db, cid, external_id)
        stars = int(rating) if rating.strip() else None
        item = add_feedback(db, request.app.state.cipher, customer_id=customer.id, kind=kind, text=text,
                            rating=stars, channel=channel or None, source="form", created_by=user.id)
    except (KehuError, ValueError) as exc:
        db.rollback()
        status = exc.status if isinstance(exc, KehuError) else 400
        message = str(exc) if isinstance(exc, KehuError) else f"rating {rating!r} is not a number of stars from 1 to 5"
        return _new_page(request, db, customer_id=cid, values=values, error=message, status_code=status)
    audit.record(db, action="create", user_id=user.id, username=user.username, target_type="feedback",
                 target_id=item.id, detail={"customer_id": item.customer_id, "kind": kind, "category": item.category},
                 ip=_ip(request), via="web")
    db.commit()
    _flash(request, "fb_flash_created")
    return RedirectResponse(local_url(request, f"/feedback/items/{item.id}"), status_code=303)


# --- import ---------------------------------------------------------------------------------------------------


def _import_page(request: Request, db: Session, *, report: Any = None, error: str | None = None,  # noqa: ANN401
                 status_code: int = 200) -> Response:
    runs = list(db.scalars(select(ImportRun).where(ImportRun.kind == "feedback")
                           .order_by(ImportRun.id.desc()).limit(20)))
    context = {"runs": runs, "report": report, "error": error, "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024)}
    return _page(request, "feedback_import.html", context, status_code)


@router.get("/import")
def import_page(request: Request, db: DbSession, user: Importer) -> Response:
    """The feedback import: the file format and the past feedback imports."""
    return _import_page(request, db)


@router.post("/import")
async def import_upload(request: Request, db: DbSession, user: Importer,
                        file: Annotated[UploadFile | None, File()] = None,
                        source: Annotated[str, Form(max_length=16)] = "",
                        csrf_token: Csrf = None) -> Response:
    """Import an uploaded CSV/XLSX feedback file now (at most 20 MB) and show the counts; rejected rows are in the
    rejects file, downloadable from the import run's page."""
    check_csrf(request, csrf_token)
    t = translator(lang_of(request))
    if file is None or not file.filename:
        return _import_page(request, db, error=t("fb_err_no_file"), status_code=400)
    ext = FilePath(file.filename).suffix.lower()
    if ext not in ALLOWED_EXTENSIONS:
        return _import_page(request, db, error=t("fb_err_ext", ext=ext or file.filename), status_code=400)
    settings = _settings(request)
    folder = FilePath(tempfile.mkdtemp(prefix="feedback-", dir=_upload_dir(settings)))
    target = folder / ("upload" + ext)
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    break
                out.write(chunk)
        await file.close()
        if size == 0 or size > MAX_UPLOAD_BYTES:
            key = "fb_err_empty" if size == 0 else "fb_err_size"
            return _import_page(request, db, error=t(key, mb=MAX_UPLOAD_BYTES // (1024 * 1024)),
                                status_code=400 if size == 0 else 413)
        try:
            report = import_feedback(settings=settings, path=target, source=source.strip() or None,
                                     user_id=user.id, username=user.username, via="web")
        except KehuError as exc:
            return _import_page(request, db, error=str(exc).replace(str(target), file.filename),
                                status_code=exc.status)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report.file = file.filename
    return _import_page(request, db, report=report)


def _upload_dir(settings: Settings) -> str:
    folder = FilePath(settings.data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(folder)


# --- rules ----------------------------------------------------------------------------------------------------


def _rules_page(request: Request, db: Session, *, error: str | None = None, status_code: int = 200) -> Response:
    rows = rule_rows(db)
    by_category = {c: [r for r in rows if r.category == c] for c in RULE_CATEGORIES}
    counts = {str(c): int(n) for c, n in db.execute(select(Feedback.category, func.count())
                                                    .group_by(Feedback.category))}
    context = {"by_category": by_category, "names": _names(lang_of(request)), "error": error,
               "rule_categories": RULE_CATEGORIES, "weight_max": WEIGHT_MAX, "counts": counts,
               "total": sum(counts.values())}
    return _page(request, "feedback_rules.html", context, status_code)


@router.get("/rules")
def rules_page(request: Request, db: DbSession, user: RuleEditor) -> Response:
    """The keyword rules per category, with forms to add, delete, reset and apply them to stored feedback."""
    return _rules_page(request, db)


@router.post("/rules")
def rules_add(request: Request, db: DbSession, user: RuleEditor,
              category: Annotated[str, Form(max_length=32)], keyword: Annotated[str, Form(max_length=64)],
              weight: Annotated[int, Form(ge=1, le=5)] = 1, csrf_token: Csrf = None) -> Response:
    """Add a keyword to a category (or change its weight); applies to feedback written from now on."""
    check_csrf(request, csrf_token)
    try:
        rule = add_rule(db, category=category, keyword=keyword, weight=weight, user_id=user.id, now=local_now())
    except KehuError as exc:
        db.rollback()
        return _rules_page(request, db, error=str(exc), status_code=exc.status)
    audit.record(db, action="update", user_id=user.id, username=user.username, target_type="feedback_rule",
                 target_id=rule.id, detail={"category": rule.category, "keyword": rule.keyword, "weight": rule.weight},
                 ip=_ip(request), via="web")
    db.commit()
    _flash(request, "fb_flash_rule_added", keyword=rule.keyword)
    return RedirectResponse(local_url(request, "/feedback/rules") + f"#rules-{rule.category}", status_code=303)


@router.post("/rules/{rule_id}/delete")
def rules_delete(request: Request, db: DbSession, user: RuleEditor, rule_id: ItemId,
                 csrf_token: Csrf = None) -> Response:
    """Delete one keyword rule."""
    check_csrf(request, csrf_token)
    rule = delete_rule(db, rule_id)
    audit.record(db, action="delete", user_id=user.id, username=user.username, target_type="feedback_rule",
                 target_id=rule_id, detail={"category": rule.category, "keyword": rule.keyword}, ip=_ip(request),
                 via="web")
    db.commit()
    _flash(request, "fb_flash_rule_deleted", keyword=rule.keyword)
    return RedirectResponse(local_url(request, "/feedback/rules") + f"#rules-{rule.category}", status_code=303)


@router.post("/rules/reset")
def rules_reset(request: Request, db: DbSession, user: RuleEditor, csrf_token: Csrf = None) -> Response:
    """Replace every rule by the defaults."""
    check_csrf(request, csrf_token)
    n = reset_rules(db)
    audit.record(db, action="update", user_id=user.id, username=user.username, target_type="feedback_rule",
                 detail={"reset": True, "rules": n}, ip=_ip(request), via="web")
    db.commit()
    _flash(request, "fb_flash_rules_reset", n=n)
    return RedirectResponse(local_url(request, "/feedback/rules"), status_code=303)


@router.post("/rules/apply")
def rules_apply(request: Request, db: DbSession, user: RuleEditor, csrf_token: Csrf = None) -> Response:
    """Categorise every stored feedback text again with the current rules (texts are decrypted on the server
    only; the page shows counts)."""
    check_csrf(request, csrf_token)
    seen, changed = recategorise(db, text_decrypter(request.app.state.cipher))
    audit.record(db, action="update", user_id=user.id, username=user.username, target_type="feedback",
                 detail={"recategorised": seen, "changed": changed}, ip=_ip(request), via="web")
    db.commit()
    _flash(request, "fb_flash_applied", n=seen, changed=changed)
    return RedirectResponse(local_url(request, "/feedback/rules"), status_code=303)


__all__ = ["router"]

