"""The segment pages: the list with sizes and trends, the builder (live count as JSON, error marks, Check without
JavaScript), a segment's page with its size over time and migration, editing, archiving, exporting; who may do what,
CSRF on every form, personal fields masked everywhere."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.segments import refresh_segments
from kehu.store import AuditEvent, Classification, Customer, Segment, session_scope


class Page(HTMLParser):
    """The elements of a page with their attributes and text, to assert content rather than markup."""

    VOID = {"input", "br", "meta", "link", "img", "hr", "circle", "polyline"}

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

    def all(self, name: str, value: str | None = None, tag: str | None = None) -> list[tuple[dict[str, str], str]]:
        """(attributes, text) of the elements with attribute ``name`` (= ``value`` when given)."""
        return [(a, " ".join("".join(t).split())) for t_, a, t in self.found
                if name in a and (value is None or a[name] == value) and (tag is None or t_ == tag)]

    def text(self, name: str, value: str | None = None, tag: str | None = None) -> str:
        hits = self.all(name, value, tag)
        assert hits, f"no element with {name}={value!r}"
        return hits[0][1]

    def script(self, element_id: str) -> object:
        return json.loads(self.text("id", element_id, "script"))


def _as(client: TestClient, helpers, fx, web_settings, role: str) -> TestClient:  # type: ignore[no-untyped-def]
    fx.add_user(web_settings, f"{role}1", role)
    helpers.sign_in(client, f"{role}1")
    return client


def _csrf(client: TestClient) -> str:
    page = Page(client.get("/segments").text)
    return page.all("name", "csrf_token")[0][0]["value"]


@pytest.fixture
def refreshed(web_settings, store):  # type: ignore[no-untyped-def]
    refresh_segments(web_settings, all_snapshots=True)
    return store


def test_list_shows_tags_with_sizes_and_trends(admin: TestClient, refreshed) -> None:  # type: ignore[no-untyped-def]
    page = Page(admin.get("/segments").text)
    rows = {a["data-builtin"]: a for a, _ in page.all("data-builtin", tag="tr")}
    assert set(rows) == {"price_sensitive", "quality_seeking", "service_heavy", "big_spender", "frequent_buyer",
                         "first_tier_city", "young_adult"}
    assert rows["first_tier_city"]["data-size"] == "15"
    spark = page.all("data-values", tag="svg")
    assert spark and "2025-03-31" in spark[0][0]["data-values"] and "2025-06-30" in spark[0][0]["data-values"]
    assert page.all("data-action", "new") and page.all("data-action", "refresh")
    assert page.text("aria-current", "page") == "分群"
    english = Page(admin.get("/segments?lang=en").text)
    assert "Price-sensitive" in english.text("data-builtin", "price_sensitive", "tr")
    assert "First-tier city" in english.text("data-builtin", "first_tier_city", "tr")


def test_refresh_button_creates_the_default_tags(admin: TestClient, store) -> None:  # type: ignore[no-untyped-def]
    page = Page(admin.get("/segments").text)
    assert page.all("data-empty", "segments")
    response = admin.post("/segments/refresh", data={"csrf_token": _csrf(admin), "as_of": "2025-06-30"},
                          follow_redirects=False)
    assert response.status_code == 303 and "refreshed=2025-06-30" in response.headers["location"]
    page = Page(admin.get(response.headers["location"]).text)
    assert "2025-06-30" in page.text("data-notice", "refreshed")
    assert len(page.all("data-builtin", tag="tr")) == 7
    assert admin.post("/segments/refresh", data={"as_of": "2025-06-30"}).status_code == 403  # no CSRF token


def test_preview_counts_and_samples_masked(admin: TestClient, store, fx) -> None:  # type: ignore[no-untyped-def]
    response = admin.get("/segments/preview", params={"rule": "province = '广东' AND frequency >= 1"})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["ok"] and body["count"] == 15 and body["total"] == 60 and body["as_of"] == "2025-06-30"
    assert "15 位客户" in body["summary"] and set(body["columns"]) == {"province", "frequency"}
    assert len(body["sample"]) == 15
    assert all(r["name"].endswith("*") and r["href"].startswith("/customers/") for r in body["sample"])
    vip = next(r for r in body["sample"] if r["external_id"] == "C0000")
    assert vip["name"] == "张**" and fx.VIP_NAME not in response.text and fx.VIP_PHONE not in response.text
    old = admin.get("/segments/preview", params={"rule": "province = '广东'", "as_of": "2025-03-31"}).json()
    assert old["as_of"] == "2025-03-31"


def test_preview_error_points_at_the_offending_text(admin: TestClient, store) -> None:  # type: ignore[no-untyped-def]
    response = admin.get("/segments/preview", params={"rule": "province = '广东' AND upper(city) = 'A'",
                                                      "lang": "en"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "function" and error["token"] == "upper"
    assert (error["start"], error["end"], error["js_start"], error["js_end"]) == (20, 25, 20, 25)
    assert "functions such as upper" in error["message"] and "character 21" in error["message"]
    zh = admin.get("/segments/preview", params={"rule": "provnce = 1", "lang": "zh"}).json()["error"]
    assert "未知的列" in zh["message"] and zh["token"] == "provnce"
    missing = admin.get("/segments/preview", params={"rule": "TRUE", "as_of": "2020-01-01"})
    assert missing.status_code == 404 and "no ready classification snapshot" in missing.json()["error"]["message"]


def test_saving_a_wrong_rule_shows_the_builder_with_a_mark(admin: TestClient, store) -> None:  # type: ignore[no-untyped-def]
    response = admin.post("/segments", data={"csrf_token": _csrf(admin), "name": "坏规则",
                                             "rule": "province = '广东' AND city IN (SELECT 1)"})
    assert response.status_code == 400
    page = Page(response.text)
    assert page.text("data-role", "message").startswith("不允许子查询")
    assert [text for _, text in page.all("data-role", "mark")] == ["province = '广东' AND city IN (SELECT 1)"]
    assert page.text("class", "seg-rule-mark") and "<mark>SELECT</mark>" in response.text
    assert page.all("aria-invalid", "true", "textarea")
    assert page.text("id", "seg-name", "input") == "" and page.all("value", "坏规则", "input")
    with session_scope(admin.app.state.settings.store_url) as session:
        assert session.scalar(select(Segment)) is None
    duplicate = admin.post("/segments", data={"csrf_token": _csrf(admin), "name": "2024", "rule": "TRUE"})
    assert duplicate.status_code == 400 and "only digits" in Page(duplicate.text).text("data-error", "form")


def test_check_shows_the_count_without_javascript(admin: TestClient, store) -> None:  # type: ignore[no-untyped-def]
    response = admin.post("/segments", data={"csrf_token": _csrf(admin), "name": "", "rule": "frequency >= 2",
                                             "action": "check"})
    assert response.status_code == 200
    page = Page(response.text)
    assert page.all("data-count", "39")
    assert len(page.all("data-customer", tag="tr")) == 20
    new = Page(admin.get("/segments/new", params={"rule": "frequency = 3"}).text)
    assert new.all("data-count", "19") and new.text("id", "seg-rule", "textarea") == "frequency = 3"


def test_create_then_see_size_migration_and_members(admin: TestClient, store) -> None:  # type: ignore[no-untyped-def]
    response = admin.post("/segments", data={"csrf_token": _csrf(admin), "name": "重要价值",
                                             "rule": "rfm_class = '重要价值客户'", "description": "VIP",
                                             "is_tag": "true"}, follow_redirects=False)
    assert response.status_code == 303
    page = Page(admin.get(response.headers["location"]).text)
    url = admin.app.state.settings.store_url
    with session_scope(url) as session:
        segment = session.scalar(select(Segment))
        assert segment.is_tag and segment.description == "VIP" and segment.created_by == "admin"

        def members(snapshot_id: int) -> set[int]:
            return set(session.scalars(select(Classification.customer_id).where(
                Classification.snapshot_id == snapshot_id, Classification.rfm_class == "important_value")))

        now, before = members(store.snapshot_id), members(store.snapshot_id - 1)
    assert page.text("data-figure", "size") == str(len(now))
    assert page.text("data-migration", "stayed") == str(len(now & before))
    assert page.text("data-migration", "entered") == str(len(now - before))
    assert page.text("data-migration", "left") == str(len(before - now))
    charts = {c["id"]: c for c in page.script("kehu-charts")["charts"]}  # type: ignore[index]
    sizes = page.script("seg-charts")
    assert sizes["labels"] == ["2025-03-31", "2025-06-30"]  # type: ignore[index]
    assert sizes["values"] == [len(before), len(now)]  # type: ignore[index]
    sankey = charts["chart-migration"]["variants"]["members"]
    assert sum(sankey["value"]) == len(now & before) + len(now - before) + len(before - now)
    assert charts["chart-migration"]["dates"] == ["2025-03-31", "2025-06-30"]
    assert len(page.all("data-customer", tag="tr")) == len(now) + len(now - before) + len(before - now)
    assert page.all("data-kind", "tag") and page.text("data-rule", tag="code") == "rfm_class = '重要价值客户'"


def test_viewer_sees_sizes_but_no_members_and_cannot_build(client: TestClient, helpers, fx, web_settings,  # type: ignore[no-untyped-def]
                                                           refreshed) -> None:
    viewer = _as(client, helpers, fx, web_settings, "viewer")
    page = Page(viewer.get("/segments").text)
    assert page.all("data-builtin", tag="tr") and not page.all("data-action", "new")
    with session_scope(web_settings.store_url) as session:
        tag_id = session.scalar(select(Segment.id).where(Segment.builtin == "big_spender"))
    detail = Page(viewer.get(f"/segments/{tag_id}").text)
    assert detail.text("data-figure", "size") == "15" and not detail.all("data-customer")
    assert not detail.all("data-action", "export") and not detail.all("data-action", "edit")
    for path in ("/segments/new", "/segments/preview?rule=TRUE", f"/segments/{tag_id}/edit"):
        assert viewer.get(path).status_code == 403, path
    csrf = detail.all("name", "csrf_token")[0][0]["value"]
    assert viewer.post(f"/segments/{tag_id}/export", data={"csrf_token": csrf}).status_code == 403
    assert viewer.post(f"/segments/{tag_id}/archive", data={"csrf_token": csrf}).status_code == 403


def test_agent_sees_members_but_cannot_build(client: TestClient, helpers, fx, web_settings, refreshed) -> None:  # type: ignore[no-untyped-def]
    agent = _as(client, helpers, fx, web_settings, "agent")
    with session_scope(web_settings.store_url) as session:
        tag_id = session.scalar(select(Segment.id).where(Segment.builtin == "first_tier_city"))
    detail = Page(agent.get(f"/segments/{tag_id}").text)
    assert len(detail.all("data-customer", tag="tr")) == 15 and not detail.all("data-action", "export")
    assert agent.get("/segments/new").status_code == 403


def test_analyst_edits_archives_and_exports(client: TestClient, helpers, fx, web_settings, refreshed) -> None:  # type: ignore[no-untyped-def]
    analyst = _as(client, helpers, fx, web_settings, "analyst")
    with session_scope(web_settings.store_url) as session:
        tag_id = session.scalar(select(Segment.id).where(Segment.builtin == "first_tier_city"))
    edit = Page(analyst.get(f"/segments/{tag_id}/edit").text)
    assert edit.text("id", "seg-rule", "textarea") == "city_tier = 'tier1'" and edit.all("data-count", "15")
    csrf = edit.all("name", "csrf_token")[0][0]["value"]
    response = analyst.post(f"/segments/{tag_id}", data={"csrf_token": csrf, "name": "一线城市",
                                                         "rule": "city_tier IN ('一线', '新一线')", "is_tag": "true"},
                            follow_redirects=False)
    assert response.status_code == 303
    assert Page(analyst.get(response.headers["location"]).text).text("data-figure", "size") == "60"

    exported = analyst.post(f"/segments/{tag_id}/export", data={"csrf_token": csrf, "format": "csv",
                                                                "as_of": "2025-06-30"})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 61 and rows[0][0] == "客户编号"
    assert fx.VIP_PHONE not in exported.text and "138****5678" in exported.text
    with session_scope(web_settings.store_url) as session:
        events = [(e.action, e.target_type, e.username, e.via) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "segment").order_by(AuditEvent.id))]
        assert events == [("update", "segment", "analyst1", "web"), ("export", "segment", "analyst1", "web")]

    archived = analyst.post(f"/segments/{tag_id}/archive", data={"csrf_token": csrf}, follow_redirects=False)
    assert archived.status_code == 303
    assert str(tag_id) not in {a["data-segment"] for a, _ in Page(analyst.get("/segments").text).all("data-segment")}
    assert analyst.get(f"/segments/{tag_id}/edit").status_code == 400


def test_mistaken_addresses_are_clear_errors(admin: TestClient, refreshed) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/segments/999").status_code == 404
    assert admin.get("/segments?as_of=2020-01-01").status_code == 404
    assert admin.get("/segments/1?compare=2020-01-01").status_code == 404
    assert admin.post("/segments", data={"name": "x", "rule": "TRUE"}).status_code == 403  # no CSRF token
    long_rule = admin.get("/segments/preview", params={"rule": "x" * 5000})
    assert long_rule.status_code == 422


def test_pages_before_any_snapshot(web_settings, helpers, fx) -> None:  # type: ignore[no-untyped-def]
    fx.build_store(web_settings, customers=3, with_snapshot=False)
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    ensure_admin(web_settings)
    with TestClient(create_app(web_settings)) as client:
        helpers.sign_in(client)
        page = Page(client.get("/segments").text)
        assert "kehu classify" in page.text("class", "empty-state", "section")
        builder = Page(client.get("/segments/new").text)
        assert "kehu classify" in builder.text("data-role", "summary")
        with session_scope(web_settings.store_url) as session:
            assert session.scalar(select(Customer.id)) is not None
