"""The web app: ``create_app(settings)`` wires sessions, security headers, language, errors, static files and
pages.

Nothing is loaded from the network: Plotly comes from the installed ``plotly`` package and is served at
``/static/plotly.min.js``; pages pass chart data to ``/static/charts.js`` in JSON blocks (``<script
type="application/json">``), so the Content-Security-Policy allows scripts from this origin only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import plotly
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kehu import api
from kehu.config import Settings
from kehu.errors import KehuError
from kehu.privacy import FieldCipher
from kehu.privacy.keys import derive_key, load_secret
from kehu.store import get_engine, open_store
from kehu.web import present
from kehu.web.auth import LoginThrottle
from kehu.web.deps import LoginRequired, local_url, render
from kehu.web.i18n import LANG_COOKIE, LANGUAGES
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
    key = {400: "error_400", 403: "error_403", 404: "error_404", 422: "error_400"}.get(status, "error_500")
    return render(
        templates, request, "error.html", {"status": status, "key": key, "message": message}, status
    )


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
            from kehu.web.i18n import translator

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
