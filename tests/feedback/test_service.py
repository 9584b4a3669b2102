"""Feedback in the store, on SQLite and PostgreSQL: encrypted at rest, analysis at write time, the SLA, the inbox
order, negative feedback for the churn reasons, the file import (rejects, idempotence), rules, privacy."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from kehu.config import Settings
from kehu.errors import FileProblem, InvalidInput, NotFound
from kehu.feedback import (
    FeedbackFilter,
    add_feedback,
    add_rule,
    complaints_90d,
    erase_customer_feedback,
    export_customer_feedback,
    feedback_stats,
    import_feedback,
    list_feedback,
    load_rules,
    recategorise,
    sla_state,
    text_decrypter,
    update_feedback,
)
from kehu.privacy import FieldCipher
from kehu.store import Customer, Feedback, ImportRun, User, open_store, session_scope
from kehu.tasks import create_task

SECRET_TEXT = "客服态度差，我的手机 13812345678，邮箱 li.si@example.com"


def _store(settings: Settings) -> tuple[FieldCipher, list[int]]:
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        rows = [Customer(source="generic", external_id=f"C{i}") for i in range(3)]
        rows.append(Customer(source="taobao", external_id="C2"))  # the same id in another source
        session.add_all(rows)
        session.add(User(username="agent", password_hash="x", role="agent"))
        session.flush()
        ids = [r.id for r in rows]
    return FieldCipher.from_settings(settings), ids


def test_text_is_encrypted_and_analysis_is_plain(store_settings: Settings) -> None:
    cipher, ids = _store(store_settings)
    with session_scope(store_settings.store_url) as session:
        item = add_feedback(session, cipher, customer_id=ids[0], kind="complaint", text=SECRET_TEXT,
                            created_at=datetime(2025, 6, 1, 9, 30))
        assert item.category == "service_attitude" and item.sentiment < 0 and item.language == "zh"
    with session_scope(store_settings.store_url) as session:
        raw = session.execute(text("SELECT * FROM feedback")).one()
        assert not any(s in str(v) for v in raw for s in ("13812345678", "li.si", "example.com", "我的手机"))
        row = session.scalars(select(Feedback)).one()
        assert text_decrypter(cipher)(row.text_enc) == SECRET_TEXT
        assert not any(any(c.isdigit() for c in k) or "@" in k for k in row.keywords)


def test_validation_messages(settings: Settings) -> None:
    cipher, ids = _store(settings)
    with session_scope(settings.store_url) as session:
        with pytest.raises(InvalidInput, match="kind 'praise' is not one of"):
            add_feedback(session, cipher, customer_id=ids[0], kind="praise", text="x")
        with pytest.raises(InvalidInput, match="rating 6 is not between 1 and 5"):
            add_feedback(session, cipher, customer_id=ids[0], kind="review", text="x", rating=6)
        with pytest.raises(InvalidInput, match="a text or a rating"):
            add_feedback(session, cipher, customer_id=ids[0], kind="review", text="  ")
        with pytest.raises(InvalidInput, match="at most 4000"):
            add_feedback(session, cipher, customer_id=ids[0], kind="review", text="好" * 4001)
        with pytest.raises(NotFound, match="customer 999"):
            add_feedback(session, cipher, customer_id=999, kind="review", text="x")
        session.get(Customer, ids[1]).erased_at = datetime(2025, 1, 1)
        with pytest.raises(InvalidInput, match="erased"):
            add_feedback(session, cipher, customer_id=ids[1], kind="review", text="x")
        only_rating = add_feedback(session, cipher, customer_id=ids[0], kind="review", text=None, rating=1)
        assert only_rating.text_enc is None and only_rating.sentiment == -0.8 and only_rating.category == "other"


def test_sla_states_and_first_response(settings: Settings) -> None:
    cipher, ids = _store(settings)
    created = datetime(2025, 6, 1, 10, 0)
    with session_scope(settings.store_url) as session:
        item = add_feedback(session, cipher, customer_id=ids[0], kind="complaint", text="物流慢", created_at=created)
        assert sla_state(item, created + timedelta(hours=23), 24) == "pending"
        assert sla_state(item, created + timedelta(hours=24, seconds=1), 24) == "overdue"
        update_feedback(session, item, now=created + timedelta(hours=30), responded=True)
        assert item.first_response_at == created + timedelta(hours=30) and item.status == "new"
        assert sla_state(item, created + timedelta(days=9), 24) == "breached"
        other = add_feedback(session, cipher, customer_id=ids[0], kind="complaint", text="慢", created_at=created)
        update_feedback(session, other, now=created + timedelta(hours=2), status="resolved")
        assert other.resolved_at == other.first_response_at == created + timedelta(hours=2)
        assert sla_state(other, created + timedelta(days=9), 24) == "met"
        update_feedback(session, other, now=created + timedelta(hours=3), status="in_progress")
        assert other.resolved_at is None and other.first_response_at == created + timedelta(hours=2)
        with pytest.raises(InvalidInput, match="status 'closed'"):
            update_feedback(session, other, now=created, status="closed")
        with pytest.raises(InvalidInput, match="cannot own"):
            update_feedback(session, other, now=created, owner_id=999)


def test_inbox_order_overdue_first(store_settings: Settings) -> None:
    cipher, ids = _store(store_settings)
    now = datetime(2025, 6, 10, 12, 0)
    with session_scope(store_settings.store_url) as session:
        def add(hours: float, **kw) -> int:  # type: ignore[no-untyped-def]
            return add_feedback(session, cipher, customer_id=ids[0], kind="complaint", text="慢",
                                created_at=now - timedelta(hours=hours), **kw).id

        fresh, old_overdue, new_overdue, resolved = add(1), add(100), add(30), add(200, status="resolved")
        rows, total = list_feedback(session, now=now, sla_hours=24)
        assert [r.id for r in rows] == [new_overdue, old_overdue, fresh] and total == 3
        rows, total = list_feedback(session, now=now, sla_hours=24, filters=FeedbackFilter(status="all", limit=2))
        assert [r.id for r in rows] == [new_overdue, old_overdue] and total == 4
        rows, _ = list_feedback(session, now=now, sla_hours=24, filters=FeedbackFilter(status="resolved"))
        assert [r.id for r in rows] == [resolved]
        rows, _ = list_feedback(session, now=now, sla_hours=24, filters=FeedbackFilter(month="2025-06", overdue=True))
        assert {r.id for r in rows} == {new_overdue, old_overdue}
        with pytest.raises(InvalidInput, match="month"):
            list_feedback(session, now=now, sla_hours=24, filters=FeedbackFilter(month="June"))


def test_complaints_90d_counts_negative_feedback_in_the_window(store_settings: Settings) -> None:
    cipher, ids = _store(store_settings)
    as_of = date(2025, 6, 30)
    with session_scope(store_settings.store_url) as session:
        def add(cid: int, day: date, **kw) -> None:  # type: ignore[no-untyped-def]
            add_feedback(session, cipher, customer_id=cid, created_at=datetime.combine(day, datetime.min.time())
                         .replace(hour=23, minute=59), **kw)

        add(ids[0], as_of, kind="complaint", text="请问发票")  # a complaint counts whatever its words
        add(ids[0], as_of - timedelta(days=89), kind="review", text="质量太差了")  # first day of the window
        add(ids[0], as_of - timedelta(days=90), kind="complaint", text="慢")  # one day too early
        add(ids[0], as_of + timedelta(days=1), kind="complaint", text="慢")  # after as_of
        add(ids[1], as_of - timedelta(days=5), kind="review", text=None, rating=2)  # a bad rating
        add(ids[1], as_of - timedelta(days=5), kind="review", text="非常满意", rating=5)  # not negative
        add(ids[2], as_of - timedelta(days=5), kind="review", text="还行", rating=3)  # neutral
    assert complaints_90d(store_settings, as_of) == {ids[0]: 2, ids[1]: 1}
    with session_scope(store_settings.store_url) as session:
        assert complaints_90d(session, as_of + timedelta(days=1)) == {ids[0]: 2, ids[1]: 1}


def test_import_file_with_rejects_and_idempotence(store_settings: Settings, tmp_path: Path) -> None:
    cipher, ids = _store(store_settings)
    file = tmp_path / "feedback.csv"
    file.write_text(
        "客户编号,反馈时间,类型,评分,内容,渠道,状态,回复时间\n"
        "C0,2025-06-02 10:00,评价,5,质量很好,app,已解决,2025-06-02 12:00\n"
        "C1,2025/6/3,投诉,,The delivery was late,web,,\n"
        "C1,2025-06-03T08:00:00+08:00,,2,,,,\n"
        "C9,2025-06-03,review,3,ok,,,\n"
        "C2,2025-06-03,review,3,ok,,,\n"
        "C0,yesterday,praise,7,,,done,soon\n",
        encoding="utf-8")
    report = import_feedback(settings=store_settings, path=file)
    assert (report.read, report.inserted, report.unchanged, report.rejected) == (6, 3, 0, 3)
    reasons = {(line, column) for line, column, _, _ in report.problems}
    assert {(5, "customer_id"), (6, "customer_id"), (7, "created_at"), (7, "kind"), (7, "rating"), (7, "status"),
            (7, "responded_at")} <= reasons
    assert "several sources" in next(r for li, c, _, r in report.problems if li == 6)
    rejects = Path(report.rejects_path or "").read_text(encoding="utf-8-sig")
    assert rejects.startswith("file,line,column,value,reason") and "C9" in rejects
    again = import_feedback(settings=store_settings, path=file, source="generic")
    assert (again.inserted, again.unchanged, again.rejected) == (1, 3, 2)  # C2 of generic now resolves
    with session_scope(store_settings.store_url) as session:
        rows = session.scalars(select(Feedback).order_by(Feedback.created_at)).all()
        first = next(r for r in rows if r.rating == 5)
        assert first.status == "resolved" and first.first_response_at == datetime(2025, 6, 2, 12)
        assert {r.kind for r in rows if r.rating == 2} == {"review"}  # blank kind with a rating
        assert {r.source for r in rows} == {"import"}
        runs = session.scalars(select(ImportRun).where(ImportRun.kind == "feedback")).all()
        assert [r.status for r in runs] == ["succeeded", "succeeded"] and runs[0].inserted == 3


def test_import_refuses_files_without_the_needed_columns(settings: Settings, tmp_path: Path) -> None:
    _store(settings)
    file = tmp_path / "bad.csv"
    file.write_text("who,what\n1,2\n", encoding="utf-8")
    with pytest.raises(FileProblem, match="no column for customer_id, created_at"):
        import_feedback(settings=settings, path=file)
    with pytest.raises(FileProblem, match="no such file"):
        import_feedback(settings=settings, path=tmp_path / "missing.csv")
    with session_scope(settings.store_url) as session:
        assert {r.status for r in session.scalars(select(ImportRun))} == {"failed"}


def test_rules_edit_and_recategorise(settings: Settings) -> None:
    cipher, ids = _store(settings)
    with session_scope(settings.store_url) as session:
        item = add_feedback(session, cipher, customer_id=ids[0], kind="complaint", text="耳机没声音了")
        assert item.category == "other"
        add_rule(session, category="product_quality", keyword="没声音")
        assert any(r.keyword == "没声音" for r in load_rules(session))
        assert recategorise(session, text_decrypter(cipher)) == (1, 1)
        assert item.category == "product_quality"
        with pytest.raises(InvalidInput, match="digits"):
            add_rule(session, category="price", keyword="9.9元")
        with pytest.raises(InvalidInput, match="weight 9"):
            add_rule(session, category="price", keyword="贵", weight=9)


def test_stats_by_month_and_group(store_settings: Settings) -> None:
    cipher, ids = _store(store_settings)
    with session_scope(store_settings.store_url) as session:
        for day, words in ((date(2025, 4, 3), "物流太慢"), (date(2025, 6, 1), "质量很好"), (date(2025, 6, 2), "太贵")):
            add_feedback(session, cipher, customer_id=ids[0], kind="review", text=words,
                         created_at=datetime.combine(day, datetime.min.time()))
        stats = feedback_stats(session, now=datetime(2025, 6, 3), sla_hours=24, months=3)
    assert stats.months == ["2025-04", "2025-05", "2025-06"] and stats.total == 3
    assert stats.monthly_category["2025-06"]["price"] == 1 and stats.monthly_count.get("2025-05", 0) == 0
    assert stats.monthly_mean("2025-05") is None and stats.monthly_mean("2025-04") < 0
    assert [g.code for g in stats.groups] == ["unclassified"] and stats.negative == 2


def test_privacy_export_and_erase(settings: Settings) -> None:
    cipher, ids = _store(settings)
    with session_scope(settings.store_url) as session:
        item = add_feedback(session, cipher, customer_id=ids[0], kind="complaint", text=SECRET_TEXT)
        task = create_task(session, customer_id=ids[0], kind="call_back", title="回访", owner_id=None,
                           due_at=date(2025, 7, 1), source_type="feedback", source_id=item.id, created_by=None)
        from kehu.tasks import update_task

        update_task(session, task=task, cipher=cipher, now=datetime(2025, 6, 2), outcome="客户说 13812345678 已换货")
        data = export_customer_feedback(session, cipher, ids[0])
        assert data["feedback"][0]["text"] == SECRET_TEXT and "已换货" in data["tasks"][0]["outcome"]
        assert erase_customer_feedback(session, ids[0]) == 2
        assert item.text_enc is None and item.keywords == [] and task.outcome_enc is None
        assert item.category == "service_attitude"  # kept, anonymous, for the aggregates
