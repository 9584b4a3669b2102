"""Campaign pages: the one-click win-back template, the form, the result page's figures and charts with their
intervals, the contact-list export (masked, revealed only for reveal_pii, audited), permissions by role."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.analytics.facts import bump_orders_revision
from kehu.campaigns import CampaignSpec, Target, campaign_result, launch_campaign
from kehu.store import (
    AuditEvent,
    Campaign,
    CampaignMember,
    Classification,
    Customer,
    Order,
    Task,
    session_scope,
)
from kehu.users import Actor


class Page(HTMLParser):
    """Elements with ``data-*`` attributes (their attributes and text), form actions, checked inputs, JSON blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[dict[str, Any]] = []
        self.checked: list[tuple[str, str]] = []
        self.json: dict[str, Any] = {}
        self._open: list[dict[str, Any] | None] = []
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input":
            if "checked" in a:
                self.checked.append((a.get("name", ""), a.get("value", "")))
            return
        if tag in ("br", "meta", "link", "img"):
            return
        if tag == "script" and a.get("type") == "application/json":
            self._script = a.get("id", "")
        record = None
        if any(k.startswith("data-") for k in a):
            record = {"tag": tag, **a, "text": ""}
            self.data.append(record)
        self._open.append(record)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()
        self._script = None if tag == "script" else self._script

    def handle_data(self, data: str) -> None:
        if self._script:
            self.json[self._script] = json.loads(data)
        for record in self._open:
            if record is not None:
                record["text"] += data

    def find(self, attr: str, value: str | None = None) -> dict[str, Any]:
        found = self.all(attr, value)
        assert found, f"no element with {attr}={value}"
        return found[0]

    def all(self, attr: str, value: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.data if attr in r and (value is None or r[attr] == value)]

    def text(self, attr: str, value: str | None = None) -> str:
        return " ".join(self.find(attr, value)["text"].split())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _snapshot_id(web_settings) -> int:  # type: ignore[no-untyped-def]
    from kehu.campaigns import find_snapshot

    with session_scope(web_settings.store_url) as session:
        return find_snapshot(session).id


