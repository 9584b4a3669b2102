"""The demo data loaded into a store leaves no phone number, e-mail or name in plaintext in the database files."""

from __future__ import annotations

import csv
from pathlib import Path

from kehu.config import Settings
from kehu.ingest import import_file
from kehu.sample.generate import generate_demo


def test_demo_store_holds_no_plaintext_personal_data(settings: Settings, tmp_path: Path) -> None:
    files = generate_demo(tmp_path / "sample", customers=400)
    import_file(settings=settings, path=files.customers_csv, kind="customers", format_name="generic")
    import_file(settings=settings, path=files.orders_csv, kind="orders", format_name="generic")
    with files.customers_csv.open(encoding="utf-8") as fh:
        people = list(csv.DictReader(fh))
    secrets = {p["phone"] for p in people if p["phone"]} | {p["email"] for p in people if p["email"]}
    secrets |= {p["name"] for p in people if len(p["name"]) >= 3}  # two-character names also occur inside words
    assert len(secrets) > 500
    blob = b"".join(p.read_bytes() for p in settings.data_dir.glob("kehu.db*"))
    found = [s for s in secrets if s.encode() in blob or s.encode("utf-16-le") in blob]
    assert not found, found[:5]
