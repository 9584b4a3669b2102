"""The OpenAPI document of the API (``/api/v1/openapi.json``) and a reference page rendered from it
(``/api/v1/docs``; ``/docs`` redirects there).

FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN, and no installed package carries those assets,
so both are off. The reference page is plain server-rendered HTML (no script at all, so the app's
Content-Security-Policy holds): every operation with its permission, parameters, body and responses.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi import routing as fastapi_routing
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from kehu import __version__
from kehu.api.texts import message, request_lang

#: Where the API lives (the prefix ``create_app`` mounts it at).
API_PATH = "/api/v1"

router = APIRouter()
root_router = APIRouter()

DESCRIPTION = """kehu's REST API: customers, orders, imports, classification snapshots and exports.

Authenticate with a bearer token from `POST /api/v1/token` (form `username`, `password`; valid 30 minutes) or an
API key in the `X-API-Key` header (create one at `POST /api/v1/keys`). Every operation needs the permission named
in `x-permission` (roles: admin, analyst, agent, viewer). Lists take `page` and `per_page` (≤ 200) and answer
`{items, page, per_page, total}`; `sort=field` ascending, `sort=-field` descending. Errors are
`{"error": {"code": ..., "message": ...}}`. Money is integer cents; personal fields are masked unless revealed
(`?reveal=phone`, permission `reveal_pii`, audited). See docs/api.md."""

TAGS = [
    {"name": "auth", "description": "bearer tokens (OAuth2 password flow)"},
    {"name": "keys", "description": "API keys of the signed-in user"},
    {"name": "customers", "description": "customers: search, masked view, reveal, create, update, delete"},
    {"name": "orders", "description": "orders and their lines"},
    {"name": "imports", "description": "file uploads imported in the background"},
    {"name": "classifications", "description": "classification snapshots and their rows"},
    {"name": "exports", "description": "snapshot files (CSV, XLSX, Parquet)"},
]


def flat_routes(app: FastAPI) -> list[Any]:
    """Every route of ``app`` with its full path, whatever the FastAPI version: older ones copy the routes of an
    included router into ``app.routes``; newer ones keep the router and expose each route through
    ``fastapi.routing.iter_route_contexts`` (objects with the route's ``path``, ``methods``, ``dependant``, …)."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate is not None else list(app.routes)


def is_api_route(route: Any) -> bool:  # noqa: ANN401
    """True for a FastAPI route (an endpoint with dependencies), as opposed to a mount or a Starlette route."""
    return isinstance(getattr(route, "original_route", route), APIRoute)


def route_permissions(route: Any) -> set[str]:  # noqa: ANN401
    """The permissions a route's dependencies check: API checks carry ``permission``; the pages' checks
    (:func:`kehu.web.deps.require`) are named ``require_<permission>``."""
    found: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        call = dependant.call
        permission = getattr(call, "permission", None)
        name = getattr(call, "__name__", "")
        if isinstance(permission, str):
            found.add(permission)
        elif name.startswith("require_"):
            found.add(name.removeprefix("require_"))
        stack.extend(dependant.dependencies)
    return found


def api_routes(app: FastAPI) -> list[Any]:
    """The app's API routes (under :data:`API_PATH`), as :func:`flat_routes` gives them."""
    return [r for r in flat_routes(app) if is_api_route(r) and str(r.path).startswith(API_PATH + "/")]


def plain_docstring(text: str) -> str:
    """A docstring as Markdown-ish text: ``:role:`name``` → ``name``, double backticks → single, one line per
    paragraph."""
    text = _ROLE.sub(r"`\1`", text).replace("``", "`")
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text)  # paragraphs stay apart, their lines are joined


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def openapi_document(app: FastAPI, root_path: str = "") -> dict[str, Any]:
    """The OpenAPI 3 document of the API routes, each operation with its permission as ``x-permission``
    (built once per app and root path)."""
    cache: dict[str, dict[str, Any]] | None = getattr(app.state, "api_openapi", None)
    if cache is None:
        cache = app.state.api_openapi = {}
    if root_path in cache:
        return cache[root_path]
    routes = [r for r in api_routes(app) if r.include_in_schema]
    document = get_openapi(title="kehu API", version=__version__, description=DESCRIPTION, routes=routes,
                           tags=TAGS, servers=[{"url": root_path}] if root_path else None)
    for item in document["paths"].values():
        for operation in item.values():
            if "description" in operation:
                operation["description"] = plain_docstring(operation["description"])
    for route in routes:
        permissions = sorted(route_permissions(route))
        for method in route.methods or ():
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None and permissions:
                operation["x-permission"] = permissions[0] if len(permissions) == 1 else permissions
    cache[root_path] = document
    return document


