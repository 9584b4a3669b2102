"""The customer list (paged, sorted, filtered) and a customer's profile with its predictions; personal fields
are masked."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES
from kehu.errors import InvalidInput
from kehu.web import queries, queries_models
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, lang_of, render, require
from kehu.web.predictions import CLV_TIERS, cluster_names, customer_predictions, product_ids
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


def _cluster(value: str | None) -> int | None:
    value = _blank_is_none(value)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > 32767:
        raise InvalidInput(f"unknown cluster {value!r}; use a cluster number such as 0")
    return int(value)


@router.get("/customers")
def customer_list(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    rfm_class: Annotated[str | None, Query(max_length=32)] = None,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    province: Annotated[str | None, Query(max_length=32)] = None,
    clv_tier: Annotated[str | None, Query(max_length=16)] = None,
    cluster: Annotated[str | None, Query(max_length=8)] = None,
    sort: queries.SortKey = "monetary_cents",
    dir: queries.SortDir = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    as_of: date | None = None,
) -> Response:
    """One page of the customers in the snapshot, with their masked name, classes, CLV and churn risk."""
    filters = queries.CustomerFilters(
        rfm_class=_known(rfm_class, RFM_CLASSES, "RFM class"),
        lifecycle_stage=_known(stage, LIFECYCLE_STAGES, "lifecycle stage"),
        province=_blank_is_none(province),
        clv_tier=_known(clv_tier, dict.fromkeys(CLV_TIERS), "CLV tier"),
        cluster=_cluster(cluster),
    )
    snapshot = queries.pick_snapshot(db, as_of)
    models = snapshot.models if snapshot is not None else None
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
        "tiers": list(CLV_TIERS),
        "clusters": sorted(cluster_names(models, lang_of(request)).items()),
        # Prediction columns and filters when the snapshot has predictions, or the query asks for them.
        "predicted": models is not None
        or bool(filters.clv_tier)
        or filters.cluster is not None
        or sort in ("clv_365d_cents", "churn_risk"),
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
    """A customer's features, classes and predictions in the snapshot, and orders (newest first, with their
    lines)."""
    snapshot = queries.pick_snapshot(db, as_of)
    profile = queries.customer_profile(
        db, customer_id=customer_id, snapshot_id=snapshot.id if snapshot else None
    )
    k = profile.classification
    predictions = None
    if snapshot is not None and k is not None:
        products = queries_models.product_names(db, product_ids(k.recommendations))
        predictions = customer_predictions(k, snapshot.models, products, lang_of(request))
    context = {
        "active": "customers",
        "snapshot": snapshot,
        "as_of_param": as_of,
        "profile": profile,
        "pii": masked_pii(request.app.state.cipher, profile.customer),
        "predictions": predictions,
        "predictions_ran": snapshot is not None and snapshot.models is not None,
    }
    return render(request.app.state.templates, request, "customer.html", context)
