"""Surveys: signed single-use links, forged tokens refused, detractors' call-backs, imports, NPS and CSAT intervals
against hand computations, results per group and month on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from scipy import stats as sst
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kehu.campaigns import Target
from kehu.config import Settings
from kehu.errors import InvalidInput
from kehu.privacy import FieldCipher
from kehu.store import AuditEvent, SurveyInvite, SurveyResponse, Task, session_scope
from kehu.surveys import (
    COMMENT_FIELD,
    AlreadyAnswered,
    InvalidLink,
    SurveyClosed,
    close_survey,
    create_survey,
    csat,
    get_survey,
    import_answers,
    issue_links,
    make_token,
    nps,
    read_token,
    record_answer,
    survey_key,
    survey_results,
)
from kehu.users import Actor

ACTOR = Actor(username="tester", via="cli")
Z = sst.norm.ppf(0.975)


def _survey(settings: Settings, kind: str = "nps", **kw: object) -> int:
    with session_scope(settings.store_url) as session:
        return create_survey(session, name=f"{kind} test", kind=kind, actor=ACTOR, **kw).id  # type: ignore[arg-type]


def _answer(settings: Settings, survey_id: int, customer_id: int, score: int, **kw: object) -> SurveyResponse:
    with session_scope(settings.store_url) as session:
        return record_answer(session, get_survey(session, survey_id), customer_id=customer_id, score=score,
                             cipher=FieldCipher.from_settings(settings), **kw)  # type: ignore[arg-type]


def test_nps_interval_matches_a_hand_computation() -> None:
    scores = [10] * 45 + [9] * 15 + [8] * 20 + [7] * 5 + [6] * 8 + [3] * 5 + [0] * 2
    n = len(scores)
    p, d = 60 / n, 15 / n
    value = 100 * (p - d)
    # The variance of the +1/0/−1 scores: E[s²] − E[s]² = (p + d) − (p − d)².
    s = [1 if x >= 9 else -1 if x <= 6 else 0 for x in scores]
    mean = sum(s) / n
    var = sum((v - mean) ** 2 for v in s) / n
    assert var == pytest.approx(p + d - (p - d) ** 2)
    half = 100 * Z * math.sqrt(var / n)
    result = nps(scores)
    assert result.value.estimate == pytest.approx(value)
    assert (result.value.low, result.value.high) == pytest.approx((value - half, value + half))
    assert result.shares == pytest.approx({"promoter": p, "passive": 25 / n, "detractor": d})
    assert nps([10, 10]).value.high == 100.0  # clipped to the scale


def test_csat_share_has_a_wilson_interval() -> None:
    scores = [5, 4, 4, 3, 2, 1, 5, 5, 4, 3]
    result = csat(scores)
    x, n = 6, 10
    centre = (x / n + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(x / n * (1 - x / n) / n + Z**2 / (4 * n * n))
    assert result.value.estimate == pytest.approx(0.6)
    assert (result.value.low, result.value.high) == pytest.approx((centre - half, centre + half))
    assert result.shares["dissatisfied"] == pytest.approx(0.2)


def test_token_round_trip_and_forgeries(settings) -> None:  # type: ignore[no-untyped-def]
    key = survey_key(settings)
    token = make_token(key, 3, 41)
    assert read_token(key, token) == (3, 41)
    payload, signature = token.split(".")
    # Another customer's id with this signature, a wrong signature, another key, junk: all refused.
    other = make_token(key, 3, 42).split(".")[0]
    for forged in (f"{other}.{signature}", f"{payload}.{signature[:-2]}xy", make_token(b"k" * 32, 3, 41), "abc",
                   "", "x" * 300):
        with pytest.raises(InvalidLink, match="not valid"):
            read_token(key, forged)
    assert make_token(key, 3, 41) == token  # a customer's link is stable


def test_one_answer_per_customer_and_detractor_call_back(store_settings, cfx) -> None:  # type: ignore[no-untyped-def]
    store = cfx.build(store_settings, 40)
    agents = [cfx.add_user(store_settings, f"agent{i}", "agent") for i in range(2)]
    survey_id = _survey(store_settings)
    a, b, c = store.ids[5], store.ids[6], store.ids[7]
    first = _answer(store_settings, survey_id, a, 3, comment="物流太慢 call me 13800138000")
    with pytest.raises(AlreadyAnswered, match="already been answered"):
        _answer(store_settings, survey_id, a, 10)
    _answer(store_settings, survey_id, b, 8)  # passive: no task
    third = _answer(store_settings, survey_id, c, 6)  # detractor: the next agent
    with session_scope(store_settings.store_url) as session:
        stored = session.scalars(select(SurveyResponse).where(SurveyResponse.survey_id == survey_id)
                                 .order_by(SurveyResponse.id)).all()
        assert [r.score for r in stored] == [3, 8, 6]  # the first answer stands
        assert stored[0].comment_enc and "13800138000" not in stored[0].comment_enc
        comment = FieldCipher.from_settings(store_settings).decrypt(COMMENT_FIELD, stored[0].comment_enc)
        assert comment is not None and comment.startswith("物流")
        tasks = session.scalars(select(Task).where(Task.source_type == "survey_response").order_by(Task.id)).all()
        assert [t.source_id for t in tasks] == [first.id, third.id]
        assert [t.owner_id for t in tasks] == agents
        assert {t.kind for t in tasks} == {"survey_follow_up"}
        assert all("13800138000" not in t.title for t in tasks)
        assert (tasks[0].due_at.date() - datetime.now().date()).days == 2
        # The database holds the rule too: a second row for the same customer is refused.
        session.add(SurveyResponse(survey_id=survey_id, customer_id=a, score=9, answered_at=datetime.now(),
                                   source="link"))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_survey_owner_gets_the_call_backs_and_csat_dissatisfied_open_one(settings, cfx) -> None:  # type: ignore[no-untyped-def]
    store = cfx.build(settings, 20)
    cfx.add_user(settings, "agent", "agent")
    owner = cfx.add_user(settings, "lead", "admin")
    survey_id = _survey(settings, "csat", owner_id=owner, follow_up_days=5)
    _answer(settings, survey_id, store.ids[0], 2)
    _answer(settings, survey_id, store.ids[1], 3)
    with session_scope(settings.store_url) as session:
        tasks = session.scalars(select(Task)).all()
        assert [(t.owner_id, t.customer_id) for t in tasks] == [(owner, store.ids[0])]
        with pytest.raises(InvalidInput, match="CSAT scale 1–5"):
            record_answer(session, get_survey(session, survey_id), customer_id=store.ids[2], score=0,
                          cipher=FieldCipher.from_settings(settings))


def test_closed_survey_refuses_answers(settings, cfx) -> None:  # type: ignore[no-untyped-def]
    store = cfx.build(settings, 10)
    survey_id = _survey(settings)
    with session_scope(settings.store_url) as session:
        close_survey(session, get_survey(session, survey_id), actor=ACTOR)
    with pytest.raises(SurveyClosed, match="ended"):
        _answer(settings, survey_id, store.ids[0], 9)


def test_links_for_a_target_record_invitations(store_settings, cfx) -> None:  # type: ignore[no-untyped-def]
    store = cfx.build(store_settings, 60)
    survey_id = _survey(store_settings)
    key = survey_key(store_settings)
    with session_scope(store_settings.store_url) as session:
        links = issue_links(session, get_survey(session, survey_id), key,
                            target=Target("rfm_group", ("champions",)), actor=ACTOR)
        again = issue_links(session, get_survey(session, survey_id), key,
                            target=Target("rfm_group", ("champions",)), actor=ACTOR)
        invited = session.scalar(select(func.count()).select_from(SurveyInvite))
        audits = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export"))
    expected = [c for i, c in enumerate(store.ids) if i % 4 == 2 and c not in store.erased]
    assert [link.customer_id for link in links] == expected
    assert [link.token for link in links] == [link.token for link in again]
    assert invited == len(expected) and audits == 2
    assert all(read_token(key, link.token) == (survey_id, link.customer_id) for link in links)


def test_import_answers_reports_each_row(store_settings, cfx) -> None:  # type: ignore[no-untyped-def]
    cfx.build(store_settings, 30)
    cfx.add_user(store_settings, "agent", "agent")
    survey_id = _survey(store_settings)
    data = ("customer_id,answered_at,score,comment\n"
            "K00005,2025-06-01,2,太贵了\n"
            "K00006,2025-06-02 10:30,9,\n"
            "K00006,2025-06-03,10,again\n"
            "K99999,2025-06-02,9,\n"
            "K00007,yesterday,9,\n"
            "K00008,2025-06-02,11,\n"
            "K00009,2025-06-02,many,\n"
            "\n").encode("gb18030")
    with session_scope(store_settings.store_url) as session:
        report = import_answers(session, get_survey(session, survey_id), data,
                                cipher=FieldCipher.from_settings(store_settings), actor=ACTOR)
    assert (report.read, report.added, report.duplicates, report.tasks) == (7, 2, 1, 1)
    assert [line for line, _ in report.problems] == [5, 6, 7, 8]
    messages = " ".join(m for _, m in report.problems)
    assert "K99999" in messages and "'yesterday'" in messages and "0–10" in messages and "'many'" in messages
    with pytest.raises(InvalidInput, match="required column score missing"), \
            session_scope(store_settings.store_url) as session:
        import_answers(session, get_survey(session, survey_id), b"customer_id,answered_at\nK1,2025-01-01\n",
                       cipher=FieldCipher.from_settings(store_settings), actor=ACTOR)


def test_results_per_month_and_group(store_settings, cfx) -> None:  # type: ignore[no-untyped-def]
    store = cfx.build(store_settings, 80)
    survey_id = _survey(store_settings)
    expected: dict[str, list[int]] = {}
    months: dict[str, list[int]] = {}
    for i, cid in enumerate(store.ids[:60]):
        score = (i * 7) % 11
        when = datetime(2025, 4 + i % 3, 1 + i % 27, 9)
        _answer(store_settings, survey_id, cid, score, answered_at=when, follow_up=False)
        expected.setdefault(cfx.GROUPS[i % 4], []).append(score)
        months.setdefault(when.strftime("%Y-%m"), []).append(score)
    with session_scope(store_settings.store_url) as session:
        results = survey_results(session, get_survey(session, survey_id))
    assert results.overall.n == 60 and results.follow_ups == 0
    assert [g.key for g in results.monthly] == ["2025-04", "2025-05", "2025-06"]
    for g in results.monthly:
        assert g.score.value.estimate == pytest.approx(nps(months[g.key]).value.estimate)
    by_group = {g.key: g.score for g in results.by_group}
    assert set(by_group) == set(expected)
    for key, scores in expected.items():
        assert by_group[key].n == len(scores)
        assert by_group[key].value.low == pytest.approx(nps(scores).value.low)
