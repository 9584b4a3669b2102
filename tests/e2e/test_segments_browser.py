"""Segments in a real browser: the list with its trend lines, the builder's live count as a rule is typed (with the
offending text marked while the rule is wrong), saving, the segment's page with its size chart and migration
Sankey drawn by the local Plotly, an export; in Chinese and English, at desktop and phone width, with no request
leaving 127.0.0.1 and no console error.

Serving and chromium come from ``tests/e2e/test_browser.py`` (imported, not copied); screenshots go to
``test-artifacts/segments-*.png``. Skipped without ``/usr/bin/chromium`` unless ``CI`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import test_browser as _tb  # its serving and chromium helpers, shared
from kehu.config import Settings
from kehu.segments import refresh_segments
from kehu.segments.service import preview, snapshot_for
from kehu.store import session_scope

ARTIFACTS = _tb.ARTIFACTS
browser = _tb.browser  # headless chromium, shared with test_browser.py

WRONG_RULE = "province = '广东' AND upper(city) = 'A'"
RULE = "province IN ('广东','浙江') AND monetary > 300"


@pytest.fixture
def seg_server(settings: Settings) -> Iterator[tuple[str, Settings]]:
    """The fixture store with its segments refreshed for both snapshots, served on a free 127.0.0.1 port."""
    app, _ = _tb._fixture_app(settings)
    refresh_segments(settings, all_snapshots=True)
    with _tb._serving(app) as base:
        yield base, settings


def test_build_a_segment_and_see_it_move(seg_server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, settings = seg_server
    with session_scope(settings.store_url) as session:
        expected = preview(session, RULE, snapshot_for(session)).count
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = _tb._watch(page, base)
    _tb._sign_in(page, base)

    # The list, reached from the navigation: the default tags with their sizes and trend lines.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="分群").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("客户分群与标签")
    expect(page.locator("tr[data-builtin]")).to_have_count(7)
    expect(page.locator("tr[data-builtin='first_tier_city']")).to_have_attribute("data-size", "15")
    expect(page.locator("tr[data-builtin='price_sensitive'] svg.seg-spark polyline")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "segments-list-zh-1280.png"), full_page=True)

    # The builder: a wrong rule is marked where it is wrong, as it is typed.
    page.get_by_role("link", name="新建分群").click()
    page.get_by_label("名称").fill("江浙粤高消费")
    rule_box = page.get_by_label("规则", exact=True)
    rule_box.fill(WRONG_RULE)
    panel = page.locator("[data-preview]")
    expect(panel).to_have_attribute("data-state", "error")
    expect(page.locator("#seg-rule-error [data-role='mark'] mark")).to_have_text("upper")
    expect(page.locator("#seg-rule-error [data-role='message']")).to_contain_text("不允许使用函数 upper")
    expect(rule_box).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(ARTIFACTS / "segments-builder-error-zh-1280.png"), full_page=True)

    # Fixed: the live count and a masked sample.
    rule_box.fill(RULE)
    expect(panel).to_have_attribute("data-state", "ready")
    expect(page.locator("[data-role='summary']")).to_have_attribute("data-count", str(expected))
    expect(page.locator("#seg-rule-error")).to_be_hidden()
    rows = page.locator("tbody[data-role='sample'] tr")
    expect(rows).to_have_count(min(expected, 20))
    for name in rows.locator("[data-field='name']").all_text_contents():
        assert name.endswith("*"), name
    page.screenshot(path=str(ARTIFACTS / "segments-builder-zh-1280.png"), full_page=True)

    # Saved: the segment's page with its size over time and the migration since the earlier snapshot.
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(re.compile(r"/segments/\d+(\?as_of=2025-06-30)?$"))
    expect(page.locator("[data-figure='size']")).to_have_text(str(expected))
    for chart in ("chart-sizes", "chart-migration"):
        expect(page.locator(f"#{chart}[data-rendered='true'] svg.main-svg").first).to_be_visible()
    expect(page.locator("#chart-migration .sankey-node")).not_to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "segments-detail-zh-1280.png"), full_page=True)

    # The members as CSV, masked.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="导出", exact=True).click()
    content = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].startswith("客户编号") and len(content.splitlines()) == expected + 1
    assert "13812345678" not in content

    # English.
    page.get_by_role("link", name="English").click()
    expect(page.locator("#chart-sizes[data-rendered='true'] svg.main-svg").first).to_be_visible()
    expect(page.get_by_role("heading", name="Sample of members (largest spend first, up to 20)")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "segments-detail-en-1280.png"), full_page=True)
    detail = page.url

    # Phone width: nothing sticks out sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shot in [(base + "/segments", "segments-list-en-390.png"),
                       (base + "/segments/new?rule=" + "frequency%20%3E%3D%202", "segments-builder-en-390.png"),
                       (detail, "segments-detail-en-390.png")]:
        page.goto(path)
        if "/new" in path:
            expect(page.locator("[data-role='summary']")).to_have_attribute("data-count", "39")
        if path == detail:
            expect(page.locator("#chart-migration[data-rendered='true'] svg.main-svg").first).to_be_visible()
        assert _tb._too_wide(page) == [], shot
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    # The preview answers a wrong rule with 400 and its message (a user mistake is a 4xx); Chromium logs every 4xx
    # response it fetched, so that one line is expected while the rule was wrong, and nothing else.
    bad_request = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert [m for m in seen["console"] if m != bad_request] == [], seen["console"]
    context.close()
