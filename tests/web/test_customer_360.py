"""The customer 360 profile: masked fields and the audited reveal, tags, notes and interactions (encrypted at rest,
audited without their text), marketing consent with its history; who may do what."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.store import AuditEvent, ConsentEvent, Customer, CustomerNote, session_scope

NOTE_TEXT = "回访 callback-XYZZY-42：客户希望改送到公司地址"


class Profile(HTMLParser):
    """What the tests read from a profile: the text of ``data-field`` elements, revealed fields, reveal buttons,
    tag chips (text and link), notes and consent history items (kind or granted, and text), form actions."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.revealed: set[str] = set()
        self.reveal_buttons: list[str] = []
        self.tags: dict[str, dict[str, str]] = {}
        self.notes: list[dict[str, str]] = []
        self.consents: list[dict[str, str]] = []
        self.forms: list[str] = []
        self._open: list[tuple[str, dict[str, str] | None]] = []  # (tag, the record its text goes to)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(a.get("action", "").replace("&amp;", "&"))
        if tag == "button" and a.get("data-reveal"):
            self.reveal_buttons.append(a["data-reveal"])
        if tag in ("input", "br", "meta", "link", "img"):
            return
        record: dict[str, str] | None = None
        if "data-field" in a:
            record = {"field": a["data-field"], "text": ""}
            if a.get("data-revealed") == "true":
                self.revealed.add(a["data-field"])
        elif tag == "li" and "data-tag" in a:
            record = self.tags.setdefault(a["data-tag"], {"text": "", "href": ""})
        elif tag == "li" and "data-note" in a:
            record = {"kind": a["data-kind"], "text": ""}
            self.notes.append(record)
        elif tag == "li" and "data-granted" in a:
            record = {"granted": a["data-granted"], "text": ""}
            self.consents.append(record)
        if tag == "a" and self._open and self._open[-1][1] is not None and "href" in self._open[-1][1]:
            self._open[-1][1]["href"] = a.get("href", "")
        self._open.append((tag, record))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, record = self._open.pop()
            if record is not None and "field" in record:
                self.fields[record["field"]] = " ".join(record["text"].split())
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, record in self._open:
            if record is not None:
                record["text"] += data


def parse(html: str) -> Profile:
    page = Profile()
    page.feed(html)
    for tag in page.tags.values():
        tag["text"] = " ".join(tag["text"].split())
    for item in page.notes + page.consents:
        item["text"] = " ".join(item["text"].split())
    return page


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)



