"""Feedback and tasks in a real browser: an agent reads the feedback dashboard (charts drawn by the local Plotly),
works the inbox (overdue first), answers an item, opens a follow-up task and closes it with an outcome, enters new
feedback; an analyst edits the keyword rules and imports a file. Chinese pages and a phone-width layout too.
Screenshots go to ``test-artifacts/`` (``feedback-*.png``, ``tasks-*.png``). Reuses the serving and chromium helpers
of ``test_browser.py``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from e2e import test_browser as helpers  # its serving and chromium helpers, shared
from kehu.config import Settings

browser = helpers.browser  # the chromium fixture (skips without /usr/bin/chromium unless CI is set)
ARTIFACTS: Path = helpers.ARTIFACTS

TEXTS = [
    ("complaint", None, "物流太慢了，等了一个星期"), ("review", 2, "质量太差，屏幕有划痕"),
    ("review", 5, "客服很耐心，非常满意"), ("complaint", None, "价格太贵了，买完就降价"),
    ("review", 4, "Fast delivery, great phone!"), ("complaint", None, "Customer service was rude."),
]


@pytest.fixture
def feedback_server(settings: Settings) -> Iterator[tuple[str, object]]:
    """The app over the fixture store, with an agent, an analyst and feedback over three months (one item overdue)."""
    from kehu.feedback import add_feedback, local_now
    from kehu.privacy import FieldCipher
    from kehu.store import session_scope

    app, store = helpers._fixture_app(settings)
    fx = helpers._factories()
    fx.add_user(settings, "lin", "agent")
    fx.add_user(settings, "ana", "analyst")
    now = local_now()
    with session_scope(settings.store_url) as session:
        cipher = FieldCipher.from_settings(settings)
        for i, (kind, rating, text) in enumerate(TEXTS * 3):
            add_feedback(session, cipher, customer_id=store.vip_id + i % 20, kind=kind, rating=rating, text=text,
                         created_at=now - timedelta(days=25 * (i // 6), hours=2 + i),
                         status="resolved" if i >= 6 else "new")
        add_feedback(session, cipher, customer_id=store.vip_id, kind="complaint", text="快递丢件了，没人处理",
                     created_at=now - timedelta(hours=settings.feedback_sla_hours + 10))
    with helpers._serving(app) as base:
        yield base, store


def _content_too_wide(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Elements of ``<main>`` that stick out to the right of the viewport (content of ``.table-wrap`` scrolls)."""
    return page.evaluate(
        """() => {
          const out = [];
          for (const el of document.querySelectorAll("main *")) {
            if (el.closest(".table-wrap") && !el.classList.contains("table-wrap")) continue;
            const r = el.getBoundingClientRect();
            if (r.right > window.innerWidth + 1) out.push(el.tagName + "." + el.className + " " + Math.round(r.right));
          }
          return out.slice(0, 10);
        }"""
    )


