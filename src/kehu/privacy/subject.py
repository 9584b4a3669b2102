"""Data-subject requests for one customer: export everything held on them (JSON), or erase their personal data.

*Export* (:func:`export_customer`) gathers the customer's decrypted personal fields, their orders with lines, their
classification in every snapshot, their consent history, the notes about them (decrypted), their feedback (texts
decrypted) and tasks (outcomes decrypted), survey answers (comments decrypted) and invitations, campaigns (arm,
coupon code, call-back task), membership (tier, tier changes, points ledger), segment memberships and traits, and
the audit events about them, as one JSON-ready ``dict``. :data:`EXPORTED_TABLES` says where each table that holds a
``customer_id`` appears in it; ``tests/privacy/test_coverage.py`` fails when a table with a ``customer_id`` column is
neither there nor in :data:`NOT_EXPORTED`, so a new part's table cannot be left out unnoticed.

*Erasure* (:func:`erase_customer`) removes the personal fields (name, phone, e-mail, address, ID number), their blind
indexes and the keyed row hash, the birth year and the registration time, deletes the notes and consent events,
removes the feedback texts and keywords and the task outcomes (:func:`kehu.feedback.privacy.erase_customer_feedback`),
the survey comments and every other ciphertext of :data:`kehu.privacy.rotate.ENCRYPTED_COLUMNS` in a row of the
customer, and the coupon codes, and replaces the source-system id by ``erased-<store id>``. The row itself stays with
its id, so the orders (unchanged), classifications, feedback categories and ratings, survey scores, campaign arms,
membership tiers and points, and segment memberships still count in every aggregate but point at nobody.
``erased_at`` records when.

Re-import after erasure: the source id is gone from the store, so a later import that names the same source customer
creates a *new* customer row (new store id, the personal data in the file). Orders already in the store stay with the
erased row, unless a later import brings one of them with changed content, in which case that order moves to the new
row (the source data links it to that person again). The merchant must erase the person in the source system too.

Both functions add an audit event (``privacy_export`` / ``privacy_erase``, ids only) to the caller's session and do
not commit. On SQLite, erasure turns on ``secure_delete`` for its connection and, once the caller commits, checkpoints
and truncates the write-ahead log, so the old ciphertexts and indexes no longer exist in the database files.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, NotFound, StoreError
from kehu.privacy import audit
from kehu.privacy.consent import consent_history
from kehu.privacy.crypto import FieldCipher
from kehu.store import (
    AuditEvent,
    Campaign,
    CampaignMember,
    Classification,
    ClassificationSnapshot,
    ConsentEvent,
    Customer,
    CustomerNote,
    MemberTier,
    Order,
    OrderLine,
    PointsEntry,
    Segment,
    SegmentMember,
    SegmentTrait,
    Survey,
    SurveyInvite,
    SurveyResponse,
    TierChange,
    User,
)

#: Encrypted customer columns and the field name each is encrypted under (the AES-GCM associated data).
CUSTOMER_FIELDS: dict[str, str] = {
    "name_enc": "name",
    "phone_enc": "phone",
    "email_enc": "email",
    "address_enc": "address",
    "id_number_enc": "id_number",
}
#: The blind indexes kept beside the ciphertexts.
CUSTOMER_INDEXES: dict[str, str] = {"phone_index": "phone", "email_index": "email"}
#: The field name of ``customer_notes.body_enc``.
NOTE_FIELD = "note"
#: The field name of ``survey_responses.comment_enc`` (:data:`kehu.surveys.COMMENT_FIELD`; kept here so that this
#: module does not import the surveys part, which a test checks).
SURVEY_COMMENT_FIELD = "survey_comment"
#: Where the rows of every table with a ``customer_id`` column appear in the export: a key of the export, or
#: ``key.subkey``. The ``customers`` row itself is ``customer``.
EXPORTED_TABLES: dict[str, str] = {
    "orders": "orders",
    "classifications": "classifications",
    "consent_events": "consent",
    "customer_notes": "notes",
    "feedback": "feedback",
    "tasks": "tasks",
    "survey_responses": "survey_responses",
    "survey_invites": "survey_invites",
    "campaign_members": "campaigns",
    "member_tiers": "membership.tier",
    "tier_changes": "membership.tier_changes",
    "points_ledger": "membership.points_ledger",
    "segment_members": "segments",
    "segment_traits": "segment_traits",
}
#: Tables with a ``customer_id`` column that the export leaves out on purpose, each with the reason (nothing
#: personal in them). Empty: every table linked to a customer is exported.
NOT_EXPORTED: dict[str, str] = {}
#: What an erased customer's source-system id becomes (``{id}`` is the store id).
ERASED_ID = "erased-{id}"
#: Version of the export's layout; bumped when a key is renamed or removed.
EXPORT_VERSION = 1


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    """A JSON-ready value: dates as ISO text, everything else unchanged."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a mapped row as a JSON-ready dict (``skip`` left out)."""
    return {c.key: _plain(getattr(obj, c.key)) for c in obj.__table__.columns if c.key not in skip}


