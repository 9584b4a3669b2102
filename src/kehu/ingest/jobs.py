"""Imports in the background: start one, read its progress, wait for it.

:func:`start_import` creates the :class:`~kehu.store.ImportRun` row (status ``running``), writes an ``import`` audit
event and returns the run id at once; the import itself (:func:`kehu.ingest.pipeline.import_file`) runs in a
background thread of this process.

Concurrency: **one import at a time per process**. A single daemon worker thread takes the runs from a FIFO queue;
a run started while another is importing waits with stage ``queued`` (its row already says ``running``). Two
processes (two web workers, the CLI) may still import at the same time; the store copes (each batch is one
transaction), they are only slower.

Progress lives in two places:

* in memory, keyed by store URL and run id (this process only): the stage (``queued``, ``read``, ``validate``, ``load``,
  ``finished``), ``done`` and ``total`` of that stage (rows for ``read``/``validate``, orders or customers for
  ``load``), updated by :func:`import_file`'s progress callback;
* in the store: the ImportRun counters (``rows_read``, ``inserted``, …) are saved with each committed batch, and
  ``status`` / ``message`` / ``rejects_path`` when the run ends (``succeeded`` or ``failed``).

:func:`get_progress` merges both, so a page or the API can poll it; runs of another process (or before a restart)
are read from the store only. If the process dies mid-import its run stays ``running`` until the next import
marks it failed (:func:`kehu.ingest.pipeline.mark_interrupted_runs`), which :func:`get_progress` also does.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, update

from kehu.config import Settings
from kehu.errors import KehuError, NotFound
from kehu.ingest.formats import get_format
from kehu.ingest.pipeline import import_file, mark_interrupted_runs
from kehu.privacy import audit
from kehu.store import ImportRun, open_store, session_scope
from kehu.store.db import schema_is_current
from kehu.store.locks import owner_tag

log = logging.getLogger(__name__)

#: Run statuses that mean the run has ended.
FINISHED = frozenset({"succeeded", "failed"})


@dataclass
class _Job:
    """What this process knows about one run it started."""

    run_id: int
    url: str
    settings: Settings
    path: Path
    kind: str
    format_name: str
    mapping: dict[str, str]
    cleanup: Path | None = None
    stage: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)


#: (store URL, run id) → job, in start order (run ids restart at 1 in each store).
_JOBS: dict[tuple[str, int], _Job] = {}
_JOBS_LOCK = threading.Lock()
_QUEUE: queue.Queue[_Job] = queue.Queue()
_WORKER: threading.Thread | None = None
#: How many runs the in-memory table keeps before forgetting finished ones.
_KEEP = 100


def start_import(*, settings: Settings, path: Path, kind: str, format_name: str,
                 mapping: dict[str, str] | None = None, user_id: int | None = None, username: str | None = None,
                 ip: str | None = None, via: str = "web", cleanup: Path | None = None) -> int:
    """Create the import run (status ``running``), queue the import and return the run id at once.

    ``mapping`` is FIELD → HEADER (like the CLI's ``--map``; the format's aliases fill the other fields). ``kind``
    and ``format_name`` are checked now (:class:`~kehu.errors.InvalidInput` for an unknown one); every other problem
    (unreadable file, a required column missing, a wrong mapping) ends the run ``failed`` with the message, readable
    with :func:`get_progress`. The audit event (action ``import``, target ``import_run``) holds the kind, format,
    file name and mapped field names, never cell values. ``username``, ``ip`` and ``via`` (``web``, ``api``,
    ``cli``) go to the audit event. ``cleanup`` is a file or folder removed when the run ends, however it ends
    (an upload's folder: the file holds personal data in clear, see :mod:`kehu.web.routes.imports`).
    """
    fmt = get_format(kind, format_name)
    url = settings.store_url
    _ensure_store(url)
    path = Path(path)
    mapping = dict(mapping or {})
    with session_scope(url) as session:
        run = ImportRun(kind=kind, file=str(path), format=fmt.name, status="running", message=owner_tag())
        session.add(run)
        session.flush()
        run_id = run.id
        audit.record(session, action="import", user_id=user_id, username=username, target_type="import_run",
                     target_id=run_id, ip=ip, via=via,
                     detail={"kind": kind, "format": fmt.name, "file": path.name, "mapped": sorted(mapping)})
    job = _Job(run_id=run_id, url=url, settings=settings, path=path, kind=kind, format_name=fmt.name,
               mapping=mapping, cleanup=cleanup)
    with _JOBS_LOCK:
        if len(_JOBS) >= _KEEP:  # forget the oldest finished runs (the store keeps their outcome)
            for old in [key for key, j in _JOBS.items() if j.finished.is_set()][:len(_JOBS) - _KEEP + 1]:
                del _JOBS[old]
        _JOBS[(url, run_id)] = job
    _QUEUE.put(job)
    _ensure_worker()
    return run_id


def _find(run_id: int, settings: Settings | None) -> _Job | None:
    """The job of ``run_id`` in the store of ``settings`` (without settings: the last started with that id)."""
    with _JOBS_LOCK:
        if settings is not None:
            return _JOBS.get((settings.store_url, run_id))
        found = [job for (_, rid), job in _JOBS.items() if rid == run_id]
        return found[-1] if found else None


_OPEN_LOCK = threading.Lock()


def _ensure_store(url: str) -> None:
    """Migrate the store only when it is not current: Alembic's upgrade is not thread-safe, and the worker's
    :func:`import_file` may be upgrading (a no-op) at the same moment."""
    with _OPEN_LOCK:
        try:
            if schema_is_current(url):
                return
        except Exception:  # noqa: BLE001 - no store yet, or unreachable: open_store says which, clearly
            pass
        open_store(url)


def _ensure_worker() -> None:
    global _WORKER
    with _JOBS_LOCK:
        if _WORKER is None or not _WORKER.is_alive():
            _WORKER = threading.Thread(target=_work, name="kehu-import", daemon=True)
            _WORKER.start()


def _work() -> None:
    while True:
        job = _QUEUE.get()
        try:
            _run(job)
        finally:
            _QUEUE.task_done()


def _run(job: _Job) -> None:
    """Run one queued import; never raises (the run row and the job record the outcome)."""

    def progress(stage: str, done: int, total: int) -> None:
        job.stage, job.done, job.total = stage, done, total

    job.stage = "read"
    try:
        import_file(settings=job.settings, path=job.path, kind=job.kind, format_name=job.format_name,
                    maps=job.mapping, progress=progress, run_id=job.run_id)
    except BaseException as exc:  # noqa: BLE001 - a background thread: record whatever ended the run
        job.error = str(exc) if isinstance(exc, KehuError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, KehuError):
            log.exception("import run %s failed", job.run_id)
        try:  # import_file marks the run failed itself; this covers a failure before it could
            with session_scope(job.url) as session:
                session.execute(update(ImportRun).where(ImportRun.id == job.run_id,
                                                        ImportRun.status == "running").values(
                    status="failed", finished_at=func.current_timestamp(), message=job.error[:2000]))
        except Exception:  # noqa: BLE001
            log.exception("cannot mark import run %s failed", job.run_id)
    finally:
        if job.cleanup is not None:
            if job.cleanup.is_dir():
                shutil.rmtree(job.cleanup, ignore_errors=True)
            else:
                job.cleanup.unlink(missing_ok=True)
        job.stage = "finished"
        job.finished.set()


def get_progress(run_id: int, *, settings: Settings | None = None) -> dict[str, Any]:
    """The state of run ``run_id`` as a JSON-ready dict.

    Keys: ``run_id``, ``status`` (``running``, ``succeeded``, ``failed``), ``finished`` (bool), ``stage``
    (``queued``/``read``/``validate``/``load``/``finished``, or ``None`` when this process did not start the run),
    ``done`` and ``total`` (of the stage; rows, then orders/customers), ``percent`` (0–100 over the three stages,
    ``None`` when unknown), the counters ``rows_read``, ``inserted``, ``updated``, ``unchanged``, ``rejected``,
    ``skipped``, ``message`` (the error of a failed run, else ``None``), ``has_rejects`` (bool), ``kind``,
    ``format``, ``started_at`` and ``finished_at`` (ISO 8601 local time or ``None``).

    The store is read with ``settings`` or, without it, with the settings the run was started with (runs of this
    process). Raises :class:`~kehu.errors.NotFound` for an unknown run.
    """
    job = _find(run_id, settings)
    if settings is None and job is None:
        raise NotFound(f"import run {run_id} is not known to this process; pass settings to read it from the store")
    url = settings.store_url if settings is not None else job.url  # type: ignore[union-attr]
    if job is None:
        _ensure_store(url)
        mark_interrupted_runs(url)
    with session_scope(url) as session:
        run = session.get(ImportRun, run_id)
        if run is None:
            raise NotFound(f"no import run {run_id}")
        data: dict[str, Any] = {
            "run_id": run.id, "status": run.status, "kind": run.kind, "format": run.format,
            "rows_read": run.rows_read or 0, "inserted": run.inserted or 0, "updated": run.updated or 0,
            "unchanged": run.unchanged or 0, "rejected": run.rejected or 0, "skipped": run.skipped or 0,
            "message": None if run.status == "running" else run.message,
            "has_rejects": bool(run.rejects_path) and Path(run.rejects_path or "").is_file(),
            "started_at": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
            "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        }
    data["finished"] = data["status"] in FINISHED
    if job is not None and not data["finished"]:
        data.update(stage=job.stage, done=job.done, total=job.total, percent=_percent(job.stage, job.done, job.total))
    else:
        data.update(stage="finished" if data["finished"] else None, done=0, total=0,
                    percent=100 if data["finished"] else None)
    return data


#: Share of the progress bar of each stage (reading the file, validating, writing to the store).
_STAGES = {"queued": (0, 0), "read": (0, 30), "validate": (30, 10), "load": (40, 60), "finished": (100, 0)}


def _percent(stage: str, done: int, total: int) -> int:
    """0–100 over all stages; within a stage ``done / total`` of its share (0 when the total is unknown)."""
    start, share = _STAGES.get(stage, (0, 0))
    part = share * min(done, total) / total if total > 0 else 0
    return int(start + part)


def wait(run_id: int, timeout: float = 60.0, *, settings: Settings | None = None) -> bool:
    """Block until a run started by this process has ended; True if it ended within ``timeout`` seconds.

    Raises :class:`~kehu.errors.NotFound` when this process did not start the run.
    """
    job = _find(run_id, settings)
    if job is None:
        raise NotFound(f"import run {run_id} was not started by this process")
    return job.finished.wait(timeout)


def active_paths() -> set[Path]:
    """The files of the runs this process has queued or running (not to be cleaned up)."""
    with _JOBS_LOCK:
        return {job.path for job in _JOBS.values() if not job.finished.is_set()}


def is_busy() -> bool:
    """Whether this process has an import queued or running."""
    with _JOBS_LOCK:
        return any(not job.finished.is_set() for job in _JOBS.values())


__all__ = ["FINISHED", "active_paths", "get_progress", "is_busy", "start_import", "wait"]
