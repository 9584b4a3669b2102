"""Shared fixtures: a fresh data dir per test, and fresh PostgreSQL databases that are dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kehu.config import Settings

PG_ADMIN = os.environ.get("KEHU_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


PG_AVAILABLE = _pg_available()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (kehu_test_<random>) on 127.0.0.1:5432, dropped after the test."""
    if not PG_AVAILABLE:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run should have started it)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"kehu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        from kehu.store.db import get_engine

        for url in list(_engines_for(name)):
            get_engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _engines_for(name: str) -> Iterator[str]:
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data dir (SQLite store inside it) and a fixed test secret."""
    return Settings(data_dir=tmp_path / "data", secret_key=SECRET, _env_file=None)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on each store: the SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "data", secret_key=SECRET, _env_file=None)
    url = request.getfixturevalue("pg_url")
    return Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET, _env_file=None)
