"""Data-subject requests: export everything held on one customer, erase their personal data and keep their orders.

The parts' data (feedback, tasks, surveys, campaigns, membership, segments) is made with the parts' own service
functions, as the app makes it."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.privacy import FieldCipher
from kehu.privacy.consent import record_consent
from kehu.privacy.subject import EXPORTED_TABLES, erase_customer, export_customer, find_customer
from kehu.store import (
    AuditEvent,
    Base,
    CampaignMember,
    Classification,
    ConsentEvent,
    Customer,
    CustomerNote,
    Feedback,
    Order,
    SurveyResponse,
    Task,
    User,
    session_scope,
)

NOTE_TEXT = "客户来电投诉物流慢 complained about delivery"
FEEDBACK_TEXT = "快递员态度很差，包装破损 the parcel arrived broken"
OUTCOME_TEXT = "已回电，补发一件 called back, sent a replacement"
COMMENT_TEXT = "客服回复太慢 support answered too slowly"


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
    fx = _factories()
    built = fx.build_store(settings, customers=8)
    cipher = FieldCipher.from_settings(settings)
    with session_scope(settings.store_url) as session:
        agent = User(username="agent1", password_hash="x", role="agent")
        session.add(agent)
        session.flush()
        vip = session.get(Customer, built.vip_id)
        vip.address_enc = cipher.encrypt("address", "深圳市南山区科技园1号")
        vip.id_number_enc = cipher.encrypt("id_number", "440300199001011234")
        session.add(CustomerNote(customer_id=built.vip_id, user_id=agent.id, kind="call", channel="phone",
                                 body_enc=cipher.encrypt("note", NOTE_TEXT)))
        record_consent(session, customer_id=built.vip_id, granted=True, source="store", user_id=agent.id)
    return built


@dataclass(frozen=True)
class Parts:
    """The VIP's rows in the other parts."""

    feedback_id: int
    task_id: int
    follow_up_id: int
    response_id: int
    campaign_id: int
    coupon: str
    segment: str


def _add_parts(settings: Settings, vip_id: int) -> Parts:
    """Give the VIP a complaint, a closed task with an outcome, a survey invitation and a detractor's answer with a
    comment (and its call-back task), a coupon of a campaign, a segment and the default tags with traits, a tier
    with a tier change and points."""
    from kehu.campaigns import CampaignSpec, Target, launch_campaign
    from kehu.feedback import add_feedback
    from kehu.membership import membership_refresh
    from kehu.segments import add_segment, refresh_segments
    from kehu.surveys import create_survey, issue_links, record_answer, survey_key
    from kehu.tasks import create_task, update_task
    from kehu.users import Actor

    fx = _factories()
    cipher = FieldCipher.from_settings(settings)
    actor = Actor(username="tester", via="cli")
    with session_scope(settings.store_url) as session:
        agent = session.scalar(select(User.id).where(User.role == "agent"))
        item = add_feedback(session, cipher, customer_id=vip_id, kind="complaint", text=FEEDBACK_TEXT,
                            created_at=datetime(2025, 6, 3, 10, 0), channel="phone", created_by=agent)
        task = create_task(session, customer_id=vip_id, kind="complaint", title="回访投诉 Call back about the parcel",
                           owner_id=agent, due_at=date(2025, 6, 5), source_type="feedback", source_id=item.id,
                           created_by=agent)
        update_task(session, task=task, cipher=cipher, now=datetime(2025, 6, 4, 9, 0), status="done",
                    outcome=OUTCOME_TEXT)
        survey = create_survey(session, name="售后满意度 After-sales NPS", kind="nps", actor=actor)
        issue_links(session, survey, survey_key(settings), customer_ids=[vip_id], actor=actor)
        answer = record_answer(session, survey, customer_id=vip_id, score=3, cipher=cipher, comment=COMMENT_TEXT)
        assert answer.task_id is not None  # a detractor: a call-back task
        spec = CampaignSpec(name="挽回 Win-back", target=Target("rfm_group", (fx.GROUPS[0],)), holdout_share=0.0,
                            offer="coupon", coupon_value_cents=2_000)
        campaign = launch_campaign(session, spec, actor=actor, today=date(2025, 7, 1))
        coupon = session.get(CampaignMember, (campaign.id, vip_id)).coupon_code
        assert coupon
        segment = add_segment(session, name="广东客户", rule=f"province = '{fx.PROVINCES[0]}'", actor=actor)
        parts = Parts(feedback_id=item.id, task_id=task.id, follow_up_id=answer.task_id, response_id=answer.id,
                      campaign_id=campaign.id, coupon=coupon, segment=segment.name)
    refresh_segments(settings)  # default tags and the traits of the newest snapshot
    # A low silver threshold, so that the VIP's spend makes a tier change.
    membership_refresh(settings.model_copy(update={"membership_silver_yuan": 500}), as_of=date(2025, 7, 31))
    return parts


