"""The real app in a real browser: sign in, see the charts drawn, filter the list, open a profile, at desktop
and phone width, with no request leaving 127.0.0.1 and no Content-Security-Policy violation.

Uses Debian's chromium (``apt-get install chromium``) through Playwright's Python API; no ``playwright
install``. Screenshots go to ``test-artifacts/``. Without ``/usr/bin/chromium`` the test is skipped, unless
``CI`` is set.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from kehu.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _needs(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (required when CI is set)")
    pytest.skip(why)


def _load(name: str, filename: str):  # type: ignore[no-untyped-def]
    """tests/web/``filename`` as module ``name`` (shared with tests/web/conftest.py)."""
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "web" / filename
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _factories():  # type: ignore[no-untyped-def]
    return _load("kehu_web_test_factories", "factories.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serving(app: object) -> Iterator[str]:
    """``app`` served by uvicorn on a free 127.0.0.1 port in a background thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


def _fixture_app(settings: Settings, *, predictions: bool = False) -> tuple[object, object]:
    """The app over the fixture store (with predictions in its snapshot when asked), and the store."""
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    fx = _factories()
    web_settings = settings.model_copy(update={"admin_password": fx.PASSWORD})
    store = fx.build_store(web_settings)
    if predictions:
        _load("kehu_web_test_prediction_factories", "prediction_factories.py").add_predictions(
            web_settings, store.snapshot_id
        )
    ensure_admin(web_settings)
    return create_app(web_settings), store


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, object]]:
    """The app over the fixture store, served by uvicorn on a free 127.0.0.1 port in a background thread."""
    app, store = _fixture_app(settings)
    with _serving(app) as base:
        yield base, store


@pytest.fixture
def predicted_server(settings: Settings) -> Iterator[tuple[str, object]]:
    """Like :func:`server`, with predictions and a model report in the current snapshot."""
    app, store = _fixture_app(settings, predictions=True)
    with _serving(app) as base:
        yield base, store


@pytest.fixture
def browser() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright."""
    _needs(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _needs(False, "playwright is not installed: pip install -e '.[dev]'")
    # Assertions wait up to 15 s (Playwright's default is 5): `make test` runs two workers on two cores, and a
    # chart drawn after a page's own fetches can take longer than 5 s there.
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _watch(page, base: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Collect requests leaving the app's origin, console errors and page errors."""
    seen: dict[str, list[str]] = {"offsite": [], "console": [], "pageerror": []}
    host = urlparse(base).netloc

    def on_request(request) -> None:  # type: ignore[no-untyped-def]
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != host:
            seen["offsite"].append(request.url)

    page.on("request", on_request)
    page.on("console", lambda msg: msg.type == "error" and seen["console"].append(msg.text))
    page.on("pageerror", lambda exc: seen["pageerror"].append(str(exc)))
    return seen


