"""Who gets a task: a named owner, else the active agents in turn (round-robin by user id)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, NotFound
from kehu.store import User


def active_agents(session: Session) -> list[int]:
    """Ids of the active users with role ``agent``, in id order."""
    return list(session.scalars(select(User.id).where(User.role == "agent", User.is_active.is_(True))
                                .order_by(User.id)))


def check_owner(session: Session, owner_id: int | None) -> int | None:
    """``owner_id`` when it names an active user (or is ``None``); :class:`NotFound`/:class:`InvalidInput`
    otherwise."""
    if owner_id is None:
        return None
    user = session.get(User, owner_id)
    if user is None:
        raise NotFound(f"user {owner_id} does not exist; choose an owner from the users list")
    if not user.is_active:
        raise InvalidInput(f"user {user.username!r} is disabled and cannot own tasks; choose an active user")
    return user.id


def owner_for(owner_id: int | None, agents: list[int], turn: int) -> int | None:
    """The owner of the ``turn``-th task: ``owner_id`` when given, else ``agents[turn % len(agents)]``, else ``None``
    (no agent: the task is unassigned and shows in everyone's open list)."""
    if owner_id is not None:
        return owner_id
    if not agents:
        return None
    return agents[turn % len(agents)]
