"""Customers through the API: list, filters, search by phone and e-mail (blind index), masking and audited reveal,
create / update / delete with audit events, encryption at rest."""

from __future__ import annotations

from sqlalchemy import select

from kehu.privacy import FieldCipher, mask_email, normalise_phone
from kehu.store import AuditEvent, ConsentEvent, Customer, session_scope

NEW = {
    "external_id": "CRM-0001",
    "name": "李小龙",
    "phone": "+86 139 0011 2233",
    "email": "Bruce.Lee@Example.COM",
    "address": "广东省佛山市顺德区大良街道 88 号",
    "id_number": "440606194011271234",
    "gender": "male",
    "birth_year": 1940,
    "province": "广东",
    "city": "佛山",
    "channel": "wechat",
    "marketing_consent": True,
}


def _events(settings, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        session.expunge_all()
    return rows


PHONE_FORMATS = ("+86 138 0013 8000", "'13800138000", "13800138000", "0086-138-0013-8000", '="13800138000"')


def test_search_by_phone_in_any_format_on_each_store(any_client, any_api, any_store_settings) -> None:  # type: ignore[no-untyped-def]
    created = any_client.post("/api/v1/customers", json={"phone": "138 0013 8000", "name": "王五"},
                              headers=any_api.headers("agent"))
    assert created.status_code == 201, created.text
    cipher = FieldCipher.from_settings(any_store_settings)
    for phone in PHONE_FORMATS:
        found = any_client.get("/api/v1/customers", params={"phone": phone}, headers=any_api.headers("analyst"))
        assert found.status_code == 200, phone
        body = found.json()
        assert body["total"] == 1, phone
        assert [c["id"] for c in body["items"]] == [created.json()["id"]]
        assert body["items"][0]["phone"] == "138****8000"
        assert normalise_phone(phone) == "13800138000"
    # the stored index is the blind index of the normalised number, as an import writes it
    with session_scope(any_store_settings.store_url) as session:
        row = session.get(Customer, created.json()["id"])
        assert row.phone_index == cipher.blind_index("phone", "13800138000")
        assert cipher.decrypt("phone", row.phone_enc) == "13800138000"


def test_search_by_email_ignores_case_on_each_store(any_client, any_api, fx) -> None:  # type: ignore[no-untyped-def]
    found = any_client.get("/api/v1/customers", params={"email": fx.VIP_EMAIL.upper()}, headers=any_api.headers())
    assert found.json()["total"] == 1
    assert found.json()["items"][0]["external_id"] == "C0000"
    missing = any_client.get("/api/v1/customers", params={"phone": "13000000000"}, headers=any_api.headers())
    assert missing.json() == {"items": [], "page": 1, "per_page": 50, "total": 0}


def test_list_pages_filters_and_sorts(client, api, store) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/api/v1/customers", params={"per_page": 25}, headers=api.headers()).json()
    assert (first["page"], first["per_page"], first["total"], len(first["items"])) == (1, 25, 60, 25)
    last = client.get("/api/v1/customers", params={"per_page": 25, "page": 3}, headers=api.headers()).json()
    assert len(last["items"]) == 10
    beyond = client.get("/api/v1/customers", params={"per_page": 25, "page": 9}, headers=api.headers()).json()
    assert beyond["items"] == [] and beyond["total"] == 60
    ids = [c["id"] for c in first["items"]]
    assert ids == sorted(ids)
    desc = client.get("/api/v1/customers", params={"sort": "-external_id", "per_page": 3},
                      headers=api.headers()).json()
    assert [c["external_id"] for c in desc["items"]] == ["C0059", "C0058", "C0057"]
    guangdong = client.get("/api/v1/customers", params={"province": "广东", "per_page": 200},
                           headers=api.headers()).json()
    assert guangdong["total"] == 15 and {c["province"] for c in guangdong["items"]} == {"广东"}
    prospects = client.get("/api/v1/customers", params={"lifecycle_stage": "prospect"}, headers=api.headers()).json()
    assert [c["id"] for c in prospects["items"]] == [store.prospect_id]
    too_many = client.get("/api/v1/customers", params={"per_page": 201}, headers=api.headers())
    assert too_many.status_code == 422
    assert api.error(too_many) == "invalid_request"
    assert too_many.json()["error"]["details"][0]["field"] == "per_page"
    bad_sort = client.get("/api/v1/customers", params={"sort": "phone_enc"}, headers=api.headers())
    assert bad_sort.status_code == 422


def test_get_is_masked_and_reveal_needs_permission_and_is_audited(client, api, api_settings, store, fx) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/customers/{store.vip_id}"
    masked = client.get(url, headers=api.headers("analyst")).json()
    assert masked["phone"] == "138****5678" and masked["name"] == "张**"
    assert fx.VIP_PHONE not in str(masked) and fx.VIP_NAME not in str(masked)
    assert masked["revealed"] == []

    refused = client.get(url, params={"reveal": "phone"}, headers=api.headers("analyst"))
    assert refused.status_code == 403 and api.error(refused) == "reveal_forbidden"
    assert _events(api_settings, "reveal") == []

    shown = client.get(url, params={"reveal": "phone,name"}, headers=api.headers("agent")).json()
    assert shown["phone"] == fx.VIP_PHONE and shown["name"] == fx.VIP_NAME
    assert shown["email"] == mask_email(fx.VIP_EMAIL)
    assert shown["revealed"] == ["name", "phone"]
    [event] = _events(api_settings, "reveal")
    assert (event.username, event.target_type, event.target_id, event.via) == ("agent", "customer",
                                                                              str(store.vip_id), "api")
    assert event.detail == {"fields": ["phone", "name"]}
    assert fx.VIP_PHONE not in str(event.detail)

    unknown = client.get(url, params={"reveal": "password"}, headers=api.headers("agent"))
    assert unknown.status_code == 400 and api.error(unknown) == "invalid_input"
    missing = client.get("/api/v1/customers/999999", headers=api.headers())
    assert missing.status_code == 404 and api.error(missing) == "not_found"


def test_create_encrypts_indexes_records_consent_and_audits(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/customers", json=NEW, headers=api.headers("agent"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/v1/customers/{body['id']}"
    assert body["source"] == "api" and body["external_id"] == "CRM-0001"
    assert body["phone"] == "139****2233" and body["name"] == "李**"
    assert body["email"] == mask_email("bruce.lee@example.com") == "b********@example.com"
    assert body["address"] == "广东省****" and body["id_number"] == "440****1234"
    assert body["marketing_consent"] is True
    cipher = FieldCipher.from_settings(api_settings)
    with session_scope(api_settings.store_url) as session:
        row = session.get(Customer, body["id"])
        assert cipher.decrypt("phone", row.phone_enc) == "13900112233"
        assert cipher.decrypt("email", row.email_enc) == "bruce.lee@example.com"
        assert cipher.decrypt("id_number", row.id_number_enc) == NEW["id_number"]
        assert row.email_index == cipher.blind_index("email", "bruce.lee@example.com")
        assert row.row_hash and len(row.row_hash) == 32
        consents = list(session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == body["id"])))
        assert [(c.granted, c.source) for c in consents] == [(True, "api")]
    [event] = _events(api_settings, "create")
    assert event.username == "agent" and event.target_id == str(body["id"])
    assert "phone" in event.detail["fields"] and "13900112233" not in str(event.detail)
    found = client.get("/api/v1/customers", params={"phone": "139-0011-2233"}, headers=api.headers()).json()
    assert [c["id"] for c in found["items"]] == [body["id"]]

    again = client.post("/api/v1/customers", json=NEW, headers=api.headers("agent"))
    assert again.status_code == 409 and api.error(again) == "customer_exists"
    generated = client.post("/api/v1/customers", json={"name": "无编号"}, headers=api.headers("agent")).json()
    assert generated["external_id"].startswith("api-")


