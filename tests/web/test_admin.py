"""Admin pages: users and roles, the audit log (filters, paging, CSV), privacy requests (export, erase with a
confirmation step); admins only, CSRF on every form, sign-ins audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.privacy import audit
from kehu.store import AuditEvent, Customer, User, session_scope

ADMIN_GETS = ["/admin", "/admin/users", "/admin/audit", "/admin/audit.csv", "/admin/privacy",
              "/admin/privacy?customer=C0000", "/admin/privacy/1/erase"]
ADMIN_POSTS = ["/admin/users", "/admin/users/1/role", "/admin/users/1/active", "/admin/privacy/1/export",
               "/admin/privacy/1/erase"]
NEW_PASSWORD = "a brand new password"


class Elements(HTMLParser):
    """Every element of a page with its attributes and its text (for asserting content, not markup)."""

    VOID = {"input", "br", "meta", "link", "img", "hr"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], list[str]]] = []
        self.stack: list[list[str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        text: list[str] = []
        self.found.append((tag, {k: v or "" for k, v in attrs}, text))
        if tag not in self.VOID:
            self.stack.append(text)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        for text in self.stack:
            text.append(data)

    def with_attr(self, name: str, value: str | None = None) -> list[tuple[dict[str, str], str]]:
        """(attributes, text) of the elements having attribute ``name`` (equal to ``value`` when given)."""
        return [(a, " ".join("".join(t).split())) for _, a, t in self.found
                if name in a and (value is None or a[name] == value)]

    def text_of(self, name: str, value: str | None = None) -> str:
        hits = self.with_attr(name, value)
        assert hits, f"no element with {name}={value!r}"
        return hits[0][1]


def csrf(client: TestClient, path: str = "/admin/users") -> str:
    inputs = [a for _, a, _ in Elements(client.get(path).text).found if a.get("name") == "csrf_token"]
    assert inputs, "no CSRF field"
    return inputs[0]["value"]


def events(web_settings, action: str | None = None) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session_scope(web_settings.store_url) as session:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return list(session.scalars(stmt))


def user_id(web_settings, name: str) -> int:  # type: ignore[no-untyped-def]
    with session_scope(web_settings.store_url) as session:
        return session.scalar(select(User.id).where(User.username == name))


# --- who may see the pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "analyst", "agent"])
def test_other_roles_get_403_everywhere(client: TestClient, web_settings, fx, helpers, role: str) -> None:
    fx.add_user(web_settings, role, role)
    helpers.sign_in(client, role)
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 403, path
    token = helpers.csrf_of(client.get("/").text)
    for path in ADMIN_POSTS:
        assert client.post(path, data={"csrf_token": token, "role": "admin", "active": "true", "username": "x",
                                       "password": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                       "confirm": "C0000"}).status_code == 403, path
    with session_scope(web_settings.store_url) as session:
        assert session.scalar(select(User).where(User.username == "x")) is None
        assert session.scalar(select(Customer).where(Customer.external_id == "C0000")) is not None
    assert 'href="/admin"' not in client.get("/").text  # no way in from the navigation either


def test_signed_out_goes_to_login(client: TestClient) -> None:
    for path in ADMIN_GETS:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path


def test_index_in_both_languages(admin: TestClient, store) -> None:
    for lang, title in (("zh", "用户与角色"), ("en", "Users and roles")):
        page = Elements(admin.get(f"/admin?lang={lang}").text)
        assert page.text_of("data-figure", "users") == "1"
        assert page.text_of("data-figure", "active_admins") == "1"
        assert page.text_of("data-figure", "erased") == "0"
        assert title in page.text_of("id", "area-users")


# --- users ----------------------------------------------------------------------------------------------------------


def test_add_user_then_they_sign_in(admin: TestClient, client: TestClient, web_settings, helpers) -> None:
    response = admin.post("/admin/users?lang=en", data={"csrf_token": csrf(admin), "username": "lin",
                                                        "password": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                                        "role": "agent"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/users"
    page = Elements(admin.get("/admin/users?lang=en").text)
    assert page.text_of("data-flash") == "User lin (agent) added."
    row = page.with_attr("data-user", "lin")[0][0]
    assert (row["data-role"], row["data-active"]) == ("agent", "true")
    assert NEW_PASSWORD not in admin.get("/admin/users").text
    added = events(web_settings, "user_add")[-1]
    assert (added.username, added.via, added.ip, added.detail) == ("admin", "web", "testclient",
                                                                   {"username": "lin", "role": "agent"})
    admin.cookies.clear()
    helpers.sign_in(admin, "lin", NEW_PASSWORD)
    response = admin.get("/admin", follow_redirects=False)
    assert response.status_code == 403  # signed in, as an agent


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"password2": "something else entirely"}, 400, "the two passwords differ"),
    ({"password": "short", "password2": "short"}, 400, "at least 10 characters"),
    ({"role": "owner"}, 400, "unknown role 'owner'"),
    ({"username": "admin"}, 409, "exists already"),
    ({"username": "has space"}, 400, "is not valid"),
])
def test_add_user_mistakes_show_on_the_form(admin: TestClient, fields: dict, status: int, message: str) -> None:
    data = {"csrf_token": csrf(admin), "username": "lin", "password": NEW_PASSWORD, "password2": NEW_PASSWORD,
            "role": "viewer", **fields}
    response = admin.post("/admin/users", data=data)
    assert response.status_code == status
    page = Elements(response.text)
    assert message in page.text_of("data-error")
    assert page.with_attr("data-form", "add-user")  # the form is there to try again
    assert "lin" not in [a["data-user"] for a, _ in page.with_attr("data-user")]


def test_every_form_needs_the_csrf_token(admin: TestClient, store, web_settings) -> None:
    for path in ADMIN_POSTS:
        path = path.replace("/privacy/1/", f"/privacy/{store.vip_id}/")
        response = admin.post(path, data={"username": "x", "password": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                          "role": "viewer", "active": "false", "confirm": "C0000"})
        assert response.status_code == 403, path
    with session_scope(web_settings.store_url) as session:
        assert session.get(Customer, store.vip_id).erased_at is None
    assert not events(web_settings, "privacy_export")
    # Every form on the admin pages carries the token.
    for path in ("/admin/users", "/admin/privacy?customer=C0000", f"/admin/privacy/{store.vip_id}/erase"):
        page = Elements(admin.get(path).text)
        forms = [a for tag, a, _ in page.found if tag == "form" and a.get("method") == "post"]
        tokens = [a for _, a, _ in page.found if a.get("name") == "csrf_token"]
        assert forms and len(tokens) == len(forms), path


def test_change_role_disable_enable(admin: TestClient, client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "agent1", "agent")
    uid = user_id(web_settings, "agent1")
    with TestClient(client.app) as other:  # agent1 signed in elsewhere
        helpers.sign_in(other, "agent1")
        assert other.get("/admin/audit").status_code == 403
        token = csrf(admin)
        admin.post(f"/admin/users/{uid}/role", data={"csrf_token": token, "role": "admin"})
        assert other.get("/admin/audit").status_code == 200  # the new role applies at once
        admin.post(f"/admin/users/{uid}/role", data={"csrf_token": token, "role": "viewer"})
        assert other.get("/admin/audit").status_code == 403
        admin.post(f"/admin/users/{uid}/active", data={"csrf_token": token, "active": "false"})
        assert other.get("/", follow_redirects=False).status_code == 303  # and the disabled user is out
    row = Elements(admin.get("/admin/users").text).with_attr("data-user", "agent1")[0][0]
    assert (row["data-role"], row["data-active"]) == ("viewer", "false")
    admin.post(f"/admin/users/{uid}/active", data={"csrf_token": csrf(admin), "active": "true"})
    assert Elements(admin.get("/admin/users").text).with_attr("data-user", "agent1")[0][0]["data-active"] == "true"
    changes = [e for e in events(web_settings) if e.target_id == str(uid) and not e.action.startswith("sign_")]
    assert [(e.action, e.target_type, e.username) for e in changes] == [
        ("role_change", "user", "admin"), ("role_change", "user", "admin"), ("user_disable", "user", "admin"),
        ("user_enable", "user", "admin")]


def test_admin_cannot_lock_themselves_out(admin: TestClient, web_settings) -> None:
    uid = user_id(web_settings, "admin")
    for path, data in ((f"/admin/users/{uid}/role", {"role": "viewer"}), (f"/admin/users/{uid}/active",
                                                                            {"active": "false"})):
        response = admin.post(path + "?lang=en", data={"csrf_token": csrf(admin), **data})
        assert response.status_code == 400
        assert "ask another admin" in Elements(response.text).text_of("data-error")
    assert admin.get("/admin").status_code == 200
    response = admin.post("/admin/users/999999/role", data={"csrf_token": csrf(admin), "role": "viewer"})
    assert response.status_code == 404 and "no user 999999" in response.text


# --- audit log ------------------------------------------------------------------------------------------------------


def test_sign_ins_and_outs_are_audited(client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "agent1", "agent")
    token = helpers.csrf_of(client.get("/login").text)
    client.post("/login", data={"username": "agent1", "password": "wrong password!", "csrf_token": token})
    client.post("/login", data={"username": "my secret pw", "password": "x", "csrf_token": token})
    helpers.sign_in(client, "agent1")
    client.post("/logout", data={"csrf_token": helpers.csrf_of(client.get("/").text)})
    seen = [(e.action, e.username, e.user_id is not None, e.ip, e.via) for e in events(web_settings)]
    assert seen == [("sign_in_failed", "agent1", True, "testclient", "web"),
                    ("sign_in_failed", None, False, "testclient", "web"),  # an unknown name is not kept
                    ("sign_in", "agent1", True, "testclient", "web"),
                    ("sign_out", "agent1", True, "testclient", "web")]
    assert all("my secret pw" not in json.dumps(e.detail) for e in events(web_settings))


def _add_events(web_settings, n: int) -> None:  # type: ignore[no-untyped-def]
    with session_scope(web_settings.store_url) as session:
        for i in range(n):
            event = audit.record(session, action="reveal" if i % 2 else "export", username="=HYPERLINK(1)",
                                 target_type="customer", target_id=i + 1, detail={"field": "=cmd|' /C calc'!A0"},
                                 ip="10.0.0.9", via="api")
            event.at = datetime(2025, 1, 1) + timedelta(days=i)


def test_audit_page_filters_and_pages(admin: TestClient, web_settings) -> None:
    _add_events(web_settings, 120)
    page = Elements(admin.get("/admin/audit?lang=en").text)
    assert page.text_of("data-total") == "Events: 121"  # and the admin's own sign-in
    rows = page.with_attr("data-event")
    assert len(rows) == 50 and rows[0][0]["data-action"] == "sign_in"  # newest first
    assert "Page 1 of 3" in page.text_of("class", "pagination")
    last = Elements(admin.get("/admin/audit?page=3").text).with_attr("data-event")
    assert len(last) == 21
    page = Elements(admin.get("/admin/audit?action=reveal&user=%3DHYPERLINK%281%29&from=2025-01-01&to=2025-01-10"
                              "&lang=en").text)
    got = page.with_attr("data-event")
    assert page.text_of("data-total") == "Events: 5" and {a["data-action"] for a, _ in got} == {"reveal"}
    assert "customer 2" in got[-1][1] and "10.0.0.9" in got[-1][1]
    assert page.with_attr("value", "reveal")[0][0].get("selected") is not None
    empty = Elements(admin.get("/admin/audit?action=&user=&from=&to=").text)  # an empty form is no filter
    assert empty.text_of("data-total") == "Events: 121"


@pytest.mark.parametrize(("query", "message"), [("from=2025-13-01", "is not a date"),
                                                 ("action=hack", "unknown action 'hack'"),
                                                 ("from=2025-02-01&to=2025-01-01", "is after")])
def test_audit_filter_mistakes_are_400(admin: TestClient, query: str, message: str) -> None:
    response = admin.get(f"/admin/audit?{query}")
    assert response.status_code == 400 and message in unescape(response.text) and "Traceback" not in response.text


def test_audit_csv_is_formula_safe_and_audited(admin: TestClient, web_settings) -> None:
    _add_events(web_settings, 6)
    response = admin.get("/admin/audit.csv?action=reveal")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 3 and {r["action"] for r in rows} == {"reveal"}
    assert all(r["username"] == "'=HYPERLINK(1)" for r in rows)
    assert all(json.loads(r["detail"]) == {"field": "=cmd|' /C calc'!A0"} for r in rows)  # JSON starts with {
    exported = events(web_settings, "export")[-1]
    assert exported.target_type == "audit_log" and exported.detail == {"rows": 3, "filters": {"action": "reveal"}}


# --- privacy requests -----------------------------------------------------------------------------------------------


def test_lookup_shows_what_is_held_masked(admin: TestClient, store, fx) -> None:
    response = admin.get("/admin/privacy?customer=C0000&source=generic&lang=en")
    page = Elements(response.text)
    assert page.text_of("data-field", "external_id") == "C0000"
    assert page.text_of("data-field", "phone") == "138****5678"
    assert page.text_of("data-count", "orders") == "4"
    assert fx.VIP_PHONE not in response.text and fx.VIP_NAME not in response.text
    missing = admin.get("/admin/privacy?customer=NOPE&lang=en")
    assert missing.status_code == 404 and "no customer with source id 'NOPE'" in Elements(missing.text).text_of(
        "data-error")


def test_export_download(admin: TestClient, store, fx, web_settings) -> None:
    token = csrf(admin, "/admin/privacy?customer=C0000")
    response = admin.post(f"/admin/privacy/{store.vip_id}/export", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert f"kehu-customer-{store.vip_id}.json" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["customer"]["phone"] == fx.VIP_PHONE and len(data["orders"]) == 4
    event = events(web_settings, "privacy_export")[-1]
    assert (event.username, event.via, event.target_id) == ("admin", "web", str(store.vip_id))
    assert admin.post("/admin/privacy/999999/export", data={"csrf_token": token}).status_code == 404


def test_erase_needs_the_confirmation_step(admin: TestClient, store, web_settings, fx) -> None:
    confirm = admin.get(f"/admin/privacy/{store.vip_id}/erase?lang=en")
    assert confirm.status_code == 200
    page = Elements(confirm.text)
    assert page.with_attr("data-form", "erase") and "erased-" in confirm.text
    token = csrf(admin, f"/admin/privacy/{store.vip_id}/erase")
    wrong = admin.post(f"/admin/privacy/{store.vip_id}/erase?lang=en", data={"csrf_token": token, "confirm": "C0001"})
    assert wrong.status_code == 400 and "nothing was erased" in Elements(wrong.text).text_of("data-error")
    with session_scope(web_settings.store_url) as session:
        assert session.get(Customer, store.vip_id).phone_enc is not None
    done = admin.post(f"/admin/privacy/{store.vip_id}/erase", data={"csrf_token": token, "confirm": " C0000 "},
                      follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/admin/privacy?customer=erased-{store.vip_id}"
    page = Elements(admin.get(done.headers["location"] + "&lang=en").text)
    assert page.text_of("data-flash").startswith("Personal data of customer C0000")
    assert page.with_attr("data-erased", "true") and page.text_of("data-field", "phone") == "—"
    assert not page.with_attr("data-action", "erase")  # no second erase button
    with session_scope(web_settings.store_url) as session:
        vip = session.get(Customer, store.vip_id)
        assert vip.phone_enc is None and vip.erased_at is not None
    event = events(web_settings, "privacy_erase")[-1]
    assert (event.username, event.via, event.target_id) == ("admin", "web", str(store.vip_id))
    assert Elements(admin.get("/admin").text).text_of("data-figure", "erased") == "1"
    assert admin.get("/admin/privacy/999999/erase").status_code == 404
