"""The membership pages in a real browser: an admin sees the tier and points charts drawn by the local Plotly at
desktop and phone width, opens a member's card and ledger in English and redeems points through the labelled form;
no request leaves 127.0.0.1, no console error. Screenshots go to ``test-artifacts/`` (``membership-*.png``).
Reuses the serving and chromium helpers of ``test_browser.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from e2e import test_browser as helpers  # its serving and chromium helpers, shared
from kehu.config import Settings

browser = helpers.browser  # the chromium fixture (skips without /usr/bin/chromium unless CI is set)
ARTIFACTS: Path = helpers.ARTIFACTS


@pytest.fixture
def membership_server(settings: Settings) -> Iterator[tuple[str, object]]:
    """The fixture store with a year of membership (redemptions each month, :func:`membership_demo`) and a recent
    order for the VIP, refreshed as of today and served on a free 127.0.0.1 port."""
    from kehu.membership import membership_demo, membership_refresh
    from kehu.store import Order, session_scope

    app, store = helpers._fixture_app(settings)
    fx = helpers._factories()
    membership_demo(settings, fx.AS_OF, share=0.5)
    with session_scope(settings.store_url) as session:
        session.add(Order(source="generic", external_id="O-RECENT", customer_id=store.vip_id,
                          ordered_at=datetime.combine(date.today() - timedelta(days=10), datetime.min.time()),
                          amount_cents=300_000, refunded_cents=0, is_paid=True, status="completed"))
    membership_refresh(settings, date.today())
    with helpers._serving(app) as base:
        yield base, store


def _sign_in(page, base: str, target: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{target}")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(helpers._factories().PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_membership_journey(membership_server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, store = membership_server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = helpers._watch(page, base)

    _sign_in(page, base, "/membership")
    expect(page.get_by_role("heading", level=1)).to_have_text("会员与积分")
    for chart in ("mem-chart-tiers", "mem-chart-changes", "mem-chart-points"):
        expect(page.locator(f"#{chart}[data-rendered='true'] svg.main-svg").first).to_be_visible()
    expect(page.locator("#mem-chart-tiers .xtick text", has_text="金卡")).to_have_count(1)
    expect(page.locator("#mem-chart-points .legendtext", has_text="兑换")).to_have_count(1)
    assert int(page.locator("[data-figure='redeemed']").inner_text().replace(",", "")) > 0
    page.screenshot(path=str(ARTIFACTS / "membership-overview-zh-1280.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#mem-chart-points[data-rendered='true'] svg.main-svg").first).to_be_visible()
    assert helpers._too_wide(page) == []
    page.screenshot(path=str(ARTIFACTS / "membership-overview-zh-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # A member's card and ledger in English; redeem through the labelled form.
    page.goto(f"{base}/membership/customers/{store.vip_id}?lang=en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("C0000")
    balance = int(page.locator("[data-field='points-balance']").get_attribute("data-points"))
    assert balance >= 3000  # the recent order's points
    page.get_by_label("Points to redeem").fill("1,200")
    page.get_by_label("Reason").fill("coupon")
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator("[data-flash='redeemed']")).to_have_text(re.compile(r"^Redeemed 1,200 points; balance "))
    expect(page.locator("tr[data-entry]").first).to_have_attribute("data-kind", "redeem")
    page.screenshot(path=str(ARTIFACTS / "membership-customer-en-1280.png"), full_page=True)

    assert seen["console"] == [], seen["console"]

    # More than the balance: the page again with the message (status 400, which chromium logs), nothing written.
    page.get_by_label("Points to redeem").fill("99999999")
    page.get_by_label("Reason").fill("coupon")
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator("[data-error]")).to_contain_text("cannot redeem 99,999,999 points")
    page.screenshot(path=str(ARTIFACTS / "membership-redeem-error-en-1280.png"), full_page=True)

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    assert [m for m in seen["console"] if "status of 400" not in m] == [], seen["console"]
    assert int(page.locator("[data-field='points-balance']").get_attribute("data-points")) == balance - 1200
    context.close()
