"""Normalising personal values before they are indexed or validated."""

from __future__ import annotations

import re

_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_PHONE_JUNK = re.compile(r"[\s\-()'\"=+]")


def normalise_phone(raw: str | None) -> str | None:
    """Digits of a phone number: drops spaces, dashes, apostrophes, ``="…"`` wrapping and a +86 / 0086 prefix.

    A mainland mobile comes back as 11 digits (``13812345678``); anything else is kept as given (stripped), since
    landlines and foreign numbers are valid too. Empty input gives ``None``.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    digits = _PHONE_JUNK.sub("", text)
    if text.lstrip("'=\" ").startswith("+") and not digits.startswith("86"):
        return text  # another country's number: kept as given
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and _MAINLAND_MOBILE.match(digits[len(prefix) :]):
            return digits[len(prefix) :]
    if _MAINLAND_MOBILE.match(digits):
        return digits
    return text


def is_mainland_mobile(phone: str | None) -> bool:
    """True when ``phone`` (normalised) is an 11-digit mainland mobile number (``^1[3-9]\\d{9}$``)."""
    return bool(phone) and bool(_MAINLAND_MOBILE.match(phone or ""))


def normalise_email(raw: str | None) -> str | None:
    """Lower-cased, stripped e-mail address; ``None`` when empty."""
    if raw is None:
        return None
    text = str(raw).strip().lower()
    return text or None