def audits(settings, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def post(client: TestClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    """POST a profile form with this session's CSRF token (read from the dashboard, which every role sees)."""
    return client.post(path, data={"csrf_token": csrf_of(client.get("/").text), **data}, follow_redirects=False)


# --- masked fields and reveal -------------------------------------------------------------------------------


def test_agent_reveals_a_phone_once_and_it_is_audited(as_role, web_settings, store, fx) -> None:
    client = as_role("agent")
    page = parse(client.get(f"/customers/{store.vip_id}?lang=en").text)
    assert page.fields["phone"] == "138****5678"
    assert set(page.reveal_buttons) == {"name", "phone", "email"}  # no address or ID number on file

    response = post(client, f"/customers/{store.vip_id}/reveal?lang=en", field="phone")
    assert response.status_code == 200
    shown = parse(response.text)
    assert shown.fields["phone"] == fx.VIP_PHONE
    assert shown.revealed == {"phone"}
    assert shown.fields["name"] == "张**"  # only the field asked for
    assert fx.VIP_NAME not in response.text and fx.VIP_EMAIL not in response.text
    assert "audit log" in response.text
    assert response.headers["Cache-Control"] == "no-store"

    (event,) = audits(web_settings, "reveal")
    assert (event.username, event.target_type, event.target_id) == ("agent", "customer", str(store.vip_id))
    assert event.detail == {"field": "phone"}
    assert (event.via, event.ip) == ("web", "testclient")
    # The next view of the profile is masked again.
    assert fx.VIP_PHONE not in client.get(f"/customers/{store.vip_id}").text


@pytest.mark.parametrize(("field", "value"), [("name", "张三丰"), ("email", "zhang.sanfeng@example.com")])
def test_admin_reveals_other_fields(admin: TestClient, web_settings, store, field: str, value: str) -> None:
    response = post(admin, f"/customers/{store.vip_id}/reveal", field=field)
    assert parse(response.text).fields[field] == value
    assert [e.detail for e in audits(web_settings, "reveal")] == [{"field": field}]


def test_analyst_sees_no_reveal_button_and_is_refused(as_role, web_settings, store, fx) -> None:
    client = as_role("analyst")
    html = client.get(f"/customers/{store.vip_id}?lang=en").text
    page = parse(html)
    assert page.reveal_buttons == [] and "/reveal" not in html
    assert page.fields["phone"] == "138****5678"
    assert "your role cannot reveal" in html
    response = post(client, f"/customers/{store.vip_id}/reveal", field="phone")
    assert response.status_code == 403
    assert fx.VIP_PHONE not in response.text
    assert audits(web_settings, "reveal") == []


def test_viewer_cannot_reveal(as_role, web_settings, store) -> None:
    client = as_role("viewer")
    assert post(client, f"/customers/{store.vip_id}/reveal", field="phone").status_code == 403
    assert audits(web_settings, "reveal") == []


def test_reveal_needs_the_csrf_token(admin: TestClient, web_settings, store, fx) -> None:
    response = admin.post(f"/customers/{store.vip_id}/reveal", data={"field": "phone"})
    assert response.status_code == 403
    assert fx.VIP_PHONE not in response.text
    assert audits(web_settings, "reveal") == []


@pytest.mark.parametrize(("field", "status", "message"), [
    ("address", 400, "has no address to reveal"),
    ("password_hash", 422, "field"),
])
def test_revealing_a_missing_or_unknown_field(admin: TestClient, web_settings, store, field, status, message) -> None:
    response = post(admin, f"/customers/{store.vip_id}/reveal?lang=en", field=field)
    assert response.status_code == status
    assert message in response.text and "Traceback" not in response.text
    assert audits(web_settings, "reveal") == []


def test_reveal_of_an_unknown_or_erased_customer(admin: TestClient, web_settings, store) -> None:
    assert post(admin, "/customers/999999/reveal", field="phone").status_code == 404
    with session_scope(web_settings.store_url) as session:
        session.get(Customer, store.vip_id).erased_at = datetime(2025, 7, 1)
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    assert parse(html).reveal_buttons == []
    assert "erased on their request on 2025-07-01" in html
    response = post(admin, f"/customers/{store.vip_id}/reveal?lang=en", field="phone")
    assert response.status_code == 400 and "erased" in response.text


def test_address_and_id_number_are_masked(admin: TestClient, web_settings, store) -> None:
    from kehu.privacy import FieldCipher

    cipher = FieldCipher.from_settings(web_settings)
    with session_scope(web_settings.store_url) as session:
        customer = session.get(Customer, store.vip_id)
        customer.address_enc = cipher.encrypt("address", "广东省深圳市南山区科技园 1 号")
        customer.id_number_enc = cipher.encrypt("id_number", "440305199001011234")
    html = admin.get(f"/customers/{store.vip_id}").text
    page = parse(html)
    assert page.fields["address"] == "广东省深圳市****"
    assert page.fields["id_number"] == "440***********1234"
    assert "科技园" not in html and "19900101" not in html
    assert set(page.reveal_buttons) == {"name", "phone", "email", "address", "id_number"}
    shown = parse(post(admin, f"/customers/{store.vip_id}/reveal", field="id_number").text)
    assert shown.fields["id_number"] == "440305199001011234"


# --- tags, classes ------------------------------------------------------------------------------------------


def test_tags_link_to_the_filtered_list(admin: TestClient, web_settings, store, pfx) -> None:
    pfx.add_predictions(web_settings, store.snapshot_id)
    page = parse(admin.get(f"/customers/{store.vip_id}?lang=en").text)
    assert {kind: tag["text"] for kind, tag in page.tags.items()} == {
        "rfm_class": "RFM class: important value",
        "rfm_group": "RFM group: champions",
        "lifecycle_stage": "Lifecycle stage: active",
        "clv_tier": "Value tier: high value",
        "cluster": "Cluster: frequent high spenders",
    }
    assert page.tags["rfm_class"]["href"] == "/customers?rfm_class=important_value"
    assert page.tags["lifecycle_stage"]["href"] == "/customers?stage=active"
    assert page.tags["clv_tier"]["href"] == "/customers?clv_tier=high"
    assert page.tags["cluster"]["href"] == "/customers?cluster=0"
    assert page.tags["rfm_group"]["href"] == ""  # the list has no group filter
    assert page.fields["rfm_class"] == "important value"


def test_prospect_has_group_and_stage_tags_only(admin: TestClient, store) -> None:
    page = parse(admin.get(f"/customers/{store.prospect_id}?lang=zh").text)
    assert set(page.tags) == {"rfm_group", "lifecycle_stage"}
    assert page.tags["lifecycle_stage"]["text"] == "生命周期: 潜在客户"


# --- notes and interactions ---------------------------------------------------------------------------------


def test_agent_adds_notes_encrypted_listed_newest_first_and_audited(as_role, web_settings, store) -> None:
    client = as_role("agent")
    first = post(client, f"/customers/{store.vip_id}/notes", kind="call", channel="phone", text=NOTE_TEXT)
    assert first.status_code == 303
    assert first.headers["location"] == f"/customers/{store.vip_id}#notes"
    post(client, f"/customers/{store.vip_id}/notes", kind="note", text="  second  ")

    page = parse(client.get(f"/customers/{store.vip_id}?lang=en").text)
    assert [n["kind"] for n in page.notes] == ["note", "call"]
    assert page.notes[0]["text"].endswith("second")
    assert "call" in page.notes[1]["text"] and "phone" in page.notes[1]["text"]
    assert "agent" in page.notes[1]["text"] and NOTE_TEXT in page.notes[1]["text"]

    with session_scope(web_settings.store_url) as session:
        notes = list(session.scalars(select(CustomerNote).order_by(CustomerNote.id)))
        assert [(n.kind, n.channel) for n in notes] == [("call", "phone"), ("note", None)]
        assert all(n.body_enc.startswith("v1:") for n in notes)
        note_ids = [n.id for n in notes]
    events = audits(web_settings, "note")
    assert [e.detail for e in events] == [{"kind": "call", "channel": "phone", "note_id": note_ids[0]},
                                          {"kind": "note", "channel": None, "note_id": note_ids[1]}]
    assert all(e.username == "agent" and e.target_id == str(store.vip_id) for e in events)

    # At rest: neither the database file nor its write-ahead log holds the text, in any part.
    data = b"".join(p.read_bytes() for p in Path(web_settings.data_dir).glob("kehu.db*"))
    assert data, "no SQLite files found"
    for secret in (NOTE_TEXT, "callback-XYZZY-42", "客户希望改送到公司地址"):
        assert secret.encode() not in data


def test_analyst_sees_that_notes_exist_but_not_their_text_and_cannot_add(as_role, web_settings, store) -> None:
    client = as_role("analyst")
    from kehu.privacy import FieldCipher

    cipher = FieldCipher.from_settings(web_settings)
    with session_scope(web_settings.store_url) as session:
        session.add(CustomerNote(customer_id=store.vip_id, kind="visit", channel="store",
                                 body_enc=cipher.encrypt("note", NOTE_TEXT)))
    html = client.get(f"/customers/{store.vip_id}?lang=en").text
    page = parse(html)
    assert [n["kind"] for n in page.notes] == ["visit"]
    assert NOTE_TEXT not in html
    assert f"/customers/{store.vip_id}/notes" not in page.forms
    refused = post(client, f"/customers/{store.vip_id}/notes", kind="note", text="x")
    assert refused.status_code == 403
    assert audits(web_settings, "note") == []


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"kind": "note", "text": "   "}, 400, "the note is empty"),
    ({"kind": "gossip", "text": "x"}, 422, "kind"),
    ({"kind": "note", "text": "x", "channel": "pigeon"}, 422, "channel"),
    ({"kind": "note", "text": "x" * 4001}, 422, "text"),
])
def test_bad_notes_are_refused_with_a_message(admin: TestClient, web_settings, store, data, status, message):
    response = post(admin, f"/customers/{store.vip_id}/notes?lang=en", **data)
    assert response.status_code == status
    assert message in response.text and "Traceback" not in response.text
    assert audits(web_settings, "note") == []