@pytest.fixture
def store(store_settings: Settings):  # type: ignore[no-untyped-def]
    """The web fixture store (VIP C0000 with orders and two snapshots), a note and a consent event on the VIP;
    on SQLite and on PostgreSQL."""
    return _build(store_settings)


@pytest.fixture
def lite_store(settings: Settings):  # type: ignore[no-untyped-def]
    """The same on SQLite only."""
    return _build(settings)


def test_find_customer_by_source_id(settings: Settings, lite_store) -> None:
    with session_scope(settings.store_url) as session:
        assert find_customer(session, " C0000 ").id == lite_store.vip_id
        assert find_customer(session, "C0000", source="generic").id == lite_store.vip_id
        with pytest.raises(NotFound, match="no customer with source id 'C9999'"):
            find_customer(session, "C9999")
        with pytest.raises(NotFound, match="in source 'shopify'"):
            find_customer(session, "C0000", source="shopify")
        with pytest.raises(InvalidInput, match="source-system id"):
            find_customer(session, "  ")
        session.add(Customer(source="taobao", external_id="C0000"))
        session.flush()
        with pytest.raises(InvalidInput, match=r"several sources \(generic, taobao\)"):
            find_customer(session, "C0000")


def _section(data: dict[str, Any], path: str) -> Any:  # noqa: ANN401
    for key in path.split("."):
        data = data[key]
    return data


