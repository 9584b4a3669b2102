"""Turning store values into what a page shows: yuan from cents, shares, dates, masked personal fields."""

from __future__ import annotations

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


def masked_pii(cipher: FieldCipher, customer: Customer) -> MaskedPII:
    """Decrypt a customer's name, phone and e-mail and keep only their masks (``张**``, ``138****5678``).

    A ciphertext that does not decrypt with this key shows as ``?``, the page still renders.
    """

    def masked(field: str, token: str | None, mask) -> str:  # type: ignore[no-untyped-def]
        try:
            return mask(cipher.decrypt(field, token))
        except (InvalidTag, ValueError):
            return "?"

    return MaskedPII(
        name=masked("name", customer.name_enc, mask_name),
        phone=masked("phone", customer.phone_enc, mask_phone),
        email=masked("email", customer.email_enc, mask_email),
    )
