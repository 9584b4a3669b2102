"""Campaigns and surveys in a real browser: launch a win-back campaign with a holdout from the template, open the
result page of the seeded demo campaign (charts drawn, uplift significant), create a survey, download its links,
answer through a public link as a customer (no sign-in), and find the detractor's call-back task.

Reuses the serving and chromium helpers of tests/e2e/test_browser.py; screenshots go to ``test-artifacts/campaign-*``.
Skipped without ``/usr/bin/chromium`` unless ``CI`` is set.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import test_browser as helpers  # its serving and chromium helpers, shared
from kehu.config import Settings

browser = helpers.browser  # the chromium fixture, shared
ARTIFACTS: Path = helpers.ARTIFACTS
PASSWORD = "correct horse battery staple"


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, int, Settings]]:
    """A small demo store (3,000 customers, classified without the models) with the seeded win-back campaign, an
    agent, served on 127.0.0.1; yields (base URL, demo campaign id, settings)."""
    from kehu.analytics import classify
    from kehu.analytics.classify import last_order_date
    from kehu.campaigns import seed_demo_campaign
    from kehu.ingest import import_file
    from kehu.sample.generate import generate_demo
    from kehu.store import User, session_scope
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin, hash_password

    settings = Settings(data_dir=tmp_path / "data", secret_key="test-secret-key-that-is-long-enough-0123456789",
                        admin_password=PASSWORD, predict=False, _env_file=None)
    files = generate_demo(tmp_path / "sample", customers=3000)
    import_file(settings=settings, path=files.customers_csv, kind="customers", format_name="generic")
    import_file(settings=settings, path=files.orders_csv, kind="orders", format_name="generic")
    classify(settings=settings, as_of=last_order_date(settings.store_url))
    campaign_id = seed_demo_campaign(settings, reclassify=False)
    ensure_admin(settings)
    with session_scope(settings.store_url) as session:
        session.add(User(username="agent1", password_hash=hash_password(PASSWORD), role="agent"))
    with helpers._serving(create_app(settings)) as base:
        yield base, campaign_id, settings


def test_campaign_and_survey_journey(demo_server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, demo_id, settings = demo_server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = helpers._watch(page, base)
    page.goto(base + "/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("客户概览")

    # The campaigns page: the win-back template, launched in one click.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="营销活动").click()
    expect(page.locator("[data-template='winback']")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "campaign-list-zh-1280.png"), full_page=True)
    page.get_by_role("button", name="一键发起挽回活动").click()
    expect(page.locator("[data-flash='launched']")).to_be_visible()
    expect(page.locator("[data-field='holdout_share']")).to_have_text("20.0%")
    treated = int(page.locator("tr[data-arm='treatment'] [data-col='customers']").inner_text().replace(",", ""))
    held = int(page.locator("tr[data-arm='holdout'] [data-col='customers']").inner_text().replace(",", ""))
    assert treated > 3 * held > 0
    expect(page.locator("[data-interim]")).to_be_visible()  # its window has just begun
    expect(page.locator("#chart-conversion[data-rendered='true'] svg.main-svg").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "campaign-launched-zh-1280.png"), full_page=True)

    # The seeded demo campaign: finished, uplift with an interval excluding 0, charts drawn with error bars.
    page.goto(f"{base}/campaigns/{demo_id}")
    expect(page.locator("[data-status='finished']").first).to_be_visible()
    expect(page.locator("[data-result='conversion_diff']")).to_have_attribute("data-significant", "true")
    expect(page.locator("[data-verdict='positive']")).to_be_visible()
    for chart in ("chart-conversion", "chart-revenue"):
        expect(page.locator(f"#{chart}[data-rendered='true'] svg.main-svg").first).to_be_visible()
        expect(page.locator(f"#{chart} .errorbar")).to_have_count(2)
    low = float(page.locator("[data-result='conversion_diff']").get_attribute("data-low") or "nan")
    assert low > 0
    page.screenshot(path=str(ARTIFACTS / "campaign-result-zh-1280.png"), full_page=True)
    page.get_by_role("link", name="English").click()
    expect(page.locator("tr[data-arm='treatment'] th")).to_have_text("Treatment")
    expect(page.locator("#chart-revenue[data-rendered='true'] svg.main-svg").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "campaign-result-en-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#chart-conversion[data-rendered='true'] svg.main-svg").first).to_be_visible()
    assert helpers._too_wide(page) == []
    page.screenshot(path=str(ARTIFACTS / "campaign-result-en-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/campaigns/new?template=winback&lang=zh")
    page.screenshot(path=str(ARTIFACTS / "campaign-new-zh-1280.png"), full_page=True)

    # A survey: created in the form, its links downloaded for the champions.
    page.goto(base + "/surveys")
    page.get_by_label("名称").fill("售后 NPS")
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("售后 NPS")
    page.get_by_label("冠军客户").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="下载链接（CSV）").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["customer_id", "link"] and len(rows) > 2
    link = rows[1][1]
    assert link.startswith(base + "/s/")

    # A customer answers through the link: no sign-in, no personal data; a detractor's score.
    customer = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    answer = customer.new_page()
    answer.set_default_timeout(20_000)
    seen_public = helpers._watch(answer, base)
    answer.goto(link)
    expect(answer.locator("legend").first).to_contain_text("推荐给朋友或同事")
    assert helpers._too_wide(answer) == []
    answer.screenshot(path=str(ARTIFACTS / "campaign-survey-answer-zh-390.png"), full_page=True)
    answer.locator("label", has_text=re.compile(r"^\s*3\s*$")).click()
    answer.get_by_label("还有什么想告诉我们的？（可选）").fill("物流太慢，等了一个星期")
    answer.get_by_role("button", name="提交").click()
    expect(answer.locator("[data-state='thanks']")).to_be_visible()
    answer.screenshot(path=str(ARTIFACTS / "campaign-survey-thanks-zh-390.png"), full_page=True)
    answer.goto(link + "?lang=en")
    expect(answer.locator("[data-state='answered']")).to_contain_text("already been answered")
    answer.screenshot(path=str(ARTIFACTS / "campaign-survey-answered-en-390.png"), full_page=True)
    customer.close()

    # The call-back: on the survey page, owned by the agent, and its task page.
    page.reload()
    task_row = page.locator("table.follow-ups tbody tr").first
    expect(task_row.locator("[data-col='owner']")).to_have_text("agent1")
    expect(page.locator("[data-figure='follow_ups']")).to_have_attribute("data-value", "1")
    page.screenshot(path=str(ARTIFACTS / "campaign-survey-results-zh-1280.png"), full_page=True)
    task_row.locator("th a").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.get_by_text("电话回访").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "campaign-survey-task-zh-1280.png"), full_page=True)

    for watched in (seen, seen_public):
        assert watched["offsite"] == [], watched["offsite"]
        assert watched["pageerror"] == [], watched["pageerror"]
        assert watched["console"] == [], watched["console"]
    context.close()
