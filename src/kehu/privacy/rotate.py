"""Key rotation: re-encrypt every personal field and recompute every blind index under a new secret.

What changes: every ciphertext column of :data:`ENCRYPTED_COLUMNS` (decrypted with the old key, encrypted with the
new one): the customers' ``*_enc`` columns, ``customer_notes.body_enc``, the feedback texts and task outcomes
(:data:`kehu.feedback.privacy.ENCRYPTED_COLUMNS`) and the survey comments. Besides: the phone and e-mail blind
indexes, the Shopify-style customer ids ``e:<blind index of the e-mail>``, the keyed import keys of feedback
(``feedback.row_key``, recomputed from the row and its text, so re-importing the same feedback file still adds
nothing), and the keyed ``row_hash`` of customers (cleared: it cannot be recomputed without the original file, so the
next import of the same file counts those customers as updated once and rewrites them under the new key).

:data:`ENCRYPTED_COLUMNS` is the one list of the store's ciphertext columns: erasure
(:func:`kehu.privacy.subject.erase_customer`) clears them too, and ``tests/privacy/test_coverage.py`` fails when a
table has a ``*_enc`` column that is not in it.

Where the keys come from:

* the *old* secret is the current one (``KEHU_SECRET_KEY`` or ``<data_dir>/secret.key``);
* the *new* secret is read from ``--new-key-file`` or generated. In key-file mode it is first written to
  ``<data_dir>/secret.key.new`` (mode 0600) before any row changes; at the end the old key is kept as
  ``secret.key.old`` (mode 0600) and ``secret.key.new`` replaces ``secret.key`` atomically. When the secret comes
  from ``KEHU_SECRET_KEY``, ``--new-key-file`` is required and no file is swapped: afterwards set
  ``KEHU_SECRET_KEY`` to the new secret.

Batches and resuming: rows are rewritten in batches of ``batch_size`` rows, table by table (customers first, then
the notes, feedback, tasks and survey responses that hold a ciphertext), each batch one transaction. A value that
already decrypts with the new key is left alone (AES-GCM authenticates, so a value can only decrypt under the key
that sealed it), so an interrupted rotation is finished by running the same command again: the pending new key is
still in ``secret.key.new`` (or in the ``--new-key-file`` given again), the batches already written are recognised
and skipped. Running it again after it finished starts a new rotation (to a new key).

Stop ``kehu serve`` and imports while rotating (they hold the old key) and restart them afterwards; signed-in web
sessions end, since their cookie key is derived from the secret too.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from kehu.config import Settings
from kehu.errors import InvalidInput, StoreError
from kehu.feedback.privacy import ENCRYPTED_COLUMNS as FEEDBACK_COLUMNS
from kehu.feedback.service import row_key as feedback_row_key
from kehu.privacy import audit
from kehu.privacy.crypto import FieldCipher
from kehu.privacy.keys import KEY_FILE, derive_key, load_secret
from kehu.privacy.normalise import normalise_email, normalise_phone
from kehu.privacy.subject import CUSTOMER_FIELDS, NOTE_FIELD
from kehu.store import Customer, CustomerNote, Feedback, SurveyResponse, open_store, session_scope
from kehu.surveys import COMMENT_FIELD as SURVEY_COMMENT_FIELD

NEW_KEY_FILE = KEY_FILE + ".new"
OLD_KEY_FILE = KEY_FILE + ".old"
#: The shortest secret accepted (characters), as for ``KEHU_SECRET_KEY``.
MIN_SECRET = 32

Progress = Callable[[str, int, int], None]

#: Every ciphertext column of the store as (model, column, encryption field name), assembled from the parts' own
#: lists. A rotation re-encrypts each of them; erasure clears the ones of a customer's rows. A part that adds a
#: ``*_enc`` column adds it here (``tests/privacy/test_coverage.py`` fails until it does).
ENCRYPTED_COLUMNS: tuple[tuple[type, str, str], ...] = (
    *((Customer, column, field_name) for column, field_name in CUSTOMER_FIELDS.items()),
    (CustomerNote, "body_enc", NOTE_FIELD),
    *FEEDBACK_COLUMNS,
    (SurveyResponse, "comment_enc", SURVEY_COMMENT_FIELD),
)
#: Keyed columns that are not ciphertexts but must be recomputed under the new key (besides the customers' blind
#: indexes, which :func:`_rotate_customer` handles): model → columns.
KEYED_COLUMNS: dict[type, tuple[str, ...]] = {Feedback: ("row_key",)}
#: What a row is called in messages (default: the table name).
_ROW_NAMES: dict[str, str] = {"customers": "customer", "customer_notes": "note"}


def encrypted_tables() -> dict[type, list[tuple[str, str]]]:
    """:data:`ENCRYPTED_COLUMNS` grouped by model, in their order: model → [(column, field name), …]."""
    tables: dict[type, list[tuple[str, str]]] = {}
    for model, column, field_name in ENCRYPTED_COLUMNS:
        tables.setdefault(model, []).append((column, field_name))
    return tables


@dataclass
class RotationReport:
    """What a rotation did.

    ``customers`` and ``notes``: rows rewritten; ``tables``: rows rewritten per table (every table of
    :data:`ENCRYPTED_COLUMNS`, customers and notes included); ``values``: ciphertexts re-encrypted; ``already``:
    ciphertexts that were under the new key already (a resumed run); ``email_keys``: ``e:`` customer ids recomputed;
    ``email_keys_left``: ``e:`` ids that match neither key's index of the stored e-mail (left unchanged);
    ``key_file``: the key file now holding the new secret (``None`` when the secret comes from the environment);
    ``backup``: where the old secret was kept.
    """

    customers: int = 0
    notes: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    values: int = 0
    already: int = 0
    email_keys: int = 0
    email_keys_left: int = 0
    key_file: Path | None = None
    backup: Path | None = None
    messages: list[str] = field(default_factory=list)


def cipher_for(secret: bytes) -> FieldCipher:
    """The field cipher of a master secret (the same derivation as :meth:`FieldCipher.from_settings`)."""
    return FieldCipher(derive_key(secret, "pii-encryption"), derive_key(secret, "blind-index"))


def _read_secret(path: Path) -> bytes:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise InvalidInput(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    if len(value) < MIN_SECRET:
        raise InvalidInput(f"the key file {path} holds fewer than {MIN_SECRET} characters")
    return value.encode()


def _write_private(path: Path, content: bytes, *, exclusive: bool) -> None:
    """Write ``content`` + newline to ``path`` with mode 0600 (fsynced); ``exclusive`` refuses an existing file."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_secret(settings: Settings, old: bytes, new_key_file: Path | None) -> tuple[bytes, Path | None]:
    """The new secret and, in key-file mode, the staged ``secret.key.new`` holding it."""
    if settings.secret_key:
        if new_key_file is None:
            raise InvalidInput("KEHU_SECRET_KEY is set, so there is no key file to rotate: pass --new-key-file PATH "
                               "with the new secret (at least 32 characters), then set KEHU_SECRET_KEY to it")
        return _read_secret(new_key_file), None
    staged = Path(settings.data_dir) / NEW_KEY_FILE
    given = _read_secret(new_key_file) if new_key_file is not None else None
    if staged.exists():
        pending = _read_secret(staged)
        if given is not None and given != pending:
            raise InvalidInput(f"an interrupted rotation to another key is pending in {staged}: finish it first by "
                               "running `kehu keys rotate` without --new-key-file")
        return pending, staged
    secret = given if given is not None else base64.urlsafe_b64encode(secrets.token_bytes(32))
    if secret == old:
        raise InvalidInput("the new key is the current key; give another one")
    _write_private(staged, secret, exclusive=True)
    return secret, staged


