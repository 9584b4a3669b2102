"""Sign-in: login required, wrong password, throttling, CSRF, roles, session expiry, the first admin."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.store import User, session_scope
from kehu.web.auth import LoginThrottle, authenticate, ensure_admin, hash_password, verify_password


@pytest.mark.parametrize("path", ["/", "/customers", "/customers/1", "/?lang=en"])
def test_every_page_redirects_to_login_when_signed_out(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_healthz_needs_no_login(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


def test_login_then_back_to_the_page_asked_for(client: TestClient, fx, helpers) -> None:
    first = client.get("/customers?stage=new", follow_redirects=True)
    assert "/login" in str(first.url)
    token = helpers.csrf_of(first.text)
    response = client.post(
        "/login",
        data={
            "username": "admin",
            "password": fx.PASSWORD,
            "csrf_token": token,
            "next": "/customers?stage=new",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/customers?stage=new"
    assert client.get("/customers?stage=new").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_login_never_redirects_off_site(client: TestClient, fx, helpers, target: str) -> None:
    token = helpers.csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "admin", "password": fx.PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_wrong_password_is_refused(client: TestClient, helpers) -> None:
    token = helpers.csrf_of(client.get("/login?lang=en").text)
    response = client.post("/login", data={"username": "admin", "password": "nope", "csrf_token": token})
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_unknown_user_gets_the_same_answer(client: TestClient, helpers) -> None:
    token = helpers.csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "mallory", "password": "x", "csrf_token": token})
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text


def test_five_failures_lock_the_username(client: TestClient, fx, helpers) -> None:
    token = helpers.csrf_of(client.get("/login?lang=en").text)
    for _ in range(5):
        bad = client.post("/login", data={"username": "admin", "password": "wrong", "csrf_token": token})
        assert bad.status_code == 401
    locked = client.post(
        "/login",
        data={"username": "admin", "password": fx.PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    assert client.get("/", follow_redirects=False).status_code == 303


def test_throttle_lifts_after_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=5, window_seconds=900, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("Admin")
    assert throttle.retry_after("admin") == pytest.approx(900)
    now[0] += 600
    assert throttle.retry_after("admin") == pytest.approx(300)
    now[0] += 301
    assert throttle.retry_after("admin") == 0
    throttle.failed("admin")
    throttle.succeeded("admin")
    assert throttle.retry_after("admin") == 0


def test_authenticate_refuses_while_throttled_even_with_the_right_password(web_settings, store, fx) -> None:
    from kehu.web.auth import Throttled

    throttle = LoginThrottle(max_failures=2)
    with session_scope(web_settings.store_url) as session:
        assert authenticate(session=session, throttle=throttle, username="admin", password="x") is None
        assert authenticate(session=session, throttle=throttle, username="admin", password="y") is None
        with pytest.raises(Throttled, match="too many failed sign-ins"):
            authenticate(session=session, throttle=throttle, username="admin", password=fx.PASSWORD)


def test_login_without_csrf_token_is_forbidden(client: TestClient, fx) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"username": "admin", "password": fx.PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    wrong = client.post(
        "/login",
        data={"username": "admin", "password": fx.PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert wrong.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token(admin: TestClient, helpers) -> None:
    assert admin.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert admin.get("/", follow_redirects=False).status_code == 200
    token = helpers.csrf_of(admin.get("/").text)
    response = admin.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert admin.get("/", follow_redirects=False).status_code == 303


def test_session_is_renewed_at_login(client: TestClient, helpers) -> None:
    before = helpers.csrf_of(client.get("/login").text)
    helpers.sign_in(client)
    after = helpers.csrf_of(client.get("/").text)
    assert before != after


def test_session_cookie_is_signed_and_http_only(client: TestClient, helpers) -> None:
    helpers.sign_in(client)
    cookie = next(c for c in client.cookies.jar if c.name == "kehu_session")
    assert cookie.has_nonstandard_attr("HttpOnly") or cookie.has_nonstandard_attr("httponly")
    client.cookies.set("kehu_session", cookie.value[:-4] + "AAAA")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_expires_after_session_hours(client: TestClient, helpers, monkeypatch) -> None:
    import time

    helpers.sign_in(client)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 13 * 3600)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_viewer_sees_the_dashboard_but_not_customers(client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "vera", "viewer")
    helpers.sign_in(client, "vera")
    assert client.get("/").status_code == 200
    assert client.get("/customers").status_code == 403
    assert client.get("/customers/1").status_code == 403


@pytest.mark.parametrize("role", ["analyst", "agent"])
def test_analyst_and_agent_see_customers(client: TestClient, web_settings, fx, helpers, role: str) -> None:
    fx.add_user(web_settings, role, role)
    helpers.sign_in(client, role)
    assert client.get("/customers").status_code == 200


def test_inactive_user_cannot_sign_in(client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "gone", "analyst")
    with session_scope(web_settings.store_url) as session:
        session.scalar(select(User).where(User.username == "gone")).is_active = False
    token = helpers.csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "gone", "password": fx.PASSWORD, "csrf_token": token})
    assert response.status_code == 401


def test_ensure_admin_creates_admin_once_with_the_configured_password(settings) -> None:
    configured = settings.model_copy(update={"admin_password": "from-the-environment"})
    assert ensure_admin(configured) == "from-the-environment"
    assert ensure_admin(configured) is None
    with session_scope(settings.store_url) as session:
        users = session.scalars(select(User)).all()
    assert [(u.username, u.role) for u in users] == [("admin", "admin")]
    assert verify_password(users[0].password_hash, "from-the-environment")
    assert users[0].password_hash.startswith("$argon2id$")


def test_ensure_admin_makes_up_a_random_password(settings) -> None:
    password = ensure_admin(settings)
    assert password and len(password) >= 12
    with session_scope(settings.store_url) as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
    assert verify_password(admin.password_hash, password)
    assert not verify_password(admin.password_hash, password + "x")


def test_verify_password_tolerates_a_malformed_hash() -> None:
    assert not verify_password("not-a-hash", "x")
    assert verify_password(hash_password("秘密"), "秘密")
