"""The monthly report page: month picker, every section, downloads (XLSX, printable HTML) audited as exports,
notes for missing parts, a clear error for a bad month, open to every role."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from kehu.reports import SECTIONS
from kehu.store import AuditEvent, session_scope
from reports.htmltree import parse


@pytest.fixture
def as_role(client: TestClient, fx, web_settings, helpers):  # type: ignore[no-untyped-def]
    def sign_in(role: str) -> TestClient:
        name = "boss" if role == "boss" else role
        fx.add_user(web_settings, name, "admin" if role == "boss" else role)
        helpers.sign_in(client, name)
        return client

    return sign_in


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_role_sees_the_report_of_the_newest_snapshot_month(as_role, role: str) -> None:  # type: ignore[no-untyped-def]
    client = as_role(role) if role != "admin" else as_role("boss")
    response = client.get("/reports")
    assert response.status_code == 200
    root = parse(response.text)
    assert next(root.iter("a", href="/reports")).attrs.get("aria-current") == "page"
    assert next(root.iter("input", name="month")).attrs["value"] == "2025-06"
    assert next(root.iter(data_report_month=None)).attrs["data-report-month"] == "2025-06"
    assert [s.attrs["data-section"] for s in root.iter("section", data_section=None)] == list(SECTIONS)
    links = {a.attrs["data-download"]: a.attrs["href"] for a in root.iter("a", data_download=None)}
    assert links == {"xlsx": "/reports/monthly.xlsx?month=2025-06", "html": "/reports/monthly.html?month=2025-06"}


def test_downloads_are_audited_exports(admin: TestClient, web_settings) -> None:  # type: ignore[no-untyped-def]
    xlsx = admin.get("/reports/monthly.xlsx?month=2025-06")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    assert len(load_workbook(io.BytesIO(xlsx.content)).sheetnames) == 1 + len(SECTIONS)
    html = admin.get("/reports/monthly.html?month=2025-06&lang=en")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    root = parse(html.text)
    assert not list(root.iter("script")) and next(root.iter("body")).attrs["data-month"] == "2025-06"
    with session_scope(web_settings.store_url) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.target_type == "report")
                           .order_by(AuditEvent.id)).all()
        assert [(e.action, e.username, e.target_id, e.detail["format"]) for e in events] == [
            ("export", "admin", "2025-06", "xlsx"), ("export", "admin", "2025-06", "html")]


def test_bad_and_early_months_give_messages_not_errors(admin: TestClient) -> None:
    bad = admin.get("/reports?month=2025-13")
    assert bad.status_code == 400
    assert "YYYY-MM" in next(parse(bad.text).iter(data_report_error=None)).text()
    early = admin.get("/reports?month=2019-01")
    assert early.status_code == 200
    assert list(parse(early.text).iter(data_report_state="no-snapshot"))
    assert admin.get("/reports/monthly.xlsx?month=nope").status_code == 400
    assert admin.get("/reports/monthly.xlsx?month=2019-01").status_code == 404
    assert admin.get("/reports/monthly.pdf?month=2025-06").status_code in (404, 422)


def test_previous_snapshot_comparison_and_missing_parts_are_notes(admin: TestClient) -> None:
    root = parse(admin.get("/reports?month=2025-06&lang=en").text)
    sections = {s.attrs["data-section"]: s for s in root.iter("section", data_section=None)}
    assert list(next(sections["migration"].iter("tbody")).iter("tr"))  # March → June moves
    assert [n.text() for n in sections["campaigns"].iter(data_note=None)] == [
        "No campaign ran or finished in this month."]
    assert [n.text() for n in sections["nps"].iter(data_note=None)] == ["No NPS answers in this month."]


def test_signed_out_visitors_are_sent_to_login(client: TestClient) -> None:
    response = client.get("/reports", follow_redirects=False)
    assert response.status_code in (303, 307, 401)
