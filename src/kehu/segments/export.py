"""Exporting a segment's members: personal fields masked, labels in Chinese or English, money in yuan, every
text cell formula-neutralised, and an audit record (``export``) of who exported which segment."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy.orm import Session

from kehu.analytics.export import neutralise_formulas
from kehu.analytics.labels import label
from kehu.errors import InvalidInput
from kehu.privacy import FieldCipher, audit, mask_email, mask_name, mask_phone
from kehu.segments.service import ensure_membership, member_rows
from kehu.store import ClassificationSnapshot, Customer, Segment
from kehu.users import Actor

#: An export holds at most this many members.
EXPORT_MAX_ROWS = 1_000_000
FORMATS = ("csv", "xlsx")

_HEADERS: dict[str, tuple[str, ...]] = {
    "en": ("customer_id", "name", "phone", "email", "province", "city", "channel", "rfm_class", "rfm_group",
           "lifecycle_stage", "recency_days", "frequency", "monetary", "clv_12m", "churn_risk"),
    "zh": ("客户编号", "姓名", "手机", "邮箱", "省份", "城市", "渠道", "RFM 类别", "RFM 分组", "生命周期",
           "最近购买天数", "购买次数", "消费金额", "12 个月客户价值", "流失风险"),
}


@dataclass(frozen=True)
class SegmentExport:
    """An export's file content, its row count and the snapshot date it shows."""

    content: bytes
    rows: int
    filename: str
    media_type: str


def masked(cipher: FieldCipher, customer: Customer) -> tuple[str | None, str | None, str | None]:
    """The customer's name, phone and e-mail, decrypted only to be masked (``张**``, ``138****5678``); ``?`` for
    a value that does not decrypt with this key, ``None`` for none."""

    def one(field: str, token: str | None, mask: Any) -> str | None:
        if not token:
            return None
        try:
            return mask(cipher.decrypt(field, token)) or None
        except (InvalidTag, ValueError):
            return "?"

    return (one("name", customer.name_enc, mask_name), one("phone", customer.phone_enc, mask_phone),
            one("email", customer.email_enc, mask_email))


def _yuan(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(int(cents)).scaleb(-2)


def export_table(session: Session, cipher: FieldCipher, segment: Segment, snapshot: ClassificationSnapshot,
                 lang: str = "zh") -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the segment's members in the snapshot (computed first if they never were)."""
    size = ensure_membership(session, segment, snapshot)
    if size > EXPORT_MAX_ROWS:
        raise InvalidInput(f"segment {segment.name!r} has {size:,} members, more than the {EXPORT_MAX_ROWS:,} an "
                           "export holds; narrow its rule")
    header = list(_HEADERS["zh" if lang == "zh" else "en"])
    rows: list[list[Any]] = []
    for customer, k in member_rows(session, segment, snapshot, limit=None):
        name, phone, email = masked(cipher, customer)
        texts = neutralise_formulas([customer.external_id, name, phone, email,
                                     customer.province, customer.city, customer.channel,
                                     label("rfm_class", k.rfm_class, lang) or None,
                                     label("rfm_group", k.rfm_group, lang) or None,
                                     label("lifecycle_stage", k.lifecycle_stage, lang) or None])
        numbers = [k.recency_days, k.frequency, _yuan(k.monetary_cents), _yuan(k.clv_365d_cents),
                   None if k.churn_risk is None else round(float(k.churn_risk), 4)]
        rows.append([*texts, *numbers])
    return header, rows


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("segment")
    sheet.append(header)
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_segment(session: Session, cipher: FieldCipher, segment: Segment, snapshot: ClassificationSnapshot, *,
                   fmt: str = "csv", lang: str = "zh", actor: Actor | None = None) -> SegmentExport:
    """The members as CSV (UTF-8 with BOM, for Excel) or XLSX, masked and formula-safe; audited (``export``:
    segment id, format, rows, date) in the caller's transaction, which the caller commits before handing the
    file out."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; use csv or xlsx")
    header, rows = export_table(session, cipher, segment, snapshot, lang)
    content = _csv(header, rows) if fmt == "csv" else _xlsx(header, rows)
    actor = actor or Actor()
    audit.record(session, action="export", user_id=actor.user_id, username=actor.username, target_type="segment",
                 target_id=segment.id, detail={"format": fmt, "rows": len(rows), "as_of": snapshot.as_of.isoformat()},
                 ip=actor.ip, via=actor.via)
    media = "text/csv; charset=utf-8" if fmt == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return SegmentExport(content=content, rows=len(rows), filename=f"segment-{segment.id}-{snapshot.as_of}.{fmt}",
                         media_type=media)


__all__ = ["EXPORT_MAX_ROWS", "FORMATS", "SegmentExport", "export_segment", "export_table", "masked"]
