"""``/customers``: list (filters, search by phone or e-mail through the blind index, sorting), get (masked, or
revealed with an audit event), create, update, delete."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from kehu.api import customer_writes
from kehu.api.auth import ApiUser, api_require, client_ip
from kehu.api.errors import ApiError
from kehu.api.paging import Paging, order_by, paginate
from kehu.api.params import ClvTier, CustomerId, LifecycleStage, RevealParam, RfmClass, RfmGroup, reveal_fields
from kehu.api.present import customer_public
from kehu.api.schemas import CustomerCreate, CustomerPublic, CustomerUpdate, Gender, Page
from kehu.errors import InvalidInput
from kehu.privacy import audit, normalise_email, normalise_phone
from kehu.store import Classification, Customer
from kehu.web.deps import DbSession
from kehu.web.queries import pick_snapshot

router = APIRouter(tags=["customers"])

CustomersViewer = Annotated[ApiUser, Depends(api_require("view_customers"))]
CustomersEditor = Annotated[ApiUser, Depends(api_require("edit_customers"))]
CustomersDeleter = Annotated[ApiUser, Depends(api_require("delete_customers"))]

CustomerSort = Literal[
    "id", "-id", "external_id", "-external_id", "created_at", "-created_at", "registered_at", "-registered_at",
    "birth_year", "-birth_year", "province", "-province", "city", "-city",
]
_SORT_COLUMNS = {
    "id": Customer.id, "external_id": Customer.external_id, "created_at": Customer.created_at,
    "registered_at": Customer.registered_at, "birth_year": Customer.birth_year, "province": Customer.province,
    "city": Customer.city,
}


def _text(description: str, max_length: int = 64) -> object:
    return Query(max_length=max_length, description=description)


@router.get("/customers", response_model=Page[CustomerPublic], summary="List and search customers")
def list_customers(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    paging: Paging,
    phone: Annotated[str | None, _text("exact phone number in any common format (+86 138 0013 8000, "
                                       "'13800138000); matched through its blind index")] = None,
    email: Annotated[str | None, _text("exact e-mail address (case does not matter)", 254)] = None,
    external_id: Annotated[str | None, _text("the id in the source system", 128)] = None,
    source: Annotated[str | None, _text("import format or api", 16)] = None,
    province: Annotated[str | None, _text("province", 32)] = None,
    city: Annotated[str | None, _text("city")] = None,
    channel: Annotated[str | None, _text("channel", 32)] = None,
    gender: Gender | None = None,
    marketing_consent: bool | None = None,
    erased: Annotated[bool | None, Query(description="true: only erased customers; false: none")] = None,
    rfm_class: RfmClass | None = None,
    rfm_group: RfmGroup | None = None,
    lifecycle_stage: LifecycleStage | None = None,
    clv_tier: ClvTier | None = None,
    as_of: Annotated[date | None, Query(description="snapshot date of the class filters (default: newest)")] = None,
    sort: CustomerSort = "id",
) -> Page[CustomerPublic]:
    """Customers, filtered and sorted (ties by id), one page; personal fields masked.

    Class filters (``rfm_class``, ``rfm_group``, ``lifecycle_stage``, ``clv_tier``) use the newest ready snapshot,
    or the one dated ``as_of``.
    """
    stmt = select(Customer)
    cipher = request.app.state.cipher
    if phone is not None:
        normalised = normalise_phone(phone)
        if not normalised:
            raise InvalidInput("phone: give a phone number to search for, e.g. 13800138000")
        stmt = stmt.where(Customer.phone_index == cipher.blind_index("phone", normalised))
    if email is not None:
        normalised = normalise_email(email)
        if not normalised:
            raise InvalidInput("email: give an e-mail address to search for")
        stmt = stmt.where(Customer.email_index == cipher.blind_index("email", normalised))
    for column, value in ((Customer.external_id, external_id), (Customer.source, source),
                          (Customer.province, province), (Customer.city, city), (Customer.channel, channel),
                          (Customer.gender, gender), (Customer.marketing_consent, marketing_consent)):
        if value is not None:
            stmt = stmt.where(column == value)
    if erased is not None:
        stmt = stmt.where(Customer.erased_at.is_not(None) if erased else Customer.erased_at.is_(None))
    classes = {"rfm_class": rfm_class, "rfm_group": rfm_group, "lifecycle_stage": lifecycle_stage,
               "clv_tier": clv_tier}
    if any(v is not None for v in classes.values()):
        snapshot = pick_snapshot(db, as_of)
        if snapshot is None:
            raise ApiError(404, "no_snapshot")
        stmt = stmt.join(Classification, (Classification.customer_id == Customer.id)
                         & (Classification.snapshot_id == snapshot.id))
        for name, value in classes.items():
            if value is not None:
                stmt = stmt.where(getattr(Classification, name) == value)
    stmt = stmt.order_by(*order_by(sort, _SORT_COLUMNS, Customer.id))
    return paginate(db, stmt, paging, lambda c: customer_public(cipher, c))


@router.get("/customers/{customer_id}", response_model=CustomerPublic, summary="Get one customer")
def get_customer(
    request: Request, db: DbSession, user: CustomersViewer, customer_id: CustomerId, reveal: RevealParam = None,
) -> CustomerPublic:
    """One customer, personal fields masked; ``?reveal=phone`` shows the named fields in plain text to roles with
    ``reveal_pii`` and records an audit event ``reveal`` (field names only) before answering."""
    fields = reveal_fields(reveal)
    if fields and not user.can("reveal_pii"):
        raise ApiError(403, "reveal_forbidden", role=user.role)
    customer = customer_writes.get_customer(db, customer_id)
    if fields:
        audit.record(db, action="reveal", user_id=user.id, username=user.username, target_type="customer",
                     target_id=customer.id, detail={"fields": fields}, ip=client_ip(request), via="api")
        db.commit()
    return customer_public(request.app.state.cipher, customer, fields)


@router.post("/customers", response_model=CustomerPublic, status_code=201, summary="Create a customer")
def create_customer(
    request: Request, response: Response, db: DbSession, user: CustomersEditor, body: CustomerCreate,
) -> CustomerPublic:
    """A new customer (source ``api``): personal fields encrypted and indexed as the import does; consent recorded
    as an event; audited (``create``). Answers the masked customer and its address in ``Location``."""
    cipher = request.app.state.cipher
    customer = customer_writes.create_customer(session=db, cipher=cipher, data=body, user=user,
                                               ip=client_ip(request))
    db.commit()
    response.headers["Location"] = f"{request.scope.get('root_path', '')}/api/v1/customers/{customer.id}"
    return customer_public(cipher, customer)


@router.patch("/customers/{customer_id}", response_model=CustomerPublic, summary="Update a customer")
def update_customer(
    request: Request, db: DbSession, user: CustomersEditor, customer_id: CustomerId, body: CustomerUpdate,
) -> CustomerPublic:
    """Change the fields sent (``null`` clears one); audited (``update``, field names only)."""
    cipher = request.app.state.cipher
    customer = customer_writes.update_customer(session=db, cipher=cipher, customer_id=customer_id, data=body,
                                               user=user, ip=client_ip(request))
    db.commit()
    return customer_public(cipher, customer)


@router.delete("/customers/{customer_id}", status_code=204, summary="Delete a customer without orders")
def delete_customer(request: Request, db: DbSession, user: CustomersDeleter, customer_id: CustomerId) -> Response:
    """Delete a customer that has no orders (409 ``customer_has_orders`` otherwise: use a privacy erase, which
    keeps the orders anonymised); audited (``delete``)."""
    customer_writes.delete_customer(session=db, customer_id=customer_id, user=user, ip=client_ip(request))
    db.commit()
    return Response(status_code=204)