def _decrypt(cipher: FieldCipher, field: str, token: str | None, what: str) -> str | None:
    try:
        return cipher.decrypt(field, token)
    except (InvalidTag, ValueError):
        raise StoreError(f"{what}: the {field} does not decrypt with the current key; if a key rotation was "
                         "interrupted, run `kehu keys rotate` again to finish it") from None


def find_customer(session: Session, external_id: str, source: str | None = None) -> Customer:
    """The customer with this source-system id (and ``source``, the import format, when given).

    Raises :class:`NotFound` when there is none, and :class:`InvalidInput` when the id is empty or exists in several
    sources and ``source`` was not given (the message names them). An erased customer is found by ``erased-<id>``.
    """
    external_id = (external_id or "").strip()
    if not external_id:
        raise InvalidInput("give the customer's source-system id (the customer id of the imported files)")
    stmt = select(Customer).where(Customer.external_id == external_id)
    if source:
        stmt = stmt.where(Customer.source == source.strip())
    found = list(session.scalars(stmt.order_by(Customer.source)))
    if not found:
        where = f" in source {source!r}" if source else ""
        raise NotFound(f"no customer with source id {external_id!r}{where}")
    if len(found) > 1:
        sources = ", ".join(c.source for c in found)
        raise InvalidInput(f"customer id {external_id!r} exists in several sources ({sources}); choose one with "
                           "--source (web: the source field)")
    return found[0]


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user.username if user is not None else None


