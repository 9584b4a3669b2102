"""The web app (FastAPI, server-rendered pages): sign-in, dashboard, customers, imports, admin.

``create_app`` is imported on first use: service modules (``kehu.users``) use :mod:`kehu.web.auth`, and the app
imports them back through its routes.
"""

from typing import Any

from kehu.web.auth import authenticate, ensure_admin, hash_password, verify_password

__all__ = ["authenticate", "create_app", "ensure_admin", "hash_password", "verify_password"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from kehu.web.app import create_app

        return create_app
    raise AttributeError(f"module 'kehu.web' has no attribute {name!r}")