def test_note_needs_the_csrf_token_and_a_customer(admin: TestClient, store) -> None:
    assert admin.post(f"/customers/{store.vip_id}/notes", data={"kind": "note", "text": "x"}).status_code == 403
    assert post(admin, "/customers/999999/notes", kind="note", text="x").status_code == 404


# --- marketing consent --------------------------------------------------------------------------------------


def test_agent_records_consent_changes_with_history(as_role, web_settings, store) -> None:
    client = as_role("agent")
    page = parse(client.get(f"/customers/{store.vip_id}?lang=en").text)
    assert page.fields["consent"] == "Not agreed or withdrawn"  # C0000: i % 3 == 0, no consent; no history
    assert page.consents == []
    assert post(client, f"/customers/{store.vip_id}/consent", decision="grant", source="phone").status_code == 303
    response = post(client, f"/customers/{store.vip_id}/consent", decision="withdraw", source="wechat")
    assert response.headers["location"] == f"/customers/{store.vip_id}#consent"

    page = parse(client.get(f"/customers/{store.vip_id}?lang=en").text)
    assert page.fields["consent"] == "Not agreed or withdrawn"
    assert [c["granted"] for c in page.consents] == ["false", "true"]  # newest first
    assert "withdrawn" in page.consents[0]["text"] and "WeChat" in page.consents[0]["text"]
    assert "agent" in page.consents[0]["text"] and "phone" in page.consents[1]["text"]
    with session_scope(web_settings.store_url) as session:
        events = list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))
        assert [(e.granted, e.source) for e in events] == [(True, "phone"), (False, "wechat")]
        assert session.get(Customer, store.vip_id).marketing_consent is False
    assert [e.detail for e in audits(web_settings, "consent")] == [
        {"granted": True, "source": "phone"}, {"granted": False, "source": "wechat"}]


