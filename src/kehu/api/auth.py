"""Who is calling the API: short-lived signed bearer tokens, API keys for scripts, and the permission check.

**Tokens** come from ``POST /api/v1/token`` (OAuth2 password flow) and last :data:`TOKEN_MINUTES` minutes. A token
is an ``itsdangerous`` signature (HMAC-SHA256 with a key derived from the secret for the purpose ``api-token``)
over ``{"sub": user id, "iat": issued, "exp": expires, "pw": password stamp}`` (times in Unix seconds). The
password stamp is a keyed hash of the user's password hash, so changing a password ends the tokens issued before.
The role is read from the store on every request, never from the token.

**API keys** look like ``kehu_<prefix>_<secret>``: a 12-hex-digit prefix (stored, unique, shown in lists) and a
43-character random secret. Only an HMAC-SHA256 of the whole key (purpose ``api-key``) is stored; the key itself
is shown once, when it is created. ``last_used_at`` is updated at most once a minute per key.

Every API route declares its permission with :func:`api_require`; a disabled or deleted user is refused with 401
whatever the credential. The permission table is :data:`kehu.web.auth.PERMISSIONS`, shared with the pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.api.errors import ApiError
from kehu.config import Settings
from kehu.privacy.keys import derive_key, load_secret
from kehu.store import ApiKey, User
from kehu.web.auth import PERMISSIONS, SignedIn
from kehu.web.deps import DbSession

#: How long a bearer token is valid, in minutes.
TOKEN_MINUTES = 30
#: The ``scheme_name`` of the two security schemes in the OpenAPI document.
BEARER_SCHEME = "bearer"
API_KEY_SCHEME = "api_key"
API_KEY_HEADER = "X-API-Key"
#: Every API key starts with this.
KEY_START = "kehu_"
#: ``last_used_at`` is written when it is older than this (seconds), not on every request.
LAST_USED_GRANULARITY = 60

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/token", auto_error=False, scheme_name=BEARER_SCHEME)
key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name=API_KEY_SCHEME)


def now() -> float:
    """The current time in Unix seconds; the one clock of tokens (tests patch it)."""
    return time.time()


def utcnow() -> datetime:
    """The current time as naive UTC, like every ``DateTime`` column of the store."""
    return datetime.fromtimestamp(now(), UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ApiUser(SignedIn):
    """The caller: the user (as the pages see it) and how they signed in: ``via`` is ``token`` or ``key``
    (``key_id`` then names the API key)."""

    via: str = "token"
    key_id: int | None = None


@dataclass(frozen=True)
class ApiKeys:
    """Bearer tokens signed with a key derived from the secret, and API keys stored as their SHA-256.

    API keys carry 256 random bits, so a plain hash is as safe to store as a keyed one and, unlike a keyed one,
    survives ``kehu keys rotate``; tokens live 30 minutes, so rotating the secret just signs everyone out.
    """

    token_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        """Derive the token key from the configured secret (purpose ``api-token``)."""
        return cls(derive_key(load_secret(settings), "api-token"))

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.token_key, salt="kehu-api-token")

    def _password_stamp(self, password_hash: str) -> str:
        return hmac.new(self.token_key, password_hash.encode(), hashlib.sha256).hexdigest()[:16]

    def issue_token(self, user: User, minutes: int = TOKEN_MINUTES) -> tuple[str, int]:
        """A signed token for ``user`` and its lifetime in seconds."""
        issued = int(now())
        lifetime = minutes * 60
        payload = {"sub": user.id, "iat": issued, "exp": issued + lifetime,
                   "pw": self._password_stamp(user.password_hash)}
        return str(self._serializer().dumps(payload)), lifetime

    def read_token(self, session: Session, token: str) -> User:
        """The active user a token names; :class:`ApiError` 401 when it is forged, expired, or the user is
        disabled, gone, or changed their password since."""
        try:
            payload = self._serializer().loads(token)
        except BadSignature:
            raise _unauthorized("invalid_token") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("sub"), int) \
                or not isinstance(payload.get("exp"), int):
            raise _unauthorized("invalid_token")
        if now() >= payload["exp"]:
            raise _unauthorized("token_expired", minutes=TOKEN_MINUTES)
        user = session.get(User, payload["sub"])
        if user is None or not user.is_active:
            raise _unauthorized("account_disabled")
        if not hmac.compare_digest(str(payload.get("pw", "")), self._password_stamp(user.password_hash)):
            raise _unauthorized("invalid_token")
        return user

    def hash_key(self, key: str) -> str:
        """The stored form of an API key: hex SHA-256 (64 characters)."""
        return hashlib.sha256(key.encode()).hexdigest()

    def new_key(self) -> tuple[str, str, str]:
        """A fresh API key: (the whole key, its prefix, its hash)."""
        prefix = secrets.token_hex(6)
        key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
        return key, prefix, self.hash_key(key)

    def read_key(self, session: Session, key: str) -> tuple[User, ApiKey]:
        """The active user and the key row of an API key; :class:`ApiError` 401 when it is unknown, revoked, or
        its user is disabled. Updates ``last_used_at`` (at most once a minute)."""
        if not key.startswith(KEY_START) or len(key) > 200:
            raise _unauthorized("invalid_api_key")
        prefix, sep, _secret = key[len(KEY_START):].partition("_")
        if not sep or len(prefix) != 12 or not all(c in "0123456789abcdef" for c in prefix):
            raise _unauthorized("invalid_api_key")
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, self.hash_key(key)):
            raise _unauthorized("invalid_api_key")
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise _unauthorized("account_disabled")
        moment = utcnow()
        if row.last_used_at is None or moment - row.last_used_at >= timedelta(seconds=LAST_USED_GRANULARITY):
            row.last_used_at = moment
            session.commit()
        return user, row


def _unauthorized(code: str, **params: Any) -> ApiError:
    return ApiError(401, code, headers={"WWW-Authenticate": "Bearer"}, **params)


def api_keys(request: Request) -> ApiKeys:
    """The app's :class:`ApiKeys`, derived once per app."""
    keys = getattr(request.app.state, "api_keys", None)
    if keys is None:
        keys = ApiKeys.from_settings(request.app.state.settings)
        request.app.state.api_keys = keys
    return keys


