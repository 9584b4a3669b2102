"""Tokens (password flow, expiry, throttling, disabled users) and API keys (create, use, last use, revoke)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kehu.api import auth as api_auth
from kehu.store import ApiKey, AuditEvent, User, session_scope

PASSWORD = "correct horse battery staple"  # tests/web/factories.py


def test_token_then_a_call_on_each_store(any_client, any_api) -> None:  # type: ignore[no-untyped-def]
    response = any_client.post("/api/v1/token", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == api_auth.TOKEN_MINUTES * 60
    listed = any_client.get("/api/v1/customers", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert listed.status_code == 200
    assert listed.json()["total"] == 8


def test_wrong_password_and_unknown_user_get_the_same_401(client, api) -> None:  # type: ignore[no-untyped-def]
    wrong = client.post("/api/v1/token", data={"username": "admin", "password": "nope"})
    unknown = client.post("/api/v1/token", data={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert api.error(wrong) == api.error(unknown) == "invalid_credentials"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


def test_failed_sign_ins_are_throttled_like_the_web_login(client, api) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert client.post("/api/v1/token", data={"username": "agent", "password": "wrong"}).status_code == 401
    locked = client.post("/api/v1/token", data={"username": "agent", "password": PASSWORD})
    assert locked.status_code == 429
    assert api.error(locked) == "throttled"
    assert int(locked.headers["Retry-After"]) > 0
    # another username is not locked
    assert client.post("/api/v1/token", data={"username": "analyst", "password": PASSWORD}).status_code \
        == 200


def test_disabled_user_gets_no_token_and_loses_the_one_it_had(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    headers = api.headers("agent")
    with session_scope(api_settings.store_url) as session:
        session.scalar(select(User).where(User.username == "agent")).is_active = False
    refused = client.post("/api/v1/token", data={"username": "agent", "password": PASSWORD})
    assert refused.status_code == 401 and api.error(refused) == "invalid_credentials"
    old = client.get("/api/v1/customers", headers=headers)
    assert old.status_code == 401 and api.error(old) == "account_disabled"


def test_tokens_expire_after_thirty_minutes(client, api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    start = 1_900_000_000.0
    monkeypatch.setattr(api_auth, "now", lambda: start)
    headers = api.headers("admin")
    monkeypatch.setattr(api_auth, "now", lambda: start + 29 * 60)
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    monkeypatch.setattr(api_auth, "now", lambda: start + 30 * 60)
    expired = client.get("/api/v1/customers", headers=headers)
    assert expired.status_code == 401
    assert api.error(expired) == "token_expired"


def test_a_token_signed_with_another_key_or_tampered_is_refused(client, api) -> None:  # type: ignore[no-untyped-def]
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer(b"x" * 32, salt="kehu-api-token").dumps({"sub": 1, "iat": 0, "exp": 2**40, "pw": ""})
    response = client.get("/api/v1/customers", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and api.error(response) == "invalid_token"
    token = api.token("admin")
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401


def test_changing_the_password_ends_older_tokens(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    from kehu.web.auth import hash_password

    headers = api.headers("analyst")
    with session_scope(api_settings.store_url) as session:
        session.scalar(select(User).where(User.username == "analyst")).password_hash = hash_password("new one!")
    assert client.get("/api/v1/customers", headers=headers).status_code == 401


def test_the_web_session_cookie_does_not_authenticate_the_api(client, api) -> None:  # type: ignore[no-untyped-def]
    import re

    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf},
                follow_redirects=False)
    assert client.get("/customers").status_code == 200  # signed in for the pages
    response = client.get("/api/v1/customers")
    assert response.status_code == 401 and api.error(response) == "not_authenticated"


def test_api_key_create_use_list_and_revoke(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/api/v1/keys", json={"name": "nightly export"}, headers=api.headers("analyst"))
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("kehu_" + body["prefix"] + "_")
    with session_scope(api_settings.store_url) as session:
        row = session.get(ApiKey, body["id"])
        assert row.key_hash != key and key not in row.key_hash and len(row.key_hash) == 64
        assert row.last_used_at is None

    used = client.get("/api/v1/snapshots", headers={"X-API-Key": key})
    assert used.status_code == 200 and used.json()["total"] == 2
    with session_scope(api_settings.store_url) as session:
        assert session.get(ApiKey, body["id"]).last_used_at is not None

    listed = client.get("/api/v1/keys", headers=api.headers("analyst")).json()
    assert [k["prefix"] for k in listed["items"]] == [body["prefix"]]
    assert "key" not in listed["items"][0]
    # the key acts with its user's role: an analyst may not reveal or delete
    assert client.delete("/api/v1/customers/1", headers={"X-API-Key": key}).status_code == 403
    # another user cannot see or revoke it
    assert client.get("/api/v1/keys", headers=api.headers("admin")).json()["total"] == 0
    assert client.delete(f"/api/v1/keys/{body['id']}", headers=api.headers("admin")).status_code == 404

    revoked = client.delete(f"/api/v1/keys/{body['id']}", headers=api.headers("analyst"))
    assert revoked.status_code == 204
    refused = client.get("/api/v1/snapshots", headers={"X-API-Key": key})
    assert refused.status_code == 401 and api.error(refused) == "invalid_api_key"
    with session_scope(api_settings.store_url) as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "api_key_create" in actions and "api_key_revoke" in actions


def test_a_key_cannot_create_keys_and_wrong_keys_are_refused(client, api) -> None:  # type: ignore[no-untyped-def]
    key = client.post("/api/v1/keys", json={"name": "script"}, headers=api.headers("agent")).json()["key"]
    response = client.post("/api/v1/keys", json={"name": "another"}, headers={"X-API-Key": key})
    assert response.status_code == 403 and api.error(response) == "token_required"
    for wrong in ("nope", key[:-3] + "abc", "kehu_zzzzzzzzzzzz_x", key.replace("kehu_", "kehu_0")):
        response = client.get("/api/v1/customers", headers={"X-API-Key": wrong})
        assert response.status_code == 401, wrong
        assert api.error(response) == "invalid_api_key"


def test_last_used_is_written_at_most_once_a_minute(client, api, api_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key = client.post("/api/v1/keys", json={"name": "k"}, headers=api.headers("admin")).json()
    start = 1_900_000_000.0
    monkeypatch.setattr(api_auth, "now", lambda: start)
    client.get("/api/v1/snapshots", headers={"X-API-Key": key["key"]})
    with session_scope(api_settings.store_url) as session:
        first = session.get(ApiKey, key["id"]).last_used_at
    monkeypatch.setattr(api_auth, "now", lambda: start + 30)
    client.get("/api/v1/snapshots", headers={"X-API-Key": key["key"]})
    with session_scope(api_settings.store_url) as session:
        assert session.get(ApiKey, key["id"]).last_used_at == first
    monkeypatch.setattr(api_auth, "now", lambda: start + 61)
    client.get("/api/v1/snapshots", headers={"X-API-Key": key["key"]})
    with session_scope(api_settings.store_url) as session:
        assert session.get(ApiKey, key["id"]).last_used_at - first == timedelta(seconds=61)


def test_sign_ins_are_audited_without_unknown_names(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    api.token("agent")
    client.post("/api/v1/token", data={"username": "agent", "password": "wrong"})
    client.post("/api/v1/token", data={"username": "someone@example.com", "password": "wrong"})
    with session_scope(api_settings.store_url) as session:
        events = [(e.action, e.username, e.via) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("sign_in", "agent", "api") in events
    assert ("sign_in_failed", "agent", "api") in events
    assert ("sign_in_failed", None, "api") in events
    assert all(name != "someone@example.com" for _, name, _ in events)
