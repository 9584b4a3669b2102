"""Feedback pages: the dashboard (figures, charts, groups), the inbox (overdue first, texts only for handlers), one
item (category and why, SLA, status, owner), the form, the file import, the keyword rules; who may do what; texts
encrypted at rest and never in the audit log."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from kehu.feedback import add_feedback, local_now
from kehu.privacy import FieldCipher
from kehu.store import AuditEvent, Feedback, FeedbackRule, session_scope

COMPLAINT = "物流太慢了，等了一个星期，快递员态度也差。电话 13912345678"


class Page(HTMLParser):
    """Elements with attributes (their attributes and text), and the JSON chart block."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[list[str]] = []
        self.charts: dict | None = None
        self._json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and a.get("id") == "kehu-charts":
            self._json = True
        if a:
            texts: list[str] = []
            self.elements.append((tag, a, texts))
            self._open.append(texts)
        elif tag not in ("input", "br", "meta", "link", "img"):
            self._open.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json = False
        if self._open and tag not in ("input", "br", "meta", "link", "img"):
            done = self._open.pop()
            if self._open:
                self._open[-1].extend(done)

    def handle_data(self, data: str) -> None:
        if self._json:
            self.charts = json.loads(data)
        elif self._open:
            self._open[-1].append(data)

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, str]]:
        return [dict(a, _text=" ".join("".join(t).split())) for _, a, t in self.elements
                if name in a and (value is None or a[name] == value)]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def csrf(client: TestClient, path: str = "/feedback") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)



def _add(settings, customer_id: int, text: str | None, *, kind: str = "complaint", hours_ago: float = 1,
         rating: int | None = None, **extra) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        item = add_feedback(session, FieldCipher.from_settings(settings), customer_id=customer_id, kind=kind,
                            text=text, rating=rating, created_at=local_now() - timedelta(hours=hours_ago), **extra)
        return item.id


def test_agent_enters_feedback_and_it_is_encrypted_categorised_and_audited(as_role, web_settings, store) -> None:
    client = as_role("agent")
    form = client.get(f"/feedback/new?customer_id={store.vip_id}")
    assert form.status_code == 200
    assert parse(form.text).with_attr("data-field", "customer")[0]["_text"].count("C0000") == 1
    response = client.post("/feedback/new", data={"csrf_token": csrf(client), "customer_id": str(store.vip_id),
                                                   "kind": "complaint", "text": COMPLAINT, "channel": "phone"},
                           follow_redirects=False)
    assert response.status_code == 303
    item_url = response.headers["location"]
    page = parse(client.get(item_url).text)
    card = page.with_attr("data-feedback")[0]
    assert card["data-category"] == "logistics" and card["data-sentiment"] == "negative"
    assert card["data-sla"] == "pending" and card["data-status"] == "new"
    assert "13912345678" in page.with_attr("data-field", "text")[0]["_text"]  # the agent reads the text
    keywords = [k["data-keyword"] for k in page.with_attr("data-keyword")]
    assert "物流" in keywords and not any(any(c.isdigit() for c in k) for k in keywords)
    assert "物流" in page.with_attr("data-field", "category")[0]["_text"]  # the keyword that chose the category
    with session_scope(web_settings.store_url) as session:
        row = session.scalars(select(Feedback)).one()
        raw = session.execute(text("SELECT * FROM feedback")).one()
        assert all("物流太慢" not in str(v) and "13912345678" not in str(v) for v in raw)  # encrypted at rest
        assert row.source == "form" and row.channel == "phone"
        event = session.scalars(select(AuditEvent).where(AuditEvent.target_type == "feedback")).one()
        assert event.action == "create" and "物流" not in json.dumps(event.detail, ensure_ascii=False)


