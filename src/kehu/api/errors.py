"""One JSON error body for every API failure: ``{"error": {"code": "...", "message": "..."}}``.

Covers the API's own refusals (:class:`ApiError`), library errors (:class:`kehu.errors.KehuError`, status from its
``status``), request validation (422, with ``details``: one entry per problem), Starlette's HTTP errors (unknown
address 404, wrong method 405) and unexpected exceptions (500, logged, nothing of the exception shown).

:func:`install` puts these handlers in front of the web app's HTML ones for paths under ``/api/`` only, so pages
keep their error pages and sign-in redirect while the API always answers JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kehu.api.texts import message, request_lang
from kehu.errors import ConvergenceError, FileProblem, InvalidInput, KehuError, NotFound, StoreError

log = logging.getLogger(__name__)

#: Paths (after the root path) whose errors are JSON.
API_PREFIX = "/api/"

#: The code of an HTTP status when nothing more specific is known.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "throttled",
    500: "internal_error",
    503: "unavailable",
}

#: The code of a library error, most specific class first.
KEHU_CODES: tuple[tuple[type[KehuError], str], ...] = (
    (FileProblem, "file_problem"),
    (InvalidInput, "invalid_input"),
    (NotFound, "not_found"),
    (ConvergenceError, "convergence_error"),
    (StoreError, "store_unavailable"),
)


class ApiError(KehuError):
    """A refusal of the API with its HTTP ``status``, a stable ``code`` and a message from :mod:`kehu.api.texts`.

    ``params`` fill the message's placeholders (ids, field and permission names: never personal values);
    ``headers`` go on the response (``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(self, http_status: int, code: str, /, *, headers: dict[str, str] | None = None,
                 **params: Any) -> None:
        super().__init__(message(code, "en", **params))
        self.status = http_status
        self.code = code
        self.params = params
        self.headers = headers or {}


def error_body(code: str, text: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON error body; ``details`` (validation problems) only when given."""
    error: dict[str, Any] = {"code": code, "message": text}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def is_api(request: Request) -> bool:
    """True when the request's path (without the root path) is under :data:`API_PREFIX`."""
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def api_error(request: Request, exc: ApiError) -> Response:
    """An :class:`ApiError` in the request's language."""
    text = message(exc.code, request_lang(request), **exc.params)
    return _json(exc.status, error_body(exc.code, text), exc.headers)


def kehu_error(request: Request, exc: KehuError) -> Response:
    """A library error: its status, a code from its class, its own message (it names the value and what to do)."""
    if isinstance(exc, ApiError):
        return api_error(request, exc)
    code = next((c for cls, c in KEHU_CODES if isinstance(exc, cls)), STATUS_CODES.get(exc.status, "error"))
    return _json(exc.status, error_body(code, str(exc) or message(code, request_lang(request))))


def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's and FastAPI's HTTP errors (unknown path, wrong method, …) as the JSON body."""
    status = exc.status_code
    code = STATUS_CODES.get(status, "error")
    lang = request_lang(request)
    params = {"path": request.url.path, "method": request.method, "details": exc.detail}
    text = message(code, lang, **params)
    headers = dict(exc.headers or {})
    return _json(status, error_body(code, text), headers or None)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:] or parts
    return ".".join(parts) or "request"


def validation_error(request: Request, exc: RequestValidationError) -> Response:
    """422 with one ``details`` entry per problem (``field``, ``in``, ``problem``); input values are not echoed,
    since they may be personal data."""
    details = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        details.append({"field": _where(loc), "in": str(loc[0]) if loc else "request",
                        "problem": str(error.get("msg", "invalid"))})
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details) or "invalid"
    text = message("invalid_request", request_lang(request), details=summary)
    return _json(422, error_body("invalid_request", text, details))


def server_error(request: Request, exc: Exception) -> Response:
    """500 without any detail of the exception (which is logged with its traceback)."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _json(500, error_body("internal_error", message("internal_error", request_lang(request))))


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _dispatch(api_handler: Callable[[Request, Any], Response], web_handler: Handler | None) -> Handler:
    """A handler that answers API paths with ``api_handler`` and everything else with the web app's handler."""

    async def handle(request: Request, exc: Exception) -> Response:
        if is_api(request) or web_handler is None:
            if web_handler is None and not is_api(request):
                raise exc
            return api_handler(request, exc)
        result = web_handler(request, exc)
        if isinstance(result, Response):
            return result
        return await result

    return handle


def install(app: FastAPI) -> None:
    """Answer errors on ``/api/…`` paths with the JSON body; other paths keep the handlers already installed.

    Call after the web app's handlers are installed (``create_app`` does).
    """
    pairs: tuple[tuple[type[Exception], Callable[[Request, Any], Response]], ...] = (
        (StarletteHTTPException, http_error),
        (RequestValidationError, validation_error),
        (KehuError, kehu_error),
        (Exception, server_error),
    )
    for exc_class, handler in pairs:
        web = app.exception_handlers.get(exc_class)
        app.add_exception_handler(exc_class, _dispatch(handler, web))
