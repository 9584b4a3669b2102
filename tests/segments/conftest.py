"""Fixtures of the segment tests: the web tests' classified fixture store (two ready snapshots, 60 customers) on
SQLite and PostgreSQL, and its rows as Python objects to compute what a rule should select."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kehu.config import Settings
from kehu.store import Classification, ClassificationSnapshot, Customer, session_scope


def _factories() -> Any:  # noqa: ANN401
    """tests/web/factories.py, shared with the web tests under the same module name."""
    name = "kehu_web_test_factories"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "web" / "factories.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class SegStore:
    """A fixture store and what the tests need to know about it."""

    settings: Settings
    store: Any
    old_snapshot_id: int

    def rows(self, snapshot_id: int | None = None) -> list[tuple[Customer, Classification]]:
        """(customer, snapshot row) of every customer in a snapshot (default: the newest)."""
        with session_scope(self.settings.store_url) as session:
            stmt = (select(Customer, Classification).join(Classification, Classification.customer_id == Customer.id)
                    .where(Classification.snapshot_id == (snapshot_id or self.store.snapshot_id)))
            return [(r[0], r[1]) for r in session.execute(stmt)]


def build(settings: Settings) -> SegStore:
    """The fixture store at ``settings``."""
    fx = _factories()
    store = fx.build_store(settings)
    with session_scope(settings.store_url) as session:
        old = session.scalar(select(ClassificationSnapshot.id).where(ClassificationSnapshot.as_of == fx.OLD_AS_OF))
    return SegStore(settings=settings, store=store, old_snapshot_id=int(old))


@pytest.fixture
def fx() -> Any:  # noqa: ANN401
    """The web tests' factories module (PASSWORD, AS_OF, build_store …)."""
    return _factories()


@pytest.fixture
def seg(store_settings: Settings) -> SegStore:
    """The fixture store on SQLite, then on PostgreSQL."""
    return build(store_settings)


@pytest.fixture
def seg_sqlite(settings: Settings) -> SegStore:
    """The fixture store on SQLite only."""
    return build(settings)


@pytest.fixture
def seg_pg(pg_url: str, tmp_path: Path) -> SegStore:
    """The fixture store on PostgreSQL only."""
    from conftest import SECRET

    return build(Settings(data_dir=tmp_path / "data", database_url=pg_url, secret_key=SECRET, _env_file=None))
