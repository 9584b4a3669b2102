"""Task pages for agents: the list ("my tasks" or everyone's, overdue first), one task (status, outcome, owner, due
date), and the form that opens a task for a customer (from the profile or a feedback item).

Permissions: ``view_tasks`` the list and a task (analysts see no outcome text), ``manage_tasks`` creating and
changing tasks. Forms are CSRF-checked and changes audited (ids and codes only; the outcome is encrypted).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.errors import InvalidInput, KehuError
from kehu.feedback import local_now
from kehu.privacy import FieldCipher, audit
from kehu.store import Customer, User
from kehu.tasks import (
    KINDS,
    STATUSES,
    TaskFilter,
    create_task,
    default_due,
    get_task,
    is_overdue,
    list_tasks,
    task_outcome,
    update_task,
)
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator
from kehu.web.present import masked_pii

router = APIRouter(prefix="/tasks")

Viewer = Annotated[SignedIn, Depends(require("view_tasks"))]
Manager = Annotated[SignedIn, Depends(require("manage_tasks"))]
Csrf = Annotated[str | None, Form()]
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]

PAGE = 50
FLASH = "tasks_flash"
#: Links to where a task came from, by source type (others are shown as type and id).
SOURCE_LINKS: dict[str, str] = {"feedback": "/feedback/items/{id}", "campaign": "/campaigns/{id}"}


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    flash = request.session.pop(FLASH, None)
    base = {"active": "tasks", "flash": flash if isinstance(flash, dict) else None}
    return render(request.app.state.templates, request, name, {**base, **context}, status_code)


def _names(lang: str) -> dict[str, dict[str, str]]:
    t = translator(lang)
    return {
        "kind": {k: t(f"task_kind_{k}") for k in KINDS},
        "status": {s: t(f"task_status_{s}") for s in STATUSES},
        "source": {"feedback": t("task_source_feedback"), "survey_response": t("task_source_survey_response"),
                   "campaign": t("task_source_campaign")},
    }


def _owners(db: Session) -> list[User]:
    return list(db.scalars(select(User).where(User.is_active.is_(True), User.role.in_(("admin", "agent")))
                           .order_by(User.username)))


def _customers(db: Session, cipher: FieldCipher, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    return {c.id: {"external_id": c.external_id, "name": masked_pii(cipher, c).name}
            for c in db.scalars(select(Customer).where(Customer.id.in_(ids)))}


def _source_link(request: Request, source_type: str | None, source_id: int | None) -> str | None:
    pattern = SOURCE_LINKS.get(source_type or "")
    return local_url(request, pattern.format(id=source_id)) if pattern and source_id else None


@router.get("")
def task_list(request: Request, db: DbSession, user: Viewer,
              view: Annotated[str | None, Query(pattern="^(mine|all)$")] = None,
              status: Annotated[str, Query(max_length=16)] = "open",
              customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
              page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """Tasks, overdue first then by due date: "mine" (default for agents) or everyone's; open (default), one
    status or all; optionally one customer's."""
    view = view or ("mine" if user.role == "agent" else "all")
    now = local_now()
    filters = TaskFilter(owner_id=user.id if view == "mine" else None, status=status, customer_id=customer_id,
                         limit=PAGE, offset=(page - 1) * PAGE)
    tasks, total = list_tasks(db, now=now, filters=filters)
    cipher: FieldCipher = request.app.state.cipher
    users = {u.id: u.username for u in db.scalars(select(User))}
    customers = _customers(db, cipher, {t.customer_id for t in tasks})
    rows = [{"task": t, "overdue": is_overdue(t, now), "owner": users.get(t.owner_id or 0),
             "customer": customers.get(t.customer_id), "source": _source_link(request, t.source_type, t.source_id)}
            for t in tasks]
    context = {"rows": rows, "total": total, "view": view, "status": status, "customer_id": customer_id,
               "page": page, "pages": max(1, -(-total // PAGE)), "names": _names(lang_of(request)),
               "statuses": STATUSES, "now": now}
    return _page(request, "tasks.html", context)


# --- new task ---------------------------------------------------------------------------------------------------


def _new_page(request: Request, db: Session, *, values: dict[str, Any], error: str | None = None,
              status_code: int = 200) -> Response:
    customer = None
    cid = values.get("customer_id")
    if isinstance(cid, int):
        found = db.get(Customer, cid)
        if found is not None:
            customer = {"id": found.id, "external_id": found.external_id,
                        "name": masked_pii(request.app.state.cipher, found).name}
    context = {"values": values, "customer": customer, "error": error, "owners": _owners(db), "kinds": KINDS,
               "names": _names(lang_of(request))}
    return _page(request, "tasks_new.html", context, status_code)


@router.get("/new")
def new_form(request: Request, db: DbSession, user: Manager,
             customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
             source_type: Annotated[str | None, Query(pattern="^[a-z_]{1,32}$")] = None,
             source_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> Response:
    """The form to open a task for a customer (defaults: a call-back, owned by me, due in two days)."""
    due = default_due(local_now())
    values = {"customer_id": customer_id, "source_type": source_type, "source_id": source_id,
              "kind": "complaint" if source_type == "feedback" else "call_back", "owner": user.id,
              "due": due.date().isoformat(), "title": ""}
    return _new_page(request, db, values=values)


def _parse_due(value: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time(23, 59, 59))
    except ValueError:
        raise InvalidInput(f"due date {value!r} is not a date like 2025-06-30") from None


@router.post("/new")
def create(request: Request, db: DbSession, user: Manager,
           title: Annotated[str, Form(max_length=200)],
           kind: Annotated[str, Form(max_length=32)],
           due: Annotated[str, Form(max_length=10)],
           customer_id: Annotated[str, Form(max_length=20)] = "",
           external_id: Annotated[str, Form(max_length=128)] = "",
           owner: Annotated[str, Form(max_length=12)] = "",
           source_type: Annotated[str, Form(max_length=32)] = "",
           source_id: Annotated[str, Form(max_length=12)] = "",
           csrf_token: Csrf = None) -> Response:
    """Open the task (audited ``create``) and show it; a mistake shows the form again with a message."""
    check_csrf(request, csrf_token)
    cid = int(customer_id) if customer_id.isdigit() else None
    values: dict[str, Any] = {"customer_id": cid, "external_id": external_id, "title": title, "kind": kind,
                              "due": due, "owner": int(owner) if owner.isdigit() else None,
                              "source_type": source_type or None, "source_id": int(source_id) if source_id.isdigit()
                              else None}
    try:
        if kind not in KINDS:
            raise InvalidInput(f"task kind {kind!r} is not one of {', '.join(KINDS)}")
        if cid is None:
            ext = external_id.strip()
            if not ext:
                raise InvalidInput("give the customer's id (as in the order files)")
            found = db.scalars(select(Customer).where(Customer.external_id == ext).limit(2)).all()
            if len(found) != 1:
                raise InvalidInput(f"no single customer with id {ext!r}; open the form from the customer's profile")
            cid = found[0].id
        task = create_task(db, customer_id=cid, kind=kind, title=title, owner_id=values["owner"],
                           due_at=_parse_due(due), source_type=values["source_type"], source_id=values["source_id"],
                           created_by=user.id)
        if task.source_type == "feedback" and task.source_id:
            from kehu.feedback import update_feedback
            from kehu.store import Feedback

            item = db.get(Feedback, task.source_id)
            if item is not None and item.first_response_at is None:
                update_feedback(db, item, now=local_now(), responded=True)
    except KehuError as exc:
        db.rollback()
        return _new_page(request, db, values=values, error=str(exc), status_code=exc.status)
    audit.record(db, action="create", user_id=user.id, username=user.username, target_type="task", target_id=task.id,
                 detail={"customer_id": task.customer_id, "kind": task.kind, "owner_id": task.owner_id,
                         "source_type": task.source_type, "source_id": task.source_id}, ip=_ip(request), via="web")
    db.commit()
    request.session[FLASH] = {"key": "task_flash_created", "params": {}}
    return RedirectResponse(local_url(request, f"/tasks/{task.id}"), status_code=303)


# --- one task ---------------------------------------------------------------------------------------------------


def _task_page(request: Request, db: Session, user: SignedIn, task_id: int, *, error: str | None = None,
               status_code: int = 200) -> Response:
    task = get_task(db, task_id)
    cipher: FieldCipher = request.app.state.cipher
    now = local_now()
    users = {u.id: u.username for u in db.scalars(select(User))}
    outcome = None
    if user.can("manage_tasks"):
        try:
            outcome = task_outcome(task, cipher)
        except ValueError:
            outcome = None
    context = {"task": task, "overdue": is_overdue(task, now), "users": users, "owners": _owners(db),
               "customer": _customers(db, cipher, {task.customer_id}).get(task.customer_id), "outcome": outcome,
               "source": _source_link(request, task.source_type, task.source_id), "names": _names(lang_of(request)),
               "statuses": STATUSES, "error": error}
    return _page(request, "tasks_item.html", context, status_code)


@router.get("/{task_id}")
def task_page(request: Request, db: DbSession, user: Viewer, task_id: TaskId) -> Response:
    """One task: customer, what to do, owner, due date (overdue flagged), status, outcome, where it came from."""
    return _task_page(request, db, user, task_id)


@router.post("/{task_id}")
def task_update(request: Request, db: DbSession, user: Manager, task_id: TaskId,
                status: Annotated[str, Form(max_length=16)] = "",
                outcome: Annotated[str | None, Form(max_length=4000)] = None,
                owner: Annotated[str, Form(max_length=12)] = "",
                due: Annotated[str, Form(max_length=10)] = "",
                csrf_token: Csrf = None) -> Response:
    """Change status, outcome (encrypted), owner or due date (audited ``update``, never the outcome text)."""
    check_csrf(request, csrf_token)
    task = get_task(db, task_id)
    try:
        update_task(db, task=task, cipher=request.app.state.cipher, now=local_now(), status=status or None,
                    outcome=outcome, owner_id=int(owner) if owner.isdigit() else None,
                    clear_owner=owner == "none", due_at=_parse_due(due) if due.strip() else None)
    except KehuError as exc:
        db.rollback()
        return _task_page(request, db, user, task_id, error=str(exc), status_code=exc.status)
    audit.record(db, action="update", user_id=user.id, username=user.username, target_type="task", target_id=task.id,
                 detail={"status": task.status, "owner_id": task.owner_id, "outcome": outcome is not None},
                 ip=_ip(request), via="web")
    db.commit()
    request.session[FLASH] = {"key": "task_flash_updated", "params": {}}
    return RedirectResponse(local_url(request, f"/tasks/{task_id}"), status_code=303)


__all__ = ["router"]
