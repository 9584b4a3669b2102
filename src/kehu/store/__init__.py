"""The store: SQLAlchemy models, engine and sessions, Alembic migrations."""

from kehu.store.db import get_engine, is_sqlite, migrate, open_store, schema_is_current, session_scope
from kehu.store.models import (
    ApiKey,
    AuditEvent,
    Base,
    Classification,
    ClassificationSnapshot,
    ConsentEvent,
    Customer,
    CustomerNote,
    ImportRun,
    Order,
    OrderLine,
    Product,
    SavedView,
    StoreMeta,
    User,
)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Classification",
    "ClassificationSnapshot",
    "ConsentEvent",
    "Customer",
    "CustomerNote",
    "ImportRun",
    "Order",
    "OrderLine",
    "Product",
    "SavedView",
    "StoreMeta",
    "User",
    "get_engine",
    "is_sqlite",
    "migrate",
    "open_store",
    "schema_is_current",
    "session_scope",
]
