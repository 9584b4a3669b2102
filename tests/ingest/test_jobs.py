"""Background imports: the run is created at once, runs in a thread, ends succeeded with its counters or failed with
its message; progress can be read meanwhile; the start is audited."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from kehu.errors import InvalidInput, NotFound
from kehu.ingest import import_file, jobs
from kehu.store import AuditEvent, ImportRun, session_scope

ORDERS = ("order_id,customer_id,ordered_at,amount,phone\n"
          "A1,K1,2025-01-02,10.00,13812345678\n"
          "A2,K2,2025-01-03,x,\n"
          "A3,K1,2025-01-04,5.50,\n")


def _write(tmp_path: Path, text: str = ORDERS, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_start_import_runs_in_the_background_and_ends_succeeded(store_settings, tmp_path: Path, query) -> None:
    path = _write(tmp_path)
    run_id = jobs.start_import(settings=store_settings, path=path, kind="orders", format_name="generic",
                               user_id=None, username="ana", ip="127.0.0.1", via="api")
    with session_scope(store_settings.store_url) as session:
        run = session.get(ImportRun, run_id)
        assert run is not None and run.kind == "orders" and run.file == str(path)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "import")).one()
        assert (event.target_type, event.target_id, event.username, event.via) == \
            ("import_run", str(run_id), "ana", "api")
        assert event.detail == {"kind": "orders", "format": "generic", "file": "orders.csv", "mapped": []}
    assert jobs.wait(run_id, 30)
    state = jobs.get_progress(run_id)
    assert (state["status"], state["finished"], state["stage"], state["percent"]) == ("succeeded", True, "finished", 100)
    assert (state["rows_read"], state["inserted"], state["updated"], state["unchanged"], state["rejected"]) == \
        (3, 2, 0, 0, 1)
    assert state["has_rejects"] and state["message"] is None and state["finished_at"]
    assert query(store_settings, "SELECT count(*) FROM orders") == [(2,)]
    # Read from the store by another process (no job in memory) gives the same outcome.
    assert jobs.get_progress(run_id, settings=store_settings)["inserted"] == 2


def test_a_mapping_is_passed_on(settings, tmp_path: Path, query) -> None:
    path = _write(tmp_path, "单号,会员,时间,实付\nX1,M1,2025-02-01,9.90\n")
    run_id = jobs.start_import(settings=settings, path=path, kind="orders", format_name="generic",
                               mapping={"order_id": "单号", "customer_id": "会员", "ordered_at": "时间",
                                        "amount": "实付"})
    assert jobs.wait(run_id, 30)
    assert jobs.get_progress(run_id)["status"] == "succeeded"
    assert query(settings, "SELECT external_id, amount_cents FROM orders") == [("X1", 990)]


def test_a_failing_file_ends_failed_with_its_message(settings, tmp_path: Path) -> None:
    path = _write(tmp_path, "foo,bar\n1,2\n")
    run_id = jobs.start_import(settings=settings, path=path, kind="orders", format_name="generic")
    assert jobs.wait(run_id, 30)
    state = jobs.get_progress(run_id)
    assert (state["status"], state["finished"]) == ("failed", True)
    assert "required column missing for format 'generic'" in state["message"]
    with session_scope(settings.store_url) as session:
        run = session.get(ImportRun, run_id)
        assert run is not None and run.status == "failed" and run.finished_at is not None
    # A file that is gone, a wrong override: failed as well, never a stuck "running".
    gone = jobs.start_import(settings=settings, path=tmp_path / "nope.csv", kind="orders", format_name="generic")
    bad_map = jobs.start_import(settings=settings, path=_write(tmp_path, name="o2.csv"), kind="orders",
                                format_name="generic", mapping={"amount": "total"})
    assert jobs.wait(gone, 30) and jobs.wait(bad_map, 30)
    assert "no such file" in jobs.get_progress(gone)["message"]
    assert "no column 'total'" in jobs.get_progress(bad_map)["message"]


def test_an_unknown_kind_or_format_is_refused_at_once(settings, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown orders format 'jd'"):
        jobs.start_import(settings=settings, path=_write(tmp_path), kind="orders", format_name="jd")
    with pytest.raises(NotFound, match="no import run 424242"):
        jobs.get_progress(424242, settings=settings)
    with pytest.raises(NotFound):
        jobs.get_progress(424242)


def test_progress_while_running_and_one_import_at_a_time(settings, tmp_path: Path, monkeypatch) -> None:
    """The worker runs one import at a time: the second waits ("queued") until the first ends."""
    gate = threading.Event()
    entered = threading.Event()
    real = jobs.import_file

    def slow_import(**kwargs):  # type: ignore[no-untyped-def]
        kwargs["progress"]("read", 5, 10)
        entered.set()
        gate.wait(20)
        return real(**kwargs)

    monkeypatch.setattr(jobs, "import_file", slow_import)
    first = jobs.start_import(settings=settings, path=_write(tmp_path, name="a.csv"), kind="orders",
                              format_name="generic")
    second = jobs.start_import(settings=settings, path=_write(tmp_path, name="b.csv"), kind="orders",
                               format_name="generic")
    assert entered.wait(20)
    running = jobs.get_progress(first)
    assert (running["status"], running["finished"], running["stage"], running["done"], running["total"]) == \
        ("running", False, "read", 5, 10)
    assert running["percent"] == 15  # half of the reading stage's 30%
    queued = jobs.get_progress(second)
    assert (queued["stage"], queued["percent"]) == ("queued", 0)
    assert jobs.is_busy() and {tmp_path / "a.csv", tmp_path / "b.csv"} <= jobs.active_paths()
    gate.set()
    assert jobs.wait(first, 30) and jobs.wait(second, 30)
    assert jobs.get_progress(first)["inserted"] == 2
    assert jobs.get_progress(second)["unchanged"] == 2  # the same rows again


def test_cleanup_removes_the_upload_however_the_run_ends(settings, tmp_path: Path) -> None:
    for text in (ORDERS, "foo\n1\n"):
        folder = tmp_path / f"upload-{len(text)}"
        folder.mkdir()
        path = _write(folder, text)
        run_id = jobs.start_import(settings=settings, path=path, kind="orders", format_name="generic",
                                   cleanup=folder)
        assert jobs.wait(run_id, 30)
        assert not folder.exists()


def test_runs_of_the_cli_are_read_from_the_store(settings, tmp_path: Path) -> None:
    report = import_file(settings=settings, path=_write(tmp_path), kind="orders", format_name="generic")
    state = jobs.get_progress(report.run_id, settings=settings)
    assert (state["status"], state["stage"], state["inserted"]) == ("succeeded", "finished", 2)
    with pytest.raises(NotFound, match="not started by this process"):
        jobs.wait(report.run_id, 1, settings=settings)


def test_import_file_keeps_a_given_run(settings, tmp_path: Path) -> None:
    from kehu.store import open_store

    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        run = ImportRun(kind="orders", file="x", format="generic", status="running")
        session.add(run)
        session.flush()
        run_id = run.id
    report = import_file(settings=settings, path=_write(tmp_path), kind="orders", format_name="generic",
                         run_id=run_id)
    assert report.run_id == run_id
    with session_scope(settings.store_url) as session:
        assert session.scalars(select(ImportRun)).one().status == "succeeded"
