"""Orders, classification snapshots and their rows, one customer's classification, and the snapshot export file."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
from sqlalchemy import select

from kehu.store import AuditEvent, session_scope


def test_orders_list_filters_sort_and_money_in_cents(client, api, store) -> None:  # type: ignore[no-untyped-def]
    everything = client.get("/api/v1/orders", params={"per_page": 200}, headers=api.headers("analyst")).json()
    assert everything["total"] == store.orders + 3
    dates = [o["ordered_at"] for o in everything["items"]]
    assert dates == sorted(dates, reverse=True)
    assert all(isinstance(o["amount_cents"], int) for o in everything["items"])
    purchases = client.get("/api/v1/orders", params={"purchases_only": True, "per_page": 1},
                           headers=api.headers()).json()
    assert purchases["total"] == store.orders + 1  # the VIP's later order is a purchase too
    vip = client.get(f"/api/v1/customers/{store.vip_id}/orders", params={"sort": "amount_cents"},
                     headers=api.headers()).json()
    amounts = [o["amount_cents"] for o in vip["items"]]
    assert amounts == sorted(amounts) and vip["total"] == 4
    refunded = [o for o in vip["items"] if o["external_id"] == "O-REFUND"][0]
    assert refunded["net_cents"] == 0 and refunded["is_purchase"] is False
    window = client.get("/api/v1/orders", params={"customer_id": store.vip_id, "ordered_from": "2025-06-01",
                                                  "ordered_to": "2025-06-02"}, headers=api.headers()).json()
    assert {o["external_id"] for o in window["items"]} == {"O-UNPAID", "O-REFUND"}
    backwards = client.get("/api/v1/orders", params={"ordered_from": "2025-06-02", "ordered_to": "2025-06-01"},
                           headers=api.headers())
    assert backwards.status_code == 400 and api.error(backwards) == "invalid_input"
    assert client.get("/api/v1/customers/999999/orders", headers=api.headers()).status_code == 404


def test_one_order_with_its_lines(client, api, store) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/api/v1/orders", params={"sort": "id", "per_page": 1}, headers=api.headers()).json()
    order_id = first["items"][0]["id"]
    order = client.get(f"/api/v1/orders/{order_id}", headers=api.headers()).json()
    assert order["id"] == order_id
    assert [line["line_no"] for line in order["lines"]] == [1]
    assert order["lines"][0]["sku"] == "SKU-1" and order["lines"][0]["quantity"] == 2
    missing = client.get("/api/v1/orders/999999", headers=api.headers())
    assert missing.status_code == 404 and api.error(missing) == "not_found"
    viewer = client.get(f"/api/v1/orders/{order_id}", headers=api.headers("viewer"))
    assert viewer.status_code == 403


def test_snapshots_and_their_rows(client, api, store) -> None:  # type: ignore[no-untyped-def]
    snapshots = client.get("/api/v1/snapshots", headers=api.headers("agent")).json()
    assert [s["as_of"] for s in snapshots["items"]] == ["2025-06-30", "2025-03-31"]
    assert snapshots["items"][0]["id"] == store.snapshot_id
    with_building = client.get("/api/v1/snapshots", params={"include_building": True}, headers=api.headers()).json()
    assert with_building["total"] == 3 and with_building["items"][0]["status"] == "building"
    detail = client.get(f"/api/v1/snapshots/{store.snapshot_id}", headers=api.headers()).json()
    assert detail["customers"] == store.customers and "cut_points" in detail

    rows = client.get(f"/api/v1/snapshots/{store.snapshot_id}/classifications",
                      params={"per_page": 20, "page": 3}, headers=api.headers()).json()
    assert rows["total"] == store.customers and len(rows["items"]) == 20
    ids = [r["customer_id"] for r in rows["items"]]
    assert ids == sorted(ids)
    winback = client.get(f"/api/v1/snapshots/{store.snapshot_id}/classifications",
                         params={"rfm_class": "important_winback", "sort": "-monetary_cents", "per_page": 200},
                         headers=api.headers()).json()
    assert winback["total"] == 15 and {r["rfm_class"] for r in winback["items"]} == {"important_winback"}
    money = [r["monetary_cents"] for r in winback["items"]]
    assert money == sorted(money, reverse=True)
    unknown_class = client.get(f"/api/v1/snapshots/{store.snapshot_id}/classifications",
                               params={"rfm_class": "vip"}, headers=api.headers())
    assert unknown_class.status_code == 422
    building_id = with_building["items"][0]["id"]
    building = client.get(f"/api/v1/snapshots/{building_id}/classifications", headers=api.headers())
    assert building.status_code == 409 and api.error(building) == "snapshot_not_ready"
    assert client.get("/api/v1/snapshots/999999", headers=api.headers()).status_code == 404


def test_one_customers_classification(client, api, store) -> None:  # type: ignore[no-untyped-def]
    newest = client.get(f"/api/v1/customers/{store.vip_id}/classification", headers=api.headers()).json()
    assert newest["as_of"] == "2025-06-30" and newest["external_id"] == "C0000"
    assert newest["rfm_class"] == "important_value" and newest["frequency"] == 1
    older = client.get(f"/api/v1/customers/{store.vip_id}/classification", params={"as_of": "2025-03-31"},
                       headers=api.headers()).json()
    assert older["snapshot_id"] != newest["snapshot_id"] and older["rfm_class"] == "general_development"
    none = client.get(f"/api/v1/customers/{store.vip_id}/classification", params={"as_of": "2020-01-01"},
                      headers=api.headers())
    assert none.status_code == 404


def test_export_files_are_audited(client, api, api_settings, store) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/exports/classifications", headers=api.headers("analyst"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "classifications-2025-06-30.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == store.customers and rows[0]["customer_id"] == "C0000"
    parquet = client.get("/api/v1/exports/classifications", params={"format": "parquet", "as_of": "2025-03-31"},
                         headers=api.headers("analyst"))
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == store.customers and "rfm_class_en" in table.column_names
    assert client.get("/api/v1/exports/classifications", params={"as_of": "2020-01-01"},
                      headers=api.headers()).status_code == 404
    assert client.get("/api/v1/exports/classifications", headers=api.headers("agent")).status_code == 403
    with session_scope(api_settings.store_url) as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "export")))
        assert [(e.username, e.detail["format"]) for e in events] == [("analyst", "csv"), ("analyst", "parquet")]
    leftovers = list((api_settings.data_dir / "tmp" / "exports").glob("*"))
    assert leftovers == []
