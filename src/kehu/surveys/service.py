"""Surveys: create one, give customers answer links, record answers (once each), import answers collected elsewhere,
and open a call-back task (电话回访) for every detractor.

An answer's comment is encrypted (field :data:`COMMENT_FIELD`). A detractor's follow-up goes to the survey's owner,
or else to the active agents in turn; it is due ``follow_up_days`` after the answer was recorded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from kehu.campaigns import owners
from kehu.campaigns.targets import Target, find_snapshot, target_members
from kehu.errors import InvalidInput, KehuError, NotFound
from kehu.privacy import FieldCipher, audit
from kehu.store import Customer, Survey, SurveyInvite, SurveyResponse
from kehu.surveys.stats import KINDS, check_score, needs_follow_up
from kehu.surveys.tokens import make_token
from kehu.users import Actor

COMMENT_FIELD = "survey_comment"
COMMENT_MAX = 2000
MAX_FOLLOW_UP_DAYS = 60
#: Links issued at once at most (a larger target is split into several surveys or narrowed).
MAX_LINKS = 200_000
IMPORT_COLUMNS: tuple[str, ...] = ("customer_id", "answered_at", "score", "comment")


class AlreadyAnswered(KehuError):
    """The customer has answered this survey already; the first answer stands."""

    status = 409


class SurveyClosed(KehuError):
    """The survey no longer takes answers."""

    status = 410


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def create_survey(session: Session, *, name: str, kind: str, actor: Actor, question: str | None = None,
                  owner_id: int | None = None, follow_up_days: int = 2) -> Survey:
    """Add a survey (flushed) and audit it.

    Parameters
    ----------
    name
        1–128 characters, shown to staff only.
    kind
        ``nps`` (0–10) or ``csat`` (1–5).
    question
        Shown on the answer page instead of the standard question of the kind (at most 500 characters).
    owner_id
        The user who gets the detractors' call-backs; ``None`` = the active agents in turn.
    follow_up_days
        A call-back is due this many days after the answer is recorded (0–60).
    """
    name = " ".join((name or "").split())
    if not name or len(name) > 128:
        raise InvalidInput("a survey needs a name of 1 to 128 characters")
    if kind not in KINDS:
        raise InvalidInput(f"unknown survey kind {kind!r}; use nps or csat")
    question = " ".join((question or "").split()) or None
    if question is not None and len(question) > 500:
        raise InvalidInput("the question is longer than 500 characters; shorten it")
    if not 0 <= follow_up_days <= MAX_FOLLOW_UP_DAYS:
        raise InvalidInput(f"follow-up days {follow_up_days} must be 0 to {MAX_FOLLOW_UP_DAYS}")
    owner = owners.check_owner(session, owner_id)
    survey = Survey(name=name, kind=kind, question=question, owner_id=owner, follow_up_days=follow_up_days,
                    created_by=actor.user_id)
    session.add(survey)
    session.flush()
    audit.record(session, action="create", user_id=actor.user_id, username=actor.username, target_type="survey",
                 target_id=survey.id, detail={"kind": kind, "owner_id": owner, "follow_up_days": follow_up_days},
                 ip=actor.ip, via=actor.via)
    return survey


def get_survey(session: Session, survey_id: int) -> Survey:
    """The survey with this id; :class:`NotFound` otherwise."""
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(f"survey {survey_id} does not exist; `kehu survey list` shows them")
    return survey


def list_surveys(session: Session, limit: int = 200) -> list[Survey]:
    """The newest surveys first."""
    return list(session.scalars(select(Survey).order_by(Survey.created_at.desc(), Survey.id.desc()).limit(limit)))


def response_counts(session: Session, survey_ids: list[int]) -> dict[int, tuple[int, int]]:
    """survey id → (answers, invited customers)."""
    out = {i: (0, 0) for i in survey_ids}
    if not survey_ids:
        return out
    answers = dict(session.execute(select(SurveyResponse.survey_id, func.count()).where(
        SurveyResponse.survey_id.in_(survey_ids)).group_by(SurveyResponse.survey_id)).all())
    invited = dict(session.execute(select(SurveyInvite.survey_id, func.count()).where(
        SurveyInvite.survey_id.in_(survey_ids)).group_by(SurveyInvite.survey_id)).all())
    return {i: (int(answers.get(i, 0)), int(invited.get(i, 0))) for i in survey_ids}


@dataclass(frozen=True)
class Link:
    """One customer's answer link (no personal data: the source-system id and the token)."""

    customer_id: int
    external_id: str
    token: str