def api_user(
    request: Request,
    db: DbSession,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(key_scheme)],
) -> ApiUser:
    """The caller from ``Authorization: Bearer …`` (preferred when both are sent) or ``X-API-Key``; 401 without
    either or with one that does not check out. The web app's session cookie is not accepted: API calls carry
    their credential in a header, so a third-party page cannot make them in a signed-in user's name."""
    keys = api_keys(request)
    if bearer:
        user = keys.read_token(db, bearer)
        signed = ApiUser(id=user.id, username=user.username, role=user.role, via="token")
    elif api_key:
        user, row = keys.read_key(db, api_key)
        signed = ApiUser(id=user.id, username=user.username, role=user.role, via="key", key_id=row.id)
    else:
        raise _unauthorized("not_authenticated")
    request.state.user = signed
    return signed


def api_require(permission: str) -> Callable[..., ApiUser]:
    """A dependency giving the caller when their role has ``permission`` (see :data:`PERMISSIONS`), else 403.

    This is the one permission check of the API: every route declares one (a test enumerates the routes). The
    returned function carries ``permission`` as an attribute, so the check can be found on a route.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; add it to kehu.web.auth.PERMISSIONS")

    def check(user: Annotated[ApiUser, Depends(api_user)]) -> ApiUser:
        if not user.can(permission):
            raise ApiError(403, "forbidden", role=user.role, permission=permission)
        return user

    check.__name__ = f"api_require_{permission}"
    check.permission = permission  # type: ignore[attr-defined]
    return check


def client_ip(request: Request) -> str | None:
    """The client address for the audit log (``None`` when unknown)."""
    return request.client.host if request.client else None
