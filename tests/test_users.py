"""User management (kehu.users) and the `kehu user …` commands: roles, the last admin, passwords never shown,
every change audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from conftest import SECRET
from kehu import cli
from kehu.cli import app
from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.store import AuditEvent, User, open_store, session_scope
from kehu.users import (
    Actor,
    LastAdmin,
    UserExists,
    add_user,
    list_users,
    reset_password,
    set_active,
    set_role,
)
from kehu.web.auth import verify_password

runner = CliRunner()
PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from kehu.web import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def _store_with_root(settings: Settings) -> str:
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        add_user(session, username="root", password=PASSWORD, role="admin")
    return settings.store_url


@pytest.fixture
def url(store_settings: Settings) -> str:
    """A store (SQLite, then PostgreSQL) with one admin, root."""
    return _store_with_root(store_settings)


@pytest.fixture
def lite_url(settings: Settings) -> str:
    """A SQLite store with one admin, root (for the checks that do not depend on the database)."""
    return _store_with_root(settings)


def _events(url: str, action: str) -> list[AuditEvent]:
    with session_scope(url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_add_list_and_audit(url: str) -> None:
    actor = Actor(user_id=None, username="root", via="web", ip="10.0.0.1")
    with session_scope(url) as session:
        info = add_user(session, username="李分析", password=PASSWORD, role=" Analyst ", actor=actor)
    assert (info.username, info.role, info.is_active) == ("李分析", "analyst", True)
    with session_scope(url) as session:
        assert [u.username for u in list_users(session)] == sorted(["root", "李分析"])
        stored = session.scalar(select(User).where(User.username == "李分析"))
        assert stored.password_hash.startswith("$argon2") and verify_password(stored.password_hash, PASSWORD)
    event = _events(url, "user_add")[-1]
    assert (event.username, event.via, event.ip, event.target_type) == ("root", "web", "10.0.0.1", "user")
    assert event.detail == {"username": "李分析", "role": "analyst"}
    assert PASSWORD not in str(event.detail)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"username": "x"}, InvalidInput, "is not valid"),
    ({"username": "bad name"}, InvalidInput, "is not valid"),
    ({"role": "owner"}, InvalidInput, "unknown role 'owner'; use one of admin, analyst, agent, viewer"),
    ({"password": "short"}, InvalidInput, "at least 10 characters"),
    ({"password": " " * 12}, InvalidInput, "at least 10 characters"),
    ({"username": "root"}, UserExists, "exists already"),
])
def test_bad_additions_are_refused(lite_url: str, kwargs: dict, error: type, message: str) -> None:
    args = {"username": "newbie", "password": PASSWORD, "role": "viewer", **kwargs}
    with session_scope(lite_url) as session, pytest.raises(error, match=message):
        add_user(session, **args)


def test_last_active_admin_is_kept(url: str) -> None:
    with session_scope(url) as session, pytest.raises(LastAdmin, match="last active admin"):
        set_active(session, "root", False)
    with session_scope(url) as session, pytest.raises(LastAdmin, match="make another user admin first"):
        set_role(session, "root", "viewer")
    with session_scope(url) as session:
        add_user(session, username="second", password=PASSWORD, role="agent")
        set_role(session, "second", "admin")
        set_role(session, "root", "analyst")  # allowed now: 'second' is an admin
    with session_scope(url) as session, pytest.raises(LastAdmin):
        set_active(session, "second", False)
    roles = [e.detail for e in _events(url, "role_change")]
    assert roles == [{"username": "second", "from": "agent", "to": "admin"},
                     {"username": "root", "from": "admin", "to": "analyst"}]


def test_disable_enable_password(lite_url: str) -> None:
    url = lite_url
    with session_scope(url) as session:
        add_user(session, username="agent7", password=PASSWORD, role="agent")
        assert set_active(session, "agent7", False).is_active is False
        set_active(session, "agent7", False)  # no-op, not audited twice
        assert set_active(session, "agent7", True).is_active is True
        reset_password(session, "agent7", "the new password 2")
    with session_scope(url) as session:
        stored = session.scalar(select(User).where(User.username == "agent7"))
        assert verify_password(stored.password_hash, "the new password 2")
        with pytest.raises(NotFound, match="no user 'ghost'"):
            set_active(session, "ghost", False)
    assert len(_events(url, "user_disable")) == 1 and len(_events(url, "user_enable")) == 1
    assert _events(url, "update")[-1].detail == {"username": "agent7", "field": "password"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return Settings(data_dir=tmp_path / "data", secret_key=SECRET, _env_file=None)


def test_cli_user_commands(env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["user", "add", "alice", "--role", "admin", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    # On a terminal the password is asked twice, hidden.
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = runner.invoke(app, ["user", "add", "bob", "--role", "agent"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "added user bob (agent)" in result.output and PASSWORD not in result.output
    result = runner.invoke(app, ["user", "list"])
    assert result.exit_code == 0
    rows = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│")}
    assert "admin" in rows["alice"] and "agent" in rows["bob"] and "yes" in rows["bob"]
    assert runner.invoke(app, ["user", "set-role", "bob", "viewer"]).exit_code == 0
    assert runner.invoke(app, ["user", "disable", "bob"]).exit_code == 0
    assert "no (disabled)" in runner.invoke(app, ["user", "list"]).output
    assert runner.invoke(app, ["user", "enable", "bob"]).exit_code == 0
    result = runner.invoke(app, ["user", "password", "bob", "--password-stdin"], input="brand new password\n")
    assert result.exit_code == 0, result.output
    with session_scope(env.store_url) as session:
        bob = session.scalar(select(User).where(User.username == "bob"))
        assert (bob.role, bob.is_active) == ("viewer", True)
        assert verify_password(bob.password_hash, "brand new password")
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["user_add", "user_add", "role_change", "user_disable", "user_enable",
                                          "update"]
    assert all(e.via == "cli" and e.username.startswith("cli:") for e in events)


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "add", "carol"], "", "pass --password-stdin"),
    (["user", "add", "carol", "--password-stdin"], "", "standard input is empty"),
    (["user", "add", "carol", "--password-stdin"], "short\n", "at least 10 characters"),
    (["user", "add", "carol", "--role", "boss", "--password-stdin"], PASSWORD, "unknown role 'boss'"),
    (["user", "disable", "alice"], "", "last active admin"),
    (["user", "set-role", "alice", "viewer"], "", "last active admin"),
    (["user", "set-role", "ghost", "viewer"], "", "no user 'ghost'"),
    (["user", "add", "alice", "--password-stdin"], PASSWORD, "exists already"),
])
def test_cli_mistakes_give_one_line(env: Settings, args: list[str], stdin: str, message: str) -> None:
    assert runner.invoke(app, ["user", "add", "alice", "--role", "admin", "--password-stdin"],
                         input=PASSWORD).exit_code == 0
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "short" not in result.output.replace("at least", "")  # the password is never repeated
