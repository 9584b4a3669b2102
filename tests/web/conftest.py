"""Fixtures of the web tests: a classified fixture store, the app over it, signed-in clients."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kehu.config import Settings


def _load(name: str, filename: str):  # type: ignore[no-untyped-def]
    """tests/web/``filename`` as module ``name`` (the test tree is not a package under --import-mode=importlib)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


factories = _load("kehu_web_test_factories", "factories.py")
prediction_factories = _load("kehu_web_test_prediction_factories", "prediction_factories.py")


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters: the same code path at a fraction of the default cost per hash."""
    from argon2 import PasswordHasher

    from kehu.web import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def fx():  # type: ignore[no-untyped-def]
    """The factories module (constants such as the VIP's phone, helpers such as ``add_user``)."""
    return factories


@pytest.fixture
def pfx():  # type: ignore[no-untyped-def]
    """The prediction factories module (``add_predictions`` and the counts it makes)."""
    return prediction_factories


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """Test settings with a known admin password, English by default off (Chinese)."""
    return settings.model_copy(update={"admin_password": factories.PASSWORD})


@pytest.fixture
def store(web_settings: Settings):  # type: ignore[no-untyped-def]
    """The fixture store with snapshots, and the admin user."""
    built = factories.build_store(web_settings)
    from kehu.web.auth import ensure_admin

    ensure_admin(web_settings)
    return built


@pytest.fixture
def client(web_settings: Settings, store) -> TestClient:  # type: ignore[no-untyped-def]
    """A client of the app over the fixture store, not signed in."""
    from kehu.web import create_app

    with TestClient(create_app(web_settings)) as c:
        yield c


def csrf_of(html: str) -> str:
    """The CSRF token in a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, username: str = "admin", password: str | None = None) -> None:
    """Sign ``client`` in through the login form."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": username, "password": password or factories.PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def as_role(client: TestClient, web_settings: Settings):  # type: ignore[no-untyped-def]
    """``as_role(role)``: the client signed in as a new user of that role (named after it)."""

    def sign_in_as(role: str) -> TestClient:
        factories.add_user(web_settings, role, role)
        sign_in(client, role)
        return client

    return sign_in_as


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    """The client, signed in as admin."""
    sign_in(client)
    return client


@pytest.fixture
def helpers():  # type: ignore[no-untyped-def]
    """``csrf_of`` and ``sign_in`` for tests that drive the login form themselves."""

    class Helpers:
        pass

    Helpers.csrf_of = staticmethod(csrf_of)  # type: ignore[attr-defined]
    Helpers.sign_in = staticmethod(sign_in)  # type: ignore[attr-defined]
    return Helpers
