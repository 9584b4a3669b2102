"""Every buyer's purchase history at one orders revision, kept beside the orders mirror of a SQLite store.

The history — :func:`kehu.analytics.features.purchase_history` of all purchases (order count, net spend, first
and last day, median gap, …) and the net revenue per calendar month — is most of what a classification computes,
and none of it depends on the as-of date as long as that date is on or after the last purchase: classifying then
only adds recency, scores and stages. So it is computed once per orders revision and stored as one Parquet file,
``<data_dir>/analytics/history.parquet``, whose metadata names the revision, the last purchase day and the monthly
revenue:

* the import computes it once its orders are in (:func:`kehu.analytics.classify.prepare_history`);
* a classification uses it when it is of the store's current orders revision and the as-of date is on or after
  its last purchase; otherwise it computes the history from the orders, and stores it when the as-of date is on
  or after the last purchase, for the next run.

Every transaction that writes orders raises the revision (:func:`kehu.analytics.facts.bump_orders_revision`), so a
history of an older revision is never used. Like the mirror it is a cache: it can be deleted at any time.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from kehu.analytics.features import HISTORY_COLUMNS
from kehu.config import Settings

#: Changes when the meaning or the columns of the stored history change; other versions are ignored.
VERSION = 1
_KEY = b"kehu.history"
MONTHLY_SCHEMA = pa.schema([("month", pa.int64()), ("cents", pa.int64())])


@dataclass(frozen=True)
class History:
    """What a stored history's metadata says: its last purchase day (``None``: no purchase) and the net cents per
    month (:data:`MONTHLY_SCHEMA`)."""

    last_purchase: date | None
    monthly: pa.Table

    def covers(self, as_of: date) -> bool:
        """True when every purchase is on or before ``as_of``, so the history is that of the purchases up to it."""
        return self.last_purchase is None or self.last_purchase <= as_of


def history_path(settings: Settings) -> Path:
    """``<data_dir>/analytics/history.parquet``."""
    return Path(settings.data_dir) / "analytics" / "history.parquet"


def read_history(settings: Settings, revision: int) -> History | None:
    """The stored history when it is of orders revision ``revision`` (its metadata only; the rows stay in the
    file); ``None`` when there is none, it is of another revision or version, or it cannot be read."""
    path = history_path(settings)
    try:
        return _history(pq.read_schema(path), revision)
    except (OSError, pa.ArrowException):
        return None


def load_history(settings: Settings, revision: int) -> tuple[History, pa.Table] | None:
    """:func:`read_history` and the rows (:data:`~kehu.analytics.features.HISTORY_COLUMNS`) of the same file, read
    in one go: an import replacing the file meanwhile cannot mix two revisions."""
    if read_history(settings, revision) is None:  # the footer alone: no rows read for another revision
        return None
    path = history_path(settings)
    try:
        rows = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None
    history = _history(rows.schema, revision)
    return None if history is None else (history, rows.replace_schema_metadata(None))


def _history(schema: pa.Schema, revision: int) -> History | None:
    try:
        meta = json.loads((schema.metadata or {})[_KEY])
        if meta.get("version") != VERSION or meta.get("revision") != revision:
            return None
        last = meta["last_purchase"]
        monthly = pa.table({"month": [m for m, _ in meta["monthly"]], "cents": [c for _, c in meta["monthly"]]},
                           schema=MONTHLY_SCHEMA)
        return History(date.fromisoformat(last) if last else None, monthly)
    except (KeyError, TypeError, ValueError, AttributeError, pa.ArrowException):
        return None  # not a history this version of kehu wrote


def write_history(settings: Settings, revision: int, backend: Any, rows: ir.Table, monthly: pa.Table,
                  last_purchase: date | None) -> Path:
    """Store ``rows`` (:func:`~kehu.analytics.features.purchase_history` of every purchase of orders revision
    ``revision``, a table of the DuckDB Ibis ``backend``, which writes the file) with the monthly revenue and the
    last purchase day, replacing the stored history atomically."""
    path = history_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "version": VERSION, "revision": revision,
        "last_purchase": last_purchase.isoformat() if last_purchase else None,
        "monthly": [[int(m), int(c)] for m, c in zip(monthly.column("month").to_pylist(),
                                                     monthly.column("cents").to_pylist(), strict=True)],
    }
    tmp = path.parent / f".{uuid.uuid4().hex}.tmp"
    text = json.dumps(meta).replace("'", "''")
    try:
        backend.raw_sql(f"COPY ({backend.compile(rows.select(*HISTORY_COLUMNS))}) TO '{_quoted(tmp)}' "
                        f"(FORMAT parquet, KV_METADATA {{'{_KEY.decode()}': '{text}'}})")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