def test_export_holds_everything_decrypted_and_is_audited(store_settings: Settings, store) -> None:
    fx = _factories()
    cipher = FieldCipher.from_settings(store_settings)
    parts = _add_parts(store_settings, store.vip_id)
    with session_scope(store_settings.store_url) as session:
        data = export_customer(session, cipher, store.vip_id, user_id=None, via="cli")
        json.dumps(data, ensure_ascii=False)  # JSON-ready as it is
        # Every table linked to the customer is in the export with all of the VIP's rows.
        for table, path in EXPORTED_TABLES.items():
            t = Base.metadata.tables[table]
            held = session.scalar(select(func.count()).select_from(t).where(t.c.customer_id == store.vip_id))
            section = _section(data, path)
            exported = len(section) if isinstance(section, list) else int(section is not None)
            assert held and exported == held, (table, held, exported)
    person = data["customer"]
    assert data["format"] == "kehu-customer-export" and data["version"] == 1
    assert (person["id"], person["external_id"], person["source"]) == (store.vip_id, "C0000", "generic")
    assert (person["name"], person["phone"], person["email"]) == (fx.VIP_NAME, fx.VIP_PHONE, fx.VIP_EMAIL)
    assert person["address"] == "深圳市南山区科技园1号" and person["id_number"] == "440300199001011234"
    assert not any(key.endswith(("_enc", "_index")) or key == "row_hash" for key in person)
    assert person["marketing_consent"] is True and person["erased_at"] is None
    with session_scope(store_settings.store_url) as session:
        n_orders = session.scalar(select(func.count()).select_from(Order).where(Order.customer_id == store.vip_id))
        n_snapshots = session.scalar(select(func.count()).select_from(Classification)
                                     .where(Classification.customer_id == store.vip_id))
    assert len(data["orders"]) == n_orders == 4
    assert {o["external_id"] for o in data["orders"]} >= {"O-UNPAID", "O-REFUND", "O-LATER"}
    with_lines = [o for o in data["orders"] if o["lines"]]
    assert with_lines and with_lines[0]["lines"][0]["sku"] == "SKU-1"
    assert with_lines[0]["lines"][0]["quantity"] == 2
    assert len(data["classifications"]) == n_snapshots == 2
    assert [k["as_of"] for k in data["classifications"]] == ["2025-03-31", "2025-06-30"]
    assert all(k["rfm_group"] for k in data["classifications"])
    assert [(c["granted"], c["source"]) for c in data["consent"]] == [(True, "store")]
    assert [(n["kind"], n["author"], n["text"]) for n in data["notes"]] == [("call", "agent1", NOTE_TEXT)]
    assert [e["action"] for e in data["audit_events"]] == ["consent"]
    assert all("ip" not in e for e in data["audit_events"])
    # The parts' data, decrypted.
    [feedback] = data["feedback"]
    assert (feedback["id"], feedback["kind"], feedback["text"]) == (parts.feedback_id, "complaint", FEEDBACK_TEXT)
    tasks = {t["id"]: t for t in data["tasks"]}
    assert set(tasks) == {parts.task_id, parts.follow_up_id} and tasks[parts.task_id]["outcome"] == OUTCOME_TEXT
    assert tasks[parts.task_id]["status"] == "done" and tasks[parts.follow_up_id]["outcome"] is None
    [answer] = data["survey_responses"]
    assert (answer["id"], answer["score"], answer["comment"]) == (parts.response_id, 3, COMMENT_TEXT)
    assert answer["kind"] == "nps" and answer["survey"].startswith("售后满意度") and "comment_enc" not in answer
    assert [i["survey"] for i in data["survey_invites"]] == [answer["survey"]]
    [campaign] = data["campaigns"]
    assert (campaign["campaign_id"], campaign["arm"], campaign["coupon_code"]) == (parts.campaign_id, "treatment",
                                                                                    parts.coupon)
    membership = data["membership"]
    assert membership["tier"]["tier"] != "standard" and membership["tier_changes"][0]["direction"] == "up"
    assert sum(e["points"] for e in membership["points_ledger"]) > 0
    assert {(s["as_of"], s["segment"]) for s in data["segments"]} >= {("2025-03-31", parts.segment),
                                                                      ("2025-06-30", parts.segment)}
    assert data["segment_traits"] and data["segment_traits"][0]["as_of"] == "2025-06-30"
    assert not any(key.endswith("_enc") for row in data["feedback"] + data["tasks"] + data["survey_responses"]
                   for key in row)
    with session_scope(store_settings.store_url) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "privacy_export"))
        assert event is not None and event.target_id == str(store.vip_id) and event.via == "cli"
        assert event.detail == {"orders": 4, "notes": 1, "classifications": 2, "feedback": 1, "tasks": 2,
                                "survey_responses": 1, "campaigns": 1}
        assert fx.VIP_PHONE not in json.dumps(event.detail)


def test_export_of_an_unknown_customer_is_not_found(settings: Settings, lite_store) -> None:
    cipher = FieldCipher.from_settings(settings)
    with session_scope(settings.store_url) as session, pytest.raises(NotFound, match="does not exist"):
        export_customer(session, cipher, 10**9)


