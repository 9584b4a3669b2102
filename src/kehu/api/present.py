"""Store rows as API responses: personal fields masked (``masked_pii``) unless revealed, JSON columns parsed."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from cryptography.exceptions import InvalidTag

from kehu.api.schemas import ClassificationPublic, CustomerPublic, OrderPublic, SnapshotPublic
from kehu.privacy import FieldCipher, mask_phone
from kehu.store import Classification, ClassificationSnapshot, Customer, Order
from kehu.web.present import masked_pii

#: Personal fields a client may ask to see in plain text (``?reveal=``), and their ciphertext columns.
REVEALABLE: dict[str, str] = {
    "name": "name_enc",
    "phone": "phone_enc",
    "email": "email_enc",
    "address": "address_enc",
    "id_number": "id_number_enc",
}


def mask_address(address: str | None) -> str:
    """Keep the first three characters (usually the province): ``广东省深圳市…`` → ``广东省****``."""
    if not address:
        return ""
    return address[:3] + "****"


def mask_id_number(number: str | None) -> str:
    """Keep the first three and last four characters: ``110101199001011234`` → ``110****1234``."""
    return mask_phone(number)


def _decrypt(cipher: FieldCipher, field: str, token: str | None, shown: Callable[[str | None], str]) -> str | None:
    """``shown(plaintext)``, ``None`` for an empty field, ``?`` for a ciphertext that does not decrypt."""
    if token is None:
        return None
    try:
        return shown(cipher.decrypt(field, token)) or None
    except (InvalidTag, ValueError):
        return "?"


def customer_public(cipher: FieldCipher, customer: Customer, reveal: Collection[str] = ()) -> CustomerPublic:
    """The API view of ``customer``: every personal field masked except those in ``reveal`` (plain text).

    The caller checks the permission and writes the audit event before revealing anything.
    """
    masked = masked_pii(cipher, customer)
    masks: dict[str, str | None] = {
        "name": masked.name or None,
        "phone": masked.phone or None,
        "email": masked.email or None,
        "address": _decrypt(cipher, "address", customer.address_enc, mask_address),
        "id_number": _decrypt(cipher, "id_number", customer.id_number_enc, mask_id_number),
    }
    for field in reveal:
        masks[field] = _decrypt(cipher, field, getattr(customer, REVEALABLE[field]), lambda v: v or "")
    return CustomerPublic(
        id=customer.id, source=customer.source, external_id=customer.external_id,
        name=masks["name"], phone=masks["phone"], email=masks["email"], address=masks["address"],
        id_number=masks["id_number"], gender=customer.gender, birth_year=customer.birth_year,
        province=customer.province, city=customer.city, channel=customer.channel,
        registered_at=customer.registered_at, marketing_consent=customer.marketing_consent,
        created_at=customer.created_at, erased=customer.erased_at is not None, revealed=sorted(reveal),
    )


def order_public(order: Order) -> dict[str, Any]:
    """The API fields of an order (a dict, so :class:`~kehu.api.schemas.OrderDetail` can add the lines)."""
    refunded = order.refunded_cents or 0
    return OrderPublic(
        id=order.id, source=order.source, external_id=order.external_id, customer_id=order.customer_id,
        ordered_at=order.ordered_at, amount_cents=order.amount_cents, refunded_cents=refunded,
        discount_cents=order.discount_cents or 0, net_cents=order.amount_cents - refunded, status=order.status,
        is_paid=bool(order.is_paid), is_purchase=bool(order.is_paid) and refunded < order.amount_cents,
        channel=order.channel, province=order.province, city=order.city,
    ).model_dump()


def snapshot_public(snapshot: ClassificationSnapshot) -> SnapshotPublic:
    """The API view of a snapshot (without its cut points and model report)."""
    return SnapshotPublic(
        id=snapshot.id, as_of=snapshot.as_of, status=snapshot.status, created_at=snapshot.created_at,
        customers=snapshot.customers or 0, has_predictions=snapshot.models is not None,
        summary=as_dict(snapshot.summary), message=snapshot.message if snapshot.status == "failed" else None,
    )


def as_dict(value: Any) -> dict[str, Any] | None:  # noqa: ANN401
    """A JSON column as a dict (some drivers hand back text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {"value": value}


def _json_list(text: str | None) -> list[Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def classification_public(row: Classification, snapshot: ClassificationSnapshot,
                          external_id: str) -> ClassificationPublic:
    """The API view of one snapshot row (reasons and recommendations parsed from their JSON text)."""
    reasons = _json_list(row.churn_reasons)
    recommendations = _json_list(row.recommendations)
    return ClassificationPublic(
        snapshot_id=snapshot.id, as_of=snapshot.as_of, customer_id=row.customer_id, external_id=external_id,
        recency_days=row.recency_days, frequency=row.frequency, monetary_cents=row.monetary_cents,
        aov_cents=row.aov_cents, r_score=row.r_score, f_score=row.f_score, m_score=row.m_score,
        rfm_class=row.rfm_class, rfm_group=row.rfm_group, lifecycle_stage=row.lifecycle_stage,
        first_order_date=row.first_order_date, last_order_date=row.last_order_date,
        median_gap_days=row.median_gap_days, p_alive=row.p_alive,
        expected_purchases_90d=row.expected_purchases_90d, expected_purchases_365d=row.expected_purchases_365d,
        expected_aov_cents=row.expected_aov_cents, clv_365d_cents=row.clv_365d_cents, clv_tier=row.clv_tier,
        churn_risk=row.churn_risk,
        churn_reasons=[r for r in reasons if isinstance(r, dict)] if reasons is not None else None,
        cluster=row.cluster,
        recommendations=[int(p) for p in recommendations if isinstance(p, int)] if recommendations is not None
        else None,
    )
