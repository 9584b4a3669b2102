"""Key rotation: every personal value re-encrypted and every blind index recomputed under a new secret, in
batches, resumable, audited; the old key kept as secret.key.old (0600). The other parts' ciphertexts (feedback texts,
task outcomes, survey comments) are made with the parts' own service functions and rotated too."""

from __future__ import annotations

import importlib.util
import stat
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from typer.testing import CliRunner

from kehu.cli import app
from kehu.config import Settings
from kehu.errors import StoreError
from kehu.privacy import FieldCipher, normalise_phone
from kehu.privacy.keys import load_secret
from kehu.privacy.rotate import cipher_for, encrypted_tables, rotate_keys
from kehu.store import AuditEvent, Customer, CustomerNote, Feedback, session_scope

runner = CliRunner()
NEW_SECRET = "another-secret-key-that-is-long-enough-9876543210"
SHOPIFY_EMAIL = "buyer@example.com"
FEEDBACK_FILE = ("customer_id,created_at,kind,rating,text\n"
                 "C0001,2025-06-01 10:00,complaint,,物流太慢了 delivery too slow\n"
                 "C0002,2025-06-02 11:30,review,2,\n")
#: Rows per table that :func:`_fill` gives a ciphertext or an import key (the survey's call-back task has no
#: outcome, the rating-only imported feedback no text but a key).
FILLED = {"customers": 11, "customer_notes": 4, "feedback": 3, "tasks": 1, "survey_responses": 1}


def _factories():  # type: ignore[no-untyped-def]
    name = "kehu_web_test_factories"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "web" / "factories.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _fill(settings: Settings) -> dict[tuple[str, int], dict[str, str]]:
    """The fixture store plus notes, an address and a Shopify-style ``e:`` customer, a feedback item and an imported
    feedback file (with keyed import keys), a task with an outcome, a survey answer with a comment (and its call-back
    task); returns the plaintexts."""
    from kehu.feedback import add_feedback, import_feedback
    from kehu.surveys import create_survey, record_answer
    from kehu.tasks import create_task, update_task
    from kehu.users import Actor

    store = _factories().build_store(settings, customers=10, with_snapshot=False)
    cipher = FieldCipher.from_settings(settings)
    with session_scope(settings.store_url) as session:
        session.add(Customer(source="shopify", external_id="e:" + (cipher.blind_index("email", SHOPIFY_EMAIL) or ""),
                             email_enc=cipher.encrypt("email", SHOPIFY_EMAIL),
                             email_index=cipher.blind_index("email", SHOPIFY_EMAIL), row_hash="0123abcd"))
        vip = session.get(Customer, store.vip_id)
        vip.address_enc = cipher.encrypt("address", "杭州市西湖区")
        for i in range(4):
            body = cipher.encrypt("note", f"备注 {i}")
            session.add(CustomerNote(customer_id=store.vip_id, kind="note", body_enc=body))
        add_feedback(session, cipher, customer_id=store.vip_id, kind="complaint", text="包装破损 broken box")
        task = create_task(session, customer_id=store.vip_id, kind="call_back", title="回访 call back", owner_id=None,
                           due_at=datetime(2025, 6, 5, 18, 0), created_by=None)
        update_task(session, task=task, cipher=cipher, now=datetime(2025, 6, 4, 9, 0), status="done",
                    outcome="已补发 replacement sent")
        survey = create_survey(session, name="NPS", kind="nps", actor=Actor())
        record_answer(session, survey, customer_id=store.vip_id, score=2, cipher=cipher, comment="太慢 too slow")
    file = _feedback_file(settings)
    file.write_text(FEEDBACK_FILE, encoding="utf-8")
    assert import_feedback(settings=settings, path=file).inserted == 2
    return _plaintexts(settings, cipher)


def _feedback_file(settings: Settings) -> Path:
    return Path(settings.data_dir).parent / "feedback.csv"