def test_erase_removes_personal_data_and_keeps_orders(store_settings: Settings, store) -> None:
    fx = _factories()
    url = store_settings.store_url
    parts = _add_parts(store_settings, store.vip_id)
    cipher = FieldCipher.from_settings(store_settings)
    with session_scope(url) as session:
        before = export_customer(session, cipher, store.vip_id)
    with session_scope(url) as session:
        revenue_before = session.scalar(select(func.sum(Order.amount_cents)))
        admin = User(username="boss", password_hash="x", role="admin")
        session.add(admin)
        session.flush()
        erase_customer(session, store.vip_id, user_id=admin.id, via="web", ip="127.0.0.1")
    with session_scope(url) as session:
        vip = session.get(Customer, store.vip_id)
        assert vip is not None and vip.erased_at is not None
        assert vip.external_id == f"erased-{store.vip_id}" and vip.source == "generic"
        for column in ("name_enc", "phone_enc", "phone_index", "email_enc", "email_index", "address_enc",
                       "id_number_enc", "row_hash", "birth_year", "registered_at", "marketing_consent"):
            assert getattr(vip, column) is None, column
        assert vip.province == fx.PROVINCES[0]  # coarse fields stay for the aggregates
        assert session.scalar(select(func.count()).select_from(CustomerNote)
                              .where(CustomerNote.customer_id == store.vip_id)) == 0
        assert session.scalar(select(func.count()).select_from(ConsentEvent)
                              .where(ConsentEvent.customer_id == store.vip_id)) == 0
        assert session.scalar(select(func.count()).select_from(Order).where(Order.customer_id == store.vip_id)) == 4
        assert session.scalar(select(func.sum(Order.amount_cents))) == revenue_before
        assert session.scalar(select(func.count()).select_from(Classification)
                              .where(Classification.customer_id == store.vip_id)) == 2
        # The parts' free texts and coupon codes are gone; what the aggregates count stays, anonymous.
        item = session.get(Feedback, parts.feedback_id)
        assert item.text_enc is None and item.keywords == [] and item.category and item.kind == "complaint"
        task = session.get(Task, parts.task_id)
        assert task.outcome_enc is None and task.status == "done" and task.title
        answer = session.get(SurveyResponse, parts.response_id)
        assert answer.comment_enc is None and answer.score == 3
        member = session.get(CampaignMember, (parts.campaign_id, store.vip_id))
        assert member.coupon_code is None and member.arm == "treatment"
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "privacy_erase"))
        assert event is not None and event.username == "boss" and event.ip == "127.0.0.1"
        assert event.detail == {"notes_deleted": 1, "consent_events_deleted": 1, "feedback_and_tasks_erased": 3,
                                "ciphertexts_cleared": 1, "coupon_codes_cleared": 1, "has_orders": True,
                                "again": False}
        # The export of an erased customer says so and holds no personal value.
        data = export_customer(session, cipher, store.vip_id)
        assert data["customer"]["phone"] is None and data["customer"]["erased_at"]
        assert data["notes"] == [] and len(data["orders"]) == 4
        assert [f["text"] for f in data["feedback"]] == [None] and {t["outcome"] for t in data["tasks"]} == {None}
        assert [(a["score"], a["comment"]) for a in data["survey_responses"]] == [(3, None)]
        assert [c["coupon_code"] for c in data["campaigns"]] == [None]
        for secret in (FEEDBACK_TEXT, OUTCOME_TEXT, COMMENT_TEXT, parts.coupon, fx.VIP_PHONE):
            assert secret not in json.dumps(data, ensure_ascii=False)
        # Membership, segments, survey invitations and traits stay as they were (nothing personal in them).
        for key in ("membership", "segments", "segment_traits", "survey_invites"):
            assert data[key] == before[key], key


def test_erasing_twice_is_allowed_and_audited_again(settings: Settings, lite_store) -> None:
    url = settings.store_url
    store = lite_store
    for _ in range(2):
        with session_scope(url) as session:
            erase_customer(session, store.vip_id, user_id=None)
    with session_scope(url) as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy_erase")
                                      .order_by(AuditEvent.id)))
        assert [e.detail["again"] for e in events] == [False, True]
        assert session.get(Customer, store.vip_id).external_id == f"erased-{store.vip_id}"


def test_erase_of_an_unknown_customer_is_not_found(settings: Settings, lite_store) -> None:
    with session_scope(settings.store_url) as session, pytest.raises(NotFound):
        erase_customer(session, 10**9, user_id=None)


