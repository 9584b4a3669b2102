"""One JSON error body on API paths (pages keep their HTML errors); the OpenAPI document, the local reference
page and docs/api.md; the API's texts in both languages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kehu.api.texts import MESSAGES, message
from kehu.errors import StoreError

DOCS = Path(__file__).parents[2] / "docs" / "api.md"


def test_unknown_path_and_wrong_method_are_json_on_the_api_only(client, api) -> None:  # type: ignore[no-untyped-def]
    missing = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and api.error(missing) == "not_found"
    assert "/api/v1/nothing-here" in missing.json()["error"]["message"]
    wrong = client.put("/api/v1/customers", headers=api.headers())
    assert wrong.status_code == 405 and api.error(wrong) == "method_not_allowed"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    protected_page = client.get("/customers", follow_redirects=False)
    assert protected_page.status_code == 303 and "/login" in protected_page.headers["location"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "viewer", "password": "correct horse battery staple",
                                "csrf_token": csrf}, follow_redirects=False)
    forbidden_page = client.get("/customers")
    assert forbidden_page.status_code == 403 and forbidden_page.headers["content-type"].startswith("text/html")


def test_library_errors_and_crashes_become_the_json_body(api_settings, store) -> None:  # type: ignore[no-untyped-def]
    from kehu.web import create_app

    app = create_app(api_settings)

    def store_down() -> None:
        raise StoreError("the store is at schema 0004, expected 0005; run `kehu init`")

    def crash() -> None:
        raise RuntimeError("secret internal detail 13800138000")

    app.add_api_route("/api/v1/test-store-down", store_down)
    app.add_api_route("/api/v1/test-crash", crash)
    app.add_api_route("/test-crash-page", crash)
    with TestClient(app, raise_server_exceptions=False) as client:
        down = client.get("/api/v1/test-store-down")
        assert down.status_code == 503
        assert down.json()["error"] == {"code": "store_unavailable", "message": str(StoreError(
            "the store is at schema 0004, expected 0005; run `kehu init`"))}
        crashed = client.get("/api/v1/test-crash", headers={"Accept-Language": "en-US"})
        assert crashed.status_code == 500
        assert crashed.json()["error"]["code"] == "internal_error"
        assert "13800138000" not in crashed.text and "RuntimeError" not in crashed.text
        page = client.get("/test-crash-page")
        assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")


def test_openapi_document_lists_every_operation_with_security_and_permission(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/token"
    assert schemes["api_key"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    operations = [(m, p, op) for p, item in document["paths"].items() for m, op in item.items()]
    assert len(operations) >= 21
    assert all(p.startswith("/api/v1/") for _, p, _ in operations)
    for method, path, op in operations:
        if path == "/api/v1/token":
            assert "x-permission" not in op
            continue
        assert op["x-permission"], (method, path)
        assert {"bearer", "api_key"} <= {name for s in op.get("security", []) for name in s}, (method, path)
        assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    page = document["paths"]["/api/v1/customers"]["get"]["responses"]["200"]["content"]["application/json"]
    assert page["schema"]["$ref"].endswith("Page_CustomerPublic_")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.operations: list[tuple[str, str]] = []
        self.scripts = 0
        self.external: list[str] = []
        self.links: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" and "data-method" in values:
            self.operations.append((str(values["data-method"]), str(values["data-path"])))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            url = values.get(name) or ""
            if url.startswith(("http:", "https:", "//")):
                self.external.append(url)
            if name == "href" and url:
                self.links.append(url)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def test_reference_page_is_local_and_lists_every_operation(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/v1/openapi.json").json()
    expected = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    for lang, title in (("en", "kehu REST API reference"), ("zh", "kehu REST API 参考")):
        response = client.get("/api/v1/docs", params={"lang": lang})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        parsed = _Page()
        parsed.feed(response.text)
        assert set(parsed.operations) == expected
        assert parsed.scripts == 0 and parsed.external == []
        assert "/api/v1/openapi.json" in parsed.links
        assert parsed.title == title
    redirect = client.get("/docs", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/api/v1/docs"


def test_docs_api_md_describes_every_operation(client) -> None:  # type: ignore[no-untyped-def]
    text = DOCS.read_text(encoding="utf-8")
    document = client.get("/api/v1/openapi.json").json()
    for path, item in document["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in text, f"docs/api.md does not describe {method.upper()} {path}"
    for code in ("not_authenticated", "forbidden", "invalid_request", "customer_has_orders", "too_large"):
        assert f"`{code}`" in text, code


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_is_in_chinese_and_english(code: str) -> None:
    assert set(MESSAGES[code]) == {"zh", "en"}
    assert MESSAGES[code]["zh"] != MESSAGES[code]["en"] or code.startswith("docs_")
    assert message(code, "en", minutes=1, role="r", permission="p", path="/x", method="GET", details="d",
                   limit_mb=1, source="s", external_id="e", customer_id=1, orders=2, run_id=3, snapshot_id=4,
                   status="s", as_of="2025-01-01")


def test_class_codes_match_the_labels() -> None:
    from typing import get_args

    from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS
    from kehu.api import params
    from kehu.web.predictions import CLV_TIERS

    assert set(get_args(params.RfmClass)) == set(RFM_CLASSES)
    assert set(get_args(params.RfmGroup)) == set(RFM_GROUPS)
    assert set(get_args(params.LifecycleStage)) == set(LIFECYCLE_STAGES)
    assert set(get_args(params.ClvTier)) == set(CLV_TIERS)