def test_analyst_cannot_record_consent(as_role, web_settings, store) -> None:
    client = as_role("analyst")
    assert f"/customers/{store.vip_id}/consent" not in parse(client.get(f"/customers/{store.vip_id}").text).forms
    assert post(client, f"/customers/{store.vip_id}/consent", decision="grant", source="web").status_code == 403
    assert audits(web_settings, "consent") == []


def test_bad_consent_values_are_422(admin: TestClient, store) -> None:
    assert post(admin, f"/customers/{store.vip_id}/consent", decision="maybe", source="web").status_code == 422
    assert post(admin, f"/customers/{store.vip_id}/consent", decision="grant", source="x" * 40).status_code == 422


def test_consent_of_an_unknown_customer_is_404(admin: TestClient) -> None:
    assert post(admin, "/customers/999999/consent", decision="grant", source="web").status_code == 404


# --- accessible markup --------------------------------------------------------------------------------------


def test_profile_forms_are_labelled(admin: TestClient, store) -> None:
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    for control_id in re.findall(r'<(?:select|textarea|input)[^>]* id="([^"]+)"', html):
        assert f'<label for="{control_id}">' in html, control_id
    for label in re.findall(r'aria-label="([^"]+)"', html):
        assert label.strip(), "empty aria-label"
    assert re.search(r"<fieldset>\s*<legend>", html)
    assert len(re.findall(r'aria-label="Reveal [^"]+"', html)) == 3


def test_reopening_a_reveal_address_shows_the_masked_profile(admin: TestClient, store, fx) -> None:
    response = admin.get(f"/customers/{store.vip_id}/reveal?lang=en", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/customers/{store.vip_id}?lang=en"
    assert fx.VIP_PHONE not in admin.get(response.headers["location"]).text
