"""The Alembic migrations build exactly the tables the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from kehu.config import Settings
from kehu.store import Base, get_engine, migrate, schema_is_current


def test_migrations_match_models(store_settings: Settings) -> None:
    url = store_settings.store_url
    migrate(url)
    engine = get_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert schema_is_current(url)
    assert {"customers", "orders", "order_lines", "products", "import_runs", "classification_snapshots",
            "classifications", "users"} <= set(inspect(engine).get_table_names())


def test_migrate_is_idempotent(settings: Settings) -> None:
    migrate(settings.store_url)
    migrate(settings.store_url)
    assert schema_is_current(settings.store_url)
