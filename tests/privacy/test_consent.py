"""Marketing consent: every grant and withdrawal kept with time and source, the newest in force, each audited."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.privacy.consent import consent_history, consent_in_force, record_consent
from kehu.store import AuditEvent, Customer, User, session_scope


def _factories():  # type: ignore[no-untyped-def]
    name = "kehu_web_test_factories"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "web" / "factories.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _build(settings: Settings):  # type: ignore[no-untyped-def]
    built = _factories().build_store(settings, customers=4, with_snapshot=False)
    with session_scope(settings.store_url) as session:
        session.add(User(username="agent1", password_hash="x", role="agent"))
    return built


@pytest.fixture
def store(store_settings: Settings):  # type: ignore[no-untyped-def]
    """Four customers and an agent, on SQLite and on PostgreSQL."""
    return _build(store_settings)


@pytest.fixture
def lite_store(settings: Settings):  # type: ignore[no-untyped-def]
    """The same on SQLite only, for checks that do not depend on the database."""
    return _build(settings)


def test_grant_then_withdraw_keeps_history_and_mirrors_the_newest(store_settings: Settings, store) -> None:
    url = store_settings.store_url
    with session_scope(url) as session:
        agent = session.scalar(select(User).where(User.username == "agent1"))
        assert agent is not None
        first = record_consent(session, customer_id=store.vip_id, granted=True, source="web", user_id=agent.id)
        assert first.id is not None and first.at is not None
        assert session.get(Customer, store.vip_id).marketing_consent is True
    with session_scope(url) as session:
        record_consent(session, customer_id=store.vip_id, granted=False, source=" phone ", user_id=None)
    with session_scope(url) as session:
        history = consent_history(session, store.vip_id)
        assert [(e.granted, e.source) for e in history] == [(True, "web"), (False, "phone")]
        assert history[0].at <= history[1].at
        assert history[0].recorded_by is not None and history[1].recorded_by is None
        assert session.get(Customer, store.vip_id).marketing_consent is False
        assert consent_in_force(session, store.vip_id) is False
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "consent")
                                      .order_by(AuditEvent.id)))
        assert [(e.target_type, e.target_id, e.detail) for e in events] == [
            ("customer", str(store.vip_id), {"granted": True, "source": "web"}),
            ("customer", str(store.vip_id), {"granted": False, "source": "phone"}),
        ]
        assert events[0].username == "agent1" and events[1].username is None


def test_no_history_is_an_empty_list(settings: Settings, lite_store) -> None:
    with session_scope(settings.store_url) as session:
        assert consent_history(session, lite_store.prospect_id) == []
        assert consent_in_force(session, lite_store.prospect_id) is None
        assert consent_history(session, 10**9) == []


@pytest.mark.parametrize(("source", "message"), [("", "1 to 32 characters"), ("x" * 33, "1 to 32 characters")])
def test_bad_source_is_refused(settings: Settings, lite_store, source: str, message: str) -> None:
    with session_scope(settings.store_url) as session, pytest.raises(InvalidInput, match=message):
        record_consent(session, customer_id=lite_store.vip_id, granted=True, source=source, user_id=None)


def test_unknown_or_erased_customer_is_not_found(settings: Settings, lite_store) -> None:
    from kehu.privacy.subject import erase_customer

    with session_scope(settings.store_url) as session, pytest.raises(NotFound, match="no customer"):
        record_consent(session, customer_id=10**9, granted=True, source="web", user_id=None)
    with session_scope(settings.store_url) as session:
        erase_customer(session, lite_store.vip_id, user_id=None)
    with session_scope(settings.store_url) as session, pytest.raises(NotFound, match="erased"):
        record_consent(session, customer_id=lite_store.vip_id, granted=True, source="web", user_id=None)