def _reseal(old: FieldCipher, new: FieldCipher, field_name: str, token: str, what: str,
            report: RotationReport) -> tuple[str, str]:
    """(new token, plaintext) of ``token``; the token itself when it is under the new key already."""
    try:
        plain = old.decrypt(field_name, token)
    except (InvalidTag, ValueError):
        try:
            plain = new.decrypt(field_name, token)
        except (InvalidTag, ValueError):
            raise StoreError(f"{what}: the {field_name} decrypts with neither the old nor the new key; "
                             "was the key file replaced by hand? Restore the key it was written with") from None
        report.already += 1
        return token, plain or ""
    report.values += 1
    return new.encrypt(field_name, plain) or token, plain or ""


def _rotate_customer(customer: Customer, old: FieldCipher, new: FieldCipher, report: RotationReport) -> bool:
    """Rotate one customer row in place; True when something changed."""
    changed = False
    plain: dict[str, str] = {}
    for column, field_name in CUSTOMER_FIELDS.items():
        token = getattr(customer, column)
        if token is None:
            continue
        sealed, plain[field_name] = _reseal(old, new, field_name, token, f"customer {customer.id}", report)
        if sealed != token:
            setattr(customer, column, sealed)
            changed = True
    indexes = {
        "phone_index": new.blind_index("phone", normalise_phone(plain.get("phone"))),
        "email_index": new.blind_index("email", normalise_email(plain.get("email"))),
    }
    for column, value in indexes.items():
        if getattr(customer, column) != value:
            setattr(customer, column, value)
            changed = True
    if customer.external_id.startswith("e:") and plain.get("email"):
        email = normalise_email(plain["email"])
        old_key = "e:" + (old.blind_index("email", email) or "")
        new_key = "e:" + (new.blind_index("email", email) or "")
        if customer.external_id == old_key:
            customer.external_id = new_key
            report.email_keys += 1
            changed = True
        elif customer.external_id != new_key:
            report.email_keys_left += 1
    if customer.row_hash is not None:
        customer.row_hash = None
        changed = True
    return changed


