"""``/keys``: the signed-in user's API keys: list, create (the key is shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from kehu.api.auth import ApiUser, api_keys, api_require, client_ip, utcnow
from kehu.api.errors import ApiError
from kehu.api.paging import Paging, paginate
from kehu.api.params import KeyId
from kehu.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, Page
from kehu.errors import NotFound
from kehu.privacy import audit
from kehu.store import ApiKey
from kehu.web.deps import DbSession

router = APIRouter(tags=["keys"])

KeyManager = Annotated[ApiUser, Depends(api_require("manage_api_keys"))]


def _public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at,
                        last_used_at=row.last_used_at, revoked_at=row.revoked_at)


@router.get("/keys", response_model=Page[ApiKeyPublic], summary="List my API keys")
def list_keys(db: DbSession, user: KeyManager, paging: Paging) -> Page[ApiKeyPublic]:
    """The caller's keys, newest first, revoked ones included (with ``revoked_at``); never the keys themselves."""
    stmt = select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id.desc())
    return paginate(db, stmt, paging, _public)


@router.post("/keys", response_model=ApiKeyCreated, status_code=201, summary="Create an API key")
def create_key(request: Request, db: DbSession, user: KeyManager, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new key for scripts, acting as the caller with the caller's role. ``key`` is in this answer only (the
    store keeps a hash); send it as ``X-API-Key``. Needs a token from a password sign-in (403 ``token_required``
    when called with an API key). Audited (``api_key_create``)."""
    if user.via != "token":
        raise ApiError(403, "token_required")
    key, prefix, key_hash = api_keys(request).new_key()
    row = ApiKey(user_id=user.id, name=body.name, prefix=prefix, key_hash=key_hash, created_at=utcnow())
    db.add(row)
    db.flush()
    audit.record(db, action="api_key_create", user_id=user.id, username=user.username, target_type="api_key",
                 target_id=row.id, detail={"prefix": prefix}, ip=client_ip(request), via="api")
    db.commit()
    return ApiKeyCreated(**_public(row).model_dump(), key=key)


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_key(request: Request, db: DbSession, user: KeyManager, key_id: KeyId) -> Response:
    """Revoke one of the caller's keys (404 for another user's key); it stops working at once. Revoking a revoked
    key changes nothing. Audited (``api_key_revoke``)."""
    row = db.get(ApiKey, key_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"you have no API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(db, action="api_key_revoke", user_id=user.id, username=user.username, target_type="api_key",
                     target_id=row.id, detail={"prefix": row.prefix}, ip=client_ip(request), via="api")
        db.commit()
    return Response(status_code=204)
