"""A small classified store for the campaign and survey tests, on SQLite and PostgreSQL (``store_settings``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _load(name: str, path: Path):  # type: ignore[no-untyped-def]
    """A helper module of the test tree by path (the tests are not a package under --import-mode=importlib)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def cfx():  # type: ignore[no-untyped-def]
    """The campaign test store builders (:mod:`tests/campaigns/store.py`)."""
    return _load("kehu_campaign_test_store", HERE / "store.py")
