"""The customer list: the search box (id prefix, phone in any spelling, e-mail in any case), keyset paging, saved
views per user, and the bulk export (masked, formula-neutralised, audited, by permission)."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.store import AuditEvent, SavedView, session_scope


class ListPage(HTMLParser):
    """The customer ids of the table rows (``data-customer``), the total (``data-total``), the saved views
    (``data-view`` → link) and the pagination links (``rel`` → href)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.total: int | None = None
        self.views: dict[str, str] = {}
        self.current_view: str | None = None
        self.links: dict[str, str] = {}
        self.search_value: str | None = None
        self._view: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-customer"):
            self.ids.append(a["data-customer"] or "")
        if a.get("data-total") is not None:
            self.total = int(a["data-total"] or 0)
        if tag == "li" and a.get("data-view"):
            self._view = a["data-view"]
        if tag == "a" and self._view and self._view not in self.views:
            self.views[self._view] = a.get("href") or ""
            if a.get("aria-current") == "true":
                self.current_view = self._view
        if tag == "a" and a.get("rel") in ("prev", "next"):
            self.links[a["rel"] or ""] = (a.get("href") or "").replace("&amp;", "&")
        if tag == "input" and a.get("id") == "f-q":
            self.search_value = a.get("value")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._view = None


def parse(html: str) -> ListPage:
    page = ListPage()
    page.feed(html)
    return page


def csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/customers").text)
    assert match
    return match.group(1)


def search(client: TestClient, text: str, **fields: str) -> ListPage:
    """Type ``text`` into the search box (with the list's other fields) and follow the redirect."""
    response = client.post("/customers/search", data={"q": text, "csrf_token": csrf(client), **fields},
                           follow_redirects=False)
    assert response.status_code == 303
    assert text.strip() == "" or text.strip() not in response.headers["location"]
    return parse(client.get(response.headers["location"] + "&lang=en").text)


@pytest.fixture
def signed_in(client: TestClient, web_settings, fx, helpers):  # type: ignore[no-untyped-def]
    """``sign_in(role)``: a user of that role (named after it) signed in on the client."""

    def sign_in(role: str) -> TestClient:
        fx.add_user(web_settings, role, role)
        helpers.sign_in(client, role)
        return client

    return sign_in


# --- search -------------------------------------------------------------------------------------------------


def test_search_by_id_prefix(admin: TestClient) -> None:
    page = search(admin, "C001", sort="external_id", dir="asc")
    assert page.ids == [f"C{i:04d}" for i in range(10, 20)]
    assert page.total == 10
    assert page.search_value == "C001"


@pytest.mark.parametrize("typed", ["13812345678", "+86 138 1234 5678", "'13812345678", "138-1234-5678",
                                   "0086 13812345678", " 138 1234 5678 "])
def test_search_by_phone_in_any_spelling(admin: TestClient, typed: str) -> None:
    page = search(admin, typed)
    assert page.ids == ["C0000"]
    assert page.total == 1


@pytest.mark.parametrize(
    "typed", ["zhang.sanfeng@example.com", "ZHANG.SanFeng@Example.COM", "  Zhang.Sanfeng@example.com "]
)
def test_search_by_email_ignores_case_and_spaces(admin: TestClient, typed: str) -> None:
    assert search(admin, typed).ids == ["C0000"]


def test_search_by_part_of_a_phone_or_email_finds_nothing(admin: TestClient) -> None:
    # Blind indexes match whole values only: a part of a phone number is neither an id prefix nor a phone.
    assert search(admin, "1381234").total == 0
    assert search(admin, "zhang.sanfeng@").total == 0


def test_search_keeps_the_filters_and_the_filters_keep_the_search(admin: TestClient) -> None:
    page = search(admin, "C000", rfm_class="important_value", sort="external_id", dir="asc")
    assert page.ids == ["C0000", "C0004", "C0008"]
    # Changing a filter with the GET form keeps the search (search=1), clearing it drops the search.
    again = parse(admin.get("/customers?rfm_class=general_development&search=1&sort=external_id&dir=asc").text)
    assert again.ids == ["C0001", "C0005", "C0009"]
    cleared = parse(admin.get("/customers?rfm_class=general_development").text)
    assert cleared.total == 15 and cleared.search_value == ""


