"""Tasks in the store, on SQLite and PostgreSQL: ``create_task`` (the signature other parts call), validation,
"my tasks" overdue first, status and encrypted outcome, titles scrubbed of phone numbers and e-mails."""

from __future__ import annotations

import inspect
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.privacy import FieldCipher
from kehu.store import Customer, User, open_store, session_scope
from kehu.tasks import TaskFilter, create_task, get_task, is_overdue, list_tasks, scrub_pii, task_outcome, update_task

NOW = datetime(2025, 6, 10, 12, 0)


def _store(settings: Settings) -> tuple[int, int, int]:
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        customer = Customer(source="generic", external_id="C1")
        agent = User(username="agent", password_hash="x", role="agent")
        gone = User(username="gone", password_hash="x", role="agent", is_active=False)
        session.add_all([customer, agent, gone])
        session.flush()
        return customer.id, agent.id, gone.id


def test_create_task_signature_is_the_documented_one() -> None:
    params = inspect.signature(create_task).parameters
    assert list(params) == ["session", "customer_id", "kind", "title", "owner_id", "due_at", "source_type",
                            "source_id", "created_by"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "session")
    assert params["source_type"].default is None and params["source_id"].default is None


def test_my_tasks_overdue_first_then_by_due_time(store_settings: Settings) -> None:
    customer, agent, _ = _store(store_settings)
    with session_scope(store_settings.store_url) as session:
        def add(due: datetime, owner: int | None = agent, **kw) -> int:  # type: ignore[no-untyped-def]
            return create_task(session, customer_id=customer, kind="call_back", title="回访", owner_id=owner,
                               due_at=due, created_by=None, **kw).id

        later = add(NOW + timedelta(days=3))
        soon = add(NOW + timedelta(hours=2))
        overdue_old = add(NOW - timedelta(days=5))
        overdue_new = add(NOW - timedelta(hours=1), source_type="survey_response", source_id=7)
        someone_elses = add(NOW - timedelta(days=9), owner=None)
        done = add(NOW - timedelta(days=20))
        update_task(session, task=get_task(session, done), cipher=FieldCipher.from_settings(store_settings), now=NOW,
                    status="done")
    with session_scope(store_settings.store_url) as session:
        mine, total = list_tasks(session, now=NOW, filters=TaskFilter(owner_id=agent))
        assert [t.id for t in mine] == [overdue_old, overdue_new, soon, later] and total == 4
        assert [is_overdue(t, NOW) for t in mine] == [True, True, False, False]
        everyone, _ = list_tasks(session, now=NOW)
        assert everyone[0].id == someone_elses
        every, total = list_tasks(session, now=NOW, filters=TaskFilter(status="all", limit=100))
        assert every[-1].id == done and total == 6
        assert [t.id for t in list_tasks(session, now=NOW, filters=TaskFilter(status="done"))[0]] == [done]
        linked = get_task(session, overdue_new)
        assert (linked.source_type, linked.source_id) == ("survey_response", 7)


def test_validation(settings: Settings) -> None:
    customer, agent, gone = _store(settings)
    due = date(2025, 7, 1)
    with session_scope(settings.store_url) as session:
        def make(**kw):  # type: ignore[no-untyped-def]
            args = {"customer_id": customer, "kind": "call_back", "title": "回访", "owner_id": agent, "due_at": due,
                    "created_by": None, **kw}
            return create_task(session, **args)

        with pytest.raises(InvalidInput, match="needs a title"):
            make(title="   ")
        with pytest.raises(InvalidInput, match="task kind 'Call Back'"):
            make(kind="Call Back")
        with pytest.raises(InvalidInput, match="both source_type and source_id"):
            make(source_type="feedback")
        with pytest.raises(NotFound, match="customer 999"):
            make(customer_id=999)
        with pytest.raises(NotFound, match="user 999"):
            make(owner_id=999)
        with pytest.raises(InvalidInput, match="disabled"):
            make(owner_id=gone)
        task = make(due_at=due, owner_id=None)
        assert task.due_at == datetime(2025, 7, 1, 23, 59, 59) and task.owner_id is None and task.status == "open"
        assert make(kind="campaign_call").kind == "campaign_call"  # other parts may use their own codes
        with pytest.raises(InvalidInput, match="status 'closed'"):
            update_task(session, task=task, cipher=FieldCipher.from_settings(settings), now=NOW, status="closed")
        with pytest.raises(NotFound, match="task 999"):
            get_task(session, 999)


def test_outcome_encrypted_and_title_scrubbed(store_settings: Settings) -> None:
    customer, agent, _ = _store(store_settings)
    cipher = FieldCipher.from_settings(store_settings)
    with session_scope(store_settings.store_url) as session:
        task = create_task(session, customer_id=customer, kind="follow_up",
                           title="回访 138 1234 5678 / li.si@example.com 关于 2025-06-30 的订单", owner_id=agent,
                           due_at=NOW, created_by=agent)
        assert task.title == "回访 *** / *** 关于 2025-06-30 的订单"
        update_task(session, task=task, cipher=cipher, now=NOW, status="done", outcome="客户 13812345678 已满意")
        assert task.completed_at == NOW and task_outcome(task, cipher) == "客户 13812345678 已满意"
        update_task(session, task=task, cipher=cipher, now=NOW, status="open", outcome="")
        assert task.completed_at is None and task.outcome_enc is None
        update_task(session, task=task, cipher=cipher, now=NOW, outcome="再次 13812345678")
    with session_scope(store_settings.store_url) as session:
        raw = session.execute(text("SELECT * FROM tasks")).one()
        assert not any("13812345678" in str(v) or "example.com" in str(v) for v in raw)


@pytest.mark.parametrize(("value", "scrubbed"), [
    ("call 13812345678", "call ***"), ("+86 138-1234-5678", "***"), ("order 2025-06-30", "order 2025-06-30"),
    ("NPS 3", "NPS 3"), ("a.b@c.cn!", "***!"),
])
def test_scrub_pii(value: str, scrubbed: str) -> None:
    assert scrub_pii(value) == scrubbed
