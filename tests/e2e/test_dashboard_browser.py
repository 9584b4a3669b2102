"""The dashboard's analysis charts in a real browser: every chart drawn by the local Plotly (heatmaps, treemap,
funnel, bars, pie, Sankey), the Sankey's group/stage toggle, a treemap tile opening the filtered customer list, no
console or Content-Security-Policy error and no request leaving 127.0.0.1, in Chinese and English at desktop and
phone width (no sideways scrolling). Screenshots go to ``test-artifacts/dashboard-charts-*.png``.

Reuses the serving and chromium helpers of ``tests/e2e/test_browser.py``; skipped without chromium unless ``CI``
is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from e2e.test_browser import ARTIFACTS, _fixture_app, _serving, _sign_in, _too_wide, _watch, browser  # noqa: F401
from kehu.config import Settings
from kehu.store import ClassificationSnapshot, session_scope


def _cohorts() -> list[list[object]]:
    """18 monthly cohorts (2024-01 … 2025-06) with falling retention, as ``kehu classify`` stores them."""
    out: list[list[object]] = []
    for i in range(18):
        size = 40 + 3 * i
        out.append([f"{2024 + i // 12}-{i % 12 + 1:02d}", size, [max(0, size // (k + 2) - i % 3) for k in range(12)]])
    return out


@pytest.fixture
def dash_server(settings: Settings) -> Iterator[tuple[str, object]]:
    """The app over the fixture store (two ready snapshots) whose current snapshot carries cohorts."""
    app, store = _fixture_app(settings)
    with session_scope(app.state.settings.store_url) as session:  # type: ignore[attr-defined]
        snapshot = session.get(ClassificationSnapshot, store.snapshot_id)  # type: ignore[attr-defined]
        snapshot.summary = {"cohorts": _cohorts()}
    with _serving(app) as base:
        yield base, store


def _chart_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for block in ("kehu-charts", "kehu-dashboard-charts"):
        data = json.loads(page.locator(f"#{block}").text_content())
        ids += [c["id"] for c in data["charts"]]
    return ids


def _all_drawn(page) -> int:  # type: ignore[no-untyped-def]
    """Wait until every chart of the JSON blocks has its Plotly SVG; the number of charts drawn."""
    from playwright.sync_api import expect

    ids = _chart_ids(page)
    for chart in ids:
        expect(page.locator(f"#{chart}[data-rendered='true'] svg.main-svg").first).to_be_attached()
    drawn = page.locator(".chart[data-rendered='true'] > .plot-container > .svg-container")
    assert drawn.count() == len(ids), (drawn.count(), ids)
    return len(ids)


def test_dashboard_charts_draw_in_both_languages_and_widths(dash_server, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect

    base, store = dash_server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = _watch(page, base)
    _sign_in(page, base)

    # Chinese, desktop: all 13 charts drawn (4 overview + 9 analysis), each kind by its own Plotly layer.
    assert _all_drawn(page) == 13
    expect(page.locator("#chart-rfm-grid .heatmaplayer image, #chart-rfm-grid .hm image").first).to_be_attached()
    expect(page.locator("#chart-cohorts .hm image, #chart-cohorts .heatmaplayer image").first).to_be_attached()
    expect(page.locator("#chart-treemap g.slice").first).to_be_attached()
    expect(page.locator("#chart-funnel .point path")).to_have_count(4)
    expect(page.locator("#chart-migration .sankey-node").first).to_be_attached()
    expect(page.locator("#chart-treemap text", has_text="重要价值客户").first).to_be_attached()
    expect(page.get_by_role("heading", name="客户分析")).to_be_visible()
    expect(page.get_by_label("对比日期")).to_have_value("2025-03-31")
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts-zh-1280.png"), full_page=True)

    # Hovering a cell of the score grid shows its customers and mean monetary.
    grid = page.locator("#chart-rfm-grid .nsewdrag").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    for step in (0.12, 0.1):  # R 5 · F 1 (top left); two moves so that Plotly sees a mouse move
        grid.hover(position={"x": box["width"] * step, "y": box["height"] * step}, force=True)
    expect(page.locator("#chart-rfm-grid .hoverlayer")).to_contain_text("平均消费金额")

    # The Sankey switches between RFM groups and lifecycle stages.
    migration = page.locator("#chart-migration")
    expect(migration).to_have_attribute("data-variant", "group")
    page.get_by_role("radio", name="生命周期").check()
    expect(migration).to_have_attribute("data-variant", "stage")
    expect(page.locator("#chart-migration .sankey-node text", has_text="流失客户").first).to_be_attached()

    # Phone width: no sideways scrolling, every chart still drawn.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _all_drawn(page)
    assert _too_wide(page) == [], "zh 390"
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts-zh-390.png"), full_page=True)

    # English at both widths.
    page.goto(base + "/?lang=en")
    _all_drawn(page)
    expect(page.locator("#chart-funnel text", has_text="at risk").first).to_be_attached()
    assert _too_wide(page) == [], "en 390"
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts-en-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    _all_drawn(page)
    expect(page.get_by_role("heading", name="Customer analysis")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts-en-1280.png"), full_page=True)

    # A class tile of the treemap opens the customer list filtered by that class.
    tile = page.locator("#chart-treemap g.slice", has_text="important value").first
    tile.click(force=True)
    expect(page).to_have_url(re.compile(r"/customers\?rfm_class=important_value"))

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    assert [m for m in seen["console"] if "Content Security Policy" in m] == []
    assert seen["console"] == [], seen["console"]
    context.close()
