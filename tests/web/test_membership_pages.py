"""The membership pages: the overview (members per tier, tier changes and points per month) for every role, a
customer's card and ledger, redeeming points (agents and admins, CSRF, audited, never beyond the balance), the
card partial the customer profile includes, Chinese and English."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kehu.membership import balance, membership_refresh, membership_summary
from kehu.store import AuditEvent, MemberTier, Order, PointsEntry, session_scope


class Page(HTMLParser):
    """Elements with their attributes and text, to assert content rather than markup."""

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

    def all(self, name: str, value: str | None = None) -> list[tuple[dict[str, str], str]]:
        return [(a, " ".join("".join(t).split())) for _, a, t in self.found
                if name in a and (value is None or a[name] == value)]

    def text(self, name: str, value: str | None = None) -> str:
        hits = self.all(name, value)
        assert hits, f"no element with {name}={value!r}"
        return hits[0][1]


def _cells(html: str, key: str) -> list[str]:
    """The cell texts of the first table row with ``data-key`` = ``key``."""
    row = re.search(rf'<tr data-key="{key}">(.*?)</tr>', html, re.S)
    assert row, key
    return [c.strip() for c in re.findall(r">([^<]*)</t[hd]>", row.group(1))]


def _sign_in_as(client: TestClient, helpers, fx, web_settings, role: str) -> None:  # type: ignore[no-untyped-def]
    fx.add_user(web_settings, role + "_user", role)
    helpers.sign_in(client, role + "_user")


@pytest.fixture
def members(web_settings, store):  # type: ignore[no-untyped-def]
    """The fixture store with a recent 3,000 yuan order for the VIP (so they hold live points whatever today is),
    refreshed as of today."""
    with session_scope(web_settings.store_url) as session:
        session.add(Order(source="generic", external_id="O-RECENT", customer_id=store.vip_id,
                          ordered_at=datetime.combine(date.today() - timedelta(days=10), datetime.min.time()),
                          amount_cents=300_000, refunded_cents=0, is_paid=True, status="completed"))
    membership_refresh(web_settings, date.today())
    return store


def test_overview_for_a_viewer_counts_tiers_and_draws_charts(client, members, helpers, fx, web_settings) -> None:  # type: ignore[no-untyped-def]
    _sign_in_as(client, helpers, fx, web_settings, "viewer")
    response = client.get("/membership")
    assert response.status_code == 200
    page = Page(response.text)
    with session_scope(web_settings.store_url) as session:
        tiers = dict(session.execute(select(MemberTier.tier, func.count()).group_by(MemberTier.tier)).all())
        issued = session.scalar(select(func.sum(PointsEntry.points)).where(PointsEntry.kind == "earn"))
        total = session.scalar(select(func.sum(PointsEntry.points)))
    assert page.text("data-figure", "members") == f"{sum(tiers.values()):,}"
    assert page.text("data-figure", "issued") == f"{issued:,}"
    assert page.text("data-figure", "outstanding") == f"{total:,}"
    assert page.text("data-figure", "customers") == f"{members.customers:,}"
    nav = [a for a, text in page.all("href", "/membership") if text == "会员"]
    assert nav and nav[0].get("aria-current") == "page"
    # The tier table under the first chart: one row per tier, in order, with the counts of the store.
    assert [a["data-key"] for a, _ in page.all("data-key")][:4] == ["standard", "silver", "gold", "diamond"]
    for tier, name in (("standard", "普通"), ("gold", "金卡")):
        cells = _cells(response.text, tier)
        assert cells[:2] == [name, f"{tiers.get(tier, 0):,}"]
    block = re.search(r'<script type="application/json" id="kehu-membership-charts">(.*?)</script>', response.text,
                      re.S)
    assert block
    data = json.loads(block.group(1))
    assert [c["id"] for c in data["charts"]] == ["mem-chart-tiers", "mem-chart-changes", "mem-chart-points"]
    assert data["charts"][0]["series"][0]["values"] == [tiers.get(t, 0) for t in
                                                        ("standard", "silver", "gold", "diamond")]
    assert [s["name"] for s in data["charts"][2]["series"]] == ["发放", "兑换", "过期", "退款扣回"]
    assert "/static/membership.js" in response.text and "<script>" not in response.text
    assert page.text("data-threshold", "gold") == "近 12 个月消费 ≥ ¥5,000.00"


def test_overview_before_any_refresh_says_what_to_run(admin: TestClient) -> None:
    page = Page(admin.get("/membership").text)
    assert "kehu members refresh" in page.text("data-membership-state", "no-run")
    assert "membership.js" not in admin.get("/membership").text


def test_overview_in_english(admin: TestClient, members) -> None:  # type: ignore[no-untyped-def]
    response = admin.get("/membership?lang=en")
    page = Page(response.text)
    assert page.text("data-section", "tier-rules").startswith("Tier rules")
    assert page.text("data-threshold", "silver") == "spend of the last 12 months ≥ ¥1,000.00"
    assert "Members per tier" in response.text and "Upgrades and downgrades per month" in response.text


def test_customer_page_shows_card_ledger_and_masks_the_name(client, members, helpers, fx, web_settings) -> None:  # type: ignore[no-untyped-def]
    _sign_in_as(client, helpers, fx, web_settings, "agent")
    response = client.get(f"/membership/customers/{members.vip_id}")
    assert response.status_code == 200
    page = Page(response.text)
    assert fx.VIP_NAME not in response.text and page.text("data-field", "name") == "张**"
    with session_scope(web_settings.store_url) as session:
        expected = balance(session, members.vip_id)
        tier = session.get(MemberTier, members.vip_id)
    assert [a["data-points"] for a, _ in page.all("data-field", "points-balance")] == [str(expected)]
    assert [a["data-tier"] for a, _ in page.all("data-field", "tier")] == [tier.tier]
    rows = page.all("data-entry")
    assert rows and rows[0][0]["data-balance"] == str(expected)
    assert sum(int(a["data-points"]) for a, _ in rows) == expected  # every row is listed, newest first
    assert {a["data-kind"] for a, _ in rows} >= {"earn"}
    assert "订单 O-RECENT" in rows[0][1] or any("O-RECENT" in text for _, text in rows)
    assert page.all("data-section", "redeem")  # an agent may redeem


def test_analyst_sees_the_ledger_without_the_redeem_form_and_viewer_is_refused(client, members, helpers, fx,  # type: ignore[no-untyped-def]
                                                                               web_settings) -> None:
    _sign_in_as(client, helpers, fx, web_settings, "analyst")
    page = Page(client.get(f"/membership/customers/{members.vip_id}").text)
    assert page.all("data-membership") and not page.all("data-section", "redeem")
    token = helpers.csrf_of(client.get("/membership").text)
    refused = client.post(f"/membership/customers/{members.vip_id}/redeem",
                          data={"points": "1", "reason": "x", "csrf_token": token})
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": token})
    _sign_in_as(client, helpers, fx, web_settings, "viewer")
    assert client.get(f"/membership/customers/{members.vip_id}").status_code == 403
    assert client.get("/membership").status_code == 200


def test_redeem_oldest_first_with_flash_and_audit(client, members, helpers, fx, web_settings) -> None:  # type: ignore[no-untyped-def]
    _sign_in_as(client, helpers, fx, web_settings, "agent")
    url = f"/membership/customers/{members.vip_id}"
    with session_scope(web_settings.store_url) as session:
        before = balance(session, members.vip_id)
    token = helpers.csrf_of(client.get(url).text)
    response = client.post(url + "/redeem", data={"points": "1,000", "reason": "兑换优惠券", "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith(url + "#ledger")
    page = Page(client.get(url).text)
    assert page.text("data-flash", "redeemed") == f"已兑换 1,000 积分，余额 {before - 1000:,}。"
    top = page.all("data-entry")[0]
    assert (top[0]["data-kind"], top[0]["data-points"]) == ("redeem", "-1000") and "兑换优惠券" in top[1]
    assert not Page(client.get(url).text).all("data-flash")  # shown once
    with session_scope(web_settings.store_url) as session:
        assert balance(session, members.vip_id) == before - 1000
        event = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        assert (event.action, event.target_id, event.username, event.via) == (
            "update", str(members.vip_id), "agent_user", "web")
        assert event.detail == {"points_redeemed": 1000, "balance": before - 1000}


MISTAKES = [
    ({"points": "99999999", "reason": "兑换优惠券"}, "cannot redeem 99,999,999 points"),
    ({"points": "abc", "reason": "兑换优惠券"}, "whole number above 0"),
    ({"points": "-5", "reason": "兑换优惠券"}, "whole number above 0"),
    ({"points": "10", "reason": ""}, "give a reason"),
    ({"points": "10", "reason": "回电 13812345678"}, "phone number"),
]


def test_redeem_mistakes_show_the_page_again_with_the_message(admin: TestClient, members, web_settings,  # type: ignore[no-untyped-def]
                                                              helpers) -> None:
    url = f"/membership/customers/{members.vip_id}"
    with session_scope(web_settings.store_url) as session:
        before = balance(session, members.vip_id)
    token = helpers.csrf_of(admin.get(url).text)
    for form, message in MISTAKES:
        response = admin.post(url + "/redeem", data={**form, "csrf_token": token})
        assert response.status_code == 400, form
        page = Page(response.text)
        assert message in page.text("data-error"), form
        assert [a["value"] for a, _ in page.all("name", "reason")] == [form["reason"]]  # what was typed stays
        assert "Traceback" not in response.text
    with session_scope(web_settings.store_url) as session:
        assert balance(session, members.vip_id) == before


def test_redeem_needs_the_csrf_token_and_a_known_customer(admin: TestClient, members, helpers) -> None:  # type: ignore[no-untyped-def]
    url = f"/membership/customers/{members.vip_id}/redeem"
    assert admin.post(url, data={"points": "1", "reason": "x"}).status_code == 403
    token = helpers.csrf_of(admin.get("/membership").text)
    assert admin.post("/membership/customers/999999/redeem",
                      data={"points": "1", "reason": "x", "csrf_token": token}).status_code == 404
    assert admin.get("/membership/customers/999999").status_code == 404
    assert admin.get("/membership/customers/0").status_code == 422


def test_card_partial_renders_inside_another_page(client: TestClient, members, web_settings) -> None:  # type: ignore[no-untyped-def]
    """What customer.html gets with ``{% include "membership_card.html" %}`` and ``membership`` in its context."""
    from kehu.web.auth import SignedIn
    from kehu.web.i18n import translator

    templates = client.app.state.templates  # type: ignore[attr-defined]
    with session_scope(web_settings.store_url) as session:
        card = membership_summary(session, members.vip_id)
    html = templates.env.get_template("membership_card.html").render(
        membership=card, t=translator("en"), lang="en", csrf="token", user=SignedIn(1, "a", "agent"),
        url=lambda path=None, **params: path,
    )
    page = Page(html)
    assert page.all("data-membership", str(members.vip_id))
    assert page.text("data-field", "points-balance").startswith(f"{card.balance:,}")
    assert [a["href"] for a, _ in page.all("data-link", "membership-ledger")] == [
        f"/membership/customers/{members.vip_id}"]
    assert "Membership and points" in html and len(page.all("data-kind")) == len(card.recent)
