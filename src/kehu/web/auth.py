"""Users of the web app: Argon2 password hashes, the first admin, sign-in with throttling, roles.

Roles (DESIGN.md): ``admin`` (everything), ``analyst`` (analysis, no raw personal data), ``agent`` (customer
profiles; revealing a field is audited, in a later issue) and ``viewer`` (dashboards only). What each role may
do is the one table :data:`PERMISSIONS`; pages ask for a permission with :func:`require`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.config import Settings
from kehu.store import User, open_store, session_scope

ROLES: tuple[str, ...] = ("admin", "analyst", "agent", "viewer")

_ALL = frozenset(ROLES)

#: permission → the roles that have it: the one table of who may do what, for the pages and the REST API alike
#: (DESIGN.md: admin everything; analyst analysis without raw personal data; agent customer work, revealing a
#: personal field with an audit record; viewer dashboards only). A route without a permission fails the tests.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_dashboard": _ALL,
    "view_customers": frozenset({"admin", "analyst", "agent"}),
    "view_orders": frozenset({"admin", "analyst", "agent"}),
    "view_classifications": frozenset({"admin", "analyst", "agent"}),
    "reveal_pii": frozenset({"admin", "agent"}),
    "edit_customers": frozenset({"admin", "agent"}),
    "delete_customers": frozenset({"admin"}),
    "add_notes": frozenset({"admin", "agent"}),
    "import_data": frozenset({"admin", "analyst"}),
    "export_data": frozenset({"admin", "analyst"}),
    "manage_api_keys": frozenset({"admin", "analyst", "agent"}),
    "manage_users": frozenset({"admin"}),
    "view_audit": frozenset({"admin"}),
    "privacy_requests": frozenset({"admin"}),
    # User segments and profile tags (issue 5): the list, sizes and migration for everyone; building, saving,
    # archiving and refreshing segments for analysts. Member samples also need view_customers, exports export_data.
    "view_segments": _ALL,
    "manage_segments": frozenset({"admin", "analyst"}),
    # Membership (issue 5): tier and points counts for everyone; redeeming a customer's points for agents.
    "view_membership": _ALL,
    "redeem_points": frozenset({"admin", "agent"}),
    # Feedback and tasks (issue 5): the dashboard for everyone; the inbox without texts for analysts; handling
    # (texts, status, owner, entering feedback) for agents; the keyword rules for analysts; tasks for agents.
    "view_feedback": _ALL,
    "list_feedback": frozenset({"admin", "analyst", "agent"}),
    "handle_feedback": frozenset({"admin", "agent"}),
    "edit_feedback_rules": frozenset({"admin", "analyst"}),
    "view_tasks": frozenset({"admin", "analyst", "agent"}),
    "manage_tasks": frozenset({"admin", "agent"}),
    # Campaigns and surveys (issue 5): results (aggregates, no personal data) for everyone; designing and launching
    # campaigns, creating surveys, issuing links and importing answers for analysts. Contact lists need export_data
    # (and reveal_pii to unmask them); detractors' call-backs are tasks (manage_tasks).
    "view_campaigns": _ALL,
    "manage_campaigns": frozenset({"admin", "analyst"}),
    "view_surveys": _ALL,
    "manage_surveys": frozenset({"admin", "analyst"}),
    # Reports (issue 5): the monthly customer report holds aggregates only, so everyone may read and download it.
    "view_reports": _ALL,
}

ADMIN_USERNAME = "admin"

_hasher = PasswordHasher()
_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash to check when the username is unknown, so a wrong name takes as long as a wrong password."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user as pages see it: a plain value, safe to use after the store session has closed."""

    id: int
    username: str
    role: str

    @classmethod
    def of(cls, user: User) -> SignedIn:
        """The view of a ``User`` row."""
        return cls(id=user.id, username=user.username, role=user.role)

    def can(self, permission: str) -> bool:
        """True when this user's role has ``permission``."""
        return has_permission(self.role, permission)


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (argon2-cffi's default parameters)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; a malformed hash is a mismatch, not an error."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def has_permission(role: str, permission: str) -> bool:
    """True when ``role`` has ``permission`` (see :data:`PERMISSIONS`); an unknown permission is nobody's."""
    return role in PERMISSIONS.get(permission, frozenset())


def ensure_admin(settings: Settings) -> str | None:
    """Create the user ``admin`` (role admin) when the store has no user at all.

    The password is ``settings.admin_password`` (``KEHU_ADMIN_PASSWORD``) or a random one. It is returned only
    when the user was just created, so the CLI can show it once; otherwise ``None``.
    """
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
        password = settings.admin_password or secrets.token_urlsafe(12)
        session.add(User(username=ADMIN_USERNAME, password_hash=hash_password(password), role="admin"))
    return password


@dataclass
class LoginThrottle:
    """Refuses sign-in for a username after ``max_failures`` failures within ``window_seconds``.

    In memory, per process: the lock lifts as the failures age out of the window. ``clock`` is injectable for
    tests.
    """

    max_failures: int = 5
    window_seconds: float = 15 * 60
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, username: str) -> deque[float]:
        now = self.clock()
        failures = self._failures[username]
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        return failures

    def retry_after(self, username: str) -> float:
        """Seconds until ``username`` may try again; 0 when it may try now."""
        with self._lock:
            failures = self._recent(username.lower())
            if len(failures) < self.max_failures:
                return 0.0
            return failures[-self.max_failures] + self.window_seconds - self.clock()

    def failed(self, username: str) -> None:
        """Record a failed sign-in for ``username``."""
        with self._lock:
            self._recent(username.lower()).append(self.clock())

    def succeeded(self, username: str) -> None:
        """Forget the failures of ``username`` after a successful sign-in."""
        with self._lock:
            self._failures.pop(username.lower(), None)


class Throttled(Exception):
    """Too many failed sign-ins for this username; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


def authenticate(*, session: Session, throttle: LoginThrottle, username: str, password: str) -> User | None:
    """The active user with this username and password, else ``None``.

    Raises :class:`Throttled` (without checking the password) while the username is locked out. A hash made
    with older Argon2 parameters is upgraded on success.
    """
    username = username.strip()
    wait = throttle.retry_after(username)
    if wait > 0:
        raise Throttled(wait)
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        verify_password(_dummy_hash(), password)
        throttle.failed(username)
        return None
    if not verify_password(user.password_hash, password):
        throttle.failed(username)
        return None
    throttle.succeeded(username)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