def _rotate_row(row: object, columns: list[tuple[str, str]], old: FieldCipher, new: FieldCipher,
                report: RotationReport) -> bool:
    """Re-encrypt the ``columns`` of one row (not a customer) in place, recompute its keyed columns; True when
    something changed."""
    table = row.__table__.name  # type: ignore[attr-defined]
    what = f"{_ROW_NAMES.get(table, table)} {row.id}"  # type: ignore[attr-defined]
    changed = False
    plain: dict[str, str] = {}
    for column, field_name in columns:
        token = getattr(row, column)
        if token is None:
            continue
        sealed, plain[column] = _reseal(old, new, field_name, token, what, report)
        if sealed != token:
            setattr(row, column, sealed)
            changed = True
    if isinstance(row, Feedback) and row.row_key is not None:
        key = feedback_row_key(new, customer_id=row.customer_id, created_at=row.created_at, kind=row.kind,
                               text=plain.get("text_enc"))
        if key != row.row_key:
            row.row_key = key
            changed = True
    return changed


def _holding(model: type, columns: list[tuple[str, str]]) -> ColumnElement[bool] | None:
    """The rows of ``model`` a rotation must visit: every customer; otherwise those with a ciphertext or a keyed
    value."""
    if model is Customer:
        return None
    names = [c for c, _ in columns] + list(KEYED_COLUMNS.get(model, ()))
    table = model.__table__  # type: ignore[attr-defined]
    return or_(*(table.c[name].isnot(None) for name in names))


def _next_batch(session: Session, model: type, after: int, batch_size: int,
                where: ColumnElement[bool] | None = None) -> list:  # type: ignore[type-arg]
    """The next ``batch_size`` rows of ``model`` with an id above ``after`` (and ``where``), in id order (keyset
    paging)."""
    mid = model.id  # type: ignore[attr-defined]
    conditions = [mid > after] if where is None else [mid > after, where]
    return list(session.scalars(select(model).where(*conditions).order_by(mid).limit(batch_size)))


