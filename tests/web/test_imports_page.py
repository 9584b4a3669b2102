"""The imports pages through TestClient: upload → mapping → check → import → run page → rejects download; errors
for wrong files; 403 for agents and viewers; nothing written before the import starts."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kehu.ingest import jobs
from kehu.store import AuditEvent, ImportRun, Order, session_scope
from kehu.web.routes import imports as imports_route

VIP_LIKE_PHONE = "13912345678"
# 单号 is no alias of order_id: the mapping step must name it. Line 4 has a bad amount.
ORDERS_CSV = ("单号,客户编号,下单时间,实付金额,手机\n"
              f"W-1,K1,2025-01-02 10:00,88.50,{VIP_LIKE_PHONE}\n"
              "W-2,K2,2025-01-03,12.00,13800000000\n"
              "W-3,K1,2025-01-04,eighty,\n")


class Node:
    """An element of a parsed page: tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts + [c.text for c in self.children]).split())

    def iter(self):  # type: ignore[no-untyped-def]
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Node]:
        """Elements with ``tag`` and the attributes (``data_x=True``: present; a string: equal)."""
        found = []
        for node in self.iter():
            if tag and node.tag != tag:
                continue
            ok = True
            for key, want in attrs.items():
                name = key.replace("_", "-") if key.startswith(("data_", "aria_")) else key.rstrip("_")
                if want is True:
                    ok = ok and name in node.attrs
                else:
                    ok = ok and node.attrs.get(name) == want
            if ok:
                found.append(node)
        return found

    def one(self, tag: str | None = None, **attrs: str | bool) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


VOID = {"input", "br", "meta", "link", "img", "hr", "source", "wbr", "col"}


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.parts.append(data)


def parse(html: str) -> Node:
    return Page(html).root


def csrf(client: TestClient, path: str = "/imports") -> str:
    page = parse(client.get(path).text)
    return str(page.find_all("input", name="csrf_token")[0].attrs["value"])


def upload(client: TestClient, content: bytes | str, name: str = "orders.csv", kind: str = "orders",
           format: str = "", token: str | None = None):  # type: ignore[no-untyped-def]
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post("/imports", data={"csrf_token": token or csrf(client), "kind": kind, "format": format},
                       files={"file": (name, data, "text/csv")}, follow_redirects=False)


def mapping_form(page: Node) -> dict[str, str]:
    """The values the mapping form would send (hidden inputs and selected options), without the buttons."""
    form = page.one("form", class_="mapping-form") if page.find_all("form", class_="mapping-form") else None
    assert form is not None
    values: dict[str, str] = {}
    for node in form.iter():
        if node.tag == "input" and node.attrs.get("type") == "hidden":
            values[str(node.attrs["name"])] = str(node.attrs.get("value") or "")
        if node.tag == "select":
            chosen = [o for o in node.find_all("option") if "selected" in o.attrs]
            values[str(node.attrs["name"])] = str((chosen or node.find_all("option"))[0].attrs.get("value") or "")
    return values


def runs(settings) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        return session.scalar(select(func.count()).select_from(ImportRun)) or 0


def order_count(settings) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        return session.scalar(select(func.count()).select_from(Order)) or 0


# --- the whole flow -----------------------------------------------------------------------------------------


