"""Opening the store: engine, sessions and schema migrations (Alembic)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kehu.errors import StoreError
from kehu.store.locks import LOCK_KEYS

MIGRATIONS = Path(__file__).with_name("migrations")


#: Page size of a new SQLite store, in bytes (SQLite's default is 4096). Bulk writes (imports, million-row
#: snapshots) touch a quarter as many pages, and a snapshot's commit takes about 40% less time; a page read for one
#: row is still a single small read.
SQLITE_PAGE_SIZE = 16384


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # takes effect only while the file is still empty
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The engine for a store URL (cached per URL). SQLite files get WAL mode and foreign keys; their folder is
    created when missing."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"KEHU_DATABASE_URL {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite store."""
    return engine.dialect.name == "sqlite"


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at kehu's migrations and the given store."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: Alembic's upgrade is not thread-safe within one process (its config and module state are shared); threads of
#: one process (the web app's background import, tests) take turns.
_MIGRATE_LOCK = threading.Lock()


def migrate(url: str) -> None:
    """Bring the store at ``url`` to the newest schema (creates it when empty).

    On PostgreSQL processes that start together (several web workers, an import and a classification) take
    turns: the upgrade runs in one transaction holding an advisory lock, so the second process waits, then finds
    the schema current.
    """
    engine = get_engine(url)
    cfg = alembic_config(url)
    try:
        with _MIGRATE_LOCK, engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEYS['migrate']})"))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreError(f"cannot open the store at {engine.url.render_as_string(hide_password=True)}: "
                         f"{exc.orig}") from None


def schema_is_current(url: str) -> bool:
    """True when the store's schema is at the newest migration."""
    engine = get_engine(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


@lru_cache(maxsize=8)
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = _session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def open_store(url: str) -> Engine:
    """Migrate the store at ``url`` if needed and return its engine."""
    migrate(url)
    return get_engine(url)