def test_inbox_lists_overdue_first_and_flags_it(admin: TestClient, web_settings, store) -> None:
    fresh = _add(web_settings, store.vip_id, "Great phone, fast delivery!", kind="review", rating=5, hours_ago=1)
    late = _add(web_settings, store.vip_id, "客服不回复", hours_ago=web_settings.feedback_sla_hours + 5)
    done = _add(web_settings, store.vip_id, "价格太贵", hours_ago=100, status="resolved")
    page = parse(admin.get("/feedback/items").text)
    rows = page.with_attr("data-feedback")
    assert [int(r["data-feedback"]) for r in rows] == [late, fresh]  # open only by default, overdue first
    assert rows[0]["data-sla"] == "overdue" and rows[1]["data-sla"] == "pending"
    assert rows[1]["data-sentiment"] == "positive" and rows[1]["data-category"] == "logistics"
    every = parse(admin.get("/feedback/items?status=all").text).with_attr("data-feedback")
    assert [int(r["data-feedback"]) for r in every] == [late, fresh, done]
    only_overdue = parse(admin.get("/feedback/items?overdue=true").text).with_attr("data-feedback")
    assert [int(r["data-feedback"]) for r in only_overdue] == [late]
    price = parse(admin.get("/feedback/items?status=all&category=price").text).with_attr("data-feedback")
    assert [int(r["data-feedback"]) for r in price] == [done]
    assert admin.get("/feedback/items?category=nonsense").status_code == 400


def test_handling_records_first_response_status_and_owner(admin: TestClient, web_settings, store, fx) -> None:
    fx.add_user(web_settings, "agent1", "agent")
    item = _add(web_settings, store.vip_id, "客服不回复", hours_ago=web_settings.feedback_sla_hours + 5)
    with session_scope(web_settings.store_url) as session:
        agent_id = session.scalar(text("SELECT id FROM users WHERE username = 'agent1'"))
    response = admin.post(f"/feedback/items/{item}", data={"csrf_token": csrf(admin), "status": "in_progress",
                                                           "owner": str(agent_id)}, follow_redirects=False)
    assert response.status_code == 303
    page = parse(admin.get(f"/feedback/items/{item}").text)
    card = page.with_attr("data-feedback")[0]
    assert card["data-status"] == "in_progress" and card["data-sla"] == "breached"  # answered after the SLA
    assert page.with_attr("data-field", "owner")[0]["_text"] == "agent1"
    bad = admin.post(f"/feedback/items/{item}", data={"csrf_token": csrf(admin), "status": "archived"})
    assert bad.status_code == 400 and "not one of" in bad.text


def test_roles(as_role, web_settings, store) -> None:
    item = _add(web_settings, store.vip_id, COMPLAINT)
    analyst = as_role("analyst")
    page = parse(analyst.get(f"/feedback/items/{item}").text)
    assert page.with_attr("data-field", "text-hidden") and not page.with_attr("data-field", "text")
    assert "13912345678" not in analyst.get("/feedback/items").text
    assert analyst.get("/feedback/new").status_code == 403
    assert analyst.post(f"/feedback/items/{item}", data={"csrf_token": csrf(analyst), "status": "resolved"}
                        ).status_code == 403
    assert analyst.get("/feedback/rules").status_code == 200
    viewer = as_role("viewer")
    assert viewer.get("/feedback").status_code == 200
    assert viewer.get("/feedback/items").status_code == 403
    assert viewer.get(f"/feedback/items/{item}").status_code == 403
    assert viewer.get("/feedback/rules").status_code == 403
    nav = {a["href"] for a in parse(viewer.get("/").text).with_attr("href")}
    assert "/feedback" in nav and "/tasks" not in nav


