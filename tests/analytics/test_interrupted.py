"""A classification killed while writing its snapshot: the run stays visible as ``building``, is then reported
``failed`` with no rows left, readers never see it, and classifying again gives one ready snapshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from conftest import SECRET
from factories import write_generic_orders
from kehu.analytics import classify
from kehu.analytics.classify import mark_interrupted_snapshots
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.store import Classification, ClassificationSnapshot, session_scope
from kehu.web.queries import ready_snapshots

AS_OF = date(2025, 3, 31)

# The child classifies with a _publish that, once the rows are written in its still open transaction, leaves a
# marker file and sleeps: the parent kills it there, so the kill always lands mid-write.
CHILD = """
import sys, time
from datetime import date
from pathlib import Path
import kehu.analytics.classify
from kehu.config import Settings

module = sys.modules["kehu.analytics.classify"]
marker = Path(sys.argv[1])

def stalled_publish(cur, as_of, snapshot_id):
    marker.write_text(str(snapshot_id))
    time.sleep(120)

module._publish = stalled_publish
module.classify(settings=Settings(), as_of=date.fromisoformat(sys.argv[2]), refresh=False)
"""


def _settings(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    url = request.getfixturevalue("pg_url") if store == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET, predict=False, _env_file=None)


def _kill_mid_write(settings: Settings, tmp_path: Path) -> int:
    marker = tmp_path / "writing"
    marker.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(KEHU_DATA_DIR=str(settings.data_dir), KEHU_DATABASE_URL=settings.store_url, KEHU_SECRET_KEY=SECRET,
               KEHU_PREDICT="false")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker), AS_OF.isoformat()], env=env, cwd=tmp_path,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(f"the child ended before writing: {child.stderr.read() if child.stderr else ''}")
            if time.monotonic() > deadline:
                raise AssertionError("the child never reached the snapshot write")
            time.sleep(0.05)
        time.sleep(0.05)  # the marker's text is written
        snapshot_id = int(marker.read_text())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return snapshot_id


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def test_killed_classification_is_marked_failed_and_a_rerun_publishes_one(store: str, tmp_path: Path,
                                                                          request: pytest.FixtureRequest) -> None:
    settings = _settings(store, tmp_path, request)
    rows = [(f"O{i}", f"C{i % 300}", f"2025-0{1 + i % 3}-{1 + i % 28:02d}", f"{5 + i % 50}") for i in range(3000)]
    write_generic_orders(tmp_path / "orders.csv", rows)
    import_file(settings=settings, path=tmp_path / "orders.csv", kind="orders", format_name="generic")
    url = settings.store_url

    killed = _kill_mid_write(settings, tmp_path)

    with session_scope(url) as session:
        snapshot = session.get(ClassificationSnapshot, killed)
        assert snapshot is not None and snapshot.status == "building"
        assert snapshot.message and snapshot.message.startswith("running in process ")
        assert ready_snapshots(session) == []  # never shown while building
    assert mark_interrupted_snapshots(url) == 1
    assert mark_interrupted_snapshots(url) == 0  # once only
    with session_scope(url) as session:
        snapshot = session.get(ClassificationSnapshot, killed)
        assert snapshot is not None and snapshot.status == "failed"
        assert snapshot.message and "interrupted" in snapshot.message and "kehu classify" in snapshot.message
        assert ready_snapshots(session) == []
        assert session.execute(text(f"SELECT count(*) FROM classifications WHERE snapshot_id = {killed}")).scalar() == 0

    report = classify(settings=settings, as_of=AS_OF, refresh=False)
    with session_scope(url) as session:
        snapshots = session.scalars(select(ClassificationSnapshot)).all()
        assert [(s.id, s.status, s.message) for s in snapshots] == [(report.snapshot_id, "ready", None)]
        assert session.execute(text("SELECT count(*) FROM classifications")).scalar() == report.customers == 300

    _kill_mid_write(settings, tmp_path)  # killed again: the next classification reports and replaces it
    again = classify(settings=settings, as_of=AS_OF, refresh=False)
    assert again.interrupted == 1
    with session_scope(url) as session:
        assert [s.status for s in session.scalars(select(ClassificationSnapshot))] == ["ready"]


def test_a_running_classification_is_not_marked(settings: Settings) -> None:
    """A building snapshot whose process is alive (this one) or ran on another host is left alone."""
    from kehu.store import open_store
    from kehu.store.locks import owner_tag

    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        session.add_all([
            ClassificationSnapshot(as_of=AS_OF, status="building", customers=0, message=owner_tag()),
            ClassificationSnapshot(as_of=AS_OF, status="building", customers=0,
                                   message="running in process 1 on some-other-host"),
        ])
    assert mark_interrupted_snapshots(settings.store_url) == 0
    with session_scope(settings.store_url) as session:
        assert [s.status for s in session.scalars(select(ClassificationSnapshot))] == ["building", "building"]


def test_a_failed_write_marks_its_snapshot_failed(settings: Settings, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import kehu.analytics.classify  # noqa: F401 - the module, not the function of the same name

    module = sys.modules["kehu.analytics.classify"]
    write_generic_orders(tmp_path / "orders.csv", [("O1", "C1", "2025-01-02", "10")])
    import_file(settings=settings, path=tmp_path / "orders.csv", kind="orders", format_name="generic")

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(module, "_write_snapshot_sqlite", broken)
    _classify_fails_on_a_full_disk(settings)


def test_a_write_failing_after_some_slices_leaves_no_rows_and_no_scratch_files(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kehu.analytics.classify  # noqa: F401 - the module, not the function of the same name
    import kehu.store.arrow as arrow

    module = sys.modules["kehu.analytics.classify"]
    rows = [(f"O{i}", f"C{i}", "2025-01-02", "10") for i in range(7)]
    write_generic_orders(tmp_path / "orders.csv", rows)
    import_file(settings=settings, path=tmp_path / "orders.csv", kind="orders", format_name="generic")
    monkeypatch.setattr(arrow, "BULK_CHUNK_ROWS", 2)  # four slices of the seven rows
    real = module.sqlite_bulk_chunks

    def failing_after_two(*args: object) -> Iterator[Path]:
        chunks = real(*args)
        try:
            for i, path in enumerate(chunks):
                if i == 2:
                    raise OSError("disk full")
                yield path
        finally:
            chunks.close()

    monkeypatch.setattr(module, "sqlite_bulk_chunks", failing_after_two)
    _classify_fails_on_a_full_disk(settings)
    with session_scope(settings.store_url) as session:
        assert session.scalar(select(func.count()).select_from(Classification)) == 0  # two slices were committed
    assert not list((settings.data_dir / "tmp").glob("bulk-*"))


def _classify_fails_on_a_full_disk(settings: Settings) -> None:
    """Classifying raises the write's "disk full" and leaves the store's one snapshot failed with that message."""
    with pytest.raises(OSError, match="disk full"):
        classify(settings=settings, as_of=AS_OF, refresh=False)
    with session_scope(settings.store_url) as session:
        snapshot = session.scalars(select(ClassificationSnapshot)).one()
        assert (snapshot.status, snapshot.message) == ("failed", "OSError: disk full")
