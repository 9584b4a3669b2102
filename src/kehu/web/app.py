"""The web app: ``create_app(settings)`` wires sessions, security headers, language, errors, static files and
pages.

Nothing is loaded from the network: Plotly comes from the installed ``plotly`` package and is served at
``/static/plotly.min.js``; pages pass chart data to ``/static/charts.js`` in JSON blocks (``<script
type="application/json">``), so the Content-Security-Policy allows scripts from this origin only.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import adbc_driver_manager
import plotly
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kehu import api
from kehu.config import Settings
from kehu.errors import KehuError, StoreError
from kehu.privacy import FieldCipher
from kehu.privacy.keys import derive_key, load_secret
from kehu.store import get_engine, open_store
from kehu.web import present
from kehu.web.auth import LoginThrottle
from kehu.web.deps import LoginRequired, local_url, render
from kehu.web.i18n import LANG_COOKIE, LANGUAGES, translator
from kehu.web.predictions import tier_label
from kehu.web.routes import admin, customers, dashboard, imports, login
from kehu.web.routes import campaigns as campaign_pages
from kehu.web.routes import feedback as feedback_pages
from kehu.web.routes import membership as membership_pages
from kehu.web.routes import reports as report_pages
from kehu.web.routes import segments as segment_pages
from kehu.web.routes import surveys as survey_pages
from kehu.web.routes import tasks as task_pages

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SESSION_COOKIE = "kehu_session"
log = logging.getLogger(__name__)

#: Scripts from this origin only. Plotly's cartesian and pie traces need no eval; it sets inline styles
#: (style-src 'unsafe-inline'), which is the usual price of SVG charts and cannot run code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every response; pages (not static files) get ``Cache-Control:
    no-store``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not is_static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LanguageCookieMiddleware:
    """Remembers ``?lang=zh|en`` in a cookie so the next pages keep the language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qs

        chosen = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[-1]
        if chosen not in LANGUAGES:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append(
                    "Set-Cookie", f"{LANG_COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Lax"
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["yuan"] = present.yuan
    env.filters["percent"] = present.percent
    env.filters["decimal"] = present.decimal
    env.filters["day"] = present.day
    env.filters["minute"] = present.minute
    from kehu.analytics.labels import label

    env.globals["label"] = label
    env.globals["tier_label"] = tier_label
    return templates


def _error_page(request: Request, status: int, message: str | None = None) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    key = {400: "error_400", 403: "error_403", 404: "error_404", 422: "error_400", 503: "error_503"}.get(
        status, "error_500")
    return render(
        templates, request, "error.html", {"status": status, "key": key, "message": message}, status
    )


#: Seconds a client should wait before retrying a request that found the store unavailable (503).
RETRY_AFTER_SECONDS = 5
#: SQLSTATEs (PostgreSQL) that mean "the server is not there right now": the connection-exception class 08,
#: administrator / crash shutdown and "the database system is starting up / shutting down".
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")
#: SQLite errors that pass: another writer holds the lock, or the file cannot be opened right now.
_UNAVAILABLE_SQLITE = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"})


def store_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the store cannot be reached right now (a retry may succeed), not a bug.

    Covers :class:`~kehu.errors.StoreError`; SQLAlchemy's pool timeout; a connection SQLAlchemy invalidated
    (PostgreSQL restarted or the backend was terminated: the pool drops it, and ``pool_pre_ping`` replaces the
    other stale ones at their next checkout); a failed connect (psycopg ``OperationalError`` without SQLSTATE,
    or SQLSTATE class 08, 57P01–57P03); psycopg's "connection is closed"; SQLite busy/locked/cannot open; and
    ADBC's I/O errors (bulk reads through :mod:`kehu.store.arrow`). Other database errors (constraint violations,
    SQL errors) are bugs or conflicts and keep their own handling.
    """
    if isinstance(exc, StoreError | PoolTimeout):
        return True
    if isinstance(exc, adbc_driver_manager.Error):
        return getattr(exc, "status_code", None) == adbc_driver_manager.AdbcStatusCode.IO
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        return getattr(exc.orig, "sqlite_errorname", "") in _UNAVAILABLE_SQLITE
    state = getattr(exc.orig, "sqlstate", None)
    return state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES


def _describe(exc: BaseException) -> str:
    """The class and SQLSTATE of a store error, for the log: never its message (SQLAlchemy's holds the statement
    and its parameters, which may be personal data)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(orig, "sqlstate", None)
    return type(orig).__name__ + (f" (SQLSTATE {state})" if state else "")