def test_blank_search_ends_the_search(admin: TestClient) -> None:
    search(admin, "C001")
    assert search(admin, "   ").total == 60


def test_search_text_never_reaches_a_url(admin: TestClient, fx) -> None:
    response = admin.post("/customers/search", data={"q": fx.VIP_EMAIL, "csrf_token": csrf(admin)},
                          follow_redirects=False)
    assert fx.VIP_EMAIL not in response.headers["location"]
    html = admin.get(response.headers["location"]).text
    for href in re.findall(r'href="([^"]+)"', html):
        assert "zhang" not in href and "%40" not in href, href


def test_search_needs_the_csrf_token(admin: TestClient) -> None:
    assert admin.post("/customers/search", data={"q": "C001"}).status_code == 403


def test_search_finds_a_customer_imported_after_the_snapshot(admin: TestClient, web_settings) -> None:
    from kehu.privacy import FieldCipher
    from kehu.store import Customer

    cipher = FieldCipher.from_settings(web_settings)
    with session_scope(web_settings.store_url) as session:
        session.add(Customer(source="generic", external_id="N0001", phone_enc=cipher.encrypt("phone", "13700000001"),
                             phone_index=cipher.blind_index("phone", "13700000001")))
    html = admin.get("/customers").text
    assert "N0001" not in html
    page = search(admin, "137 0000 0001")
    assert page.ids == ["N0001"]
    html = admin.get("/customers?search=1&lang=en").text
    assert "Not in the current classification snapshot" in html


def test_search_query_on_each_store(store_settings, fx) -> None:  # type: ignore[no-untyped-def]
    """The id prefix is a range on SQLite and LIKE elsewhere; wildcards in the typed text match themselves."""
    from kehu.privacy import FieldCipher
    from kehu.store import Customer
    from kehu.web import queries

    store = fx.build_store(store_settings, customers=30)
    cipher = FieldCipher.from_settings(store_settings)
    with session_scope(store_settings.store_url) as session:
        session.add(Customer(source="taobao", external_id="C_%9", province="广东"))
        session.flush()

        def ids(text: str) -> list[str]:
            page = queries.customer_page(session, snapshot_id=store.snapshot_id, filters=queries.CustomerFilters(),
                                         sort="external_id", direction="asc",
                                         search=queries.customer_search(cipher, text))
            return [c.external_id for c, _ in page.rows]

        assert ids("C002") == [f"C{i:04d}" for i in range(20, 30)]
        assert ids("C_") == ["C_%9"]  # not every "C?…"
        assert ids("C_%") == ["C_%9"]
        assert ids("+86 138-1234-5678") == ["C0000"]
        assert ids(fx.VIP_EMAIL.upper()) == ["C0000"]
        assert ids("c002") == []  # ids are case-sensitive
        assert queries.customer_search(cipher, "  ") is None


# --- paging -------------------------------------------------------------------------------------------------


def _walk(client: TestClient, first: str) -> list[str]:
    """Follow the "next" links from ``first`` to the end; the ids seen, in order."""
    seen: list[str] = []
    url: str | None = first
    while url:
        page = parse(client.get(url).text)
        seen += page.ids
        url = page.links.get("next")
    return seen


