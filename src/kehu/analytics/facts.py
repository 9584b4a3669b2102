"""The analytics mirror of the orders: what classification needs of each order, as Parquet beside the SQLite store.

Reading ten million orders out of SQLite takes seconds however it is done (SQLite decodes every row); reading them
from Parquet takes a fraction of one. So the import, which has each batch of orders in Arrow anyway, also writes
the batch's purchase facts as a Parquet *part* named after the store's ``orders_revision`` that its transaction
set, each order's customer named by the store's id (ids never change; an order moved to another customer is a newer
version of the order). The mirror is current when its parts cover every revision up to the store's; then
classification scans the parts (the newest version of an order wins). Otherwise — a process killed between its
commit and its part, another writer, a mirror deleted by hand — classification reads the orders from the store and
writes that as the new *base* of the mirror. The mirror is therefore a cache: it can be deleted at any time and is
never the truth.

PostgreSQL stores are read directly (ADBC is fast there); the mirror is for the embedded SQLite store.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from kehu.config import Settings

#: The columns of a part: the order's key, its customer's store id and its purchase facts.
FACTS_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("external_id", pa.string()),
    ("customer_id", pa.int64()),
    ("ordered_at", pa.timestamp("us")),
    ("amount_cents", pa.int64()),
    ("refunded_cents", pa.int64()),
    ("is_paid", pa.bool_()),
])
#: Orders kept outside the store (``KEHU_SPARK_ORDERS``): the same facts, the customer named by the source's own id.
LAKE_SCHEMA = pa.schema([FACTS_SCHEMA.field(n) if n != "customer_id" else pa.field("customer_external_id", pa.string())
                         for n in FACTS_SCHEMA.names])
#: base-R: every order at revision R. part-R: the orders batch R wrote (some may be newer versions of orders in
#: earlier files). new-R: a batch whose orders were all inserted by it, so no earlier file holds any of them.
_PART = re.compile(r"^(base|part|new)-(\d{12})\.parquet$")


def facts_dir(settings: Settings) -> Path:
    """Where the mirror's parts live: ``<data_dir>/analytics/orders``."""
    return Path(settings.data_dir) / "analytics" / "orders"


#: The folder of the first mirror format (customers by external id); removed when a new base is written.
_OLD_DIR = "order_facts"


def bump_orders_revision(cur: Any) -> int:
    """Add one to ``store_meta.orders_revision`` inside the caller's write transaction and return the new value."""
    cur.execute("UPDATE store_meta SET value = value + 1 WHERE key = 'orders_revision'")
    cur.execute("SELECT value FROM store_meta WHERE key = 'orders_revision'")
    return int(cur.fetchall()[0][0])


def orders_revision(cur: Any) -> int:
    """The store's current ``orders_revision``."""
    cur.execute("SELECT value FROM store_meta WHERE key = 'orders_revision'")
    rows = cur.fetchall()
    return int(rows[0][0]) if rows else 0


def write_part(settings: Settings, revision: int, facts: pa.Table, *, base: bool = False,
               all_new: bool = False) -> Path:
    """Write one part (or the base) of the mirror atomically: a reader sees the whole file or none.

    ``all_new``: every order in ``facts`` was inserted by this revision (none existed before), which lets readers
    skip the newest-version-wins step when all parts are like that.
    """
    folder = facts_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    kind = "base" if base else "new" if all_new else "part"
    path = folder / f"{kind}-{revision:012d}.parquet"
    tmp = folder / f".{uuid.uuid4().hex}.tmp"
    pq.write_table(facts.select(FACTS_SCHEMA.names).cast(FACTS_SCHEMA), tmp)
    os.replace(tmp, path)
    if base:
        for old in _parts(folder):
            if old[1] <= revision and old[2] != path:
                old[2].unlink(missing_ok=True)
        shutil.rmtree(folder.parent / _OLD_DIR, ignore_errors=True)
    return path


def _parts(folder: Path) -> list[tuple[str, int, Path]]:
    found = []
    for path in folder.glob("*.parquet") if folder.exists() else []:
        match = _PART.match(path.name)
        if match:
            found.append((match.group(1), int(match.group(2)), path))
    return sorted(found, key=lambda p: (p[1], p[0] != "base"))


def current_parts(settings: Settings, revision: int) -> list[Path] | None:
    """The files that make the mirror at ``revision``, or ``None`` when the mirror is not current.

    Current means: a base at some revision b ≤ ``revision`` and one part for every revision b+1 … ``revision``.
    Without a base nothing is known of the orders written before the first part, so the mirror is not current.
    """
    parts = _parts(facts_dir(settings))
    bases = [p for p in parts if p[0] == "base" and p[1] <= revision]
    if not bases:
        return None
    base = max(bases, key=lambda p: p[1])
    have = {p[1]: p[2] for p in parts if p[0] != "base" and base[1] < p[1] <= revision}
    if set(have) != set(range(base[1] + 1, revision + 1)):
        return None
    return [base[2]] + [have[r] for r in sorted(have)]


def start_mirror(settings: Settings, cur: Any) -> None:
    """Before an import's first batch: a store that never had orders gets an empty base at revision 0, so the
    parts the import writes next make a complete mirror (else the first classification reads the store)."""
    if orders_revision(cur) != 0 or (facts_dir(settings) / f"base-{0:012d}.parquet").exists():
        return
    cur.execute("SELECT 1 FROM orders LIMIT 1")
    if not cur.fetchall():
        write_part(settings, 0, FACTS_SCHEMA.empty_table(), base=True)


def needs_dedupe(paths: list[Path]) -> bool:
    """True when an order may stand in more than one of ``paths`` (some part after the base is not all-new)."""
    return any(p.name.startswith("part-") for p in paths[1:])


def parts_sql(paths: list[Path]) -> str:
    """A DuckDB query over ``paths`` giving the newest version of every order (later files win)."""
    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
    columns = ", ".join(FACTS_SCHEMA.names)
    if not needs_dedupe(paths):
        return f"SELECT {columns} FROM read_parquet({files})"
    # File names sort by revision within a folder ('new' and 'part' after 'base').
    return (f"SELECT {columns} FROM read_parquet({files}, filename = true) "
            "QUALIFY row_number() OVER (PARTITION BY source, external_id "
            "ORDER BY regexp_extract(filename, '(\\d{12})\\.parquet$', 1) DESC) = 1")


def read_parts(paths: list[Path]) -> pa.Table:
    """The newest version of every order in ``paths`` as one Arrow table."""
    if not paths:
        return FACTS_SCHEMA.empty_table()
    con = duckdb_connect()
    try:
        return con.sql(parts_sql(paths)).to_arrow_table().cast(FACTS_SCHEMA)
    finally:
        con.close()


def duckdb_connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that neither installs nor loads extensions (Parquet is built in)."""
    return duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
