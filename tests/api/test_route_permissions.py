"""Every route of the app (pages and API) declares a permission of ``PERMISSIONS``, except a short allow-list; every
API route refuses a missing credential (401), a wrong token or key (401) and a role without its permission (403)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute

from kehu.web.auth import PERMISSIONS, ROLES

#: Routes that need no permission: signing in and out, the token endpoint, static files, the health check, the
#: API's description (the OpenAPI document and the reference page hold no data), and a customer's survey answer
#: page (its signed token is the credential: kehu.surveys.tokens).
ALLOWED_WITHOUT_PERMISSION = {
    "/login", "/logout", "/api/v1/token", "/static", "/static/plotly.min.js", "/healthz",
    "/api/v1/openapi.json", "/api/v1/docs", "/docs", "/s/{token}",
}


def _routes(app: Any) -> list[Any]:  # noqa: ANN401
    """Every route with its full path (FastAPI ≥ 0.16x keeps included routers lazily; older ones flatten them)."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate is not None else list(app.routes)


def _permissions(route: Any) -> set[str]:  # noqa: ANN401
    """Permissions checked by a route's dependencies, found independently of kehu.api's own helper: the API's
    checks carry a ``permission`` attribute, the pages' are named ``require_<permission>``."""
    found = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        permission = getattr(dep.call, "permission", None)
        if isinstance(permission, str):
            found.add(permission)
        elif getattr(dep.call, "__name__", "").startswith("require_"):
            found.add(dep.call.__name__.removeprefix("require_"))
        stack.extend(dep.dependencies)
    return found


def _is_endpoint(route: Any) -> bool:  # noqa: ANN401
    return isinstance(getattr(route, "original_route", route), APIRoute)


def test_every_route_declares_a_known_permission(client) -> None:  # type: ignore[no-untyped-def]
    missing, unknown, allowed_but_checked = [], [], []
    seen = set()
    for route in _routes(client.app):
        path = str(route.path)
        seen.add(path)
        if not _is_endpoint(route):
            if path not in ALLOWED_WITHOUT_PERMISSION:
                missing.append(f"{type(route).__name__} {path}")
            continue
        permissions = _permissions(route)
        where = f"{','.join(sorted(route.methods or []))} {path}"
        if not permissions and path not in ALLOWED_WITHOUT_PERMISSION:
            missing.append(where)
        unknown.extend(f"{where}: {p}" for p in permissions if p not in PERMISSIONS)
        if permissions and path in ALLOWED_WITHOUT_PERMISSION:
            allowed_but_checked.append(where)
    assert not missing, f"routes without a permission rule (use require()/api_require()): {missing}"
    assert not unknown, f"permissions missing from kehu.web.auth.PERMISSIONS: {unknown}"
    assert not allowed_but_checked, f"allow-listed routes that check a permission: {allowed_but_checked}"
    assert {"/api/v1/customers", "/customers", "/"} <= seen  # the enumeration sees pages and API alike


def _api_endpoints(app: Any) -> list[tuple[str, str, str]]:  # noqa: ANN401
    """(method, concrete path, permission) of every API route that needs a permission."""
    out = []
    for route in _routes(app):
        path = str(route.path)
        if not _is_endpoint(route) or not path.startswith("/api/v1/") or path in ALLOWED_WITHOUT_PERMISSION:
            continue
        [permission] = _permissions(route)
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in sorted(route.methods or []):
            if method != "HEAD":
                out.append((method, concrete, permission))
    return out


def test_every_api_route_refuses_missing_wrong_and_insufficient_credentials(client, api) -> None:  # type: ignore[no-untyped-def]
    endpoints = _api_endpoints(client.app)
    assert len(endpoints) >= 20
    lacking_role_checked = 0
    for method, path, permission in endpoints:
        cases = {
            "missing": {},
            "wrong token": {"Authorization": "Bearer not-a-token"},
            "wrong key": {"X-API-Key": "kehu_0123456789ab_wrong"},
        }
        for what, headers in cases.items():
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, what, response.text)
            assert set(response.json()) == {"error"}
        lacking = [r for r in ROLES if r not in PERMISSIONS[permission]]
        if lacking:
            response = client.request(method, path, headers=api.headers(lacking[0]))
            assert response.status_code == 403, (method, path, lacking[0], response.text)
            assert response.json()["error"]["code"] == "forbidden"
            lacking_role_checked += 1
    assert lacking_role_checked == len(endpoints)  # no API route is open to every role


def test_allowed_routes_are_really_public(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/healthz").status_code == 200