def test_nothing_personal_in_plain_text_in_the_sqlite_file(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/api/v1/customers", json=NEW, headers=api.headers("admin")).json()
    client.patch(f"/api/v1/customers/{created['id']}", json={"address": "浙江省杭州市西湖区龙井路 1 号"},
                 headers=api.headers("admin"))
    client.get(f"/api/v1/customers/{created['id']}", params={"reveal": "phone,email,address"},
               headers=api.headers("admin"))
    client.get("/api/v1/customers", params={"phone": NEW["phone"]}, headers=api.headers("admin"))
    # the database file and its write-ahead log as they are on disk (committed pages may still be in the WAL)
    data = b"".join(p.read_bytes() for p in api_settings.data_dir.glob("kehu.db*"))
    assert data, "no SQLite file found"
    assert b"CRM-0001" in data  # the scan sees what was written (a non-personal id is stored as is)
    for secret in ("李小龙", "13900112233", "139 0011 2233", "bruce.lee@example.com", "Bruce.Lee", "佛山市顺德区",
                   "440606194011271234", "杭州市西湖区"):
        assert secret.encode() not in data, secret
        assert secret.encode("utf-16-le") not in data, secret


def test_update_changes_given_fields_reindexes_and_audits(client, api, api_settings, store, fx) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/customers/{store.vip_id}"
    response = client.patch(url, json={"phone": "+86 137 0000 1111", "city": "广州", "marketing_consent": True},
                            headers=api.headers("agent"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phone"] == "137****1111" and body["city"] == "广州" and body["name"] == "张**"
    assert body["marketing_consent"] is True  # the VIP had not consented: a consent event is recorded
    old = client.get("/api/v1/customers", params={"phone": fx.VIP_PHONE}, headers=api.headers()).json()
    new = client.get("/api/v1/customers", params={"phone": "13700001111"}, headers=api.headers()).json()
    assert old["total"] == 0 and [c["id"] for c in new["items"]] == [store.vip_id]
    [event] = _events(api_settings, "update")
    assert event.detail == {"fields": ["city", "marketing_consent", "phone"]}
    cleared = client.patch(url, json={"email": None}, headers=api.headers("agent")).json()
    assert cleared["email"] is None
    with session_scope(api_settings.store_url) as session:
        row = session.get(Customer, store.vip_id)
        assert row.email_enc is None and row.email_index is None and row.row_hash is None
    refused = client.patch(url, json={"marketing_consent": None}, headers=api.headers("agent"))
    assert refused.status_code == 400
    unknown_field = client.patch(url, json={"phone_enc": "x"}, headers=api.headers("agent"))
    assert unknown_field.status_code == 422
    analyst = client.patch(url, json={"city": "x"}, headers=api.headers("analyst"))
    assert analyst.status_code == 403 and api.error(analyst) == "forbidden"


def test_delete_without_orders_and_refusal_with_orders(client, api, api_settings, store) -> None:  # type: ignore[no-untyped-def]
    with_orders = client.delete(f"/api/v1/customers/{store.vip_id}",
                                headers={**api.headers("admin"), "Accept-Language": "en-GB,en;q=0.8"})
    assert with_orders.status_code == 409
    assert api.error(with_orders) == "customer_has_orders"
    assert "erase" in with_orders.json()["error"]["message"]
    zh = client.delete(f"/api/v1/customers/{store.vip_id}", headers={**api.headers("admin"), "Accept-Language": "zh"})
    assert "擦除" in zh.json()["error"]["message"]

    agent = client.delete(f"/api/v1/customers/{store.prospect_id}", headers=api.headers("agent"))
    assert agent.status_code == 403
    deleted = client.delete(f"/api/v1/customers/{store.prospect_id}", headers=api.headers("admin"))
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/customers/{store.prospect_id}", headers=api.headers()).status_code == 404
    [event] = _events(api_settings, "delete")
    assert event.target_id == str(store.prospect_id) and event.username == "admin"
    assert client.delete(f"/api/v1/customers/{store.prospect_id}", headers=api.headers()).status_code == 404


def test_validation_errors_are_json_and_do_not_echo_values(client, api) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/customers", json={"email": "13800138000", "province": "x" * 33,
                                                      "birth_year": 1800}, headers=api.headers("agent"))
    assert response.status_code == 422
    assert api.error(response) == "invalid_request"
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"email", "province", "birth_year"}
    assert "13800138000" not in response.text
    nul = client.get("/api/v1/customers", params={"city": "a\x00b"}, headers=api.headers())
    assert nul.status_code == 422 and api.error(nul) == "invalid_request"
