"""The three faults, each made deterministic by polling for the state it must hit, each bounded by timeouts.

* :func:`pg_restart`: PostgreSQL restarted (``pg_ctlcluster … restart``) while clients run.
* :func:`classify_killed`: ``kehu classify`` SIGKILLed while it writes its snapshot. The harness holds a SHARE
  lock on ``classifications`` so that the writer's COPY (or INSERT) waits on it; once ``pg_stat_activity`` shows
  that wait, the classifier is inside its snapshot write, and is killed there.
* :func:`server_killed`: the whole ``kehu serve`` tree SIGKILLed while an import through the API has committed
  some of its batches but not all.

Each returns a dict of findings with ``ok`` and ``problems``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from typing import Any

import httpx
import psycopg

from soak.deploy import AS_OF, IMPORT_BATCH_ROWS, Deployment, ensure_pg_running, pg_reachable, pg_version
from soak.load import Recorder, order_file, run_load, summary


def _result(problems: list[str], **found: Any) -> dict[str, Any]:
    return {"ok": not problems, "problems": problems, **found}


def pg_restart(dep: Deployment, *, clients: int, phones: list[str], customers: int, seconds: float = 45,
               restart_after: float = 10) -> dict[str, Any]:
    """Clients run for ``seconds``; ``restart_after`` seconds in, the cluster is restarted. Requests may fail with
    503 + Retry-After meanwhile, nothing else; within 10 s of the restart's end requests succeed again, served by
    the same server processes."""
    assert dep.server is not None
    server = dep.server
    recorder = Recorder(strict=False)
    before = server.pids()
    timing: dict[str, float] = {}
    problems: list[str] = []

    async def scenario() -> float:
        load = asyncio.create_task(run_load(base=server.base, api_key=dep.api_key, password=dep.password,
                                            customers=customers, phones=phones, clients=clients, seconds=seconds,
                                            recorder=recorder, with_imports=False, seed=3))
        await asyncio.sleep(restart_after)
        timing["start"] = time.monotonic()
        done = await asyncio.to_thread(
            subprocess.run, ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "restart"],
            capture_output=True, text=True, timeout=180)
        timing["end"] = time.monotonic()
        if done.returncode != 0:
            problems.append(f"pg_ctlcluster restart failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        return await load

    try:
        wall = asyncio.run(scenario())
    finally:
        state = ensure_pg_running()
    after = server.pids()
    late = [t for t in recorder.unavailable if "end" in timing and t > timing["end"] + 10]
    # After the load: every kind once more, in strict mode, on the same processes.
    check = Recorder(strict=True)
    asyncio.run(run_load(base=server.base, api_key=dep.api_key, password=dep.password, customers=customers,
                         phones=phones, clients=4, seconds=5, recorder=check, with_imports=False, seed=4))
    problems += recorder.failures[:10] + [f"after recovery: {f}" for f in check.failures[:10]]
    if late:
        problems.append(f"{len(late)} requests got 503 more than 10 s after the restart had finished")
    if before != after:
        problems.append(f"server processes changed: {before} → {after}")
    if not check.ms:
        problems.append("no successful request after the restart")
    return _result(problems, restart_s=timing.get("end", 0) - timing.get("start", 0), pg_after=state,
                   answered_503=len(recorder.unavailable), pids_before=before, pids_after=after,
                   load=summary(recorder, wall), after_recovery=summary(check, 5))


def _ready_snapshots_whole(dep: Deployment) -> list[str]:
    """Problems with the ready snapshots: each one's row count must equal its ``customers``."""
    rows = dep.query_all("SELECT s.id, s.customers, (SELECT count(*) FROM classifications c "
                         "WHERE c.snapshot_id = s.id) FROM classification_snapshots s WHERE s.status = 'ready'")
    return [f"ready snapshot {sid} has {n} rows for {customers} customers" for sid, customers, n in rows
            if n != customers]


