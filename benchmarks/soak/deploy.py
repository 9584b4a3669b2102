"""The soak's PostgreSQL deployment: its own database and data dir, the demo data, ``kehu serve --workers N``.

Everything runs as child processes of the harness, through the ``kehu`` command as an operator would run it; the
environment of the children holds only the ``KEHU_*`` variables set here (the harness's own ``KEHU_*`` variables
other than the secret and the admin password are dropped, so ``./kehu-data`` or a ``.env`` is never used).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
HOST = "127.0.0.1"
#: The demo is classified at the day of its last orders (``kehu.sample.generate.generate_demo``'s default end).
AS_OF = "2026-10-31"
#: Rows per import transaction: small, so that the server-kill fault finds several committed batches.
IMPORT_BATCH_ROWS = 5000
KEHU = str(Path(sys.executable).with_name("kehu"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pg_version() -> str:
    """The PostgreSQL cluster version to restart (the one folder in /etc/postgresql)."""
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if (p / "main").is_dir())
    if not versions:
        raise RuntimeError("no cluster in /etc/postgresql/<version>/main")
    return versions[-1]


def pg_reachable(timeout: float = 3) -> bool:
    """True when PostgreSQL on 127.0.0.1:5432 accepts a connection."""
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=max(1, int(timeout))):
            return True
    except psycopg.Error:
        return False


def ensure_pg_running() -> str:
    """Start the cluster if it does not answer (a fault may have left it stopped); what was done, for the log."""
    if pg_reachable():
        return "running"
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "start"],
                   capture_output=True, text=True, timeout=120)
    for _ in range(60):
        if pg_reachable():
            return "started again"
        time.sleep(1)
    return "NOT RUNNING"


@dataclass
class Server:
    """One ``kehu serve`` process tree (its own session, so that a kill reaches the master and every worker)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        """The master's pid and its workers' (children running Python; uvicorn spawns them), sorted."""
        found = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL to the whole process group (master and workers) and wait until the master is gone."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 20 s."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass


@dataclass
class Deployment:
    """A database, a data dir and the environment of the ``kehu`` children."""

    workers: int = 2
    name: str = field(default_factory=lambda: f"kehu_soak_{secrets.token_hex(5)}")
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kehu-soak-")))
    password: str = field(default_factory=lambda: os.environ.get("KEHU_ADMIN_PASSWORD")
                          or "soak-" + secrets.token_urlsafe(18))
    secret: str = field(default_factory=lambda: os.environ.get("KEHU_SECRET_KEY") or secrets.token_urlsafe(36))
    server: Server | None = None
    api_key: str = ""
    created: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port=5432 user=postgres dbname={self.name}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
        env.update(KEHU_DATA_DIR=str(self.data_dir), KEHU_DATABASE_URL=self.url, KEHU_SECRET_KEY=self.secret,
                   KEHU_ADMIN_PASSWORD=self.password, KEHU_IMPORT_BATCH_ROWS=str(IMPORT_BATCH_ROWS),
                   KEHU_LANGUAGE="en")
        return env

    def create(self) -> None:
        """Create the empty database (dropped by :meth:`destroy`)."""
        if len(self.secret) < 32:
            raise SystemExit("KEHU_SECRET_KEY must be at least 32 characters")
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def destroy(self) -> list[str]:
        """Stop the server, drop the database, remove the folder; never raises. Returns notes for the report."""
        notes = []
        if self.server is not None:
            self.server.stop()
        notes.append(f"PostgreSQL at the end: {ensure_pg_running()}")
        if self.created:
            try:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                notes.append(f"dropped database {self.name}")
            except psycopg.Error as exc:
                notes.append(f"could not drop database {self.name}: {exc}")
        shutil.rmtree(self.root, ignore_errors=True)
        return notes

    def kehu(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``kehu ARGS`` to the end; raises with its stderr when it fails."""
        done = subprocess.run([KEHU, *args], env=self.env(), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"kehu {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done

    def spawn(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``kehu ARGS`` in its own session (so a kill reaches all of it); its output goes to the log file
        returned with it."""
        path = self.root / f"{args[0]}-{time.time_ns()}.log"
        with open(path, "wb") as log:  # the child keeps its own descriptor
            process = subprocess.Popen([KEHU, *args], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        return process, path

    def load_demo(self) -> dict[str, Any]:
        """The synthetic demo merchant, imported and classified through the CLI; seconds per step and counts."""
        from kehu.sample.generate import generate_demo

        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        files = generate_demo(self.root / "sample")
        seconds["generate"] = time.perf_counter() - t0
        for step, args in (("init", ("init",)),
                           ("import customers", ("import", "customers", str(files.customers_csv))),
                           ("import orders", ("import", "orders", str(files.orders_csv))),
                           ("classify", ("classify", "--as-of", AS_OF))):
            t0 = time.perf_counter()
            self.kehu(*args)
            seconds[step] = time.perf_counter() - t0
        counts = self.query_one("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders), "
                                "(SELECT count(*) FROM order_lines)")
        return {"seconds": seconds, "customers": counts[0], "orders": counts[1], "order_lines": counts[2],
                "customers_csv": str(files.customers_csv)}

    def start_server(self, port: int | None = None, timeout: float = 120) -> Server:
        """``kehu serve --workers N`` on ``port`` (a free one by default); returns once ``/healthz`` answers 200
        and every worker has started."""
        port = port or free_port()
        process, log = self.spawn("serve", "--port", str(port), "--workers", str(self.workers))
        server = Server(process=process, port=port, log=log)
        self.server = server
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"kehu serve exited with {process.returncode}")
            try:
                ok = httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok and len(server.pids()) == 1 + self.workers:
                time.sleep(2)  # the other worker may still be importing the app; let it finish
                return server
            time.sleep(0.3)
        raise RuntimeError(f"kehu serve did not answer on port {port} within {timeout:.0f} s")

    def make_api_key(self) -> str:
        """A bearer token from the admin password, then an API key for the clients."""
        assert self.server is not None
        token = httpx.post(f"{self.server.base}/api/v1/token",
                           data={"username": "admin", "password": self.password}, timeout=30)
        token.raise_for_status()
        key = httpx.post(f"{self.server.base}/api/v1/keys", json={"name": "soak"}, timeout=30,
                         headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        key.raise_for_status()
        self.api_key = key.json()["key"]
        return self.api_key

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """One row of ``sql`` on the soak database (a fresh connection each time)."""
        with psycopg.connect(self.dsn, connect_timeout=10) as conn:
            row = conn.execute(sql, params or None).fetchone()
        assert row is not None
        return tuple(row)

    def query_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of ``sql`` on the soak database."""
        with psycopg.connect(self.dsn, connect_timeout=10) as conn:
            return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]


def phones(customers_csv: Path, limit: int = 2000) -> list[str]:
    """Phone numbers of the demo's customers, for searches (read from the generated file, never logged)."""
    found = []
    with open(customers_csv, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            cells = line.split(",")
            if len(cells) > 2 and re.fullmatch(r"1\d{10}", cells[2]):
                found.append(cells[2])
            if len(found) >= limit:
                break
    return found
