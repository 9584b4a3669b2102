"""Offline assets, security headers, no external URLs, accessible markup."""

from __future__ import annotations

import re
from pathlib import Path

import plotly
import pytest
from fastapi.testclient import TestClient

PAGES = [
    "/",
    "/?lang=en",
    "/customers",
    "/customers?lang=en&page=2",
    "/customers/1",
    "/customers/999999",
    "/nope",
]


def all_pages(client: TestClient) -> dict[str, str]:
    return {path: client.get(path).text for path in PAGES}


def test_plotly_is_served_from_the_installed_package(admin: TestClient) -> None:
    response = admin.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    bundled = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert response.content == bundled


def test_static_files_need_no_login(client: TestClient) -> None:
    assert client.get("/static/kehu.css").status_code == 200
    assert client.get("/static/charts.js").status_code == 200


def test_no_page_loads_anything_from_the_network(admin: TestClient, client: TestClient) -> None:
    pages = all_pages(admin)
    pages["/login"] = TestClient(admin.app).get("/login").text
    for path, html in pages.items():
        for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html):
            assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag), (path, tag)
        assert "cdn" not in html.lower(), path


def test_no_inline_scripts(admin: TestClient) -> None:
    for path, html in all_pages(admin).items():
        for attrs, _body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in attrs or 'type="application/json"' in attrs, (path, attrs)
        assert not re.search(r"\son[a-z]+\s*=", html), path  # no onclick= etc.


def test_static_js_and_css_load_nothing_remote() -> None:
    static = Path(__file__).parents[2] / "src" / "kehu" / "web" / "static"
    for path in static.iterdir():
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a download
        assert not re.search(r"https?://", text), path


@pytest.mark.parametrize("path", ["/", "/login", "/healthz", "/customers", "/static/kehu.css", "/nope"])
def test_security_headers_on_every_response(admin: TestClient, path: str) -> None:
    response = admin.get(path, follow_redirects=False)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert script_src.split() == ["'self'"]
    assert "frame-ancestors 'none'" in csp


def test_pages_are_not_cached_but_static_files_are(admin: TestClient) -> None:
    assert admin.get("/customers/1").headers["Cache-Control"] == "no-store"
    assert "max-age" in admin.get("/static/plotly.min.js").headers["Cache-Control"]


def test_forms_have_labels_and_tables_have_headers(admin: TestClient) -> None:
    html = admin.get("/customers?lang=en").text
    for select_id in re.findall(r'<select id="([^"]+)"', html):
        assert f'<label for="{select_id}">' in html, select_id
    assert html.count('<th scope="col"') >= 9
    login = TestClient(admin.app).get("/login").text
    assert '<label for="username">' in login and '<label for="password">' in login
    assert '<meta name="viewport"' in html


def test_imported_text_is_escaped_everywhere(admin: TestClient, web_settings, store) -> None:
    from kehu.store import Classification, Customer, session_scope

    evil = "<script>alert(1)</script>"
    with session_scope(web_settings.store_url) as session:
        session.get(Customer, store.vip_id).province = evil
        session.get(Classification, (store.snapshot_id, store.vip_id)).rfm_group = evil  # an unknown code
    for path in ["/", f"/customers/{store.vip_id}", "/customers?sort=external_id&dir=asc"]:
        html = admin.get(path).text
        assert evil not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get(f"/customers/{store.vip_id}").text
    assert "\\u003cscript\\u003e" in admin.get("/").text  # inside the JSON chart data
