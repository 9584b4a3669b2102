"""``/snapshots`` and ``/customers/{id}/classification``: classification snapshots, a snapshot's rows (paged,
filtered, sorted) and one customer's row."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from kehu.api import customer_writes
from kehu.api.auth import ApiUser, api_require
from kehu.api.errors import ApiError
from kehu.api.paging import Paging, order_by, paginate
from kehu.api.params import Cluster, ClvTier, CustomerId, LifecycleStage, RfmClass, RfmGroup, SnapshotId
from kehu.api.present import as_dict, classification_public, snapshot_public
from kehu.api.schemas import ClassificationPublic, Page, SnapshotDetail, SnapshotPublic
from kehu.errors import NotFound
from kehu.store import Classification, ClassificationSnapshot, Customer
from kehu.web.deps import DbSession
from kehu.web.queries import pick_snapshot

router = APIRouter(tags=["classifications"])

ClassificationsViewer = Annotated[ApiUser, Depends(api_require("view_classifications"))]

RowSort = Literal[
    "customer_id", "-customer_id", "recency_days", "-recency_days", "frequency", "-frequency", "monetary_cents",
    "-monetary_cents", "clv_365d_cents", "-clv_365d_cents", "churn_risk", "-churn_risk", "p_alive", "-p_alive",
]
_ROW_COLUMNS = {
    "customer_id": Classification.customer_id, "recency_days": Classification.recency_days,
    "frequency": Classification.frequency, "monetary_cents": Classification.monetary_cents,
    "clv_365d_cents": Classification.clv_365d_cents, "churn_risk": Classification.churn_risk,
    "p_alive": Classification.p_alive,
}


@router.get("/snapshots", response_model=Page[SnapshotPublic], summary="List classification snapshots")
def list_snapshots(
    db: DbSession,
    user: ClassificationsViewer,
    paging: Paging,
    include_building: Annotated[
        bool, Query(description="also snapshots still being written, and failed ones with their message")
    ] = False,
) -> Page[SnapshotPublic]:
    """Snapshots, newest date first (ties: newest id); only ready ones unless ``include_building``."""
    stmt = select(ClassificationSnapshot)
    if not include_building:
        stmt = stmt.where(ClassificationSnapshot.status == "ready")
    stmt = stmt.order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc())
    return paginate(db, stmt, paging, snapshot_public)


def _snapshot(db: DbSession, snapshot_id: int) -> ClassificationSnapshot:
    snapshot = db.get(ClassificationSnapshot, snapshot_id)
    if snapshot is None:
        raise NotFound(f"no classification snapshot {snapshot_id}")
    return snapshot


@router.get("/snapshots/{snapshot_id}", response_model=SnapshotDetail, summary="Get one snapshot")
def get_snapshot(db: DbSession, user: ClassificationsViewer, snapshot_id: SnapshotId) -> SnapshotDetail:
    """A snapshot with its key figures, RFM cut points, settings and model report."""
    snapshot = _snapshot(db, snapshot_id)
    return SnapshotDetail(**snapshot_public(snapshot).model_dump(), cut_points=as_dict(snapshot.cut_points) or {},
                          settings=as_dict(snapshot.settings) or {}, models=as_dict(snapshot.models))


@router.get("/snapshots/{snapshot_id}/classifications", response_model=Page[ClassificationPublic],
            summary="A snapshot's rows")
def snapshot_rows(
    db: DbSession,
    user: ClassificationsViewer,
    paging: Paging,
    snapshot_id: SnapshotId,
    rfm_class: RfmClass | None = None,
    rfm_group: RfmGroup | None = None,
    lifecycle_stage: LifecycleStage | None = None,
    clv_tier: ClvTier | None = None,
    cluster: Cluster = None,
    sort: RowSort = "customer_id",
) -> Page[ClassificationPublic]:
    """One page of a ready snapshot's rows (409 ``snapshot_not_ready`` while it is being written), filtered by
    class, group, stage, CLV tier or cluster, sorted (ties by customer id; missing values last)."""
    snapshot = _snapshot(db, snapshot_id)
    if snapshot.status != "ready":
        raise ApiError(409, "snapshot_not_ready", snapshot_id=snapshot_id, status=snapshot.status)
    stmt = (select(Classification, Customer.external_id)
            .join(Customer, Customer.id == Classification.customer_id)
            .where(Classification.snapshot_id == snapshot_id))
    for name, value in (("rfm_class", rfm_class), ("rfm_group", rfm_group), ("lifecycle_stage", lifecycle_stage),
                        ("clv_tier", clv_tier), ("cluster", cluster)):
        if value is not None:
            stmt = stmt.where(getattr(Classification, name) == value)
    stmt = stmt.order_by(*order_by(sort, _ROW_COLUMNS, Classification.customer_id))
    return paginate(db, stmt, paging, lambda row: classification_public(row[0], snapshot, row[1]), scalars=False)


@router.get("/customers/{customer_id}/classification", response_model=ClassificationPublic,
            summary="One customer's classification")
def customer_classification(
    db: DbSession,
    user: ClassificationsViewer,
    customer_id: CustomerId,
    as_of: Annotated[date | None, Query(description="snapshot date (default: the newest ready snapshot)")] = None,
) -> ClassificationPublic:
    """The customer's row in the newest ready snapshot, or the ready one dated ``as_of``."""
    customer = customer_writes.get_customer(db, customer_id)
    snapshot = pick_snapshot(db, as_of)
    if snapshot is None:
        raise ApiError(404, "no_snapshot")
    row = db.get(Classification, (snapshot.id, customer_id))
    if row is None:
        raise ApiError(404, "no_classification", customer_id=customer_id, snapshot_id=snapshot.id,
                       as_of=snapshot.as_of.isoformat())
    return classification_public(row, snapshot, customer.external_id)