def test_upload_map_check_import_and_download_rejects(admin: TestClient, web_settings) -> None:
    orders_before = order_count(web_settings)
    response = upload(admin, ORDERS_CSV)
    assert response.status_code == 303
    mapping_url = response.headers["location"]
    assert mapping_url.startswith("/imports/uploads/")
    token = mapping_url.rsplit("/", 1)[-1]
    folder = Path(web_settings.data_dir) / "uploads" / token
    assert (folder / "orders.csv").is_file()

    # Mapping step: generic detected, order_id not matched (required, missing), the others pre-filled.
    html = admin.get(mapping_url + "?lang=en").text
    page = parse(html)
    assert page.one(data_detected_format=True).attrs["data-detected-format"] == "generic"
    fields = {n.attrs["data-field"]: n for n in page.find_all(data_field=True)}
    assert fields["order_id"].attrs["data-required"] == "true"
    assert fields["order_id"].attrs["data-mapped"] == ""
    assert fields["customer_id"].attrs["data-mapped"] == "客户编号"
    assert fields["amount"].attrs["data-mapped"] == "实付金额"
    assert fields["status"].attrs["data-required"] == "false"
    assert page.one(data_missing=True).attrs["data-missing"] == "order_id"
    commit = [b for b in page.find_all("button") if b.attrs.get("value") == "commit"][0]
    assert "disabled" in commit.attrs
    assert page.one("section", class_="card validation").attrs["data-validated"] == "false"
    # The preview shows the rows, phones masked.
    preview = page.one("table", class_="data preview")
    assert [th.text for th in preview.find_all("thead")[0].find_all("th")][1:] == \
        ["单号", "客户编号", "下单时间", "实付金额", "手机"]
    assert len(preview.find_all("tbody")[0].find_all("tr")) == 3
    assert "139****5678" in preview.text and VIP_LIKE_PHONE not in html

    # Check with order_id mapped to 单号: the whole file validated, nothing written.
    form = mapping_form(page)
    form.update(map_order_id="单号", action="validate")
    checked = admin.post(mapping_url + "?lang=en", data=form)
    assert checked.status_code == 200
    page = parse(checked.text)
    result = page.one("section", class_="card validation")
    assert (result.attrs["data-validated"], result.attrs["data-total"], result.attrs["data-rejected"]) == \
        ("true", "3", "1")
    problem_rows = result.find_all("tr", data_line=True)
    assert [r.attrs["data-line"] for r in problem_rows] == ["4"]
    assert "not an amount" in problem_rows[0].text and "eighty" in problem_rows[0].text
    assert page.one(data_field="order_id").attrs["data-mapped"] == "单号"
    assert runs(web_settings) == 0 and order_count(web_settings) == orders_before

    # Import: a run, the run page, progress until done, counters, rejects.
    form = mapping_form(page)
    form["action"] = "commit"
    started = admin.post(mapping_url, data=form, follow_redirects=False)
    assert started.status_code == 303, started.text
    run_url = started.headers["location"]
    run_id = int(run_url.rsplit("/", 1)[-1])
    assert jobs.wait(run_id, 30)
    state = admin.get(run_url + "/progress").json()
    assert (state["status"], state["finished"], state["rows_read"], state["inserted"], state["rejected"]) == \
        ("succeeded", True, 3, 2, 1)
    assert state["status_label"] == "Done"  # the language chosen by ?lang=en is remembered
    page = parse(admin.get(run_url + "?lang=en").text)
    box = page.one("section", data_run_id=str(run_id))
    assert (box.attrs["data-status"], box.attrs["data-finished"]) == ("succeeded", "true")
    assert "data-progress-url" not in box.attrs
    counters = {n.attrs["data-counter"]: n.text for n in page.find_all(data_counter=True)}
    assert (counters["rows_read"], counters["inserted"], counters["rejected"]) == ("3", "2", "1")
    link = page.one("a", data_rejects=True)
    rejects = admin.get(str(link.attrs["href"]))
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert [(r["line"], r["column"], r["value"]) for r in rows] == [("4", "实付金额", "eighty")]
    assert order_count(web_settings) == orders_before + 2
    assert not folder.exists()  # the upload is gone once imported

    # The run in the list of past runs; the audit log has the import and the download.
    listed = parse(admin.get("/imports").text).one("tr", data_run_id=str(run_id))
    assert listed.attrs["data-status"] == "succeeded"
    assert listed.one("td", data_col="inserted").text == "2"
    with session_scope(web_settings.store_url) as session:
        events = [(e.action, e.target_type, e.target_id, e.via, e.detail)
                  for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("import", "import_run", str(run_id), "web") in [e[:4] for e in events]
    assert ("export", "import_run", str(run_id), "web") in [e[:4] for e in events]
    imported = [e for e in events if e[0] == "import"][0]
    assert imported[4]["mapped"] == ["order_id"] and VIP_LIKE_PHONE not in json.dumps(imported[4])


def test_a_failed_import_shows_its_message(admin: TestClient, web_settings) -> None:
    mapping_url = upload(admin, "a,b\n1,2\n").headers["location"]
    form = mapping_form(parse(admin.get(mapping_url).text))
    # A header that is not in the file (a tampered form): the run fails and says why, without the folder's path.
    form.update(map_order_id="a", map_customer_id="b", map_ordered_at="a", map_amount="nope", action="commit")
    started = admin.post(mapping_url, data=form, follow_redirects=False)
    assert started.status_code == 303
    run_id = int(started.headers["location"].rsplit("/", 1)[-1])
    assert jobs.wait(run_id, 30)
    page = parse(admin.get(f"/imports/runs/{run_id}?lang=en").text)
    assert page.one("section", data_run_id=str(run_id)).attrs["data-status"] == "failed"
    message = page.one(data_message=True).text
    assert "no column 'nope'" in message and "uploads" not in message and str(web_settings.data_dir) not in message
    assert page.find_all("a", data_rejects=True) == []


def test_changing_the_format_shows_its_mapping(admin: TestClient) -> None:
    mapping_url = upload(admin, ORDERS_CSV).headers["location"]
    form = mapping_form(parse(admin.get(mapping_url).text))
    form.update(format="taobao", action="commit")  # changed but not checked: shown again, not imported
    page = parse(admin.post(mapping_url + "?lang=en", data=form).text)
    assert page.one("fieldset", class_="card mapping").attrs["data-format"] == "taobao"
    assert "format changed" in page.one(data_notice=True).text
    assert "status" in str(page.one(data_missing=True).attrs["data-missing"]).split(",")


def test_discard_removes_the_upload(admin: TestClient, web_settings) -> None:
    mapping_url = upload(admin, ORDERS_CSV).headers["location"]
    token = mapping_url.rsplit("/", 1)[-1]
    form = mapping_form(parse(admin.get(mapping_url).text))
    form["action"] = "discard"
    assert admin.post(mapping_url, data=form, follow_redirects=False).status_code == 303
    assert not (Path(web_settings.data_dir) / "uploads" / token).exists()
    assert admin.get(mapping_url).status_code == 404


# --- wrong files and requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "shown"), [("orders.xls", ".xls"), ("run.exe", ".exe"), ("noext", "noext")])
def test_other_extensions_are_refused_with_a_message(admin: TestClient, name: str, shown: str) -> None:
    response = upload(admin, ORDERS_CSV, name=name)
    assert response.status_code == 400
    error = parse(response.text).one(data_error=True).text
    assert shown in error and ".parquet" in error


def test_empty_and_too_large_files(admin: TestClient, monkeypatch: pytest.MonkeyPatch, web_settings) -> None:
    response = upload(admin, b"", name="empty.csv")
    assert response.status_code == 400
    assert "空" in parse(response.text).one(data_error=True).text
    monkeypatch.setattr(imports_route, "MAX_UPLOAD_BYTES", 20)
    response = upload(admin, ORDERS_CSV, name="big.csv")
    assert response.status_code == 413
    assert "MB" in parse(response.text).one(data_error=True).text
    uploads = Path(web_settings.data_dir) / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_an_unreadable_file_gets_a_message(admin: TestClient) -> None:
    mapping_url = upload(admin, b"PK\x03\x04 not really a workbook", name="orders.xlsx").headers["location"]
    response = admin.get(mapping_url + "?lang=en")
    assert response.status_code == 400
    assert "cannot be read" in parse(response.text).one(data_error=True).text
    assert "Traceback" not in response.text


def test_forms_need_the_csrf_token(admin: TestClient) -> None:
    response = upload(admin, ORDERS_CSV, token="forged")
    assert response.status_code == 403
    mapping_url = upload(admin, ORDERS_CSV).headers["location"]
    form = mapping_form(parse(admin.get(mapping_url).text))
    form.update(csrf_token="forged", action="commit")
    assert admin.post(mapping_url, data=form).status_code == 403


def test_uploads_belong_to_their_uploader(client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "ana1", "analyst")
    fx.add_user(web_settings, "ana2", "analyst")
    helpers.sign_in(client, "ana1")
    mapping_url = upload(client, ORDERS_CSV).headers["location"]
    assert client.get(mapping_url).status_code == 200
    client.cookies.clear()
    helpers.sign_in(client, "ana2")
    assert client.get(mapping_url).status_code == 404
    assert client.get("/imports/uploads/..%2F..%2Fetc").status_code == 404


def test_unknown_run_and_no_rejects(admin: TestClient) -> None:
    assert admin.get("/imports/runs/999").status_code == 404
    assert admin.get("/imports/runs/999/progress").status_code == 404
    assert admin.get("/imports/runs/999/rejects").status_code == 404


@pytest.mark.parametrize("role", ["agent", "viewer"])
def test_agents_and_viewers_get_403(client: TestClient, web_settings, fx, helpers, role: str) -> None:
    fx.add_user(web_settings, f"u_{role}", role)
    helpers.sign_in(client, f"u_{role}")
    assert client.get("/imports").status_code == 403
    assert client.get("/imports/runs/1").status_code == 403
    assert client.get("/imports/runs/1/progress").status_code == 403
    assert client.get("/imports/runs/1/rejects").status_code == 403
    token = helpers.csrf_of(client.get("/").text)
    response = client.post("/imports", data={"csrf_token": token, "kind": "orders"},
                           files={"file": ("o.csv", ORDERS_CSV.encode(), "text/csv")})
    assert response.status_code == 403
    nav = parse(client.get("/").text).find_all("nav")[0]
    assert "/imports" not in [a.attrs.get("href") for a in nav.find_all("a")]


def test_analyst_sees_the_page_in_both_languages(client: TestClient, web_settings, fx, helpers) -> None:
    fx.add_user(web_settings, "ana", "analyst")
    helpers.sign_in(client, "ana")
    for lang, title in (("zh", "导入数据"), ("en", "Import data")):
        page = parse(client.get(f"/imports?lang={lang}").text)
        assert page.find_all("h1")[0].text == title
        form = page.one("form", enctype="multipart/form-data")
        labels = {str(n.attrs["for"]) for n in form.find_all("label")}
        assert {"imp-file", "imp-kind", "imp-format"} <= labels
        assert page.find_all("a", aria_current="page")[0].attrs["href"] == "/imports"
