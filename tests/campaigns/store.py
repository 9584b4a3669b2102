"""Builders for campaign and survey tests: customers with and without marketing consent, one ready snapshot with
lifecycle stages and RFM groups, orders written straight into the store, users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kehu.analytics.facts import bump_orders_revision
from kehu.config import Settings
from kehu.privacy import FieldCipher
from kehu.store import Classification, ClassificationSnapshot, Customer, Order, User, open_store, session_scope

AS_OF = date(2025, 6, 30)
STAGES = ("churned", "at_risk", "active", "new")
GROUPS = ("hibernating", "at_risk", "champions", "new")


@dataclass(frozen=True)
class Store:
    """What a test needs to know: ids by stage, with or without consent; the snapshot."""

    snapshot_id: int
    ids: list[int]
    stage: dict[int, str]
    consent: dict[int, bool]
    erased: set[int]

    def targeted(self, stages: tuple[str, ...]) -> list[int]:
        """Customers in ``stages``, in id order."""
        return [i for i in self.ids if self.stage[i] in stages]

    def marketable(self, stages: tuple[str, ...]) -> list[int]:
        """Customers in ``stages`` who may be marketed to."""
        return [i for i in self.targeted(stages) if self.consent[i] and i not in self.erased]


def build(settings: Settings, customers: int = 200, *, formula_id: bool = False) -> Store:
    """``customers`` customers (stage i % 4 of :data:`STAGES`; consent unless i % 5 == 0 or, for i % 7 == 0, NULL;
    customer 3 erased) and one ready snapshot at :data:`AS_OF`. With ``formula_id`` customer 0's source id is
    ``=HYPERLINK("x")`` for customer 1 (at risk, with consent: an export must neutralise it)."""
    open_store(settings.store_url)
    cipher = FieldCipher.from_settings(settings)
    with session_scope(settings.store_url) as session:
        rows = []
        for i in range(customers):
            phone = f"139{i:08d}"
            rows.append(Customer(
                source="generic", external_id='=HYPERLINK("x")' if formula_id and i == 1 else f"K{i:05d}",
                name_enc=cipher.encrypt("name", f"客户{i}号"), phone_enc=cipher.encrypt("phone", phone),
                phone_index=cipher.blind_index("phone", phone), email_enc=cipher.encrypt("email", f"u{i}@example.com"),
                province="广东", marketing_consent=None if i % 7 == 0 else i % 5 != 0,
                erased_at=datetime(2025, 1, 1) if i == 3 else None,
            ))
        session.add_all(rows)
        snap = ClassificationSnapshot(as_of=AS_OF, status="ready", customers=customers)
        session.add(snap)
        session.flush()
        for i, c in enumerate(rows):
            session.add(Classification(snapshot_id=snap.id, customer_id=c.id, recency_days=30 + i, frequency=1 + i % 3,
                                       monetary_cents=10_000 + i, rfm_group=GROUPS[i % 4],
                                       lifecycle_stage=STAGES[i % 4], churn_risk=(i % 10) / 10))
        ids = [c.id for c in rows]
        return Store(snapshot_id=snap.id, ids=ids, stage={c.id: STAGES[i % 4] for i, c in enumerate(rows)},
                     consent={c.id: bool(c.marketing_consent) for c in rows}, erased={rows[3].id})


def add_orders(settings: Settings, orders: list[tuple[int, datetime, int]], *, refunded: int = 0,
               paid: bool = True, discount: int = 0) -> None:
    """Orders (customer id, time, cents) written with the revision bump, as every order writer must."""
    with session_scope(settings.store_url) as session:
        start = session.query(Order).count()
        for n, (cid, when, cents) in enumerate(orders):
            session.add(Order(source="generic", external_id=f"T{start + n:06d}", customer_id=cid, ordered_at=when,
                              amount_cents=cents, refunded_cents=refunded, discount_cents=discount, is_paid=paid,
                              status="completed"))
        session.flush()
        bump_orders_revision(session.connection().connection.cursor())


def add_user(settings: Settings, username: str, role: str, active: bool = True) -> int:
    """A user (password hash irrelevant here); returns the id."""
    with session_scope(settings.store_url) as session:
        user = User(username=username, password_hash="x", role=role, is_active=active)
        session.add(user)
        session.flush()
        return user.id


def day(offset: int, hour: int = 12) -> datetime:
    """A time ``offset`` days after :data:`AS_OF`."""
    return datetime.combine(AS_OF + timedelta(days=offset), datetime.min.time()).replace(hour=hour)
