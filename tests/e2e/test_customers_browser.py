"""The customer list and 360 profile in a real browser: filter, save a view, search by phone, export, open a
profile, reveal a phone (and find the reveal in the audit table), add a note, record consent; at desktop and phone
width, with no request leaving 127.0.0.1.

Serving and chromium come from ``tests/e2e/test_browser.py`` (imported, not copied); screenshots go to
``test-artifacts/customers-*.png``. Skipped without ``/usr/bin/chromium`` unless ``CI`` is set.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from sqlalchemy import select

from e2e import test_browser as _tb  # its serving and chromium helpers, shared
from kehu.store import AuditEvent, CustomerNote, session_scope

ARTIFACTS = _tb.ARTIFACTS
# The fixtures of test_browser.py, reused here: the fixture store served by uvicorn, and headless chromium.
server = _tb.server
browser = _tb.browser

NOTE = "Called back about the late parcel; customer satisfied."


def test_list_search_profile_reveal_note(server, browser, settings) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, store = server
    fx = _tb._factories()
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = _tb._watch(page, base)
    _tb._sign_in(page, base)

    # The list, filtered with the labelled selects; the filters saved as a view.
    page.goto(base + "/customers?lang=en")
    page.get_by_label("RFM class").select_option("important_value")
    page.get_by_label("Province").select_option("广东")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "15")
    page.get_by_label("Save these filters as").fill("Guangdong VIP")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("li[data-view='Guangdong VIP'] a[aria-current='true']")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "customers-list-en-1280.png"), full_page=True)

    # Search by phone in another spelling, submitted from the keyboard; the number never appears in the URL.
    box = page.get_by_label("Search: customer ID, phone or e-mail")
    box.fill("+86 138 1234 5678")
    box.press("Enter")
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "1")
    expect(page.locator("table.customers tbody tr")).to_have_count(1)
    assert "138" not in page.url and "search=1" in page.url
    page.screenshot(path=str(ARTIFACTS / "customers-search-en-1280.png"), full_page=True)

    # Export the searched list: masked, as CSV with a BOM.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export").click()
    content = Path(download_info.value.path()).read_bytes()
    assert content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(r["Customer ID"], r["Phone"]) for r in rows] == [("C0000", "138****5678")]
    assert fx.VIP_PHONE.encode() not in content

    # Open the profile: masked; reveal the phone, which is then audited.
    page.get_by_role("link", name="C0000").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("C0000")
    expect(page.locator("[data-field='phone']")).to_have_text("138****5678")
    expect(page.locator("li[data-tag='rfm_class'] a")).to_contain_text("important value")
    page.get_by_role("button", name="Reveal Phone").click()
    expect(page.locator("[data-field='phone'][data-revealed='true']")).to_have_text(fx.VIP_PHONE)
    expect(page.locator("[data-field='name']")).to_have_text("张**")
    with session_scope(settings.store_url) as session:
        reveals = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "reveal")))
        assert [(e.username, e.target_id, e.detail) for e in reveals] == [
            ("admin", str(store.vip_id), {"field": "phone"})]
        assert reveals[0].ip == "127.0.0.1" and reveals[0].via == "web"
    page.screenshot(path=str(ARTIFACTS / "customers-360-revealed-en-1280.png"), full_page=True)

    # Add a note (a call by phone) and record a consent grant; both listed, newest first.
    page.get_by_label("Kind").select_option("call")
    page.get_by_label("Channel").select_option("phone")
    page.get_by_label("Text").fill(NOTE)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"#notes$"))
    first_note = page.locator("ol.notes > li").first
    expect(first_note).to_contain_text(NOTE)
    expect(first_note).to_contain_text("admin")
    expect(page.locator("[data-field='phone']")).to_have_text("138****5678")  # masked again
    page.get_by_label("Grant").check()
    page.get_by_label("Source").select_option("phone")
    page.get_by_role("button", name="Record").click()
    expect(page.locator("[data-field='consent']")).to_have_attribute("data-consent", "granted")
    expect(page.locator("ol.history > li")).to_have_count(1)
    with session_scope(settings.store_url) as session:
        note = session.scalars(select(CustomerNote)).one()
        assert note.kind == "call" and NOTE not in note.body_enc
    page.screenshot(path=str(ARTIFACTS / "customers-360-notes-en-1280.png"), full_page=True)

    # Phone width, both languages: nothing sticks out sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shot in [
        (f"{base}/customers/{store.vip_id}?lang=zh", "customers-360-zh-390.png"),
        (f"{base}/customers?lang=zh", "customers-list-zh-390.png"),
        (f"{base}/customers/{store.vip_id}?lang=en", "customers-360-en-390.png"),
    ]:
        page.goto(path)
        assert _tb._too_wide(page) == [], shot
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/customers/{store.vip_id}?lang=zh")
    page.screenshot(path=str(ARTIFACTS / "customers-360-zh-1280.png"), full_page=True)

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    assert seen["console"] == [], seen["console"]
    context.close()
