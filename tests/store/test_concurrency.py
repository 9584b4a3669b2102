"""Several processes on one store at once: overlapping imports and classifications of the same date, through the
real ``kehu`` CLI in child processes, with a reader polling the snapshots meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from conftest import SECRET
from factories import write_generic_orders
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.store import ClassificationSnapshot, ImportRun, Order, get_engine, session_scope

AS_OF = date(2025, 6, 30)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(KEHU_DATA_DIR=str(settings.data_dir), KEHU_DATABASE_URL=settings.store_url, KEHU_SECRET_KEY=SECRET,
               KEHU_PREDICT="false", **extra)
    return env


def _orders(path: Path, *spans: tuple[int, int]) -> None:
    """Orders ``first``…``last`` of each span (one per id), ten per customer, spread over the first half of 2025."""
    rows = [(f"O{i:06d}", f"C{i // 10:05d}", f"2025-{1 + i % 6:02d}-{1 + i % 28:02d} 12:00", f"{10 + i % 90}.50")
            for first, last in spans for i in range(first, last + 1)]
    write_generic_orders(path, rows)


def _run_together(commands: list[list[str]], env: dict[str, str], cwd: Path, timeout: float = 120,
                  while_running: object = None) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in commands]
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                raise AssertionError("the child processes did not finish in time")
            if callable(while_running):
                while_running()
            time.sleep(0.02)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = []
    for cmd, p in zip(commands, procs, strict=True):
        out, err = p.communicate()
        results.append(subprocess.CompletedProcess(cmd, p.returncode, out, err))
    return results


# An import in a child process whose batch transactions stay open half a second after their writes, so the other
# import's batch always arrives while one is open; both start their import together (the parent's "go" file).
IMPORT_CHILD = """
import sys, time
from pathlib import Path
import kehu.ingest.pipeline as pipeline
from kehu.config import Settings

write_counts = pipeline.save_counts

def slow_save_counts(cur, run_id, counts):
    write_counts(cur, run_id, counts)
    time.sleep(0.5)

pipeline.save_counts = slow_save_counts
Path(sys.argv[2] + ".ready-" + Path(sys.argv[1]).stem).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
report = pipeline.import_file(settings=Settings(), path=Path(sys.argv[1]), kind="orders", format_name="generic")
print(report.counts.new_customers)
"""


@pytest.mark.pg
def test_overlapping_imports_at_once_neither_duplicate_nor_miscount(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, secret_key=SECRET, _env_file=None)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    # Orders 0–1999 (customers 0–199) are in both files, at the start of each: both imports write them in their
    # first two batches (1,000 orders each), at the same time.
    _orders(first, (0, 2999))
    _orders(second, (0, 1999), (3000, 3999))
    # The customers exist already, so neither import waits on the other's new customers: the orders themselves
    # are what they would race for.
    seed = [(f"S{c}", f"C{c:05d}", "2024-12-01 12:00", "1.00") for c in range(400)]
    write_generic_orders(tmp_path / "seed.csv", seed)
    import_file(settings=settings, path=tmp_path / "seed.csv", kind="orders", format_name="generic")
    go = tmp_path / "go"

    def start_together() -> None:
        if not go.exists() and all(Path(f"{go}.ready-{f.stem}").exists() for f in (first, second)):
            go.touch()

    env = _env(settings, KEHU_IMPORT_BATCH_ROWS="1000")
    results = _run_together([[sys.executable, "-c", IMPORT_CHILD, str(f), str(go)] for f in (first, second)],
                            env, tmp_path, while_running=start_together)
    for result in results:
        assert result.returncode == 0, result.stderr
    with session_scope(pg_url) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 4400
        distinct = session.scalar(select(func.count(func.distinct(Order.external_id))))
        assert distinct == 4400
        runs = session.scalars(select(ImportRun).where(ImportRun.id > 1)).all()
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        # Every order was inserted by exactly one of the runs; the other saw it unchanged.
        assert sum(r.inserted for r in runs) == 4000
        assert sum(r.unchanged for r in runs) == 2000
        assert sorted(r.inserted + r.unchanged for r in runs) == [3000, 3000]
        assert all(r.updated == 0 for r in runs)
        customers = session.execute(text("SELECT count(*) FROM customers")).scalar()
    assert customers == 400
    assert [int(r.stdout.split()[-1]) for r in results] == [0, 0]


# `kehu classify` in a child process, except that its publishing transaction stays open half a second after
# publishing, so the other classification publishes while it is open; both start together (the "go" file).
CLASSIFY_CHILD = """
import sys, time
from datetime import date
from pathlib import Path
import kehu.analytics.classify
from kehu.config import Settings

module = sys.modules["kehu.analytics.classify"]
publish = module._publish

def slow_publish(cur, as_of, snapshot_id):
    publish(cur, as_of, snapshot_id)
    time.sleep(0.5)

module._publish = slow_publish
Path(sys.argv[2] + ".ready-" + sys.argv[3]).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
module.classify(settings=Settings(), as_of=date.fromisoformat(sys.argv[1]))
"""


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def test_two_classifications_of_one_date_leave_one_whole_snapshot(store: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url") if store == "postgresql" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET, _env_file=None)
    _orders(tmp_path / "orders.csv", (0, 7999))
    import_file(settings=settings, path=tmp_path / "orders.csv", kind="orders", format_name="generic")
    engine = get_engine(settings.store_url)
    seen: list[tuple[int, int, int]] = []
    go = tmp_path / "go"

    def poll() -> None:
        if not go.exists() and all(Path(f"{go}.ready-{n}").exists() for n in ("1", "2")):
            go.touch()
        # One statement, so one consistent view: every ready snapshot with the number of its rows.
        with engine.connect() as conn:
            seen.extend(conn.execute(text(
                "SELECT s.id, s.customers, (SELECT count(*) FROM classifications c WHERE c.snapshot_id = s.id) "
                "FROM classification_snapshots s WHERE s.status = 'ready'")).all())

    commands = [[sys.executable, "-c", CLASSIFY_CHILD, AS_OF.isoformat(), str(go), n] for n in ("1", "2")]
    results = _run_together(commands, _env(settings), tmp_path, while_running=poll)
    for result in results:
        assert result.returncode == 0, result.stderr
    poll()
    assert seen, "the reader never saw a ready snapshot"
    assert all(rows == customers == 800 for _, customers, rows in seen), "a reader saw a half-written snapshot"
    with session_scope(settings.store_url) as session:
        snapshots = session.scalars(select(ClassificationSnapshot)).all()
        assert [(s.as_of, s.status) for s in snapshots] == [(AS_OF, "ready")]
        rows = session.execute(text("SELECT count(*) FROM classifications")).scalar()
    assert rows == 800