def export_customer(session: Session, cipher: FieldCipher, customer_id: int, *, user_id: int | None = None,
                    username: str | None = None, via: str | None = None, ip: str | None = None) -> dict[str, Any]:
    """Everything held on one customer, personal fields and notes decrypted, as a JSON-ready ``dict``.

    Keys: ``format``, ``version``, ``exported_at`` (UTC), ``customer`` (store fields, personal ones decrypted;
    ``None`` where absent or erased), ``orders`` (oldest first, each with ``lines``; money in integer cents),
    ``classifications`` (one per snapshot, oldest snapshot first, with its ``as_of`` and ``status``), ``consent``
    (oldest first), ``notes`` (oldest first, ``text`` decrypted), ``feedback`` (``text`` decrypted) and ``tasks``
    (``outcome`` decrypted) as :func:`kehu.feedback.privacy.export_customer_feedback` gives them,
    ``survey_responses`` (with the survey's name and kind, ``comment`` decrypted) and ``survey_invites``,
    ``campaigns`` (the campaign's name, offer and window, the arm, ``coupon_code`` and call-back ``task_id``),
    ``membership`` (``tier``: the current tier or ``None``; ``tier_changes`` and ``points_ledger``, oldest first),
    ``segments`` (segment and tag memberships per snapshot), ``segment_traits`` (per snapshot) and
    ``audit_events`` (about this customer, oldest first; without client addresses, which are the staff's data).

    Adds an audit event ``privacy_export`` (by ``user_id``, named ``username`` or else the user's name; ``via`` and
    ``ip`` as given) to the session, so the caller should commit; callers do not audit it again.
    :class:`NotFound` for an unknown id; :class:`kehu.errors.StoreError` when a field does not decrypt with
    ``cipher`` (the wrong key).
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    what = f"customer {customer_id}"
    person = _row(customer, skip=(*CUSTOMER_FIELDS, *CUSTOMER_INDEXES, "row_hash"))
    for column, field in CUSTOMER_FIELDS.items():
        person[field] = _decrypt(cipher, field, getattr(customer, column), what)

    orders = list(session.scalars(select(Order).where(Order.customer_id == customer_id)
                                  .order_by(Order.ordered_at, Order.id)))
    lines: dict[int, list[dict[str, Any]]] = {o.id: [] for o in orders}
    if orders:
        stmt = select(OrderLine).where(OrderLine.order_id.in_(list(lines))).order_by(OrderLine.order_id,
                                                                                     OrderLine.line_no)
        for line in session.scalars(stmt):
            lines[line.order_id].append(_row(line, skip=("id", "order_id")))
    order_rows = [{**_row(o, skip=("customer_id", "row_hash", "import_run_id")), "lines": lines[o.id]}
                  for o in orders]

    classifications = []
    stmt2 = (select(Classification, ClassificationSnapshot)
             .join(ClassificationSnapshot, ClassificationSnapshot.id == Classification.snapshot_id)
             .where(Classification.customer_id == customer_id)
             .order_by(ClassificationSnapshot.as_of, ClassificationSnapshot.id))
    for k, snapshot in session.execute(stmt2).all():
        row = _row(k, skip=("customer_id",))
        for key in ("churn_reasons", "recommendations"):
            if isinstance(row.get(key), str):
                try:
                    row[key] = json.loads(row[key])
                except ValueError:
                    pass
        classifications.append({"as_of": snapshot.as_of.isoformat(), "status": snapshot.status, **row})

    consent = [_row(e, skip=("customer_id",)) for e in consent_history(session, customer_id)]

    authors: dict[int | None, str | None] = {}
    notes = []
    for note in session.scalars(select(CustomerNote).where(CustomerNote.customer_id == customer_id)
                                .order_by(CustomerNote.at, CustomerNote.id)):
        if note.user_id not in authors:
            authors[note.user_id] = _username(session, note.user_id)
        notes.append({**_row(note, skip=("customer_id", "body_enc")), "author": authors[note.user_id],
                      "text": _decrypt(cipher, NOTE_FIELD, note.body_enc, f"note {note.id} of {what}")})

    from kehu.feedback.privacy import export_customer_feedback  # imported here: the part pulls in analytics

    feedback = export_customer_feedback(session, cipher, customer_id)
    surveys = _surveys(session, cipher, customer_id, what)

    events = [_row(e, skip=("ip", "target_type", "target_id"))
              for e in session.scalars(select(AuditEvent)
                                       .where(AuditEvent.target_type == "customer",
                                              AuditEvent.target_id == str(customer_id))
                                       .order_by(AuditEvent.at, AuditEvent.id))]

    campaigns = _campaigns(session, customer_id)
    audit.record(session, action="privacy_export", user_id=user_id, username=username or _username(session, user_id),
                 target_type="customer", target_id=customer_id,
                 detail={"orders": len(order_rows), "notes": len(notes), "classifications": len(classifications),
                         "feedback": len(feedback["feedback"]), "tasks": len(feedback["tasks"]),
                         "survey_responses": len(surveys["survey_responses"]), "campaigns": len(campaigns)},
                 ip=ip, via=via)
    return {
        "format": "kehu-customer-export",
        "version": EXPORT_VERSION,
        "exported_at": _now().isoformat(timespec="seconds") + "Z",
        "customer": person,
        "orders": order_rows,
        "classifications": classifications,
        "consent": consent,
        "notes": notes,
        "feedback": feedback["feedback"],
        "tasks": feedback["tasks"],
        **surveys,
        "campaigns": campaigns,
        "membership": _membership(session, customer_id),
        **_segments(session, customer_id),
        "audit_events": events,
    }


def _surveys(session: Session, cipher: FieldCipher, customer_id: int, what: str) -> dict[str, list[dict[str, Any]]]:
    """``survey_responses`` (comments decrypted) and ``survey_invites`` of one customer, oldest first."""
    responses = []
    stmt = (select(SurveyResponse, Survey).join(Survey, Survey.id == SurveyResponse.survey_id)
            .where(SurveyResponse.customer_id == customer_id)
            .order_by(SurveyResponse.answered_at, SurveyResponse.id))
    for response, survey in session.execute(stmt).all():
        responses.append({**_row(response, skip=("customer_id", "comment_enc")), "survey": survey.name,
                          "kind": survey.kind,
                          "comment": _decrypt(cipher, SURVEY_COMMENT_FIELD, response.comment_enc,
                                              f"survey answer {response.id} of {what}")})
    invites = [{"survey_id": invite.survey_id, "survey": name, "invited_at": _plain(invite.invited_at)}
               for invite, name in session.execute(
                   select(SurveyInvite, Survey.name).join(Survey, Survey.id == SurveyInvite.survey_id)
                   .where(SurveyInvite.customer_id == customer_id)
                   .order_by(SurveyInvite.invited_at, SurveyInvite.survey_id)).all()]
    return {"survey_responses": responses, "survey_invites": invites}


def _campaigns(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """The campaigns one customer is a member of, oldest first: the arm drawn, the coupon code, the call-back
    task."""
    stmt = (select(CampaignMember, Campaign).join(Campaign, Campaign.id == CampaignMember.campaign_id)
            .where(CampaignMember.customer_id == customer_id).order_by(Campaign.starts_on, Campaign.id))
    return [{"campaign_id": campaign.id, "campaign": campaign.name, "offer": campaign.offer,
             "starts_on": _plain(campaign.starts_on), "attribution_days": campaign.attribution_days,
             "arm": member.arm, "coupon_code": member.coupon_code, "task_id": member.task_id}
            for member, campaign in session.execute(stmt).all()]


def _membership(session: Session, customer_id: int) -> dict[str, Any]:
    """One customer's current tier (``None`` without one), tier changes and points ledger, oldest first."""
    tier = session.get(MemberTier, customer_id)
    changes = session.scalars(select(TierChange).where(TierChange.customer_id == customer_id)
                              .order_by(TierChange.changed_on, TierChange.id))
    ledger = session.scalars(select(PointsEntry).where(PointsEntry.customer_id == customer_id)
                             .order_by(PointsEntry.seq))
    return {"tier": _row(tier, skip=("customer_id",)) if tier is not None else None,
            "tier_changes": [_row(c, skip=("customer_id",)) for c in changes],
            "points_ledger": [_row(e, skip=("customer_id", "user_id")) for e in ledger]}