def test_erased_values_are_gone_from_the_sqlite_files(settings: Settings) -> None:
    """Not just NULL in the row: the old ciphertexts, blind index, note, feedback text, task outcome, survey comment
    and coupon code are not in the database or its log."""
    store = _build(settings)
    parts = _add_parts(settings, store.vip_id)
    url = settings.store_url
    with session_scope(url) as session:
        vip = session.get(Customer, store.vip_id)
        secrets_held = [vip.phone_enc, vip.phone_index, vip.email_enc, vip.email_index, vip.name_enc,
                        session.scalar(select(CustomerNote.body_enc)),
                        session.get(Feedback, parts.feedback_id).text_enc, session.get(Task, parts.task_id).outcome_enc,
                        session.get(SurveyResponse, parts.response_id).comment_enc, parts.coupon]
        assert all(secrets_held)
    db = settings.data_dir / "kehu.db"

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in (db, db.with_name("kehu.db-wal")) if p.exists())

    before = on_disk()
    assert all(value.encode() in before for value in secrets_held)
    with session_scope(url) as session:
        erase_customer(session, store.vip_id, user_id=None)
    after = on_disk()
    for value in secrets_held:
        assert value.encode() not in after
    other = _factories().VIP_PHONE  # plaintext never was on disk
    assert other.encode() not in after


def test_reimport_after_erasure_makes_a_new_customer(settings: Settings, tmp_path: Path) -> None:
    """What docs/privacy.md says: the source id is free again, a re-import creates a new row; the erased row's
    orders stay with it."""
    from kehu.ingest import import_file

    fx = _factories()
    store = fx.build_store(settings, customers=4, with_snapshot=False)
    with session_scope(settings.store_url) as session:
        erase_customer(session, store.vip_id, user_id=None)
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,ordered_at,amount,phone\nO-NEW,C0000,2025-08-01,88,13812345678\n"
                      "O00001,C0000,2024-01-01 10:30:00,100,13812345678\n", encoding="utf-8")
    import_file(settings=settings, path=orders, kind="orders", format_name="generic")
    with session_scope(settings.store_url) as session:
        fresh = find_customer(session, "C0000")
        assert fresh.id != store.vip_id and fresh.erased_at is None and fresh.phone_index is not None
        new_order = session.scalar(select(Order).where(Order.external_id == "O-NEW"))
        assert new_order is not None and new_order.customer_id == fresh.id
        # An order the file brings with other content than the store has is rewritten, and so moves.
        assert session.scalar(select(Order.customer_id).where(Order.external_id == "O00001")) == fresh.id
        erased = session.get(Customer, store.vip_id)
        assert erased.phone_enc is None and erased.external_id == f"erased-{store.vip_id}"
        assert session.scalar(select(func.count()).select_from(Order)
                              .where(Order.customer_id == store.vip_id, Order.external_id.like("O-%"))) == 3


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI's environment over a fixture store in a fresh data dir."""
    from conftest import SECRET

    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET, _env_file=None)
    _factories().build_store(settings, customers=4)
    return settings


def test_cli_export_and_erase(cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stat

    from typer.testing import CliRunner

    from kehu import cli

    fx = _factories()
    runner = CliRunner()
    result = runner.invoke(cli.app, ["privacy", "export", "C0000"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customer"]["phone"] == fx.VIP_PHONE
    out = tmp_path / "export" / "c0000.json"
    result = runner.invoke(cli.app, ["privacy", "export", "C0000", "--source", "generic", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["customer"]["name"] == fx.VIP_NAME
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    result = runner.invoke(cli.app, ["privacy", "erase", "C0000"])  # no terminal, no --yes
    assert result.exit_code == 1 and "pass --yes" in result.output
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = runner.invoke(cli.app, ["privacy", "erase", "C0000"], input="C0001\n")
    assert result.exit_code == 1 and "does not match; nothing was erased" in result.output
    result = runner.invoke(cli.app, ["privacy", "erase", "C0000"], input="C0000\n")
    assert result.exit_code == 0, result.output
    assert "erased-" in result.output
    result = runner.invoke(cli.app, ["privacy", "erase", "C0000", "--yes"])
    assert result.exit_code == 1 and "no customer with source id 'C0000'" in result.output
    result = runner.invoke(cli.app, ["privacy", "export", "C0001", "--source", "shopify"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    with session_scope(cli_env.store_url) as session:
        actions = [(e.action, e.via) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == [("privacy_export", "cli"), ("privacy_export", "cli"), ("privacy_erase", "cli")]
