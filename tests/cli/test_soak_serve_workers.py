"""``kehu serve --workers N``: uvicorn gets an import string and a factory, each worker builds the app from the
settings the parent was given, and the admin password is printed once, by the parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import SECRET
from kehu import cli

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """``uvicorn.run`` replaced by a recorder of its calls; a fresh SQLite data dir in the environment."""
    import uvicorn
    from argon2 import PasswordHasher

    from kehu.web import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.setenv("KEHU_ADMIN_PASSWORD", "workers-test-password")
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.delenv("KEHU_WORKERS", raising=False)
    monkeypatch.delenv(cli.WORKER_SETTINGS_ENV, raising=False)  # _serve sets it; monkeypatch restores it
    monkeypatch.chdir(tmp_path)
    return calls


def test_several_workers_get_a_factory_and_the_parents_settings(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fastapi import FastAPI

    result = runner.invoke(cli.app, ["serve", "--port", "8123", "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("admin user created") == 1
    assert "with 3 workers" in result.output
    (target, options), = served
    assert target == "kehu.cli:worker_app"
    assert options["factory"] is True and options["workers"] == 3 and options["port"] == 8123

    worker = cli.worker_app()  # what each worker process runs, from the environment the parent set
    assert isinstance(worker, FastAPI)
    assert Path(worker.state.settings.data_dir) == tmp_path / "data"
    assert worker.state.settings.admin_password == "workers-test-password"


def test_one_worker_serves_the_app_object_as_before(served, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi import FastAPI

    monkeypatch.setenv("KEHU_WORKERS", "1")
    result = runner.invoke(cli.app, ["serve", "--port", "8124"])
    assert result.exit_code == 0, result.output
    (target, options), = served
    assert isinstance(target, FastAPI) and "workers" not in options


def test_workers_setting_is_the_default_and_bad_counts_are_refused(served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KEHU_WORKERS", "2")
    assert runner.invoke(cli.app, ["serve"]).exit_code == 0
    assert served[-1][1]["workers"] == 2
    refused = runner.invoke(cli.app, ["serve", "--workers", "0"])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    monkeypatch.setenv("KEHU_WORKERS", "0")
    bad = runner.invoke(cli.app, ["serve"])
    assert bad.exit_code == 1 and "KEHU_WORKERS" in bad.output