def test_dashboard_counts_categories_months_and_groups(admin: TestClient, web_settings, store) -> None:
    _add(web_settings, store.vip_id, COMPLAINT, hours_ago=2)
    _add(web_settings, store.vip_id + 1, "质量很好，非常满意", kind="review", rating=5, hours_ago=3)
    _add(web_settings, store.vip_id + 2, "Too expensive for what it is.", kind="review", rating=2, hours_ago=4)
    page = parse(admin.get("/feedback").text)
    figures = {f["data-figure"]: f["_text"] for f in page.with_attr("data-figure")}
    assert figures["total"] == "3" and figures["negative"].startswith("2")
    charts = {c["id"]: c for c in page.charts["charts"]}
    assert dict(zip(charts["fb-chart-categories"]["labels"], charts["fb-chart-categories"]["values"],
                    strict=True)) == {"产品质量": 1, "服务态度": 0, "物流": 1, "价格": 1, "其他": 0}
    month = local_now().strftime("%Y-%m")
    monthly = charts["fb-chart-monthly"]
    assert monthly["x"][-1] == month and sum(row[-1] for row in monthly["z"]) == 3
    assert "category=logistics" in monthly["links"][2][-1] and f"month={month}" in monthly["links"][2][-1]
    assert charts["fb-chart-sentiment"]["values"][-1] is not None
    groups = {g["data-group"] for g in page.with_attr("data-group")}
    assert groups and groups <= {"champions", "new", "at_risk", "hibernating", "unclassified"}
    assert {k["data-keyword"] for k in page.with_attr("data-keyword")} >= {"物流"}
    english = parse(admin.get("/feedback?lang=en").text)
    assert "Logistics" in {c["id"]: c for c in english.charts["charts"]}["fb-chart-categories"]["labels"]


def test_empty_dashboard_and_bad_parameters(admin: TestClient) -> None:
    page = parse(admin.get("/feedback").text)
    assert page.with_attr("data-empty", "feedback") and page.charts is None
    assert admin.get("/feedback?end=2025-13").status_code == 400
    assert admin.get("/feedback?months=0").status_code == 422


def test_form_mistakes_are_messages(admin: TestClient, store) -> None:
    token = csrf(admin)
    unknown = admin.post("/feedback/new", data={"csrf_token": token, "external_id": "NOPE", "kind": "complaint",
                                                "text": "坏了"})
    assert unknown.status_code == 404 and "NOPE" in parse(unknown.text).with_attr("data-error")[0]["_text"]
    empty = admin.post("/feedback/new", data={"csrf_token": token, "customer_id": str(store.vip_id),
                                              "kind": "complaint", "text": " "})
    assert empty.status_code == 400 and "text or a rating" in empty.text
    assert admin.post("/feedback/new", data={"customer_id": str(store.vip_id), "kind": "complaint",
                                             "text": "x"}).status_code == 403  # no CSRF token


def test_import_upload_counts_and_rejects(admin: TestClient, web_settings, store) -> None:
    body = ("customer_id,created_at,kind,rating,text\n"
            "C0001,2025-06-02 10:00,review,5,质量很好\n"
            "C0002,2025/6/3,complaint,,The delivery was late\n"
            "C9999,2025-06-03,review,3,ok\n").encode()
    token = csrf(admin, "/feedback/import")
    response = admin.post("/feedback/import", data={"csrf_token": token},
                          files={"file": ("反馈.csv", body, "text/csv")})
    assert response.status_code == 200
    page = parse(response.text)
    counts = {c["data-count"]: int(c["_text"]) for c in page.with_attr("data-count")}
    assert counts == {"read": 3, "inserted": 2, "unchanged": 0, "rejected": 1}
    assert [p["data-line"] for p in page.with_attr("data-line")] == ["4"]
    again = parse(admin.post("/feedback/import", data={"csrf_token": token},
                             files={"file": ("反馈.csv", body, "text/csv")}).text)
    assert {c["data-count"]: int(c["_text"]) for c in again.with_attr("data-count")}["unchanged"] == 2
    wrong = admin.post("/feedback/import", data={"csrf_token": token}, files={"file": ("x.pdf", b"%PDF", "x")})
    assert wrong.status_code == 400 and parse(wrong.text).with_attr("data-error")
    missing = admin.post("/feedback/import", data={"csrf_token": token},
                         files={"file": ("x.csv", b"who,when\n1,2\n", "text/csv")})
    assert missing.status_code == 400 and "customer_id" in parse(missing.text).with_attr("data-error")[0]["_text"]


