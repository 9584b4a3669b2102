"""Fixtures of the API tests: the web tests' fixture store (60 customers, snapshots), one user per role, the app,
and helpers to get tokens."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kehu.config import Settings

ROLES = ("admin", "analyst", "agent", "viewer")


def _load(name: str, filename: str):  # type: ignore[no-untyped-def]
    """tests/web/``filename`` as module ``name`` (shared with tests/web/conftest.py; the test tree is not a
    package under --import-mode=importlib)."""
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "web" / filename
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


factories = _load("kehu_web_test_factories", "factories.py")
PASSWORD = factories.PASSWORD


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters: the same code path at a fraction of the default cost per hash."""
    from argon2 import PasswordHasher

    from kehu.web import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def fx():  # type: ignore[no-untyped-def]
    """The web factories (VIP phone, ``add_user``, ``build_store``)."""
    return factories


def _prepare(settings: Settings, customers: int = 60) -> Any:  # noqa: ANN401
    from kehu.web.auth import ensure_admin

    built = factories.build_store(settings, customers=customers)
    ensure_admin(settings)
    for role in ROLES[1:]:
        factories.add_user(settings, role, role)
    return built


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """SQLite settings with a known admin password."""
    return settings.model_copy(update={"admin_password": PASSWORD})


@pytest.fixture
def store(api_settings: Settings) -> Any:  # noqa: ANN401
    """The fixture store and one user per role (username = role, password ``PASSWORD``)."""
    return _prepare(api_settings)


@pytest.fixture
def client(api_settings: Settings, store: Any) -> Iterator[TestClient]:  # noqa: ANN401
    """A client of the whole app over the fixture store (SQLite)."""
    from kehu.web import create_app

    with TestClient(create_app(api_settings)) as c:
        yield c


@pytest.fixture
def any_store_settings(store_settings: Settings) -> Settings:
    """``store_settings`` (SQLite, then PostgreSQL) with a known admin password."""
    return store_settings.model_copy(update={"admin_password": PASSWORD})


@pytest.fixture
def any_client(any_store_settings: Settings) -> Iterator[TestClient]:
    """A client of the app over a small fixture store on each store (SQLite, PostgreSQL)."""
    from kehu.web import create_app

    _prepare(any_store_settings, customers=8)
    with TestClient(create_app(any_store_settings)) as c:
        yield c


def get_token(client: TestClient, username: str = "admin", password: str = PASSWORD) -> str:
    """A bearer token through ``POST /api/v1/token``."""
    response = client.post("/api/v1/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


class Api:
    """Helpers handed to tests: ``token``, ``headers`` (a role's bearer header), ``error`` (the code of an error
    body, checking its shape)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str = "admin") -> str:
        if username not in self._tokens:
            self._tokens[username] = get_token(self.client, username)
        return self._tokens[username]

    def headers(self, username: str = "admin") -> dict[str, str]:
        return bearer(self.token(username))

    @staticmethod
    def error(response: Any) -> str:  # noqa: ANN401
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        return str(body["error"]["code"])


@pytest.fixture
def api(client: TestClient) -> Api:
    """Helpers over ``client``."""
    return Api(client)


@pytest.fixture
def any_api(any_client: TestClient) -> Api:
    """Helpers over ``any_client`` (each store)."""
    return Api(any_client)
