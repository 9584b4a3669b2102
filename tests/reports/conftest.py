"""A small classified store for the report tests: the synthetic merchant (1,500 customers) classified at the ends of
September and October 2026 (October with the models), the demo win-back campaign (window in September) and the demo
NPS survey (answers over the six months before October's end)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from conftest import SECRET
from kehu.analytics import classify
from kehu.campaigns import seed_demo_campaign
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.sample.generate import generate_demo
from kehu.surveys import seed_demo_survey

END = date(2026, 10, 31)
PREVIOUS_END = date(2026, 9, 30)
CUSTOMERS = 1500


def build_store(folder: Path) -> Settings:
    """Load, classify twice, add the demo campaign and survey; return the store's settings."""
    settings = Settings(data_dir=folder / "data", secret_key=SECRET, _env_file=None)
    files = generate_demo(folder / "sample", customers=CUSTOMERS, end=END)
    import_file(settings=settings, path=files.customers_csv, kind="customers", format_name="generic")
    import_file(settings=settings, path=files.orders_csv, kind="orders", format_name="generic")
    classify(settings=settings.model_copy(update={"predict": False}), as_of=PREVIOUS_END)
    classify(settings=settings, as_of=END)
    seed_demo_campaign(settings, reclassify=False)
    seed_demo_survey(settings)
    return settings


@pytest.fixture(scope="package")
def report_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    yield build_store(tmp_path_factory.mktemp("reports"))
