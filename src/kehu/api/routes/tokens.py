"""``POST /token``: a bearer token for a username and password (OAuth2 password flow)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy import select

from kehu.api.auth import TOKEN_MINUTES, api_keys, client_ip
from kehu.api.errors import ApiError
from kehu.api.schemas import ErrorBody, TokenOut
from kehu.privacy import audit
from kehu.store import User, session_scope
from kehu.web.auth import Throttled, authenticate
from kehu.web.deps import DbSession

router = APIRouter(tags=["auth"])


def _failed(request: Request, username: str) -> None:
    """Record a failed sign-in in its own transaction (the request's is rolled back by the refusal). The name is
    kept only when it is a known account's."""
    with session_scope(request.app.state.settings.store_url) as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        audit.record(session, action="sign_in_failed", user_id=user_id,
                     username=username if user_id is not None else None, ip=client_ip(request), via="api")


@router.post(
    "/token", response_model=TokenOut, summary="Get a bearer token",
    responses={401: {"model": ErrorBody}, 429: {"model": ErrorBody, "description": "too many failed sign-ins"}},
)
def token(
    request: Request,
    db: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    """Exchange a username and password for a token valid 30 minutes (``TOKEN_MINUTES``; ``expires_in`` in
    seconds); send it as ``Authorization: Bearer <token>``.

    Failed attempts count towards the same lock-out as the web sign-in (5 failures in 15 minutes lock the username
    for the rest of the window: 429 with ``Retry-After``). A disabled user gets the same 401 as a wrong password.
    """
    username = username.strip()
    if "\x00" in username or "\x00" in password or not username:
        raise ApiError(401, "invalid_credentials", headers={"WWW-Authenticate": "Bearer"})
    try:
        user = authenticate(session=db, throttle=request.app.state.throttle, username=username, password=password)
    except Throttled as exc:
        wait = math.ceil(exc.retry_after)
        raise ApiError(429, "throttled", headers={"Retry-After": str(wait)}, minutes=max(1, math.ceil(wait / 60))) \
            from None
    if user is None:
        _failed(request, username)
        raise ApiError(401, "invalid_credentials", headers={"WWW-Authenticate": "Bearer"})
    access, lifetime = api_keys(request).issue_token(user, TOKEN_MINUTES)
    audit.record(db, action="sign_in", user_id=user.id, username=user.username, ip=client_ip(request), via="api")
    db.commit()
    return TokenOut(access_token=access, expires_in=lifetime)