def _count(session: Session, model: type, where: ColumnElement[bool] | None = None) -> int:
    stmt = select(func.count()).select_from(model)
    if where is not None:
        stmt = stmt.where(where)
    return int(session.scalar(stmt) or 0)


def rotate_keys(settings: Settings, *, new_key_file: Path | None = None, batch_size: int = 1000,
                progress: Progress | None = None, user_id: int | None = None, username: str | None = None,
                via: str = "cli") -> RotationReport:
    """Re-encrypt every personal field under a new secret and recompute the blind indexes; see the module text.

    Parameters
    ----------
    new_key_file
        A file holding the new secret (at least 32 characters). Default: a random one (key-file mode only).
    batch_size
        Rows per transaction (≥ 1).
    progress
        Called as ``progress(stage, done, total)`` (rows) after each batch; the stage is the table name
        (``customers``, ``customer_notes``, ``feedback``, ``tasks``, ``survey_responses``).
    user_id, username, via
        Who rotated, for the audit event ``key_rotation`` (counts only).

    Raises :class:`InvalidInput` for a missing or short key file, or ``KEHU_SECRET_KEY`` without
    ``--new-key-file``; :class:`kehu.errors.StoreError` when a value decrypts with neither key.
    """
    if batch_size < 1:
        raise InvalidInput(f"batch size must be at least 1, got {batch_size}")
    url = settings.store_url
    open_store(url)
    old_secret = load_secret(settings)
    new_secret, staged = _new_secret(settings, old_secret, new_key_file)
    old, new = cipher_for(old_secret), cipher_for(new_secret)
    report = RotationReport()

    tables = [(model, model.__table__.name, columns, _holding(model, columns))  # type: ignore[attr-defined]
              for model, columns in encrypted_tables().items()]
    with session_scope(url) as session:
        totals = {stage: _count(session, model, where) for model, stage, _, where in tables}
    for model, stage, columns, where in tables:
        after = done = 0
        report.tables[stage] = 0
        while True:
            with session_scope(url) as session:
                rows = _next_batch(session, model, after, batch_size, where)
                if not rows:
                    break
                for row in rows:
                    if isinstance(row, Customer):
                        changed = _rotate_customer(row, old, new, report)
                    else:
                        changed = _rotate_row(row, columns, old, new, report)
                    report.tables[stage] += changed
                after = rows[-1].id
            done += len(rows)
            if progress:
                progress(stage, done, max(totals[stage], done))
    report.customers = report.tables.get("customers", 0)
    report.notes = report.tables.get("customer_notes", 0)

    if staged is not None:
        key_file = Path(settings.data_dir) / KEY_FILE
        backup = Path(settings.data_dir) / OLD_KEY_FILE
        _write_private(backup, old_secret, exclusive=False)
        os.replace(staged, key_file)
        report.key_file, report.backup = key_file, backup
        report.messages.append(f"the new key is in {key_file}; the old one is kept in {backup} (mode 0600): "
                               "delete it once the backups made with it are gone")
    else:
        report.messages.append("now set KEHU_SECRET_KEY to the new secret (the content of the --new-key-file) "
                               "everywhere kehu runs, then restart kehu serve")
    others = {t: n for t, n in report.tables.items() if t not in ("customers", "customer_notes") and n}
    if others:
        report.messages.append("rows also re-encrypted: " + ", ".join(f"{t} {n}" for t, n in others.items()))
    if report.email_keys_left:
        report.messages.append(f"{report.email_keys_left} e-mail-based customer ids did not match their stored "
                               "e-mail and were left as they are; a re-import may create them again")
    with session_scope(url) as session:
        if username is None and user_id is not None:
            from kehu.store import User

            user = session.get(User, user_id)
            username = user.username if user else None
        audit.record(session, action="key_rotation", user_id=user_id, username=username, via=via,
                     detail={"customers": report.customers, "notes": report.notes, "tables": report.tables,
                             "values": report.values, "already": report.already, "email_keys": report.email_keys,
                             "customers_total": totals["customers"], "key_file": staged is not None})
    return report
