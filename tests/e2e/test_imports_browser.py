"""The imports pages in a real browser: upload a small CSV, map the column the aliases miss, check, import, wait for
the run to end and see its counters; at desktop (Chinese) and phone (English) width, no sideways scrolling, no
request leaving 127.0.0.1, no console error.

Reuses the serving, chromium and checking helpers of ``tests/e2e/test_browser.py``. Screenshots go to
``test-artifacts/imports-*.png``. Without ``/usr/bin/chromium`` the test is skipped, unless ``CI`` is set.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import test_browser as tb  # its serving and chromium helpers, shared
from kehu.config import Settings

browser = tb.browser  # the chromium fixture (skips without /usr/bin/chromium unless CI is set)
ARTIFACTS = tb.ARTIFACTS

# 单号 is no alias of order_id: the mapping step must name it. The third row has a bad amount.
CSV = ("单号,客户编号,下单时间,实付金额,手机\n"
       "W-1,K1,2025-01-02 10:00,88.50,13912345678\n"
       "W-2,K2,2025-01-03,12.00,13800000000\n"
       "W-3,K1,2025-01-04,eighty,\n")


@pytest.fixture
def import_server(settings: Settings) -> Iterator[str]:
    """The app over the web tests' fixture store, served on a free 127.0.0.1 port."""
    app, _store = tb._fixture_app(settings)
    with tb._serving(app) as base:
        yield base


def _upload(page, path: Path, *, file_label: str, button: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label(file_label, exact=True).set_input_files(str(path))
    page.get_by_role("button", name=button).click()


def _wait_finished(page) -> None:  # type: ignore[no-untyped-def]
    """The run page reloads itself (``/static/imports.js``) once the run has ended."""
    from playwright.sync_api import expect

    expect(page.locator("section.import-progress")).to_have_attribute("data-finished", "true", timeout=30_000)


def test_upload_map_check_import_and_see_the_counters(import_server, browser, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    from kehu.ingest import jobs

    base = import_server
    ARTIFACTS.mkdir(exist_ok=True)
    csv_path = tmp_path / "订单导出.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = tb._watch(page, base)
    tb._sign_in(page, base)

    # Desktop, Chinese: the imports page from the navigation, then the upload.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="导入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("导入数据")
    expect(page.locator("ol.import-steps li[aria-current='step']")).to_have_text("上传文件")
    page.screenshot(path=str(ARTIFACTS / "imports-upload-zh-1280.png"), full_page=True)
    _upload(page, csv_path, file_label="文件", button="上传并预览")

    # Mapping step: generic detected, order_id missing, import disabled until it is mapped.
    expect(page.get_by_role("heading", level=1)).to_have_text("核对列映射")
    expect(page.locator("[data-detected-format]")).to_have_attribute("data-detected-format", "generic")
    expect(page.locator("[data-missing]")).to_have_attribute("data-missing", "order_id")
    expect(page.get_by_role("button", name="开始导入")).to_be_disabled()
    expect(page.locator("#map-amount")).to_have_value("实付金额")
    expect(page.locator("table.preview tbody tr")).to_have_count(3)
    assert "13912345678" not in page.content()
    page.locator("#map-order_id").select_option("单号")
    page.get_by_role("button", name="校验").click()
    validation = page.locator("section.validation")
    expect(validation).to_have_attribute("data-validated", "true")
    expect(validation).to_have_attribute("data-rejected", "1")
    expect(validation.locator("tr[data-line='4']")).to_contain_text("eighty")
    page.screenshot(path=str(ARTIFACTS / "imports-mapping-zh-1280.png"), full_page=True)

    # Import: the run page follows the run until it ends, then shows the counters and the rejects link.
    page.get_by_role("button", name="开始导入").click()
    expect(page).to_have_url(re.compile(r"/imports/runs/\d+$"))
    _wait_finished(page)
    expect(page.locator("section.import-progress")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("[data-counter='rows_read']")).to_have_text("3")
    expect(page.locator("[data-counter='inserted']")).to_have_text("2")
    expect(page.locator("[data-counter='rejected']")).to_have_text("1")
    expect(page.locator("a[data-rejects]")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "imports-run-zh-1280.png"), full_page=True)

    # Phone width, English: the same file again; nothing new, two orders unchanged.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/imports?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Import data")
    expect(page.locator("table.import-runs tbody tr")).to_have_count(1)
    assert tb._too_wide(page) == [], "imports-en-390"
    page.screenshot(path=str(ARTIFACTS / "imports-upload-en-390.png"), full_page=True)
    _upload(page, csv_path, file_label="File", button="Upload and preview")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check the column mapping")
    page.locator("#map-order_id").select_option("单号")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("section.validation")).to_have_attribute("data-validated", "true")
    assert tb._too_wide(page) == [], "imports-mapping-en-390"
    page.screenshot(path=str(ARTIFACTS / "imports-mapping-en-390.png"), full_page=True)
    # This import is held in its loading stage until the page has shown it: imports.js polls and updates it.
    gate, real = threading.Event(), jobs.import_file

    def held_import(**kwargs):  # type: ignore[no-untyped-def]
        kwargs["progress"]("load", 1, 2)
        gate.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(jobs, "import_file", held_import)
    page.get_by_role("button", name="Start import").click()
    box = page.locator("section.import-progress")
    expect(box).to_have_attribute("data-finished", "false")
    expect(box.locator("[data-role='stage']")).to_have_text("Writing to the store")
    expect(box.locator("progress")).to_have_js_property("value", 70)
    expect(page.get_by_role("link", name="Refresh")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "imports-running-en-390.png"), full_page=True)
    gate.set()
    _wait_finished(page)
    expect(page.locator("[data-counter='unchanged']")).to_have_text("2")
    expect(page.locator("[data-counter='inserted']")).to_have_text("0")
    assert tb._too_wide(page) == [], "imports-run-en-390"
    page.screenshot(path=str(ARTIFACTS / "imports-run-en-390.png"), full_page=True)
    page.goto(base + "/imports")
    expect(page.locator("table.import-runs tbody tr[data-status='succeeded']")).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / "imports-list-en-390.png"), full_page=True)

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    assert seen["console"] == [], seen["console"]
    context.close()
