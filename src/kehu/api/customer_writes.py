"""Creating, updating and deleting one customer through the API, written exactly as the import writes customers.

The personal fields go through the import's own :func:`kehu.ingest.pipeline._customer_table` (normalised phone and
e-mail, AES-GCM ciphertexts, blind indexes, keyed row hash), so a customer created here is found by the same
searches and de-duplicated by the same indexes as an imported one. The ID number, which imports do not carry, is
encrypted under the field name ``id_number`` (as :mod:`kehu.privacy.subject` reads it). Marketing consent is
recorded as a consent event (:func:`kehu.privacy.consent.record_consent`, source ``api``), never set directly.

Every change adds an audit event (``create``, ``update``, ``delete``; field names only) to the caller's session;
the caller commits.
"""

from __future__ import annotations

import secrets
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kehu.api.auth import ApiUser
from kehu.api.errors import ApiError
from kehu.api.schemas import CustomerCreate, CustomerUpdate
from kehu.errors import InvalidInput, NotFound
from kehu.ingest.pipeline import PII_FIELDS, PLAIN_FIELDS, _customer_table
from kehu.privacy import FieldCipher, audit
from kehu.privacy.consent import record_consent
from kehu.store import Classification, ConsentEvent, Customer, CustomerNote, Order

#: The source of customers created through the API (``customers.source``).
API_SOURCE = "api"

#: Columns the import writes that the API may set (the import run id and the keys are not among them).
_WRITTEN = ("name_enc", "phone_enc", "phone_index", "email_enc", "email_index", "address_enc", "gender",
            "birth_year", "province", "city", "channel", "registered_at", "row_hash")

#: Arrow types of the import's customer fields, for a one-row table.
_TYPES: dict[str, pa.DataType] = {
    "name": pa.string(), "phone": pa.string(), "email": pa.string(), "address": pa.string(),
    "province": pa.string(), "city": pa.string(), "channel": pa.string(), "gender": pa.string(),
    "birth_year": pa.int16(), "registered_at": pa.timestamp("us"), "marketing_consent": pa.bool_(),
}


def encrypted_columns(cipher: FieldCipher, external_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The store columns for the fields in ``values`` (field → plaintext or ``None`` to clear), computed by the
    import's own code; ``id_number`` is encrypted here. Fields not in ``values`` are not touched.

    ``marketing_consent`` is not handled here (it is a consent event).
    """
    fields = {f for f in values if f in PII_FIELDS or f in PLAIN_FIELDS} - {"marketing_consent"}
    columns: dict[str, Any] = {}
    if fields:
        data = {"external_id": pa.array([external_id], pa.string())}
        for name in (*PII_FIELDS, *PLAIN_FIELDS):
            data[name] = pa.array([values.get(name) if name in fields else None], _TYPES[name])
        table = _customer_table(pa.table(data), source=API_SOURCE, run_id=0, cipher=cipher, full=True,
                                fields=fields)
        row = table.to_pylist()[0]
        columns = {k: v for k, v in row.items() if k in _WRITTEN}
    if "id_number" in values:
        columns["id_number_enc"] = cipher.encrypt("id_number", values["id_number"])
    return columns


def _who(user: ApiUser, ip: str | None) -> dict[str, Any]:
    return {"user_id": user.id, "username": user.username, "ip": ip, "via": "api"}


def create_customer(*, session: Session, cipher: FieldCipher, data: CustomerCreate, user: ApiUser,
                    ip: str | None) -> Customer:
    """Add a customer (source ``api``) from ``data``; 409 when the source already has its ``external_id``.

    A missing ``external_id`` becomes ``api-`` + 16 random hex digits. Returns the flushed row (with its id).
    """
    external_id = data.external_id or f"api-{secrets.token_hex(8)}"
    exists = session.scalar(select(Customer.id).where(Customer.source == API_SOURCE,
                                                      Customer.external_id == external_id))
    if exists is not None:
        raise ApiError(409, "customer_exists", source=API_SOURCE, external_id=external_id)
    values = data.model_dump(exclude_unset=True, exclude={"external_id", "marketing_consent"})
    customer = Customer(source=API_SOURCE, external_id=external_id, **encrypted_columns(cipher, external_id, values))
    session.add(customer)
    try:
        session.flush()
    except IntegrityError:  # created by someone else between the check and the insert
        session.rollback()
        raise ApiError(409, "customer_exists", source=API_SOURCE, external_id=external_id) from None
    if data.marketing_consent is not None:
        record_consent(session, customer_id=customer.id, granted=data.marketing_consent, source=API_SOURCE,
                       user_id=user.id)
    given = sorted(set(values) | ({"marketing_consent"} if data.marketing_consent is not None else set()))
    audit.record(session, action="create", target_type="customer", target_id=customer.id,
                 detail={"fields": given, "source": API_SOURCE}, **_who(user, ip))
    return customer


def get_customer(session: Session, customer_id: int) -> Customer:
    """The customer with store id ``customer_id``; :class:`NotFound` otherwise."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def update_customer(*, session: Session, cipher: FieldCipher, customer_id: int, data: CustomerUpdate,
                    user: ApiUser, ip: str | None) -> Customer:
    """Change the fields sent in ``data`` (``null`` clears one); 409 for an erased customer.

    The row hash is cleared when profile fields change: it is the import's fingerprint of the source file's row, so
    a later import of the customer's source rewrites the row from the file when its content differs.
    A consent value equal to the one in force records nothing.
    """
    customer = get_customer(session, customer_id)
    if customer.erased_at is not None:
        raise ApiError(409, "customer_erased", customer_id=customer_id)
    values = data.model_dump(exclude_unset=True)
    consent = values.pop("marketing_consent", ...)
    if consent is None:
        raise InvalidInput("marketing_consent cannot be cleared; withdraw consent with false (the history is kept)")
    columns = encrypted_columns(cipher, customer.external_id, values)
    if columns:
        columns["row_hash"] = None
    for name, value in columns.items():
        setattr(customer, name, value)
    changed = sorted(values)
    if consent is not ... and consent != customer.marketing_consent:
        record_consent(session, customer_id=customer.id, granted=bool(consent), source=API_SOURCE, user_id=user.id)
        changed.append("marketing_consent")
    audit.record(session, action="update", target_type="customer", target_id=customer.id,
                 detail={"fields": sorted(changed)}, **_who(user, ip))
    session.flush()
    return customer


def delete_customer(*, session: Session, customer_id: int, user: ApiUser, ip: str | None) -> None:
    """Delete a customer without orders, with its snapshot rows, notes and consent history.

    A customer with orders is refused (409 ``customer_has_orders``): the orders carry the shop's figures, and the
    personal data is removed by a privacy erase instead, which keeps them anonymised.
    """
    customer = get_customer(session, customer_id)
    orders = session.scalar(select(func.count()).select_from(Order).where(Order.customer_id == customer_id)) or 0
    if orders:
        raise ApiError(409, "customer_has_orders", customer_id=customer_id, orders=orders,
                       external_id=customer.external_id, source=customer.source)
    session.execute(delete(Classification).where(Classification.customer_id == customer_id))
    session.execute(delete(ConsentEvent).where(ConsentEvent.customer_id == customer_id))
    session.execute(delete(CustomerNote).where(CustomerNote.customer_id == customer_id))
    source = customer.source
    session.delete(customer)
    audit.record(session, action="delete", target_type="customer", target_id=customer_id,
                 detail={"source": source}, **_who(user, ip))
    session.flush()
