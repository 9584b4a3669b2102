"""Helpers for the import tests: run an import, query the store, read a rejects file."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from kehu.config import Settings
from kehu.ingest import ImportReport, import_file
from kehu.store import get_engine


def _run(settings: Settings, path: Path, kind: str = "orders", fmt: str = "generic", **kwargs: Any) -> ImportReport:
    return import_file(settings=settings, path=path, kind=kind, format_name=fmt, **kwargs)


def _query(settings: Settings, sql: str, **params: Any) -> list[tuple]:
    with get_engine(settings.store_url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).fetchall()]


def _rejects(path: Path | str) -> list[dict[str, str]]:
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def run_import() -> Callable[..., ImportReport]:
    """``run_import(settings, path, kind="orders", fmt="generic", maps=..., rejects=...)``."""
    return _run


@pytest.fixture
def query() -> Callable[..., list[tuple]]:
    """``query(settings, "SELECT …", **params)`` → rows as tuples."""
    return _query


@pytest.fixture
def read_rejects() -> Callable[[Path | str], list[dict[str, str]]]:
    """Rows of a rejects CSV as dicts (file, line, column, value, reason)."""
    return _rejects


def _load_shop_files() -> ModuleType:
    # pytest runs in importlib mode, so a sibling module is loaded by path rather than imported by name.
    spec = importlib.util.spec_from_file_location("kehu_tests_ingest_shopfiles", Path(__file__).with_name("shopfiles.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SHOP_FILES = _load_shop_files()


@pytest.fixture
def shop_files() -> ModuleType:
    """The builders in ``shopfiles.py``: ``taobao_file(path)``, ``shopify_orders_file(path)``, ``write_rows``…"""
    return _SHOP_FILES