def _install_store_unavailable(app: FastAPI) -> None:
    """Answer a lost or unreachable store with 503 and ``Retry-After`` (JSON under ``/api/``, the error page
    elsewhere) and one warning line; other database errors go on to the handlers installed before.

    Call after :func:`kehu.api.install` (it wraps the handlers this one falls back to).
    """
    from kehu.api.errors import error_body, is_api
    from kehu.api.texts import request_lang

    kehu_handler = app.exception_handlers[KehuError]
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}

    async def unavailable(request: Request, exc: Exception) -> Response:
        if not store_unavailable(exc):
            raise exc  # the 500 handlers (ServerErrorMiddleware) take it, as before
        log.warning("store unavailable on %s %s: %s; answered 503", request.method, request.url.path,
                    _describe(exc))
        if isinstance(exc, StoreError):  # its message names the store (password hidden) and what failed
            answer = kehu_handler(request, exc)
            response = answer if isinstance(answer, Response) else await answer
            response.headers.update(headers)
            return response
        if is_api(request):
            lang = request_lang(request)
            return JSONResponse(error_body("store_unavailable", translator(lang)("error_503")),
                                status_code=503, headers=headers)
        try:
            response = _error_page(request, 503)
        except Exception:  # noqa: BLE001 - the page itself failed: a plain answer is still a clean 503
            response = PlainTextResponse(translator("en")("error_503"), status_code=503)
        response.headers.update(headers)
        return response

    for exc_class in (StoreError, DBAPIError, PoolTimeout, adbc_driver_manager.Error):
        app.add_exception_handler(exc_class, unavailable)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = local_url(request, None)
        return RedirectResponse(local_url(request, "/login", next=target), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = None
        if exc.detail == "csrf_failed":
            from kehu.web.deps import lang_of

            message = translator(lang_of(request))("csrf_failed")
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error_page(request, 422, "; ".join(parts))

    @app.exception_handler(KehuError)
    async def kehu_error(request: Request, exc: KehuError) -> Response:
        return _error_page(request, exc.status, str(exc))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        try:
            return _error_page(request, 500)
        except Exception:
            return PlainTextResponse("Internal Server Error", status_code=500)


def create_app(settings: Settings) -> FastAPI:
    """The kehu web app for ``settings``: migrates the store if needed, then serves the pages.

    The session cookie is signed with a key derived from the secret (purpose ``session``) and lives
    ``settings.session_hours``; the admin user is created by :func:`kehu.web.auth.ensure_admin` (``kehu
    init``).
    """
    open_store(settings.store_url)
    secret = load_secret(settings)
    app = FastAPI(title="kehu", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.templates = _templates()
    app.state.cipher = FieldCipher.from_settings(settings)
    app.state.throttle = LoginThrottle()

    # Outermost last: headers wrap everything, including error responses from the inner layers.
    app.add_middleware(
        SessionMiddleware,
        secret_key=derive_key(secret, "session").hex(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(LanguageCookieMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(SecurityHeadersMiddleware)
    _install_error_handlers(app)
    api.install(app)  # JSON errors on /api/… paths; pages keep the handlers above
    _install_store_unavailable(app)  # a lost database: 503 + Retry-After on both

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        try:
            with get_engine(settings.store_url).connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return PlainTextResponse("store unavailable", status_code=503)
        return PlainTextResponse("ok")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return FileResponse(
            PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(login.router)
    app.include_router(dashboard.router)
    app.include_router(customers.router)
    app.include_router(imports.router)
    app.include_router(admin.router)
    app.include_router(segment_pages.router)
    app.include_router(feedback_pages.router)
    app.include_router(task_pages.router)
    app.include_router(membership_pages.router)
    app.include_router(campaign_pages.router)
    app.include_router(survey_pages.router)
    app.include_router(report_pages.router)
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(api.root_router)
    return app
