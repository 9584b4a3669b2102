"""Helpers for the import tests: run an import, query the store, read a rejects file."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
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


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` (dedented lines) in ``encoding``; used by the fixture-file builders."""
    path.write_bytes(text.encode(encoding))
    return path
