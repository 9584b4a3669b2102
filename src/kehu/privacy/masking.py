"""Display masks for personal fields (``138****5678``, ``张**``)."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; shorter numbers keep their last 2 digits; ``None`` → ``""``."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return phone[:3] + "*" * 4 + phone[-4:]
    return "*" * max(len(phone) - 2, 1) + phone[-2:]


def mask_name(name: str | None) -> str:
    """Keep the first character: ``张三丰`` → ``张**``, ``Alice`` → ``A****``; ``None`` → ``""``."""
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_email(email: str | None) -> str:
    """``alice@example.com`` → ``a****@example.com``."""
    if not email or "@" not in email:
        return mask_name(email)
    user, domain = email.split("@", 1)
    return mask_name(user) + "@" + domain