def issue_links(session: Session, survey: Survey, key: bytes, *, target: Target | None = None,
                customer_ids: list[int] | None = None, as_of: date | None = None, actor: Actor) -> list[Link]:
    """Answer links for the customers of ``target`` in the snapshot ``as_of`` (newest by default), or for
    ``customer_ids``; customers whose personal data was erased are left out (there is nobody to ask). The customers
    are recorded as invited (for the response rate) and the issue is audited (``export``: counts, no ids).

    Surveys are service messages, not marketing: marketing consent is not required (DESIGN.md), but the lists
    should go out only through the channels the customer agreed to be contacted on.
    """
    if survey.closed_at is not None:
        raise SurveyClosed(f"survey {survey.id} is closed; reopen it or create a new one before sending links")
    if (target is None) == (customer_ids is None):
        raise InvalidInput("give a target or a list of customers for the links, not both")
    if target is not None:
        snapshot = find_snapshot(session, as_of)
        ids = [cid for cid, _ in target_members(session, snapshot, target)]
    else:
        ids = sorted(set(customer_ids or []))
    if len(ids) > MAX_LINKS:
        raise InvalidInput(f"{len(ids):,} links is more than {MAX_LINKS:,}; narrow the target")
    rows = session.execute(select(Customer.id, Customer.external_id).where(
        Customer.id.in_(ids) if len(ids) < 30_000 else Customer.id.isnot(None), Customer.erased_at.is_(None))
        .order_by(Customer.id)).all()
    wanted = set(ids)
    found = [(int(cid), ext) for cid, ext in rows if cid in wanted]
    if customer_ids is not None and len(found) < len(wanted):
        missing = sorted(wanted - {cid for cid, _ in found})[:5]
        raise NotFound(f"customer(s) {', '.join(map(str, missing))} do not exist or were erased")
    already = set(session.scalars(select(SurveyInvite.customer_id).where(SurveyInvite.survey_id == survey.id)))
    new = [{"survey_id": survey.id, "customer_id": cid, "invited_at": _now()} for cid, _ in found if cid not in already]
    for start in range(0, len(new), 5_000):
        session.execute(insert(SurveyInvite), new[start:start + 5_000])
    audit.record(session, action="export", user_id=actor.user_id, username=actor.username, target_type="survey",
                 target_id=survey.id, detail={"links": len(found), "new_invites": len(new),
                                              "target": target.kind if target else "customers"},
                 ip=actor.ip, via=actor.via)
    return [Link(cid, ext, make_token(key, survey.id, cid)) for cid, ext in found]


def _follow_up(session: Session, survey: Survey, response: SurveyResponse, created_by: int | None) -> int:
    """Open the call-back task of a detractor's answer; return its id."""
    from kehu.tasks import create_task

    turn = session.scalar(select(func.count()).select_from(SurveyResponse).where(
        SurveyResponse.survey_id == survey.id, SurveyResponse.task_id.isnot(None))) or 0
    owner = owners.owner_for(survey.owner_id, owners.active_agents(session), int(turn))
    due = datetime.combine(_now().date() + timedelta(days=survey.follow_up_days), time(23, 59, 59))
    label = "NPS" if survey.kind == "nps" else "CSAT"
    task = create_task(session, customer_id=response.customer_id, kind="survey_follow_up",
                       title=f"电话回访 Call back: {label} {response.score} — {survey.name}", owner_id=owner,
                       due_at=due, source_type="survey_response", source_id=response.id, created_by=created_by)
    return int(task.id)


def record_answer(session: Session, survey: Survey, *, customer_id: int, score: int, cipher: FieldCipher,
                  comment: str | None = None, answered_at: datetime | None = None, source: str = "link",
                  follow_up: bool = True, created_by: int | None = None) -> SurveyResponse:
    """Record one answer (flushed) and, for a detractor, open its call-back task.

    Raises :class:`AlreadyAnswered` when the customer answered before (the first answer stands; the database's
    unique constraint holds this even for two answers at the same moment), :class:`SurveyClosed`,
    :class:`InvalidInput` for a score off the scale or a comment over :data:`COMMENT_MAX` characters.
    """
    if survey.closed_at is not None:
        raise SurveyClosed("this survey has ended and no longer takes answers; thank you")
    check_score(survey.kind, score)
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX:
        raise InvalidInput(f"the comment is longer than {COMMENT_MAX} characters; shorten it")
    exists = session.scalar(select(SurveyResponse.id).where(SurveyResponse.survey_id == survey.id,
                                                             SurveyResponse.customer_id == customer_id))
    if exists is not None:
        raise AlreadyAnswered("this survey has already been answered with this link; thank you, your first answer "
                              "stands")
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    response = SurveyResponse(survey_id=survey.id, customer_id=customer_id, score=score,
                              comment_enc=cipher.encrypt(COMMENT_FIELD, text) if text else None,
                              answered_at=(answered_at or _now()).replace(tzinfo=None), source=source)
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.add(response)
            session.flush()
    except IntegrityError:
        raise AlreadyAnswered("this survey has already been answered with this link; thank you, your first answer "
                              "stands") from None
    if follow_up and needs_follow_up(survey.kind, score):
        response.task_id = _follow_up(session, survey, response, created_by)
        session.flush()
    return response


