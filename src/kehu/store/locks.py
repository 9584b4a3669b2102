"""Who is writing, and taking turns to write: process owners of long runs and per-store write locks.

An import run or a snapshot being written records its owner (``running in process <pid> on <host>``) in the
store when it starts; when that process is gone (killed, machine restarted) the run can be reported failed
(:func:`owner_gone`). Writers that must not interleave take a lock for the length of one transaction
(:func:`store_lock`): on PostgreSQL an advisory transaction lock, which belongs to the database (so to one
store) and is released by ``COMMIT`` or ``ROLLBACK``, including when the connection dies; SQLite serialises
writers itself (``BEGIN IMMEDIATE``, with a 30-second busy timeout).
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Lock keys (64-bit, fixed): one per kind of writer that must take turns within a store.
LOCK_KEYS: dict[str, int] = {
    # Import batches: concurrent INSERT … ON CONFLICT merges of overlapping files would otherwise wait on each
    # other's rows in any order (deadlocks) and count each other's rows as their own.
    "import": 0x6B65_6875_0001,
    # Publishing a snapshot: replacing the older snapshots of a date and marking the new one ready.
    "snapshot": 0x6B65_6875_0002,
    # The customer list's partial indexes (CREATE / DROP INDEX on classifications).
    "list_indexes": 0x6B65_6875_0003,
    # Schema migrations (Alembic), run by every process that opens the store.
    "migrate": 0x6B65_6875_0004,
    # Refreshing segments and tags: two first refreshes would both create the default tags.
    "segments": 0x6B65_6875_0005,
}

_OWNER = re.compile(r"running in process (\d+) on (.+)")


def owner_tag() -> str:
    """This process as a run's owner: ``running in process <pid> on <host>``."""
    return f"running in process {os.getpid()} on {socket.gethostname()}"


def owner_gone(tag: str | None) -> int | None:
    """The process id in an owner ``tag`` when that process ran on this host and has ended, else ``None`` (another
    host's process cannot be checked from here, and a live one is still working)."""
    match = _OWNER.fullmatch(tag or "")
    if not match or match.group(2) != socket.gethostname():
        return None
    pid = int(match.group(1))
    return None if process_alive(pid) else pid


def process_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def store_lock(cur: Any, name: str) -> None:  # noqa: ANN401 - a DB-API cursor of either driver
    """Inside a transaction on ``cur``: wait for, then hold until the transaction ends, the store's lock ``name``
    (a key of :data:`LOCK_KEYS`). PostgreSQL: ``pg_advisory_xact_lock``; SQLite: nothing (its write transaction
    is already exclusive)."""
    key = LOCK_KEYS[name]
    if isinstance(cur, sqlite3.Cursor):
        return
    cur.execute(f"SELECT pg_advisory_xact_lock({key})")
    cur.fetchall()


def session_lock(session: Session, name: str) -> None:
    """:func:`store_lock` inside a SQLAlchemy session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEYS[name]})"))