@pytest.mark.parametrize("sort", ["external_id", "monetary_cents", "recency_days", "clv_365d_cents", "churn_risk"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_next_links_walk_the_same_order_as_offsets(admin: TestClient, pfx, web_settings, store, sort, direction):
    pfx.add_predictions(web_settings, store.snapshot_id)  # NULL churn risk and CLV for the prospect: last
    base = f"/customers?sort={sort}&dir={direction}"
    by_offset = parse(admin.get(base).text).ids + parse(admin.get(base + "&page=2").text).ids
    walked = _walk(admin, base)
    assert walked == by_offset
    assert len(set(walked)) == 60


def test_keyset_pages_go_forward_and_back(admin: TestClient) -> None:
    first = parse(admin.get("/customers?sort=external_id&dir=asc").text)
    assert "after=" in first.links["next"] and "prev" not in first.links
    second = parse(admin.get(first.links["next"]).text)
    assert second.ids and second.ids[0] > first.ids[-1]
    assert "page=2" in first.links["next"]
    # The second page's "previous" goes back to the plain first page.
    assert parse(admin.get(second.links["prev"]).text).ids == first.ids


def test_before_cursor_gives_the_page_before(admin: TestClient) -> None:
    from kehu.web.queries import Cursor

    token = Cursor("C0030", 31, before=True).token()
    page = parse(admin.get(f"/customers?sort=external_id&dir=asc&page=3&before={token}").text)
    assert page.ids[0] == "C0000" and page.ids[-1] == "C0029"
    assert "prev" not in page.links and "next" in page.links


def _token(raw: str) -> str:
    import base64

    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(("sort", "raw"), [
    ("monetary_cents", None),  # not base64 JSON at all
    ("external_id", "[1,2]"),  # a number where the sort has text
    ("monetary_cents", '["x",1]'),  # text where the sort has numbers
    ("monetary_cents", "[true,1]"),
    ("monetary_cents", "[null,-1]"),  # no such customer id
    ("monetary_cents", "[1,2,3]"),
    ("monetary_cents", "5"),
])
def test_damaged_page_links_are_400(admin: TestClient, sort: str, raw: str | None) -> None:
    token = "garbage!" if raw is None else _token(raw)
    for name in ("after", "before"):
        response = admin.get(f"/customers?sort={sort}&{name}={token}&lang=en")
        assert response.status_code == 400
        assert "first page" in response.text and "Traceback" not in response.text


# --- saved views --------------------------------------------------------------------------------------------


def _save(client: TestClient, name: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/customers/views", data={"name": name, "csrf_token": csrf(client), **fields},
                       follow_redirects=False)


def test_save_list_apply_replace_and_delete_a_view(admin: TestClient, web_settings) -> None:
    response = _save(admin, "广东 VIP", rfm_class="important_value", province="广东", sort="external_id", dir="asc")
    assert response.status_code == 303
    page = parse(admin.get("/customers?lang=en").text)
    assert list(page.views) == ["广东 VIP"]
    applied = parse(admin.get(page.views["广东 VIP"]).text)
    assert applied.current_view == "广东 VIP"
    assert applied.ids == ["C0000", "C0004", "C0008", "C0012", "C0016", "C0020", "C0024", "C0028", "C0032",
                           "C0036", "C0040", "C0044", "C0048", "C0052", "C0056"]

    _save(admin, "广东 VIP", stage="churned")  # the same name replaces the view
    page = parse(admin.get("/customers").text)
    assert list(page.views) == ["广东 VIP"]
    assert parse(admin.get(page.views["广东 VIP"]).text).total == 14  # i % 4 == 3, without the prospect
    with session_scope(web_settings.store_url) as session:
        view = session.scalars(select(SavedView)).one()
        assert view.query == {"stage": "churned", "sort": "monetary_cents", "dir": "desc"}
        view_id = view.id

    deleted = admin.post(f"/customers/views/{view_id}/delete", data={"csrf_token": csrf(admin)},
                         follow_redirects=False)
    assert deleted.status_code == 303
    assert parse(admin.get("/customers").text).views == {}


def test_a_view_never_keeps_the_search(admin: TestClient, web_settings, fx) -> None:
    search(admin, fx.VIP_PHONE)
    _save(admin, "mine", search="1", rfm_class="important_value", q=fx.VIP_PHONE)
    with session_scope(web_settings.store_url) as session:
        assert session.scalars(select(SavedView)).one().query == {
            "rfm_class": "important_value", "sort": "monetary_cents", "dir": "desc"}


def test_views_are_per_user(client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "ann", "analyst")
    fx.add_user(web_settings, "bob", "agent")
    helpers.sign_in(client, "ann")
    _save(client, "ann's", stage="new")
    with session_scope(web_settings.store_url) as session:
        view_id = session.scalars(select(SavedView.id)).one()
    helpers.sign_in(client, "bob")
    assert parse(client.get("/customers").text).views == {}
    _save(client, "ann's", stage="at_risk")  # the same name for another user is another view
    refused = client.post(f"/customers/views/{view_id}/delete", data={"csrf_token": csrf(client)})
    assert refused.status_code == 404
    helpers.sign_in(client, "ann")
    page = parse(client.get("/customers").text)
    assert "stage=new" in page.views["ann's"]
    with session_scope(web_settings.store_url) as session:
        assert session.scalar(select(SavedView.id).where(SavedView.id == view_id)) == view_id


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"name": "  "}, 400, "name of 1 to 64"),
    ({"name": "x" * 65}, 400, "name of 1 to 64"),
    ({"name": "bad", "rfm_class": "vip"}, 400, "use one of"),
    ({"name": "bad", "sort": "name"}, 422, "sort"),
])
def test_bad_views_are_refused_with_a_message(admin: TestClient, fields, status, message) -> None:
    response = admin.post("/customers/views?lang=en", data={"csrf_token": csrf(admin), **fields})
    assert response.status_code == status
    assert message in response.text and "Traceback" not in response.text


