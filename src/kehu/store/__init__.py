"""The store: SQLAlchemy models, engine and sessions, Alembic migrations."""

from kehu.store.db import get_engine, is_sqlite, migrate, open_store, schema_is_current, session_scope
from kehu.store.models import (
    Base,
    Classification,
    ClassificationSnapshot,
    Customer,
    ImportRun,
    Order,
    OrderLine,
    Product,
    StoreMeta,
    User,
)

__all__ = [
    "Base",
    "Classification",
    "ClassificationSnapshot",
    "Customer",
    "ImportRun",
    "Order",
    "OrderLine",
    "Product",
    "StoreMeta",
    "User",
    "get_engine",
    "is_sqlite",
    "migrate",
    "open_store",
    "schema_is_current",
    "session_scope",
]
