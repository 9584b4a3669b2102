"""The session cookie is marked Secure when KEHU_SECURE_COOKIES is on."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from conftest import SECRET
from kehu.config import Settings
from kehu.web.app import create_app


def test_session_cookie_secure_flag_follows_the_setting(tmp_path: Path) -> None:
    for secure in (False, True):
        settings = Settings(data_dir=tmp_path / f"d{secure}", secret_key=SECRET, secure_cookies=secure,
                            _env_file=None)
        client = TestClient(create_app(settings), base_url="https://testserver")
        response = client.get("/login")
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]  # the login form's CSRF token lives in the session
        assert ("; secure" in cookie.lower()) is secure
