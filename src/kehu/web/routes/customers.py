"""The customer list (paged, sorted, filtered) and a customer's profile; personal fields are masked."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES
from kehu.errors import InvalidInput
from kehu.web import queries
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, render, require
from kehu.web.present import masked_pii

router = APIRouter()

CustomersViewer = Annotated[SignedIn, Depends(require("view_customers"))]


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _known(value: str | None, codes: dict[str, Any], what: str) -> str | None:
    value = _blank_is_none(value)
    if value is not None and value not in codes:
        raise InvalidInput(f"unknown {what} {value!r}; use one of {', '.join(codes)}")
    return value


@router.get("/customers")
def customer_list(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    rfm_class: Annotated[str | None, Query(max_length=32)] = None,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    province: Annotated[str | None, Query(max_length=32)] = None,
    sort: queries.SortKey = "monetary_cents",
    dir: queries.SortDir = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    as_of: date | None = None,
) -> Response:
    """One page of the customers in the snapshot, with their masked name and classes."""
    filters = queries.CustomerFilters(
        rfm_class=_known(rfm_class, RFM_CLASSES, "RFM class"),
        lifecycle_stage=_known(stage, LIFECYCLE_STAGES, "lifecycle stage"),
        province=_blank_is_none(province),
    )
    snapshot = queries.pick_snapshot(db, as_of)
    context: dict[str, Any] = {
        "active": "customers",
        "snapshot": snapshot,
        "filters": filters,
        "sort": sort,
        "dir": dir,
        "as_of_param": as_of,
        "classes": list(RFM_CLASSES),
        "stages": list(LIFECYCLE_STAGES),
        "provinces": queries.provinces(db),
    }
    if snapshot is not None:
        result = queries.customer_page(
            db, snapshot_id=snapshot.id, filters=filters, sort=sort, direction=dir, page=page
        )
        cipher = request.app.state.cipher
        context["result"] = result
        context["rows"] = [(c, k, masked_pii(cipher, c)) for c, k in result.rows]
    return render(request.app.state.templates, request, "customers.html", context)


@router.get("/customers/{customer_id}")
def customer_profile(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    customer_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    as_of: date | None = None,
) -> Response:
    """A customer's features, classes in the snapshot, and orders (newest first, with their lines)."""
    snapshot = queries.pick_snapshot(db, as_of)
    profile = queries.customer_profile(
        db, customer_id=customer_id, snapshot_id=snapshot.id if snapshot else None
    )
    context = {
        "active": "customers",
        "snapshot": snapshot,
        "as_of_param": as_of,
        "profile": profile,
        "pii": masked_pii(request.app.state.cipher, profile.customer),
    }
    return render(request.app.state.templates, request, "customer.html", context)
