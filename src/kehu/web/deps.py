"""FastAPI dependencies of the pages: store session, signed-in user and permission check, CSRF, rendering.

Sessions live in a signed cookie (Starlette's ``SessionMiddleware``) holding the user id, the sign-in time and
a CSRF token; the sign-in expires ``settings.session_hours`` after it happened, however active the user is.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.config import Settings
from kehu.store import User, session_scope
from kehu.web.auth import SignedIn
from kehu.web.i18n import request_lang, translator

SESSION_USER = "uid"
SESSION_SINCE = "since"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """No valid sign-in: the app answers with a redirect to the login page."""


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """A store session for one request (committed at the end, rolled back on error)."""
    with session_scope(request.app.state.settings.store_url) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
#: Scope "function": the session commits when the endpoint returns, before the response starts, so a failed commit
#: (the database gone) can still become the 503 and is never answered with a 200.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def start_session(request: Request, user: User) -> None:
    """Sign ``user`` in: a fresh session (no fixation) with a new CSRF token."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_SINCE] = int(time.time())
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def current_user(request: Request, db: DbSession, settings: SettingsDep) -> SignedIn:
    """The signed-in, active user; :class:`LoginRequired` otherwise (also once the sign-in has expired)."""
    user_id = request.session.get(SESSION_USER)
    since = request.session.get(SESSION_SINCE)
    if not isinstance(user_id, int) or not isinstance(since, int):
        raise LoginRequired
    if time.time() - since > settings.session_hours * 3600:
        request.session.clear()
        raise LoginRequired
    user = db.get(User, user_id)
    if user is None or not user.is_active:
        request.session.clear()
        raise LoginRequired
    signed_in = SignedIn.of(user)
    request.state.user = signed_in
    return signed_in


CurrentUser = Annotated[SignedIn, Depends(current_user)]


def require(permission: str) -> Callable[[SignedIn], SignedIn]:
    """A dependency giving the signed-in user when their role has ``permission``, else 403.

    This is the one role check of the web app: pages declare ``Annotated[SignedIn, Depends(require("..."))]``
    and :data:`kehu.web.auth.PERMISSIONS` says which roles have which permission.
    """

    def check(user: CurrentUser) -> SignedIn:
        if not user.can(permission):
            raise HTTPException(status_code=403)
        return user

    check.__name__ = f"require_{permission}"
    return check


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """403 unless ``submitted`` equals the session's CSRF token."""
    expected = request.session.get(SESSION_CSRF)
    if not isinstance(expected, str) or not submitted or not secrets.compare_digest(expected, submitted):
        raise HTTPException(status_code=403, detail="csrf_failed")


def lang_of(request: Request) -> str:
    """The language of this request (see :func:`kehu.web.i18n.request_lang`)."""
    return request_lang(request, request.app.state.settings.language)


def local_url(request: Request, path: str | None = None, **params: Any) -> str:
    """A root-relative URL (never ``http://host/…``): ``path`` (default: this page) with its query updated by
    ``params``; a ``None`` value drops the parameter."""
    root = request.scope.get("root_path", "")
    if path is None:
        query = dict(request.query_params)
        path = request.url.path.removeprefix(root) or "/"
    else:
        query = {}
    for key, value in params.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = str(value)
    return root + path + ("?" + urlencode(query) if query else "")


def render(
    templates: Jinja2Templates, request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """Render template ``name`` with what every page needs: language, ``t``, the user and the CSRF token."""
    lang = lang_of(request)
    root = request.scope.get("root_path", "")
    base = {
        "lang": lang,
        "t": translator(lang),
        "user": getattr(request.state, "user", None),
        "csrf": csrf_token(request),
        "active": None,
        "as_of_param": None,
        "url": lambda path=None, **params: local_url(request, path, **params),
        "static": lambda file: f"{root}/static/{file}",
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
