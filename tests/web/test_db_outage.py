"""A lost database: requests get 503 with ``Retry-After`` (JSON under /api/, the error page elsewhere), never a 500,
and succeed again once the database is back, without restarting the app.

The outage is made without touching the machine's PostgreSQL: the app reaches its (fresh) database through a small
TCP relay on 127.0.0.1 that the test closes (every connection cut, new ones refused) and opens again on the same
port; and the database's server connections are killed with ``pg_terminate_backend``.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError as SAOperationalError

from kehu.config import Settings
from kehu.web.deps import DbSession

PASSWORD = "outage-test-password-1"


class Relay:
    """A TCP relay 127.0.0.1:port → 127.0.0.1:5432 that can be cut (every connection closed, new ones refused) and
    restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # cut connections may still hold the port
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not, on Linux)
            except OSError:
                pass
            listener.close()
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def relayed(pg_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Relay]]:
    """Settings whose store is the fresh PostgreSQL database reached through a :class:`Relay`."""
    url = make_url(pg_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    relay.start()
    relayed_url = url.set(port=relay.port).render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path / "data", database_url=relayed_url, admin_password=PASSWORD,
                        secret_key="outage-test-secret-key-long-enough-0123456789", _env_file=None)
    try:
        yield settings, relay
    finally:
        from kehu.store.db import get_engine

        get_engine(relayed_url).dispose()
        relay.cut()


def _client(settings: Settings) -> TestClient:
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    app = create_app(settings)
    ensure_admin(settings)

    @app.get("/api/v1/probe-arrow")  # a bulk read through ADBC, the way exports and classification read
    def probe_arrow() -> dict[str, int]:
        from kehu.store.arrow import read_arrow

        return {"rows": read_arrow(settings.store_url, "SELECT 1 AS one").num_rows}

    return TestClient(app, raise_server_exceptions=False)


def _sign_in(client: TestClient) -> dict[str, str]:
    """Sign the client in (session cookie for pages) and return the API's bearer header."""
    import re

    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf.group(1)},
                           follow_redirects=False)
    assert response.status_code == 303
    token = client.post("/api/v1/token", data={"username": "admin", "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _assert_unavailable(response, *, api: bool) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    if api:
        assert response.json()["error"]["code"] == "store_unavailable"
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "503" in response.text and "Traceback" not in response.text


@pytest.mark.pg
def test_outage_gives_503_with_retry_after_and_the_app_recovers(relayed, caplog) -> None:  # type: ignore[no-untyped-def]
    settings, relay = relayed
    with _client(settings) as client:
        auth = _sign_in(client)
        assert client.get("/api/v1/customers", headers=auth).status_code == 200
        assert client.get("/imports").status_code == 200
        assert client.get("/api/v1/probe-arrow", headers=auth).json() == {"rows": 1}

        relay.cut()  # the database is gone: open connections cut, new ones refused
        with caplog.at_level("WARNING", logger="kehu.web.app"):
            _assert_unavailable(client.get("/api/v1/customers", headers=auth), api=True)
            _assert_unavailable(client.get("/imports", follow_redirects=False), api=False)
            _assert_unavailable(client.get("/api/v1/probe-arrow", headers=auth), api=True)
        warnings = [r for r in caplog.records if r.name == "kehu.web.app" and r.levelname == "WARNING"]
        assert len(warnings) == 3 and all("store unavailable" in r.getMessage() for r in warnings)
        assert all("SELECT" not in r.getMessage() for r in warnings)  # no statement, no parameters

        relay.start()  # back on the same port: the next requests succeed with the same app
        assert client.get("/api/v1/customers", headers=auth).status_code == 200
        assert client.get("/imports").status_code == 200
        assert client.get("/api/v1/probe-arrow", headers=auth).json() == {"rows": 1}


@pytest.mark.pg
def test_terminated_server_connections_are_replaced_without_an_error(relayed, pg_url: str) -> None:
    import psycopg

    settings, _ = relayed
    name = make_url(pg_url).database
    with _client(settings) as client:
        auth = _sign_in(client)
        for _ in range(3):  # several pooled connections
            assert client.get("/api/v1/customers", headers=auth).status_code == 200
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as admin:
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()
        assert killed and killed[0] >= 1
        # pool_pre_ping finds the dead pooled connections at checkout and opens new ones
        assert client.get("/api/v1/customers", headers=auth).status_code == 200
        assert client.get("/imports").status_code == 200


def _sqlite_error(sql: str, *, lock: bool = False) -> SAOperationalError:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(sql)
    except sqlite3.OperationalError as exc:
        return SAOperationalError(sql, None, exc)
    raise AssertionError("no error")


def test_only_unreachable_store_errors_count_as_unavailable(tmp_path: Path) -> None:
    from kehu.errors import StoreError
    from kehu.web.app import store_unavailable

    assert store_unavailable(StoreError("cannot connect"))
    assert not store_unavailable(_sqlite_error("SELECT * FROM no_such_table"))  # a bug, not an outage
    assert not store_unavailable(IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE")))
    assert not store_unavailable(ValueError("x"))

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("SELECT * FROM t")
    holder.execute("ROLLBACK")
    assert store_unavailable(SAOperationalError("SELECT", None, locked.value))


@pytest.mark.pg
def test_adbc_connection_errors_are_unavailable_and_sql_errors_are_not(pg_url: str) -> None:
    import adbc_driver_postgresql.dbapi as pg_dbapi

    from kehu.store.arrow import read_arrow
    from kehu.web.app import store_unavailable

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Exception) as refused:
        pg_dbapi.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    assert store_unavailable(refused.value)
    with pytest.raises(Exception) as bad_sql:
        read_arrow(pg_url, "SELECT * FROM no_such_table")
    assert not store_unavailable(bad_sql.value)


@pytest.mark.pg
def test_database_lost_before_the_request_commits(relayed) -> None:  # type: ignore[no-untyped-def]
    """The database goes away after a request's work and before its session commits: the answer must be the
    503, not a 200 for work that was never committed (nor, under uvicorn, a dropped connection)."""
    settings, relay = relayed
    with _client(settings) as client:
        @client.app.get("/api/v1/probe-commit")  # type: ignore[attr-defined]
        def probe_commit(db: DbSession) -> dict[str, bool]:
            db.execute(text("SELECT 1"))
            relay.cut()  # the database goes away after the work, before the request's session commits
            return {"ok": True}

        auth = _sign_in(client)
        response = client.get("/api/v1/probe-commit", headers=auth)
        relay.start()
        _assert_unavailable(response, api=True)
        assert client.get("/api/v1/customers", headers=auth).status_code == 200
