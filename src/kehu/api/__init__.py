"""The REST API under ``/api/v1``: tokens and API keys, customers, orders, imports, classifications, exports.

``create_app`` mounts :data:`router` at ``/api/v1``, :data:`root_router` (``/docs`` → the API reference) at the
root, and calls :func:`install` so that errors on ``/api/…`` are JSON (``{"error": {"code", "message"}}``) while
the pages keep their HTML error pages. Every route declares a permission of :data:`kehu.web.auth.PERMISSIONS`
through :func:`kehu.api.auth.api_require`. See docs/api.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from kehu.api.errors import ApiError, install
from kehu.api.routes import classifications, customers, docs, exports, imports, keys, orders, tokens
from kehu.api.schemas import ErrorBody


def reject_nul(request: Request) -> None:
    """Refuse (422) a query string holding a NUL character: PostgreSQL cannot compare text with one."""
    if any("\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()):
        raise ApiError(422, "invalid_request", details="query: NUL characters are not allowed")


_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 404, 422)}

router = APIRouter(dependencies=[Depends(reject_nul)], responses=_ERRORS)  # type: ignore[arg-type]
router.include_router(tokens.router)
router.include_router(keys.router)
router.include_router(customers.router)
router.include_router(orders.router)
router.include_router(imports.router)
router.include_router(classifications.router)
router.include_router(exports.router)
router.include_router(docs.router)

root_router = docs.root_router

__all__ = ["ApiError", "install", "root_router", "router"]
