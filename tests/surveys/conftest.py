"""The campaign tests' store builders serve the survey tests too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


@pytest.fixture
def cfx():  # type: ignore[no-untyped-def]
    """The store builders of tests/campaigns/store.py."""
    name = "kehu_campaign_test_store"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "campaigns" / "store.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