def _too_wide(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Elements that stick out to the right of the viewport (none when the page needs no sideways scrolling).

    Content inside a horizontally scrolling box (``.table-wrap``) does not count.
    """
    return page.evaluate(
        """() => {
          if (document.documentElement.scrollWidth <= window.innerWidth + 1) return [];
          const out = [];
          for (const el of document.querySelectorAll("body *")) {
            if (el.closest(".table-wrap") && !el.classList.contains("table-wrap")) continue;
            const r = el.getBoundingClientRect();
            if (r.right > window.innerWidth + 1) {
              out.push(el.tagName + "." + el.className + " " + Math.round(r.right));
            }
          }
          return out.slice(0, 10);
        }"""
    )


def test_sign_in_dashboard_list_profile(server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, store = server
    fx = _factories()
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = _watch(page, base)

    # Signed out: the login page; sign in through the labelled form.
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(fx.PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("客户概览")

    # Dashboard: every chart drawn by the local Plotly as SVG.
    for chart in ("chart-classes", "chart-groups", "chart-stages", "chart-revenue"):
        expect(page.locator(f"#{chart}[data-rendered='true'] svg.main-svg").first).to_be_visible()
    expect(page.locator("#chart-classes .xtick text", has_text="重要价值客户")).to_have_count(1)
    expect(page.locator("[data-figure='customers']")).to_have_text(str(store.customers))
    page.screenshot(path=str(ARTIFACTS / "dashboard-zh-1280.png"), full_page=True)

    # English, remembered across pages.
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer overview")
    expect(page.locator("#chart-classes .xtick text", has_text="important value")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "dashboard-en-1280.png"), full_page=True)

    # Customer list: filter by class and province with the labelled selects.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Customers").click()
    expect(page.get_by_text("60 customers")).to_be_visible()
    page.get_by_label("RFM class").select_option("important_value")
    page.get_by_label("Province").select_option("广东")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"rfm_class=important_value"))
    rows = page.locator("table.customers tbody tr")
    expect(rows).to_have_count(15)
    expect(rows.first.locator("td").nth(1)).to_have_text("广东")
    page.screenshot(path=str(ARTIFACTS / "customers-en-1280.png"), full_page=True)

    # Sort by customer id ascending, then open the first profile (the VIP).
    page.get_by_role("link", name=re.compile("Customer ID")).click()
    expect(page.locator("th[aria-sort='ascending']")).to_have_count(1)
    page.get_by_role("link", name="C0000").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("C0000")
    expect(page.locator("[data-field='phone']")).to_have_text("138****5678")
    expect(page.locator("[data-field='name']")).to_have_text("张**")
    assert fx.VIP_PHONE not in page.content()
    expect(page.locator("ol.timeline > li")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "profile-en-1280.png"), full_page=True)

    # Phone width: no sideways scrolling on the profile, the dashboard or the list.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shot in [
        (page.url, "profile-en-390.png"),
        (base + "/", "dashboard-en-390.png"),
        (base + "/customers", "customers-en-390.png"),
    ]:
        page.goto(path)
        if path == base + "/":
            expect(page.locator("#chart-revenue[data-rendered='true'] svg.main-svg").first).to_be_visible()
        assert _too_wide(page) == [], shot
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

    # Clicking a bar of the class chart opens the list filtered by that class.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/")
    bar = page.locator("#chart-classes .point path").first
    expect(bar).to_be_visible()
    bar.click(force=True)
    expect(page).to_have_url(re.compile(r"/customers\?rfm_class="))

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    assert [m for m in seen["console"] if "Content Security Policy" in m] == []
    assert seen["console"] == [], seen["console"]
    context.close()


def _sign_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(base + "/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(_factories().PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("客户概览")


def test_predictions_on_dashboard_and_profile(predicted_server, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, store = predicted_server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    seen = _watch(page, base)
    _sign_in(page, base)

    # The prediction charts drawn by the local Plotly; the CLV tiers and model quality cards.
    for chart in ("chart-clv", "chart-churn", "chart-clusters"):
        expect(page.locator(f"#{chart}[data-rendered='true'] svg.main-svg").first).to_be_visible()
    expect(page.locator("#chart-clusters .xtick text", has_text="高频高消费")).to_have_count(1)
    expect(page.locator("[data-tier='high'] [data-col='customers']")).to_have_text("12")
    expect(page.locator("[data-quality='churn_auc']")).to_have_text("0.812")
    page.screenshot(path=str(ARTIFACTS / "dashboard-predictions-zh-1280.png"), full_page=True)

    # Clicking a cluster's bar opens the list filtered by that cluster.
    page.locator("#chart-clusters .point path").first.click(force=True)
    expect(page).to_have_url(re.compile(r"/customers\?cluster=0"))
    expect(page.get_by_text("共 20 位客户")).to_be_visible()

    # The profile's prediction card, in Chinese, at desktop and phone width.
    page.goto(f"{base}/customers/{store.vip_id}")
    expect(page.locator("[data-field='p_alive']")).to_have_text("80.0%")
    reason = page.locator("[data-field='churn_reasons'] li").first
    expect(reason).to_have_text("已 210 天未购买，是其平时购买间隔的 3 倍")
    expect(page.locator("[data-field='recommendations'] li")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "profile-predictions-zh-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shot in [
        (f"{base}/customers/{store.vip_id}", "profile-predictions-zh-390.png"),
        (base + "/", "dashboard-predictions-zh-390.png"),
        (base + "/customers", "customers-predictions-zh-390.png"),
    ]:
        page.goto(path)
        if path == base + "/":
            expect(page.locator("#chart-clusters[data-rendered='true'] svg.main-svg").first).to_be_visible()
        assert _too_wide(page) == [], shot
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

    assert seen["offsite"] == [], seen["offsite"]
    assert seen["pageerror"] == [], seen["pageerror"]
    assert seen["console"] == [], seen["console"]
    context.close()