def _counts(web_settings, stages: tuple[str, ...]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    snapshot_id = _snapshot_id(web_settings)
    with session_scope(web_settings.store_url) as session:
        rows = session.execute(select(Customer.marketing_consent).join(
            Classification, Classification.customer_id == Customer.id).where(
            Classification.snapshot_id == snapshot_id, Classification.lifecycle_stage.in_(stages))).all()
    return len(rows), sum(1 for (c,) in rows if c)



def test_winback_template_launches_in_one_click(admin: TestClient, web_settings) -> None:  # type: ignore[no-untyped-def]
    page = parse(admin.get("/campaigns").text)
    targeted, allowed = _counts(web_settings, ("churned", "at_risk"))
    assert page.find("data-template", "winback")
    assert page.text("data-figure", "tpl-targeted") == f"{targeted:,}"
    assert page.text("data-figure", "tpl-allowed") == f"{allowed:,}"
    html = admin.get("/campaigns").text
    response = admin.post("/campaigns/winback", data={"csrf_token": csrf_of(html)}, follow_redirects=False)
    assert response.status_code == 303
    match = re.search(r"/campaigns/(\d+)\?launched=1$", response.headers["location"])
    assert match
    campaign_id = int(match.group(1))
    page = parse(admin.get(response.headers["location"]).text)
    assert page.find("data-flash", "launched")
    assert page.text("data-field", "holdout_share") == "20.0%"
    assert page.text("data-field", "targeted") == f"{targeted:,}"
    assert page.text("data-field", "excluded") == f"{targeted - allowed:,}"
    with session_scope(web_settings.store_url) as session:
        members = session.execute(select(CampaignMember.arm).where(CampaignMember.campaign_id == campaign_id)).all()
        audit = session.scalars(select(AuditEvent).where(AuditEvent.target_type == "campaign")).all()
    shown = {r["data-arm"]: int(r["text"].split()[1].replace(",", "")) for r in page.all("data-arm")}
    assert shown["treatment"] + shown["holdout"] == allowed == len(members)
    assert [(e.action, e.username) for e in audit] == [("create", "admin")]
    listed = parse(admin.get("/campaigns").text)
    assert listed.find("data-campaign", str(campaign_id))
    assert listed.find("data-status", "running")


def test_new_campaign_form_prefills_the_template_and_launches_a_callback_campaign(  # type: ignore[no-untyped-def]
        admin: TestClient, web_settings, fx) -> None:
    html = admin.get("/campaigns/new?template=winback").text
    page = parse(html)
    assert ("lifecycle_stage", "churned") in page.checked and ("lifecycle_stage", "at_risk") in page.checked
    assert ("offer", "coupon") in page.checked
    fx.add_user(web_settings, "agent1", "agent")
    form = {"csrf_token": csrf_of(html), "name": "VIP 回访", "target_kind": "rfm_class", "offer": "callback",
            "rfm_class": ["important_value", "general_winback"], "lifecycle_stage": ["churned"],
            "holdout_percent": "10", "attribution_days": "14", "cost_per_contact": "3.5", "callback_due_days": "2"}
    response = admin.post("/campaigns", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    campaign_id = int(re.findall(r"\d+", response.headers["location"])[0])
    with session_scope(web_settings.store_url) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.target_kind, campaign.target_values) == ("rfm_class", ["important_value", "general_winback"])
        assert campaign.cost_per_contact_cents == 350 and campaign.coupon_value_cents == 0
        treated = session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign_id,
                                                               CampaignMember.arm == "treatment")).all()
        tasks = session.scalars(select(Task).where(Task.source_type == "campaign")).all()
    assert treated and len(tasks) == len(treated)
    assert {t.owner_id for t in tasks} == {tasks[0].owner_id} and tasks[0].owner_id is not None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("churn_risk", "high", "is not a number"),
    ("cost_per_contact", "abc", "cost per contact"),
    ("holdout_percent", "95", "holdout_percent"),
])
def test_bad_form_values_get_a_message(admin: TestClient, field: str, value: str, message: str) -> None:
    html = admin.get("/campaigns/new").text
    form = {"csrf_token": csrf_of(html), "name": "x", "target_kind": "churn_risk", "offer": "coupon",
            "churn_risk": "0.5", "holdout_percent": "20", "attribution_days": "30", field: value}
    response = admin.post("/campaigns", data=form)
    assert response.status_code in (400, 422)
    assert message in response.text
    assert "Traceback" not in response.text


def test_result_page_shows_the_uplift_with_its_interval(admin: TestClient, web_settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(web_settings.store_url) as session:
        spec = CampaignSpec(name="Measured", target=Target("lifecycle_stage", ("churned", "at_risk", "active", "new")),
                            holdout_share=0.4, starts_on=date(2025, 7, 1), attribution_days=30,
                            coupon_value_cents=1_000, cost_per_contact_cents=100)
        campaign = launch_campaign(session, spec, actor=Actor(username="t"), today=date(2025, 7, 1))
        members = session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign.id)).all()
        for n, m in enumerate(members):
            if m.arm == "treatment" or n % 4 == 0:
                session.add(Order(source="generic", external_id=f"CAMP{n}", customer_id=m.customer_id,
                                  ordered_at=datetime(2025, 7, 2) + timedelta(days=n % 20), amount_cents=12_300 + n,
                                  refunded_cents=0, discount_cents=1_000 if m.arm == "treatment" else 0,
                                  is_paid=True))
        session.flush()
        bump_orders_revision(session.connection().connection.cursor())
        campaign_id = campaign.id
    with session_scope(web_settings.store_url) as session:
        result = campaign_result(session, session.get(Campaign, campaign_id))  # type: ignore[arg-type]
    page = parse(admin.get(f"/campaigns/{campaign_id}").text)
    conv = page.find("data-result", "conversion_diff")
    assert float(conv["data-value"]) == pytest.approx(result.conversion_diff.estimate * 100)
    assert float(conv["data-low"]) == pytest.approx(result.conversion_diff.low * 100)
    assert float(conv["data-high"]) == pytest.approx(result.conversion_diff.high * 100)
    revenue = page.find("data-result", "revenue_diff")
    assert float(revenue["data-low"]) == pytest.approx(result.revenue_diff_cents.low)
    assert page.find("data-result", "cost")["data-value"] == str(result.cost_cents)
    assert page.find("data-status", "finished")
    charts = {c["id"]: c for c in page.json["kehu-campaign-charts"]["charts"]}
    assert set(charts) == {"chart-conversion", "chart-revenue"}
    assert charts["chart-conversion"]["values"] == pytest.approx([result.treatment.conversion.estimate,
                                                                   result.holdout.conversion.estimate])
    assert charts["chart-conversion"]["low"][1] == pytest.approx(result.holdout.conversion.low)
    revenue_chart = charts["chart-revenue"]
    assert all(low <= v <= high for v, low, high in zip(revenue_chart["values"], revenue_chart["low"],
                                                          revenue_chart["high"], strict=True))
    rows = {r["data-arm"]: r for r in page.all("data-arm")}
    assert set(rows) == {"treatment", "holdout"}
    en = parse(admin.get(f"/campaigns/{campaign_id}?lang=en").text)
    assert en.find("data-arm", "treatment")["text"].split()[0] == "Treatment"