def _api_snapshots_whole(dep: Deployment) -> list[str]:
    """The same through the API, as a reader sees it: every listed snapshot's row total equals its customers."""
    assert dep.server is not None
    api = {"X-API-Key": dep.api_key}
    problems = []
    with httpx.Client(base_url=dep.server.base, headers=api, timeout=60) as http:
        listing = http.get("/api/v1/snapshots", params={"per_page": 200})
        if listing.status_code != 200:
            return [f"GET /api/v1/snapshots answered {listing.status_code}"]
        for snap in listing.json()["items"]:
            rows = http.get(f"/api/v1/snapshots/{snap['id']}/classifications", params={"per_page": 1})
            if rows.status_code != 200:
                problems.append(f"snapshot {snap['id']} rows answered {rows.status_code}")
            elif rows.json()["total"] != snap.get("customers"):
                problems.append(f"snapshot {snap['id']}: {rows.json()['total']} rows, {snap.get('customers')} "
                                "customers")
    return problems


def classify_killed(dep: Deployment, timeout: float = 300) -> dict[str, Any]:
    """Kill ``kehu classify`` inside its snapshot write; check what readers see, then rerun it."""
    problems: list[str] = []
    statuses_before = dict(dep.query_all("SELECT id, status FROM classification_snapshots"))
    blocker = psycopg.connect(dep.dsn)
    blocker.execute("LOCK TABLE classifications IN SHARE MODE")  # the writer's COPY / INSERT waits for this
    process, log = dep.spawn("classify", "--as-of", AS_OF)
    waited_at = None
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if process.poll() is not None:
                problems.append(f"kehu classify ended ({process.returncode}) before it wrote: {log.read_text()[-300:]}")
                break
            rows = dep.query_all("SELECT left(query, 60) FROM pg_stat_activity WHERE datname = %s "
                                 "AND wait_event_type = 'Lock' AND query ILIKE %s", (dep.name, "%classifications%"))
            if rows:
                waited_at = rows[0][0]
                break
            time.sleep(0.1)
        else:
            problems.append(f"kehu classify did not reach its snapshot write within {timeout:.0f} s")
        visible = dep.query_all("SELECT id, status, customers FROM classification_snapshots ORDER BY id")
        problems += _ready_snapshots_whole(dep) + _api_snapshots_whole(dep)  # while the writer is inside
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
        blocker.rollback()
        blocker.close()
    killed_at = time.monotonic() - t0
    time.sleep(1)
    after_kill = dep.query_all("SELECT id, status, customers FROM classification_snapshots ORDER BY id")
    problems += _ready_snapshots_whole(dep) + _api_snapshots_whole(dep)
    building = [sid for sid, status, _ in after_kill if status == "building"]
    rerun_t0 = time.monotonic()
    try:
        dep.kehu("classify", "--as-of", AS_OF)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        problems.append(f"the rerun failed: {exc}")
    rerun_s = time.monotonic() - rerun_t0
    final = dep.query_all("SELECT id, status, customers FROM classification_snapshots ORDER BY id")
    problems += _ready_snapshots_whole(dep) + _api_snapshots_whole(dep)
    final_status = dict((sid, status) for sid, status, _ in final)
    if building:
        left = {sid: final_status.get(sid, "removed") for sid in building}
        outcome = f"the killed run left snapshot row(s) {building} 'building'; after the rerun: {left}"
        if any(s == "building" for s in left.values()):
            problems.append("a killed run's snapshot is still 'building' after the rerun")
    else:
        outcome = ("no snapshot row of the killed run was visible (the snapshot row and its rows are written in one "
                   "transaction, which the kill rolled back)")
    ready_new = [sid for sid, status, _ in final if status == "ready" and sid not in statuses_before]
    if not ready_new:
        problems.append("the rerun made no new ready snapshot")
    return _result(problems, waited_in=waited_at, killed_after_s=killed_at, seen_while_writing=visible,
                   after_kill=after_kill, outcome=outcome, rerun_s=rerun_s, final=final)