def _plaintexts(settings: Settings, cipher: FieldCipher) -> dict[tuple[str, int], dict[str, str]]:
    """Every ciphertext of every table of the rotation, decrypted with ``cipher``, by (table, row id); raises if one
    does not decrypt."""
    found: dict[tuple[str, int], dict[str, str]] = {}
    with session_scope(settings.store_url) as session:
        for model, columns in encrypted_tables().items():
            for row in session.scalars(select(model)):
                values = {f: cipher.decrypt(f, getattr(row, c)) for c, f in columns if getattr(row, c) is not None}
                if values:
                    found[(model.__table__.name, row.id)] = values  # type: ignore[attr-defined]
    return found


def _none_decrypt(settings: Settings, cipher: FieldCipher) -> None:
    """No ciphertext of any table decrypts with ``cipher`` (the old key after a rotation)."""
    with session_scope(settings.store_url) as session:
        for model, columns in encrypted_tables().items():
            for row in session.scalars(select(model)):
                for column, field_name in columns:
                    if getattr(row, column) is not None:
                        with pytest.raises(InvalidTag):
                            cipher.decrypt(field_name, getattr(row, column))


def _find_by_phone(settings: Settings, cipher: FieldCipher, typed: str) -> list[int]:
    index = cipher.blind_index("phone", normalise_phone(typed))
    with session_scope(settings.store_url) as session:
        return list(session.scalars(select(Customer.id).where(Customer.phone_index == index)))