def test_contact_list_export_is_masked_revealed_only_with_reveal_pii_and_audited(  # type: ignore[no-untyped-def]
        client: TestClient, as_role, web_settings, helpers, fx) -> None:
    with session_scope(web_settings.store_url) as session:
        spec = CampaignSpec(name="List", target=Target("lifecycle_stage", ("churned", "at_risk", "active", "new")),
                            holdout_share=0.0)
        campaign_id = launch_campaign(session, spec, actor=Actor(username="t")).id
    helpers.sign_in(client)
    admin_html = client.get(f"/campaigns/{campaign_id}").text
    masked = client.post(f"/campaigns/{campaign_id}/export", data={"csrf_token": csrf_of(admin_html), "arm": "all"})
    assert masked.status_code == 200
    rows = list(csv.reader(io.StringIO(masked.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["客户编号", "姓名", "手机"]
    assert len(rows) > 10
    assert not re.search(r"139\d{8}", masked.text) and all("****" in r[2] for r in rows[1:])
    revealed = client.post(f"/campaigns/{campaign_id}/export",
                           data={"csrf_token": csrf_of(admin_html), "arm": "all", "reveal": "true", "format": "xlsx"})
    assert revealed.status_code == 200 and revealed.content[:2] == b"PK"
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(revealed.content)).active
    phones = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert phones and all(re.fullmatch(r"139\d{8}", p) for p in phones)
    with session_scope(web_settings.store_url) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "export",
                                                          AuditEvent.target_type == "campaign")).all()
    assert [(e.detail or {}).get("revealed") for e in events] == [False, True]

    client.cookies.clear()
    analyst = as_role("analyst")
    html = analyst.get(f"/campaigns/{campaign_id}").text
    assert 'name="reveal"' not in html
    assert analyst.post(f"/campaigns/{campaign_id}/export",
                        data={"csrf_token": csrf_of(html), "reveal": "true"}).status_code == 403
    assert analyst.post(f"/campaigns/{campaign_id}/export", data={"csrf_token": csrf_of(html)}).status_code == 200
    client.cookies.clear()
    agent = as_role("agent")
    html = agent.get(f"/campaigns/{campaign_id}").text
    assert f"/campaigns/{campaign_id}/export" not in html
    assert agent.post(f"/campaigns/{campaign_id}/export", data={"csrf_token": csrf_of(html)}).status_code == 403


def test_viewer_sees_results_but_cannot_launch(as_role) -> None:  # type: ignore[no-untyped-def]
    viewer = as_role("viewer")
    html = viewer.get("/campaigns").text
    page = parse(html)
    assert not page.all("data-template")
    assert "/campaigns/new" not in html
    assert viewer.get("/campaigns/new").status_code == 403
    assert viewer.post("/campaigns/winback", data={"csrf_token": csrf_of(html)}).status_code == 403


def test_csrf_and_unknown_campaign(admin: TestClient) -> None:
    assert admin.post("/campaigns/winback", data={}).status_code == 403
    response = admin.get("/campaigns/4242")
    assert response.status_code == 404 and "campaign 4242 does not exist" in response.text
    assert admin.get("/campaigns/abc").status_code == 422