def server_killed(dep: Deployment, *, customers: int, orders: int = 100_000, timeout: float = 300) -> dict[str, Any]:
    """Import ``orders`` new orders through the API, SIGKILL the server tree once some batches (of
    ``IMPORT_BATCH_ROWS``) are committed, restart it, check the run reads failed, import the file again and count
    the file's orders in the store (each exactly once, each with its one line)."""
    assert dep.server is not None
    problems: list[str] = []
    body, ids = order_file(random.Random(11), "SOAK-BIG", orders, customers)
    api = {"X-API-Key": dep.api_key}
    port = dep.server.port

    def post(http: httpx.Client) -> int:
        response = http.post("/api/v1/imports", headers=api, data={"kind": "orders", "format": "generic"},
                             files={"file": ("soak-big.csv", body, "text/csv")})
        response.raise_for_status()
        return int(response.json()["run_id"])

    def wait_run(http: httpx.Client, run_id: int, until: Any) -> dict[str, Any]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            run = http.get(f"/api/v1/imports/{run_id}", headers=api)
            run.raise_for_status()
            if until(run.json()):
                return dict(run.json())
            time.sleep(0.1)
        raise TimeoutError(f"import run {run_id}: no expected state within {timeout:.0f} s")

    with httpx.Client(base_url=dep.server.base, timeout=120) as http:
        run_id = post(http)
        seen = wait_run(http, run_id, lambda r: r["finished"] or r["inserted"] >= IMPORT_BATCH_ROWS)
    if seen["finished"]:
        problems.append(f"the import finished before the kill ({seen['status']}); use more orders")
    committed = dep.query_one("SELECT count(*) FROM orders WHERE external_id LIKE 'SOAK-BIG-%'")[0]
    t_kill = time.monotonic()
    dep.server.kill()
    dep.start_server(port=port)
    restart_s = time.monotonic() - t_kill
    after_kill = dep.query_one("SELECT count(*) FROM orders WHERE external_id LIKE 'SOAK-BIG-%'")[0]
    with httpx.Client(base_url=dep.server.base, timeout=120) as http:
        reported = wait_run(http, run_id, lambda r: True)
        if reported["status"] != "failed":
            problems.append(f"after the restart the killed run reads {reported['status']!r}, not 'failed'")
        rerun_id = post(http)
        t0 = time.monotonic()
        rerun = wait_run(http, rerun_id, lambda r: r["finished"])
        rerun_s = time.monotonic() - t0
    if rerun["status"] != "succeeded":
        problems.append(f"the rerun ended {rerun['status']}: {rerun.get('message')}")
    if rerun["inserted"] + rerun["unchanged"] != orders:
        problems.append(f"the rerun inserted {rerun['inserted']} and left {rerun['unchanged']} of {orders}")
    total, distinct, lines = dep.query_one(
        "SELECT count(*), count(DISTINCT (source, external_id)), (SELECT count(*) FROM order_lines l JOIN orders o "
        "ON o.id = l.order_id WHERE o.external_id LIKE 'SOAK-BIG-%') FROM orders WHERE external_id LIKE 'SOAK-BIG-%'")
    if not total == distinct == orders:
        problems.append(f"the store holds {total} orders ({distinct} distinct) of the file's {orders}")
    if lines != orders:
        problems.append(f"the file's orders have {lines} lines, not {orders}")
    return _result(problems, orders=orders, batch_rows=IMPORT_BATCH_ROWS, inserted_when_killed=seen["inserted"],
                   committed_when_killed=committed, committed_after_kill=after_kill,
                   killed_run={k: reported.get(k) for k in ("status", "message", "inserted")},
                   restart_s=restart_s, rerun={k: rerun.get(k) for k in ("status", "inserted", "unchanged")},
                   rerun_s=rerun_s, stored=total, stored_distinct=distinct, lines=lines, ids_checked=len(ids))


def no_duplicates(dep: Deployment, imported: set[str]) -> dict[str, Any]:
    """The whole store: no (source, external id) twice; every order the load's new files brought, once, each
    with its one line."""
    problems = []
    dupes = dep.query_one("SELECT count(*) FROM (SELECT 1 FROM orders GROUP BY source, external_id "
                          "HAVING count(*) > 1) d")[0]
    if dupes:
        problems.append(f"{dupes} orders are stored twice")
    stored = {r[0] for r in dep.query_all("SELECT external_id FROM orders WHERE external_id LIKE 'SOAK-L%'")}
    wrong_lines = dep.query_one("SELECT count(*) FROM orders o WHERE o.external_id LIKE 'SOAK-%' AND (SELECT "
                                "count(*) FROM order_lines l WHERE l.order_id = o.id) <> 1")[0]
    if wrong_lines:
        problems.append(f"{wrong_lines} of the soak's orders do not have exactly their one line")
    if stored != imported:
        problems.append(f"load imports: {len(imported - stored)} orders missing, {len(stored - imported)} unexpected")
    return _result(problems, load_orders_expected=len(imported), load_orders_stored=len(stored),
                   pg_reachable=pg_reachable())