def _sign_in(page, base: str, username: str, target: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{target}?lang=en")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(helpers._factories().PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_feedback_and_tasks_journey(feedback_server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, store = feedback_server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = helpers._watch(page, base)

    # The dashboard: figures and four charts drawn.
    _sign_in(page, base, "lin", "/feedback")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer feedback")
    expect(page.locator("[data-figure='total']")).to_have_text("19")
    expect(page.locator("[data-figure='overdue']")).to_have_text("1")
    for chart in ("fb-chart-categories", "fb-chart-monthly", "fb-chart-sentiment", "fb-chart-groups"):
        expect(page.locator(f"#{chart}[data-rendered='true']")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "feedback-dashboard-en-1280.png"), full_page=True)

    # The inbox: overdue first; open the overdue item and answer it.
    page.get_by_role("link", name="Feedback list").click()
    first = page.locator("tr[data-feedback]").first
    expect(first).to_have_attribute("data-sla", "overdue")
    expect(first).to_contain_text("快递丢件了")
    page.screenshot(path=str(ARTIFACTS / "feedback-items-en-1280.png"), full_page=True)
    first.get_by_role("link").first.click()
    expect(page.locator("[data-field='category']")).to_contain_text("Logistics")
    page.get_by_label("Status").select_option("in_progress")
    page.get_by_label("Owner").select_option(label="lin")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-flash]")).to_have_text("Saved.")
    expect(page.locator("[data-feedback]")).to_have_attribute("data-sla", "breached")
    page.screenshot(path=str(ARTIFACTS / "feedback-item-en-1280.png"), full_page=True)

    # A follow-up task from the item, then closed with an outcome.
    page.get_by_role("link", name="New task").last.click()
    page.get_by_label("What").fill("Call back about the lost parcel")
    page.get_by_label("Due").fill((datetime.now() + timedelta(days=1)).date().isoformat())
    page.screenshot(path=str(ARTIFACTS / "tasks-new-en-1280.png"), full_page=True)
    page.get_by_role("button", name="Create task").click()
    expect(page.locator("[data-flash]")).to_have_text("Task created.")
    page.get_by_label("Status").select_option("done")
    page.get_by_label("Outcome").fill("Parcel re-sent; the customer is satisfied.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-task]").first).to_have_attribute("data-status", "done")
    expect(page.locator("[data-field='outcome']")).to_have_text("Parcel re-sent; the customer is satisfied.")
    page.screenshot(path=str(ARTIFACTS / "tasks-item-en-1280.png"), full_page=True)
    page.get_by_role("link", name="All tasks").click()
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr[data-task][data-status='done']")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "tasks-list-en-1280.png"), full_page=True)

    # New feedback through the form.
    page.goto(base + "/feedback/new")
    page.get_by_label("Customer ID").fill("C0001")
    page.get_by_label("Kind").select_option("review")
    page.get_by_label("Rating").select_option("5")
    page.get_by_label("Text").fill("The packaging was perfect and delivery was fast.")
    page.screenshot(path=str(ARTIFACTS / "feedback-new-en-1280.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-feedback]")).to_have_attribute("data-sentiment", "positive")
    expect(page.locator("[data-field='category']")).to_contain_text("Logistics")

    # Chinese pages.
    page.goto(base + "/feedback?lang=zh")
    expect(page.get_by_role("heading", level=1)).to_have_text("客户反馈")
    expect(page.locator("#fb-chart-monthly[data-rendered='true']")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "feedback-dashboard-zh-1280.png"), full_page=True)
    page.goto(base + "/tasks?view=all&status=all")
    expect(page.get_by_role("heading", level=1)).to_have_text("全部任务")
    page.screenshot(path=str(ARTIFACTS / "tasks-list-zh-1280.png"), full_page=True)

    # Phone width: nothing in the page's content sticks out sideways (the top navigation is the layout's).
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shot in [("/feedback?lang=en", "feedback-dashboard-en-390.png"),
                       ("/feedback/items", "feedback-items-en-390.png"), ("/tasks", "tasks-list-en-390.png")]:
        page.goto(base + path)
        assert _content_too_wide(page) == [], path
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    assert seen == {"offsite": [], "console": [], "pageerror": []}
    context.close()

    # An analyst: the rules (add a keyword) and the import; no texts in the inbox.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    _sign_in(page, base, "ana", "/feedback/rules")
    expect(page.get_by_role("heading", level=1)).to_have_text("Category rules")
    page.get_by_label("Category", exact=True).select_option("product_quality")
    page.get_by_label("Keyword", exact=True).fill("no sound")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("[data-flash]")).to_have_text("Keyword no sound added.")
    expect(page.locator("[data-rules='product_quality'] [data-rule='no sound']")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "feedback-rules-en-1280.png"), full_page=True)
    page.goto(base + "/feedback/items")
    assert "快递丢件了" not in page.content()
    upload = tmp_path / "feedback.csv"
    upload.write_text("customer_id,created_at,kind,rating,text\nC0002,2025-06-02 10:00,review,1,no sound at all\n"
                      "C9999,2025-06-02,review,5,ok\n", encoding="utf-8")
    page.goto(base + "/feedback/import")
    page.get_by_label("CSV or XLSX file").set_input_files(str(upload))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("[data-count='inserted']")).to_have_text("1")
    expect(page.locator("[data-count='rejected']")).to_have_text("1")
    page.screenshot(path=str(ARTIFACTS / "feedback-import-en-1280.png"), full_page=True)
    context.close()
