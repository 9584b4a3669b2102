"""Managing the people who sign in: add, list, disable/enable, change role, reset password.

One service for the CLI (``kehu user …``) and the admin pages (``/admin/users``). Every change is audited in the
caller's transaction (:func:`kehu.privacy.audit.record`); nothing here commits. Passwords are hashed with Argon2
(:func:`kehu.web.auth.hash_password`) and never logged, returned or kept in the audit detail.

The store always keeps at least one active admin: disabling or demoting the last one raises :class:`LastAdmin`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, KehuError, NotFound
from kehu.privacy import audit
from kehu.store import User
from kehu.web.auth import ROLES, hash_password

#: A username: 2 to 64 characters, letters (any script), digits and ``. _ - @``; it starts with a letter or digit.
USERNAME = re.compile(r"^[\w][\w.@-]{1,63}$")
#: The shortest password accepted (characters); there is no upper limit but 1024 (the sign-in form's limit).
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class LastAdmin(KehuError):
    """The change would leave the store without an active admin."""

    status = 409


class UserExists(KehuError):
    """A user with this name exists already."""

    status = 409


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit log: the user (``None`` for the command line without a user), the
    channel (``cli``, ``web``, ``api``) and the client address (``None`` on the command line)."""

    user_id: int | None = None
    username: str | None = None
    via: str = "cli"
    ip: str | None = None


CLI = Actor(via="cli")


@dataclass(frozen=True)
class UserInfo:
    """A user as the list shows it (never the password hash)."""

    id: int
    username: str
    role: str
    is_active: bool
    created_at: datetime | None


def _info(user: User) -> UserInfo:
    return UserInfo(id=user.id, username=user.username, role=user.role, is_active=user.is_active,
                    created_at=user.created_at)


def _audit(session: Session, actor: Actor, action: str, user: User, detail: dict[str, object]) -> None:
    audit.record(session, action=action, user_id=actor.user_id, username=actor.username, target_type="user",
                 target_id=user.id, detail={"username": user.username, **detail}, ip=actor.ip, via=actor.via)


def check_role(role: str) -> str:
    """``role`` (stripped, lower-cased) when it is one of :data:`kehu.web.auth.ROLES`, else :class:`InvalidInput`."""
    value = (role or "").strip().lower()
    if value not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return value


def check_password(password: str) -> str:
    """``password`` unchanged when it has 10 to 1024 characters and is not only spaces, else :class:`InvalidInput`.

    The message never repeats the password.
    """
    if password is None or not password.strip() or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def check_username(username: str) -> str:
    """``username`` stripped when it matches :data:`USERNAME`, else :class:`InvalidInput`."""
    value = (username or "").strip()
    if not USERNAME.match(value):
        raise InvalidInput(f"username {value!r} is not valid: 2 to 64 letters, digits or . _ - @, "
                           "starting with a letter or digit")
    return value


def get_user(session: Session, username_or_id: str | int) -> User:
    """The user with this name (or this id, given as an ``int``); :class:`NotFound` otherwise."""
    if isinstance(username_or_id, int):
        user = session.get(User, username_or_id)
    else:
        user = session.scalar(select(User).where(User.username == username_or_id.strip()))
    if user is None:
        raise NotFound(f"no user {username_or_id!r}; `kehu user list` shows the users")
    return user


def list_users(session: Session) -> list[UserInfo]:
    """Every user, by name (active and disabled alike)."""
    return [_info(u) for u in session.scalars(select(User).order_by(User.username))]


def active_admins(session: Session) -> int:
    """How many active users have the role admin."""
    stmt = select(func.count()).select_from(User).where(User.role == "admin", User.is_active.is_(True))
    return int(session.scalar(stmt) or 0)


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    if user.role == "admin" and user.is_active and active_admins(session) <= 1:
        raise LastAdmin(f"cannot {what} {user.username!r}: it is the last active admin; "
                        "make another user admin first")


def add_user(session: Session, *, username: str, password: str, role: str = "viewer",
             actor: Actor = CLI) -> UserInfo:
    """Create an active user with ``role`` and an Argon2 hash of ``password``; audited as ``user_add``.

    Raises :class:`InvalidInput` for a bad name, role or password (under 10 characters) and :class:`UserExists`
    when the name is taken (names are compared exactly, case included).
    """
    username = check_username(username)
    role = check_role(role)
    check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"a user named {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password), role=role, is_active=True)
    session.add(user)
    session.flush()
    _audit(session, actor, "user_add", user, {"role": role})
    return _info(user)


def set_active(session: Session, username_or_id: str | int, active: bool, *, actor: Actor = CLI) -> UserInfo:
    """Enable (``active=True``) or disable a user; audited as ``user_enable`` / ``user_disable``.

    A disabled user cannot sign in, and a signed-in session of theirs ends at its next request. Disabling the last
    active admin raises :class:`LastAdmin`; a change to the state the user is already in is a no-op (not audited).
    """
    user = get_user(session, username_or_id)
    if user.is_active == active:
        return _info(user)
    if not active:
        _keep_an_admin(session, user, "disable")
    user.is_active = active
    session.flush()
    _audit(session, actor, "user_enable" if active else "user_disable", user, {})
    return _info(user)


def set_role(session: Session, username_or_id: str | int, role: str, *, actor: Actor = CLI) -> UserInfo:
    """Give a user another role; audited as ``role_change`` with the old and new role.

    Demoting the last active admin raises :class:`LastAdmin`; the same role again is a no-op (not audited).
    """
    user = get_user(session, username_or_id)
    role = check_role(role)
    if user.role == role:
        return _info(user)
    if role != "admin":
        _keep_an_admin(session, user, "demote")
    old = user.role
    user.role = role
    session.flush()
    _audit(session, actor, "role_change", user, {"from": old, "to": role})
    return _info(user)


def reset_password(session: Session, username_or_id: str | int, password: str, *, actor: Actor = CLI) -> UserInfo:
    """Set a new password (Argon2 hash); audited as ``update`` with ``{"field": "password"}`` (never the value)."""
    user = get_user(session, username_or_id)
    check_password(password)
    user.password_hash = hash_password(password)
    session.flush()
    _audit(session, actor, "update", user, {"field": "password"})
    return _info(user)
