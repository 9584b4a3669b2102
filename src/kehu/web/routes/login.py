"""Sign in and sign out."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.privacy import audit
from kehu.store import User
from kehu.web.auth import Throttled, authenticate
from kehu.web.deps import CSRF_FIELD, SESSION_USER, DbSession, check_csrf, lang_of, local_url, render, start_session
from kehu.web.i18n import translator

router = APIRouter()


def _audit_sign_in(db: Session, request: Request, action: str, user: User | None, username: str,
                   detail: dict[str, str] | None = None) -> None:
    """Audit a sign-in, a failed one (the name is kept only when it is an existing user's: a stranger's typed
    name may be a password typed in the wrong box) or a sign-out."""
    if user is None and action == "sign_in_failed":
        user = db.scalar(select(User).where(User.username == username.strip()))
    audit.record(db, action=action, user_id=user.id if user else None, username=user.username if user else None,
                 target_type="user" if user else None, target_id=user.id if user else None, detail=detail,
                 ip=request.client.host if request.client else None, via="web")


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no ``//evil.example`` or ``https://…``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    request: Request, *, next_url: str, error: str | None = None, username: str = "", status_code: int = 200
) -> Response:
    return render(
        request.app.state.templates,
        request,
        "login.html",
        {"next_url": next_url, "error": error, "username": username, "csrf_field": CSRF_FIELD},
        status_code,
    )


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    return _login_page(request, next_url=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the CSRF token and the password; on success start a fresh session and go to ``next``."""
    check_csrf(request, csrf_token)
    t = translator(lang_of(request))
    next_url = _safe_next(next)
    try:
        user = authenticate(
            session=db, throttle=request.app.state.throttle, username=username, password=password
        )
    except Throttled as exc:
        _audit_sign_in(db, request, "sign_in_failed", None, username, {"reason": "throttled"})
        minutes = max(1, math.ceil(exc.retry_after / 60))
        response = _login_page(
            request,
            next_url=next_url,
            username=username,
            status_code=429,
            error=t("login_throttled", minutes=minutes),
        )
        response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return response
    if user is None:
        _audit_sign_in(db, request, "sign_in_failed", None, username, {"reason": "password"})
        return _login_page(
            request, next_url=next_url, username=username, status_code=401, error=t("login_failed")
        )
    start_session(request, user)
    _audit_sign_in(db, request, "sign_in", user, username)
    return RedirectResponse(next_url, status_code=303)


@router.post("/logout")
def logout(request: Request, db: DbSession, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """End the session (CSRF-checked, so another site cannot sign the user out); audited when someone was in."""
    check_csrf(request, csrf_token)
    user_id = request.session.get(SESSION_USER)
    user = db.get(User, user_id) if isinstance(user_id, int) else None
    if user is not None:
        _audit_sign_in(db, request, "sign_out", user, user.username)
    request.session.clear()
    return RedirectResponse(local_url(request, "/login"), status_code=303)