@router.get("/openapi.json", include_in_schema=False)
def openapi_json(request: Request) -> Response:
    """The OpenAPI document (no sign-in needed: it describes the API, it holds no data)."""
    return JSONResponse(openapi_document(request.app, request.scope.get("root_path", "")))


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    text = str(schema.get("type", "any"))
    return f"{text} ({schema['format']})" if "format" in schema else text


def _code(escaped: str) -> str:
    """`name` in already-escaped text → <code>name</code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _operation_html(method: str, path: str, op: dict[str, Any], t: Any) -> str:  # noqa: ANN401
    e = html.escape
    permission = op.get("x-permission")
    rows = []
    for p in op.get("parameters", []):
        schema = p.get("schema", {})
        rows.append(f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p.get('in', ''))}</td>"
                    f"<td>{'✓' if p.get('required') else ''}</td><td>{e(_type(schema))}</td>"
                    f"<td>{e(p.get('description') or schema.get('description', ''))}</td></tr>")
    params = (f"<h4>{e(t('docs_parameters'))}</h4><table><tbody>{''.join(rows)}</tbody></table>" if rows else "")
    body = ""
    if "requestBody" in op:
        kinds = ", ".join(op["requestBody"].get("content", {}))
        body = f"<h4>{e(t('docs_body'))}</h4><p><code>{e(kinds)}</code></p>"
    responses = ", ".join(f"<code>{e(str(code))}</code> {e(r.get('description', ''))}"
                          for code, r in op.get("responses", {}).items())
    who = (f"<span class='perm' data-permission='{e(str(permission))}'>{e(t('docs_permission'))}: "
           f"<code>{e(str(permission))}</code></span>" if permission else f"<span class='perm'>{e(t('docs_public'))}"
           "</span>")
    return (f"<section class='op' data-method='{e(method.upper())}' data-path='{e(path)}'>"
            f"<h3><span class='method'>{e(method.upper())}</span> <code>{e(path)}</code> — {e(op.get('summary', ''))}"
            f"</h3><p>{who}</p><p class='desc'>{_code(e(op.get('description', '')))}</p>{params}{body}"
            f"<h4>{e(t('docs_responses'))}</h4><p>{responses}</p></section>")


STYLE = """body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2rem auto;max-width:60rem;
padding:0 1rem;color:#1f2933}h1{font-size:1.6rem}h2{border-bottom:1px solid #d9e2ec;margin-top:2rem}
.op{border:1px solid #d9e2ec;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}.method{font-weight:700;color:#0b6e4f}
table{border-collapse:collapse;width:100%}td{border-top:1px solid #eef2f6;padding:.2rem .4rem;vertical-align:top}
.perm{font-size:.9rem;color:#52606d}.desc{white-space:pre-line}"""


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs_page(request: Request) -> Response:
    """The reference page (Chinese or English chrome: ``?lang=``, the language cookie or ``Accept-Language``)."""
    lang = request_lang(request)

    def t(code: str) -> str:
        return message(code, lang)

    root = request.scope.get("root_path", "")
    document = openapi_document(request.app, root)
    sections: dict[str, list[str]] = {tag["name"]: [] for tag in TAGS}
    for path, item in document["paths"].items():
        for method, op in item.items():
            tag = (op.get("tags") or ["other"])[0]
            sections.setdefault(tag, []).append(_operation_html(method, path, op, t))
    e = html.escape
    parts = [f"<h2 id='{e(tag)}'>{e(tag)}</h2>{''.join(ops)}" for tag, ops in sections.items() if ops]
    link = f"{root}{API_PATH}/openapi.json"
    page = (f"<!doctype html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{e(t('docs_title'))}</title>"
            f"<style>{STYLE}</style></head><body><h1>{e(t('docs_title'))}</h1>"
            f"<p>{e(t('docs_intro'))} <a id='openapi' href='{e(link)}'>{e(link)}</a></p>"
            f"<p><small>{e(t('docs_offline'))}</small></p>{''.join(parts)}</body></html>")
    return HTMLResponse(page)


@root_router.get("/docs", include_in_schema=False)
def docs_redirect(request: Request) -> Response:
    """``/docs`` → the API reference page."""
    return RedirectResponse(f"{request.scope.get('root_path', '')}{API_PATH}/docs", status_code=307)
