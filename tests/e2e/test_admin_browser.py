"""The admin pages in a real browser: an admin signs in, adds a user, finds the addition in the audit log, exports
and erases a customer through the confirmation step; a viewer is refused. Screenshots go to ``test-artifacts/``
(``admin-*.png``). Reuses the serving and chromium helpers of ``test_browser.py``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import test_browser as helpers  # its serving and chromium helpers, shared
from kehu.config import Settings

browser = helpers.browser  # the chromium fixture (skips without /usr/bin/chromium unless CI is set)
ARTIFACTS: Path = helpers.ARTIFACTS
NEW_PASSWORD = "lin's long password"


@pytest.fixture
def admin_server(settings: Settings) -> Iterator[tuple[str, object]]:
    """The app over the fixture store, plus a viewer, served on a free 127.0.0.1 port."""
    app, store = helpers._fixture_app(settings)
    fx = helpers._factories()
    fx.add_user(settings, "vera", "viewer")
    with helpers._serving(app) as base:
        yield base, store


def _sign_in(page, base: str, username: str, target: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{target}?lang=en")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(helpers._factories().PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_admin_journey(admin_server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, store = admin_server
    fx = helpers._factories()
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = helpers._watch(page, base)

    _sign_in(page, base, "admin", "/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
    expect(page.locator("[data-figure='users']")).to_have_text("2")
    page.screenshot(path=str(ARTIFACTS / "admin-index-en-1280.png"), full_page=True)

    # Add a user through the labelled form.
    page.get_by_role("link", name="Users and roles").first.click()
    page.get_by_label("Username").fill("lin")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("[data-flash]")).to_have_text("User lin (agent) added.")
    expect(page.locator("tr[data-user='lin'][data-role='agent'][data-active='true']")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "admin-users-en-1280.png"), full_page=True)

    # The audit log shows the addition; filter by action.
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("user_add")
    page.get_by_role("button", name="Apply").click()
    row = page.locator("tr[data-action='user_add']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text('"username": "lin"')
    expect(row).to_contain_text("admin")
    expect(page.locator("tr[data-action='sign_in']")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "admin-audit-en-1280.png"), full_page=True)

    # Privacy request: look the VIP up, download the export, then erase through the confirmation step.
    page.get_by_role("link", name="Privacy requests").click()
    page.get_by_label("Customer id (source system)").fill("C0000")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("[data-field='phone']")).to_have_text("138****5678")
    assert fx.VIP_PHONE not in page.content()
    page.screenshot(path=str(ARTIFACTS / "admin-privacy-en-1280.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export all data (JSON)").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["customer"]["phone"] == fx.VIP_PHONE
    page.get_by_role("link", name="Erase personal data…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm erasure")
    page.screenshot(path=str(ARTIFACTS / "admin-erase-confirm-en-1280.png"), full_page=True)
    page.get_by_label("Type the customer id C0000 to confirm").fill("C0001")
    page.get_by_role("button", name="Erase personal data for good").click()
    expect(page.locator("[data-error]")).to_contain_text("nothing was erased")
    page.get_by_label("Type the customer id C0000 to confirm").fill("C0000")
    page.get_by_role("button", name="Erase personal data for good").click()
    expect(page.locator("[data-flash]")).to_contain_text("Personal data of customer C0000")
    expect(page.locator("[data-erased='true'] [data-field='phone']")).to_have_text("—")
    expect(page.locator("[data-field='external_id']")).to_have_text(re.compile(r"^erased-\d+$"))
    page.screenshot(path=str(ARTIFACTS / "admin-privacy-erased-en-1280.png"), full_page=True)
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tr[data-action='privacy_erase']")).to_have_count(1)
    expect(page.locator("tr[data-action='privacy_export']")).to_have_count(1)

    # The same pages in Chinese.
    page.goto(base + "/admin/audit?lang=zh")
    expect(page.get_by_role("heading", level=1)).to_have_text("审计日志")
    expect(page.locator("tr[data-action='privacy_erase'] th")).to_have_text("删除个人信息")
    page.screenshot(path=str(ARTIFACTS / "admin-audit-zh-1280.png"), full_page=True)
    page.goto(base + "/admin")
    expect(page.locator("[data-figure='erased']")).to_have_text("1")
    page.screenshot(path=str(ARTIFACTS / "admin-index-zh-1280.png"), full_page=True)

    # Phone width: nothing sticks out sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shot in [("/admin/users", "admin-users-en-390.png"), ("/admin/audit", "admin-audit-en-390.png"),
                       ("/admin/privacy?customer=C0001", "admin-privacy-en-390.png")]:
        page.goto(base + path)
        assert helpers._too_wide(page) == [], shot
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    # The one error the console shows is the 400 answer to the mistyped confirmation, on purpose.
    assert [m for m in seen["console"] if "status of 400" not in m] == [], seen["console"]
    context.close()


def test_viewer_is_refused(admin_server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, _ = admin_server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    _sign_in(page, base, "vera", "/admin/users")
    expect(page.locator(".error-page .status")).to_have_text("403")
    expect(page.get_by_text("You are not allowed to see this page.")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)  # not in the navigation either
    page.screenshot(path=str(ARTIFACTS / "admin-viewer-403-en-1280.png"), full_page=True)
    context.close()
