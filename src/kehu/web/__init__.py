"""The web app (FastAPI, server-rendered pages): sign-in, dashboard, customer list and profile."""

from kehu.web.app import create_app
from kehu.web.auth import authenticate, ensure_admin, hash_password, verify_password

__all__ = ["authenticate", "create_app", "ensure_admin", "hash_password", "verify_password"]
