"""Coupon codes: unique per customer and unguessable.

A code is ``KH`` + 12 characters of Crockford's base-32 alphabet (no I, L, O, U: nothing to misread on a phone),
drawn by :mod:`secrets`: 60 random bits, so guessing a valid code among even a million issued ones takes about 10¹²
tries. Uniqueness is held by the database (``uq_campaign_members_coupon_code``); the writer retries on the rare
collision.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "KH"
LENGTH = 12


def new_code() -> str:
    """A fresh random code such as ``KH7Q2M-9XD4-TRWA`` without the dashes: ``KH7Q2M9XD4TRWA``."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def new_codes(n: int) -> list[str]:
    """``n`` distinct fresh codes (distinct among themselves; the database checks them against older ones)."""
    codes: set[str] = set()
    while len(codes) < n:
        codes.add(new_code())
    return list(codes)


def is_code(text: str) -> bool:
    """True when ``text`` has the shape of a kehu coupon code."""
    body = text.removeprefix(PREFIX)
    return text.startswith(PREFIX) and len(body) == LENGTH and all(c in ALPHABET for c in body)
