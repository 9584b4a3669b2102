"""Fixtures of the membership tests: a store (SQLite, then PostgreSQL) and a small writer of customers and orders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from kehu.config import Settings
from kehu.store import Customer, Order, open_store, session_scope


class Shop:
    """Adds customers and orders to a store, as an import would (ciphertexts are not needed here)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.orders = 0
        open_store(settings.store_url)

    def customer(self, external_id: str) -> int:
        with session_scope(self.settings.store_url) as session:
            row = Customer(source="generic", external_id=external_id)
            session.add(row)
            session.flush()
            return row.id

    def order(self, customer_id: int, at: str, yuan: float, refunded: float = 0, paid: bool = True) -> int:
        self.orders += 1
        with session_scope(self.settings.store_url) as session:
            row = Order(source="generic", external_id=f"O{self.orders:05d}-{customer_id}", customer_id=customer_id,
                        ordered_at=datetime.fromisoformat(at), amount_cents=round(yuan * 100),
                        refunded_cents=round(refunded * 100), is_paid=paid, status="paid")
            session.add(row)
            session.flush()
            return row.id

    def refund(self, order_id: int, yuan: float) -> None:
        with session_scope(self.settings.store_url) as session:
            order = session.get(Order, order_id)
            assert order is not None
            order.refunded_cents = round(yuan * 100)

    def query(self, fn: Callable[[Any], Any]) -> Any:
        with session_scope(self.settings.store_url) as session:
            return fn(session)


@pytest.fixture
def shop(store_settings: Settings) -> Shop:
    """An empty store on each engine, with :class:`Shop` to fill it."""
    return Shop(store_settings)
