"""Imports through the API: upload → 202 with the run id → follow the run → download the rejects CSV."""

from __future__ import annotations

import csv
import io
import time

import pytest
from sqlalchemy import select

from kehu.api.routes import imports as import_routes
from kehu.store import AuditEvent, Order, session_scope

CSV = (
    "order_id,customer_id,ordered_at,amount,status\n"
    "N1,NEW-1,2025-07-01 10:00:00,120.50,paid\n"
    "N2,NEW-1,2025-07-03 11:00:00,80,paid\n"
    "N3,NEW-2,2025-07-04 12:00:00,not money,paid\n"
    "N4,NEW-3,2025-07-05,15,paid\n"
)


def _wait(client, api, run_id: int, timeout: float = 30.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/api/v1/imports/{run_id}", headers=api.headers("analyst")).json()
        if state["finished"] or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def test_upload_follow_and_download_rejects(client, api, api_settings) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/imports", headers=api.headers("analyst"),
                           files={"file": ("七月订单.csv", CSV.encode(), "text/csv")},
                           data={"kind": "orders", "format": "generic"})
    assert response.status_code == 202, response.text
    body = response.json()
    run_id = body["run_id"]
    assert body["url"] == response.headers["Location"] == f"/api/v1/imports/{run_id}"
    state = _wait(client, api, run_id)
    assert state["status"] == "succeeded", state
    assert (state["rows_read"], state["inserted"], state["rejected"]) == (4, 3, 1)
    assert state["has_rejects"] is True and state["percent"] == 100
    with session_scope(api_settings.store_url) as session:
        assert session.scalar(select(Order.id).where(Order.external_id == "N1")) is not None
        events = [(e.action, e.username, e.via) for e in session.scalars(select(AuditEvent))]
    assert ("import", "analyst", "api") in events

    rejects = client.get(f"/api/v1/imports/{run_id}/rejects", headers=api.headers("analyst"))
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert [(r["line"], r["column"]) for r in rows] == [("4", "amount")]

    runs = client.get("/api/v1/imports", headers=api.headers("admin")).json()
    assert runs["items"][0]["id"] == run_id and runs["items"][0]["file"].endswith("七月订单.csv")
    deadline = time.monotonic() + 5
    while list((api_settings.data_dir / "uploads").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((api_settings.data_dir / "uploads").iterdir()) == []  # deleted once imported


def test_a_clean_file_has_no_rejects(client, api) -> None:  # type: ignore[no-untyped-def]
    clean = "\n".join(CSV.splitlines()[:3]) + "\n"
    run_id = client.post("/api/v1/imports", headers=api.headers("admin"),
                         files={"file": ("clean.csv", clean.encode(), "text/csv")},
                         data={"kind": "orders", "mapping": '{"amount": "amount"}'}).json()["run_id"]
    assert _wait(client, api, run_id)["status"] == "succeeded"
    response = client.get(f"/api/v1/imports/{run_id}/rejects", headers=api.headers("analyst"))
    assert response.status_code == 404 and api.error(response) == "no_rejects"


def test_an_unreadable_file_ends_its_run_failed(client, api) -> None:  # type: ignore[no-untyped-def]
    run_id = client.post("/api/v1/imports", headers=api.headers("admin"),
                         files={"file": ("x.csv", b"just,two\n1,2\n", "text/csv")},
                         data={"kind": "orders"}).json()["run_id"]
    state = _wait(client, api, run_id)
    assert state["status"] == "failed" and "required column missing" in state["message"]


@pytest.mark.parametrize(("data", "code"), [
    ({"kind": "products"}, "invalid_input"),
    ({"kind": "orders", "format": "amazon"}, "invalid_input"),
    ({"kind": "orders", "mapping": "amount=实付"}, "invalid_input"),
    ({"kind": "orders", "mapping": '{"price_paid": "实付"}'}, "invalid_input"),
])
def test_bad_forms_are_refused_before_any_run(client, api, data, code) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/imports", headers=api.headers("admin"),
                           files={"file": ("x.csv", CSV.encode(), "text/csv")}, data=data)
    assert response.status_code == 400
    assert api.error(response) == code
    assert client.get("/api/v1/imports", headers=api.headers()).json()["total"] == 0


def test_missing_file_wrong_type_and_too_large(client, api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    no_file = client.post("/api/v1/imports", headers=api.headers("admin"), files={"kind": (None, "orders")})
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]["message"]
    as_json = client.post("/api/v1/imports", headers=api.headers("admin"), json={"kind": "orders"})
    assert as_json.status_code == 415 and api.error(as_json) == "unsupported_media_type"
    monkeypatch.setattr(import_routes, "MAX_UPLOAD_BYTES", 100)
    big = client.post("/api/v1/imports", headers=api.headers("admin"),
                      files={"file": ("x.csv", CSV.encode() * 10, "text/csv")}, data={"kind": "orders"})
    assert big.status_code == 413 and api.error(big) == "too_large"
    # without a Content-Length (chunked), the body is counted while it is read
    boundary = "kehu-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\norders\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{CSV * 10}\r\n--{boundary}--\r\n").encode()
    chunked = client.post("/api/v1/imports", content=iter([body[:50], body[50:]]),
                          headers={**api.headers("admin"), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert chunked.status_code == 413 and api.error(chunked) == "too_large"
    viewer = client.post("/api/v1/imports", headers=api.headers("viewer"),
                         files={"file": ("x.csv", CSV.encode(), "text/csv")}, data={"kind": "orders"})
    assert viewer.status_code == 403
