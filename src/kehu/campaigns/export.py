"""A campaign's contact list as CSV (UTF-8 with BOM, for Excel) or XLSX.

Personal fields are masked (``138****5678``, ``张**``) unless the caller asks to reveal them *and* may
(``reveal_pii``); every text cell is formula-neutralised (a spreadsheet must not run ``=…`` from imported data).
The caller audits the export (:func:`kehu.privacy.audit.record`, action ``export``, with whether it was revealed).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.analytics.export import neutralise_formulas
from kehu.analytics.labels import label
from kehu.errors import InvalidInput
from kehu.privacy import FieldCipher, mask_email, mask_name, mask_phone
from kehu.store import Campaign, CampaignMember, Classification, Customer

FORMATS: tuple[str, ...] = ("csv", "xlsx")
ARM_CHOICES: tuple[str, ...] = ("treatment", "holdout", "all")
HEADERS: dict[str, tuple[str, ...]] = {
    "zh": ("客户编号", "姓名", "手机", "邮箱", "分组", "优惠券码", "回访任务", "生命周期阶段"),
    "en": ("customer id", "name", "phone", "e-mail", "arm", "coupon code", "call-back task", "lifecycle stage"),
}
ARM_NAMES = {"zh": {"treatment": "实验组", "holdout": "对照组"}, "en": {"treatment": "treatment", "holdout": "holdout"}}


def _plain(cipher: FieldCipher, field: str, token: str | None) -> str:
    try:
        return cipher.decrypt(field, token) or ""
    except (InvalidTag, ValueError):
        return ""


def contact_rows(session: Session, cipher: FieldCipher, campaign: Campaign, *, arm: str = "treatment",
                 reveal: bool = False, lang: str = "zh") -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the contact list of ``arm`` (``treatment``, ``holdout`` or ``all``), by customer id.

    ``reveal`` shows name, phone and e-mail in plaintext; the caller has checked the user may see them. Erased
    customers appear with empty personal fields.
    """
    if arm not in ARM_CHOICES:
        raise InvalidInput(f"unknown arm {arm!r}; use treatment, holdout or all")
    if lang not in HEADERS:
        lang = "zh"
    m, c, k = CampaignMember, Customer, Classification
    stmt = (select(m, c, k.lifecycle_stage).join(c, c.id == m.customer_id)
            .outerjoin(k, (k.customer_id == m.customer_id) & (k.snapshot_id == campaign.snapshot_id))
            .where(m.campaign_id == campaign.id).order_by(m.customer_id))
    if arm != "all":
        stmt = stmt.where(m.arm == arm)
    rows: list[list[Any]] = []
    for member, customer, stage in session.execute(stmt):
        name = _plain(cipher, "name", customer.name_enc)
        phone = _plain(cipher, "phone", customer.phone_enc)
        email = _plain(cipher, "email", customer.email_enc)
        if not reveal:
            name, phone, email = mask_name(name), mask_phone(phone), mask_email(email)
        texts = [customer.external_id, name or None, phone or None, email or None,
                 ARM_NAMES[lang][member.arm], member.coupon_code,
                 None if member.task_id is None else f"#{member.task_id}",
                 label("lifecycle_stage", stage, lang) or None]
        rows.append(neutralise_formulas(texts))
    return list(HEADERS[lang]), rows


def to_bytes(header: list[str], rows: list[list[Any]], fmt: str) -> bytes:
    """The table as CSV (UTF-8 with BOM, CRLF) or XLSX bytes."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("contacts")
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    raise InvalidInput(f"unknown export format {fmt!r}; use csv or xlsx")