@pytest.fixture
def keyfile_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose secret is the key file in the data dir (no KEHU_SECRET_KEY), also for the CLI."""
    monkeypatch.delenv("KEHU_SECRET_KEY", raising=False)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return Settings(data_dir=tmp_path / "data", _env_file=None)


def test_cli_rotation_in_key_file_mode(keyfile_settings: Settings) -> None:
    fx = _factories()
    before = _fill(keyfile_settings)
    old_secret = load_secret(keyfile_settings)
    old = cipher_for(old_secret)
    vip_id = _find_by_phone(keyfile_settings, old, fx.VIP_PHONE)

    result = runner.invoke(app, ["keys", "rotate", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "secret.key.old" in result.output

    data = keyfile_settings.data_dir
    assert (data / "secret.key.old").read_text().strip().encode() == old_secret
    assert not (data / "secret.key.new").exists()
    for name in ("secret.key", "secret.key.old"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert "rows also re-encrypted: feedback 3, tasks 1, survey_responses 1" in result.output
    new = FieldCipher.from_settings(keyfile_settings)  # reads the swapped key file
    assert load_secret(keyfile_settings) != old_secret
    assert _plaintexts(keyfile_settings, new) == before  # every value decrypts with the new key, unchanged
    assert {table for table, _ in before} == set(FILLED)
    _none_decrypt(keyfile_settings, old)
    # Search by phone works with the new index, in any format, and no longer with the old one.
    assert _find_by_phone(keyfile_settings, new, "+86 138 1234 5678") == vip_id
    assert _find_by_phone(keyfile_settings, new, "'" + fx.VIP_PHONE) == vip_id
    assert _find_by_phone(keyfile_settings, old, fx.VIP_PHONE) == []
    with session_scope(keyfile_settings.store_url) as session:
        shopify = session.scalar(select(Customer).where(Customer.source == "shopify"))
        assert shopify.external_id == "e:" + new.blind_index("email", SHOPIFY_EMAIL)
        assert shopify.email_index == new.blind_index("email", SHOPIFY_EMAIL)
        assert shopify.row_hash is None  # keyed with the old key: cleared
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "key_rotation"))
        assert event is not None and event.via == "cli" and event.username.startswith("cli:")
        assert event.detail["customers"] == event.detail["customers_total"] == 11
        assert event.detail["notes"] == 4 and event.detail["email_keys"] == 1
        assert event.detail["tables"] == FILLED


def test_interrupted_rotation_resumes(keyfile_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from kehu.privacy import rotate

    before = _fill(keyfile_settings)
    old_secret = load_secret(keyfile_settings)
    real = rotate._rotate_customer
    calls = {"n": 0}

    def dies_on_the_seventh(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rotate, "_rotate_customer", dies_on_the_seventh)
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(keyfile_settings, batch_size=3)
    data = keyfile_settings.data_dir
    pending = (data / "secret.key.new").read_text().strip().encode()
    assert load_secret(keyfile_settings) == old_secret  # not swapped yet
    # Two batches (6 customers) are under the new key, the rest under the old one.
    with session_scope(keyfile_settings.store_url) as session:
        names = [c.name_enc for c in session.scalars(select(Customer).order_by(Customer.id)) if c.name_enc]
    assert cipher_for(pending).decrypt("name", names[5]) and cipher_for(old_secret).decrypt("name", names[6])

    monkeypatch.setattr(rotate, "_rotate_customer", real)
    report = rotate_keys(keyfile_settings, batch_size=3)  # the same command again
    assert report.already >= 6 and report.customers == 5
    assert load_secret(keyfile_settings) == pending
    assert _plaintexts(keyfile_settings, cipher_for(pending)) == before
    again = rotate_keys(keyfile_settings, new_key_file=None, batch_size=100)  # a later rotation: another key
    assert again.values > 0 and load_secret(keyfile_settings) != pending


def test_rotation_with_the_secret_in_the_environment(store_settings: Settings, tmp_path: Path) -> None:
    """KEHU_SECRET_KEY: the new secret comes from --new-key-file, no file is swapped; SQLite and PostgreSQL."""
    before = _fill(store_settings)
    new_file = tmp_path / "new.key"
    new_file.write_text(NEW_SECRET + "\n")
    report = rotate_keys(store_settings, new_key_file=new_file, batch_size=4)
    assert report.key_file is None and "KEHU_SECRET_KEY" in report.messages[0]
    assert report.tables == FILLED
    new_settings = store_settings.model_copy(update={"secret_key": NEW_SECRET})
    new = FieldCipher.from_settings(new_settings)
    assert _plaintexts(new_settings, new) == before
    _none_decrypt(new_settings, FieldCipher.from_settings(store_settings))
    assert len(_find_by_phone(new_settings, new, "138 1234 5678")) == 1
    # The feedback import keys were recomputed: importing the same file under the new key adds nothing.
    from kehu.feedback import import_feedback

    again = import_feedback(settings=new_settings, path=_feedback_file(store_settings))
    assert (again.inserted, again.unchanged) == (0, 2)


def test_cli_mistakes_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import SECRET

    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 1 and "pass --new-key-file" in result.output and "Traceback" not in result.output
    short = tmp_path / "short.key"
    short.write_text("too short\n")
    result = runner.invoke(app, ["keys", "rotate", "--new-key-file", str(short)])
    assert result.exit_code == 1 and "fewer than 32 characters" in result.output
    result = runner.invoke(app, ["keys", "rotate", "--new-key-file", str(tmp_path / "missing.key")])
    assert result.exit_code == 1 and "cannot read the key file" in result.output


def test_a_value_under_neither_key_stops_the_rotation(settings: Settings, tmp_path: Path) -> None:
    _fill(settings)
    stranger = cipher_for(b"a-third-secret-nobody-knows-about-0123456789")
    with session_scope(settings.store_url) as session:
        customer = session.scalars(select(Customer).order_by(Customer.id)).first()
        customer.name_enc = stranger.encrypt("name", "x")
        bad_id = customer.id
    new_file = tmp_path / "new.key"
    new_file.write_text(NEW_SECRET)
    with pytest.raises(StoreError, match=f"customer {bad_id}: the name decrypts with neither"):
        rotate_keys(settings, new_key_file=new_file)


def test_a_part_value_under_neither_key_stops_the_rotation(settings: Settings, tmp_path: Path) -> None:
    _fill(settings)
    stranger = cipher_for(b"a-third-secret-nobody-knows-about-0123456789")
    with session_scope(settings.store_url) as session:
        item = session.scalars(select(Feedback).order_by(Feedback.id)).first()
        item.text_enc = stranger.encrypt("feedback", "x")
        bad_id = item.id
    new_file = tmp_path / "new.key"
    new_file.write_text(NEW_SECRET)
    with pytest.raises(StoreError, match=f"feedback {bad_id}: the feedback decrypts with neither"):
        rotate_keys(settings, new_key_file=new_file)