def test_saving_a_view_needs_the_csrf_token(admin: TestClient) -> None:
    assert admin.post("/customers/views", data={"name": "x"}).status_code == 403


# --- export -------------------------------------------------------------------------------------------------


def _export(client: TestClient, fmt: str = "csv", **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/customers/export?lang=en", data={"format": fmt, "csrf_token": csrf(client), **fields})


def _audits(settings, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_csv_export_is_masked_neutralised_and_audited(admin: TestClient, web_settings, store, fx) -> None:
    from kehu.store import Customer

    with session_scope(web_settings.store_url) as session:
        session.get(Customer, store.vip_id).city = '=HYPERLINK("http://evil.example","x")'
    response = _export(admin, rfm_class="important_value", sort="external_id", dir="asc")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="customers-2025-06-30.csv"'
    assert response.content.startswith("\ufeff".encode())
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 15
    vip = rows[0]
    assert (vip["Customer ID"], vip["Name"], vip["Phone"]) == ("C0000", "张**", "138****5678")
    assert vip["E-mail"] == "z************@example.com"
    assert vip["City"].startswith("'=HYPERLINK")  # a spreadsheet shows it as text
    assert vip["RFM class"] == "important value"
    assert all(r["RFM class"] == "important value" for r in rows)
    for secret in (fx.VIP_PHONE, fx.VIP_NAME, fx.VIP_EMAIL, "客户4号", "13900000004"):
        assert secret not in text

    (event,) = _audits(web_settings, "export")
    assert (event.username, event.target_type, event.via) == ("admin", "customers", "web")
    assert event.detail["rows"] == 15 and event.detail["format"] == "csv"
    assert event.detail["filters"] == {"rfm_class": "important_value", "sort": "external_id", "dir": "asc"}


def test_xlsx_export_of_a_search_audits_the_kind_of_search_not_its_text(admin, web_settings, fx) -> None:
    import openpyxl

    search(admin, "+86 138 1234 5678")
    response = _export(admin, "xlsx", search="1")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(values) == 2
    assert values[1][:3] == ["C0000", "张**", "138****5678"]
    (event,) = _audits(web_settings, "export")
    assert event.detail["search"] == ["id_prefix", "phone"] and event.detail["rows"] == 1
    assert fx.VIP_PHONE not in str(event.detail) and "138 1234" not in str(event.detail)


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_export_needs_the_export_permission(signed_in, web_settings, role: str) -> None:
    client = signed_in(role)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    response = client.post("/customers/export", data={"format": "csv", "csrf_token": token})
    assert response.status_code == 403
    assert _audits(web_settings, "export") == []
    if role == "agent":
        assert 'action="/customers/export"' not in client.get("/customers").text


def test_analyst_may_export(signed_in, web_settings) -> None:
    client = signed_in("analyst")
    assert 'action="/customers/export"' in client.get("/customers").text
    assert _export(client).status_code == 200
    assert _audits(web_settings, "export")[0].username == "analyst"


def test_export_needs_the_csrf_token(admin: TestClient, web_settings) -> None:
    assert admin.post("/customers/export", data={"format": "csv"}).status_code == 403
    assert _audits(web_settings, "export") == []


def test_too_long_a_list_is_refused_with_a_message(admin: TestClient, web_settings, monkeypatch) -> None:
    from kehu.web.routes import customers

    monkeypatch.setattr(customers, "EXPORT_MAX_ROWS", 10)
    response = _export(admin)
    assert response.status_code == 400
    assert "more than 10 customers" in response.text
    assert _audits(web_settings, "export") == []
    assert _export(admin, stage="new", province="广东").status_code == 200  # 0 rows: fine
