"""The audit log: one row per sign-in, reveal, export, import, edit, deletion, role change or privacy request.

Callers pass ids and field names, never personal values: the log must not become a second copy of the data it
protects. ``record`` adds the row to the caller's session, so it commits (or rolls back) with the action itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kehu.store import AuditEvent

#: The actions the log knows; anything else is a programming error.
ACTIONS: frozenset[str] = frozenset({
    "sign_in", "sign_in_failed", "sign_out", "reveal", "export", "import", "create", "update", "delete",
    "role_change", "user_add", "user_disable", "user_enable", "api_key_create", "api_key_revoke", "consent",
    "privacy_export", "privacy_erase", "key_rotation", "note",
})


def record(session: Session, *, action: str, user_id: int | None = None, username: str | None = None,
           target_type: str | None = None, target_id: str | int | None = None,
           detail: dict[str, Any] | None = None, ip: str | None = None, via: str | None = None) -> AuditEvent:
    """Add an audit event to ``session`` and return it.

    Parameters
    ----------
    action
        One of :data:`ACTIONS`.
    user_id, username
        Who did it (``None`` for the system or an unknown user, e.g. a failed sign-in's name is kept in
        ``detail`` only when it is not personal data).
    target_type, target_id
        What it was done to (``customer`` and the store id, ``user`` and the user id, ``import_run``, ...).
    detail
        Field names, counts, formats: no personal values.
    ip, via
        The client address and the channel (``web``, ``api``, ``cli``).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to kehu.privacy.audit.ACTIONS")
    event = AuditEvent(action=action, user_id=user_id, username=username, target_type=target_type,
                       target_id=None if target_id is None else str(target_id), detail=detail, ip=ip, via=via)
    session.add(event)
    return event
