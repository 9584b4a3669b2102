"""Turning store values into what a page shows: yuan from cents, shares, dates, masked personal fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.exceptions import InvalidTag

from kehu.privacy import FieldCipher, mask_email, mask_name, mask_phone
from kehu.store import Customer


def yuan(cents: int | None, symbol: bool = True) -> str:
    """Integer cents as yuan with two decimals and thousands separators: ``123456`` → ``¥1,234.56``."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, fen = divmod(abs(int(cents)), 100)
    return f"{sign}{'¥' if symbol else ''}{whole:,}.{fen:02d}"


def yuan_number(cents: int) -> float:
    """Cents as a yuan number for a chart axis (display only, never summed again)."""
    return round(cents / 100, 2)


def percent(share: float | None) -> str:
    """``0.1234`` → ``12.3%``; ``None`` → ``—``."""
    return "—" if share is None else f"{share * 100:.1f}%"


def decimal(value: float | None, digits: int = 2) -> str:
    """``1.23456`` → ``1.23`` (``digits`` decimals); ``None`` → ``—``."""
    return "—" if value is None else f"{value:.{digits}f}"


def day(value: date | datetime | None) -> str:
    """``YYYY-MM-DD`` (``—`` for none)."""
    if value is None:
        return "—"
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def minute(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` (``—`` for none)."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class MaskedPII:
    """The masked personal fields of one customer, ready to show to any role."""

    name: str
    phone: str
    email: str
    address: str = ""
    id_number: str = ""


def mask_address(address: str | None) -> str:
    """Keep the first 6 characters (about province and city): ``广东省深圳市南山区…`` → ``广东省深圳市****``."""
    if not address:
        return ""
    return address[:6] + "****" if len(address) > 6 else address[:1] + "****"


def mask_id_number(number: str | None) -> str:
    """Keep the first 3 and last 4 characters of an ID number of 10 or more: ``110***********1234``; shorter
    ones keep their last character only."""
    if not number:
        return ""
    if len(number) >= 10:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * (len(number) - 1) + number[-1:]


#: Each revealable personal field: its ciphertext column on ``Customer`` and its mask.
PII_FIELDS: dict[str, tuple[str, Callable[[str | None], str]]] = {
    "name": ("name_enc", mask_name),
    "phone": ("phone_enc", mask_phone),
    "email": ("email_enc", mask_email),
    "address": ("address_enc", mask_address),
    "id_number": ("id_number_enc", mask_id_number),
}


def masked_pii(cipher: FieldCipher, customer: Customer) -> MaskedPII:
    """Decrypt a customer's name, phone, e-mail, address and ID number and keep only their masks (``张**``,
    ``138****5678``).

    A ciphertext that does not decrypt with this key shows as ``?``, the page still renders.
    """

    def masked(field: str, token: str | None, mask) -> str:  # type: ignore[no-untyped-def]
        try:
            return mask(cipher.decrypt(field, token))
        except (InvalidTag, ValueError):
            return "?"

    return MaskedPII(
        **{field: masked(field, getattr(customer, column), mask) for field, (column, mask) in PII_FIELDS.items()}
    )