def test_rules_are_edited_and_applied(as_role, web_settings, store) -> None:
    item = _add(web_settings, store.vip_id, "耳机左边没声音")
    client = as_role("analyst")
    page = parse(client.get("/feedback/rules").text)
    logistics = {r["data-rule"] for r in page.with_attr("data-rule") if r}
    assert {"物流", "快递", "delivery"} <= logistics
    token = csrf(client, "/feedback/rules")
    response = client.post("/feedback/rules", data={"csrf_token": token, "category": "product_quality",
                                                     "keyword": " 没声音 ", "weight": "2"}, follow_redirects=False)
    assert response.status_code == 303
    bad = client.post("/feedback/rules", data={"csrf_token": token, "category": "product_quality",
                                                "keyword": "13800138000"})
    assert bad.status_code == 400 and "digits" in parse(bad.text).with_attr("data-error")[0]["_text"]
    other = client.post("/feedback/rules", data={"csrf_token": token, "category": "other", "keyword": "x"})
    assert other.status_code == 400
    with session_scope(web_settings.store_url) as session:
        assert session.get(Feedback, item).category == "other"
    client.post("/feedback/rules/apply", data={"csrf_token": token})
    with session_scope(web_settings.store_url) as session:
        assert session.get(Feedback, item).category == "product_quality"
        rule_id = session.scalar(select(FeedbackRule.id).where(FeedbackRule.keyword == "没声音"))
    assert client.post(f"/feedback/rules/{rule_id}/delete", data={"csrf_token": token},
                       follow_redirects=False).status_code == 303
    assert client.post(f"/feedback/rules/{rule_id}/delete", data={"csrf_token": token}).status_code == 404
    client.post("/feedback/rules/reset", data={"csrf_token": token})
    with session_scope(web_settings.store_url) as session:
        assert session.scalar(select(FeedbackRule.id).where(FeedbackRule.keyword == "没声音")) is None


def test_overdue_link_and_months(admin: TestClient, web_settings, store) -> None:
    _add(web_settings, store.vip_id, "客服不回复", hours_ago=web_settings.feedback_sla_hours * 3)
    old = datetime(2024, 1, 15, 9)
    with session_scope(web_settings.store_url) as session:
        add_feedback(session, FieldCipher.from_settings(web_settings), customer_id=store.vip_id, kind="review",
                     text="满意", created_at=old, status="resolved")
    page = parse(admin.get("/feedback?months=36").text)
    assert page.charts["charts"][1]["x"][0] <= "2024-01"
    figures = {f["data-figure"]: f["_text"] for f in page.with_attr("data-figure")}
    assert figures["overdue"] == "1" and figures["total"] == "2"


def test_feedback_per_user_segment(admin: TestClient, web_settings, store) -> None:
    segments = pytest.importorskip("kehu.segments")
    _add(web_settings, store.vip_id, COMPLAINT, hours_ago=2)
    _add(web_settings, store.vip_id + 1, "质量很好，非常满意", kind="review", rating=5, hours_ago=3)
    with session_scope(web_settings.store_url) as session:
        segments.add_segment(session, name="广东客户", rule="province = '广东'")
    html = admin.get("/feedback").text
    rows = {r["data-segment"]: r for r in parse(html).with_attr("data-segment")}
    assert "广东客户" in rows and rows["广东客户"]["data-tag"] == "false"
    row = re.search(r'<tr data-segment="广东客户".*?</tr>', html)
    assert row
    cells = dict(re.findall(r'data-cell="(\w+)">([^<]*)<', row.group()))
    assert (cells["count"], cells["negative"]) == ("1", "1") and float(cells["sentiment"]) < 0  # the VIP (广东)