@dataclass
class ImportReport:
    """What an import of answers did: rows read, answers added, rows skipped because the customer had answered,
    follow-up tasks opened, and the problems of the rejected rows as (line, message)."""

    read: int = 0
    added: int = 0
    duplicates: int = 0
    tasks: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the page."""
        return (f"read {self.read} rows: {self.added} answers added, {self.duplicates} already answered, "
                f"{len(self.problems)} rejected; {self.tasks} call-back tasks opened")


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8")


def _parse_time(text: str) -> datetime:
    text = text.strip()
    for parse in (datetime.fromisoformat, lambda s: datetime.strptime(s, "%Y/%m/%d %H:%M"),
                  lambda s: datetime.strptime(s, "%Y/%m/%d")):
        try:
            return parse(text).replace(tzinfo=None)
        except ValueError:
            continue
    raise ValueError(f"answered_at {text!r} is not a date like 2025-06-30 or 2025-06-30 14:05")


def import_answers(session: Session, survey: Survey, data: bytes, *, cipher: FieldCipher, actor: Actor,
                   source: str | None = None, follow_up: bool = True, max_rows: int = 100_000) -> ImportReport:
    """Import answers collected elsewhere from CSV bytes with the header ``customer_id, answered_at, score,
    comment`` (comment optional; UTF-8 or GB18030).

    ``customer_id`` is the customer's source-system id (``source`` narrows it when the same id exists in several
    sources). Good rows are added, a customer who already answered is counted and skipped, bad rows are reported with
    their line; detractors get their call-back (unless ``follow_up`` is false, e.g. for old answers). Audited
    (``import``).
    """
    reader = csv.reader(io.StringIO(_decode(data)))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InvalidInput("the file is empty; it needs the header customer_id,answered_at,score,comment") from None
    missing = [c for c in IMPORT_COLUMNS[:3] if c not in header]
    if missing:
        raise InvalidInput(f"required column {missing[0]} missing; the header must be "
                           "customer_id,answered_at,score,comment")
    col = {name: header.index(name) for name in IMPORT_COLUMNS if name in header}
    report = ImportReport()
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        report.read += 1
        if report.read > max_rows:
            raise InvalidInput(f"the file has more than {max_rows:,} answers; split it")

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            external = cell("customer_id")
            if not external:
                raise ValueError("customer_id is empty")
            query = select(Customer.id).where(Customer.external_id == external)
            if source:
                query = query.where(Customer.source == source)
            found = session.scalars(query.limit(2)).all()
            if not found:
                raise ValueError(f"customer_id {external!r} is not a known customer")
            if len(found) > 1:
                raise ValueError(f"customer_id {external!r} exists in several sources; import with --source")
            try:
                value = int(cell("score"))
            except ValueError:
                raise ValueError(f"score {cell('score')!r} is not a whole number") from None
            answered = _parse_time(cell("answered_at"))
            response = record_answer(session, survey, customer_id=found[0], score=value, cipher=cipher,
                                     comment=cell("comment") or None, answered_at=answered, source="import",
                                     follow_up=follow_up, created_by=actor.user_id)
        except AlreadyAnswered:
            report.duplicates += 1
            continue
        except (ValueError, InvalidInput) as exc:
            report.problems.append((line, str(exc)))
            continue
        report.added += 1
        report.tasks += response.task_id is not None
    audit.record(session, action="import", user_id=actor.user_id, username=actor.username, target_type="survey",
                 target_id=survey.id, ip=actor.ip, via=actor.via,
                 detail={"read": report.read, "added": report.added, "duplicates": report.duplicates,
                         "rejected": len(report.problems), "tasks": report.tasks})
    return report


def close_survey(session: Session, survey: Survey, *, actor: Actor) -> Survey:
    """Stop taking answers (links then say the survey has ended); audited."""
    survey.closed_at = _now()
    audit.record(session, action="update", user_id=actor.user_id, username=actor.username, target_type="survey",
                 target_id=survey.id, detail={"closed": True}, ip=actor.ip, via=actor.via)
    return survey