def _segments(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """``segments``: the segments and profile tags one customer was in, per snapshot (oldest snapshot first, then
    by name); ``segment_traits``: the behaviour traits computed for them per snapshot."""
    stmt = (select(SegmentMember.snapshot_id, ClassificationSnapshot.as_of, Segment)
            .join(Segment, Segment.id == SegmentMember.segment_id)
            .join(ClassificationSnapshot, ClassificationSnapshot.id == SegmentMember.snapshot_id)
            .where(SegmentMember.customer_id == customer_id)
            .order_by(ClassificationSnapshot.as_of, SegmentMember.snapshot_id, Segment.name))
    members = [{"snapshot_id": snapshot_id, "as_of": _plain(as_of), "segment_id": segment.id,
                "segment": segment.name, "is_tag": segment.is_tag}
               for snapshot_id, as_of, segment in session.execute(stmt).all()]
    traits = [{"as_of": _plain(as_of), **_row(trait, skip=("customer_id",))}
              for trait, as_of in session.execute(
                  select(SegmentTrait, ClassificationSnapshot.as_of)
                  .join(ClassificationSnapshot, ClassificationSnapshot.id == SegmentTrait.snapshot_id)
                  .where(SegmentTrait.customer_id == customer_id)
                  .order_by(ClassificationSnapshot.as_of, SegmentTrait.snapshot_id)).all()]
    return {"segments": members, "segment_traits": traits}


def _free_external_id(session: Session, customer: Customer) -> str:
    """``erased-<id>``, or with a ``-n`` suffix in the unlikely case the source already uses that id."""
    base = ERASED_ID.format(id=customer.id)
    candidate, n = base, 1
    while session.scalar(select(Customer.id).where(Customer.source == customer.source,
                                                   Customer.external_id == candidate,
                                                   Customer.id != customer.id)) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _checkpoint_after_commit(session: Session) -> None:
    """SQLite: once the session commits, copy the log into the database file and truncate it (old page versions
    with the erased values are gone from disk)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    engine = bind.engine

    def checkpoint(_session: Session) -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    event.listen(session, "after_commit", checkpoint, once=True)


def _delete(session: Session, model: type[CustomerNote] | type[ConsentEvent], customer_id: int) -> int:
    """Delete a customer's rows of ``model``; how many there were."""
    n = session.scalar(select(func.count()).select_from(model).where(model.customer_id == customer_id)) or 0
    session.execute(delete(model).where(model.customer_id == customer_id))
    return int(n)


def _clear(session: Session, model: type, column: str, customer_id: int) -> int:
    """Set ``column`` to NULL in a customer's rows of ``model``; how many rows held a value."""
    table = model.__table__  # type: ignore[attr-defined]
    where = (table.c.customer_id == customer_id, table.c[column].isnot(None))
    n = session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    if n:
        session.execute(update(table).where(*where).values({column: None}))
    return int(n)


def erase_customer(session: Session, customer_id: int, *, user_id: int | None, username: str | None = None,
                   via: str | None = None, ip: str | None = None) -> None:
    """Erase one customer's personal data, keeping their orders (anonymised) for the aggregates.

    Clears ``name/phone/email/address/id_number`` ciphertexts, the phone and e-mail blind indexes, the keyed
    ``row_hash``, ``birth_year`` and ``registered_at``; sets ``marketing_consent`` to ``None`` and ``erased_at`` to
    now (UTC); deletes the customer's notes and consent events; removes the feedback texts, keywords and import keys
    and the task outcomes (:func:`kehu.feedback.privacy.erase_customer_feedback`), then every other ciphertext of
    :data:`kehu.privacy.rotate.ENCRYPTED_COLUMNS` in a row with this ``customer_id`` (the survey comments, and
    whatever a part's own erasure missed); clears the customer's coupon codes; replaces ``external_id`` by
    ``erased-<id>``. Orders, order lines, classifications, gender, province, city and channel stay, and so do the
    feedback's category, sentiment and rating, the tasks (title, status, dates), survey scores and invitations,
    campaign arms, membership tiers, tier changes and points, and segment memberships and traits: none holds a
    personal value, and the aggregates keep counting them. No order row changes, so ``store_meta.orders_revision``
    does not change either.

    Erasing an erased customer again is allowed (it clears whatever was written since, e.g. by hand) and audited
    again. Adds an audit event ``privacy_erase`` (ids and counts only; ``username`` as for :func:`export_customer`);
    the caller commits and does not audit it again. :class:`NotFound` for
    an unknown id.
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if session.get_bind().dialect.name == "sqlite":
        # Freed cells and pages are overwritten with zeros, so the old values are not left in the file.
        session.execute(text("PRAGMA secure_delete = ON"))
    again = customer.erased_at is not None
    for column in (*CUSTOMER_FIELDS, *CUSTOMER_INDEXES, "row_hash"):
        setattr(customer, column, None)
    customer.birth_year = None
    customer.registered_at = None
    customer.marketing_consent = None
    customer.erased_at = _now()
    customer.external_id = _free_external_id(session, customer)
    notes = _delete(session, CustomerNote, customer_id)
    consents = _delete(session, ConsentEvent, customer_id)
    from kehu.feedback.privacy import erase_customer_feedback  # imported here: the parts pull in analytics
    from kehu.privacy.rotate import ENCRYPTED_COLUMNS

    feedback = erase_customer_feedback(session, customer_id)
    ciphertexts = sum(_clear(session, model, column, customer_id) for model, column, _ in ENCRYPTED_COLUMNS
                      if model not in (Customer, CustomerNote))
    coupons = _clear(session, CampaignMember, "coupon_code", customer_id)
    orders = session.scalar(select(Order.id).where(Order.customer_id == customer_id).limit(1)) is not None
    audit.record(session, action="privacy_erase", user_id=user_id, username=username or _username(session, user_id),
                 target_type="customer", target_id=customer_id,
                 detail={"notes_deleted": notes, "consent_events_deleted": consents,
                         "feedback_and_tasks_erased": feedback, "ciphertexts_cleared": ciphertexts,
                         "coupon_codes_cleared": coupons, "has_orders": orders, "again": again},
                 ip=ip, via=via)
    session.flush()
    _checkpoint_after_commit(session)
