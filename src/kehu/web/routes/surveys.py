"""Survey pages: the list and the form of a new survey, a survey's results (overall, per month, per RFM group and
user segment, with 95% intervals; the detractors' call-backs), the links download and the answers import; and the
public answer page ``/s/{token}``.

The answer page needs no sign-in: the signed token is the credential (:mod:`kehu.surveys.tokens`), so it carries no
CSRF check (a forged request would need the token itself). It shows no personal data, speaks Chinese and English,
and answers a second submission, a forged or mistyped link and a closed survey with a polite page of its own.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS, label
from kehu.campaigns import Target
from kehu.campaigns.targets import segment_choices
from kehu.errors import InvalidInput, KehuError
from kehu.store import ClassificationSnapshot, Customer, Survey, SurveyResponse, Task, User
from kehu.surveys import (
    COMMENT_FIELD,
    SCALES,
    AlreadyAnswered,
    InvalidLink,
    SurveyClosed,
    close_survey,
    create_survey,
    get_survey,
    import_answers,
    issue_links,
    list_surveys,
    read_token,
    record_answer,
    response_counts,
    survey_key,
    survey_results,
)
from kehu.surveys.results import SurveyResults
from kehu.users import Actor
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator

router = APIRouter()

Viewer = Annotated[SignedIn, Depends(require("view_surveys"))]
Manager = Annotated[SignedIn, Depends(require("manage_surveys"))]
SurveyId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CsrfToken = Annotated[str | None, Form()]
Codes = Annotated[list[str], Form()]
#: Largest answers file accepted by the page (bytes).
IMPORT_MAX_BYTES = 10 * 1024 * 1024
COMMENTS_SHOWN = 20
FOLLOW_UPS_SHOWN = 20


def _actor(request: Request, user: SignedIn) -> Actor:
    return Actor(user_id=user.id, username=user.username, via="web",
                 ip=request.client.host if request.client else None)


def _owners(db: Session) -> list[tuple[int, str, str]]:
    return [(int(i), str(n), str(r)) for i, n, r in db.execute(
        select(User.id, User.username, User.role).where(User.is_active.is_(True), User.role.in_(("agent", "admin")))
        .order_by(User.username))]


# --- list and new -------------------------------------------------------------------------------------------


@router.get("/surveys")
def surveys_page(request: Request, db: DbSession, user: Viewer) -> Response:
    """The surveys with their answers and invitations; the form of a new survey for roles that may create one."""
    surveys = list_surveys(db)
    counts = response_counts(db, [s.id for s in surveys])
    rows = [{"s": s, "answers": counts[s.id][0], "invited": counts[s.id][1]} for s in surveys]
    context = {"active": "surveys", "rows": rows, "owners": _owners(db) if user.can("manage_surveys") else []}
    return render(request.app.state.templates, request, "surveys.html", context)


@router.post("/surveys")
def new_survey(
    request: Request,
    db: DbSession,
    user: Manager,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[Literal["nps", "csat"], Form()],
    question: Annotated[str, Form(max_length=600)] = "",
    owner: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
    follow_up_days: Annotated[int, Form(ge=0, le=60)] = 2,
    csrf_token: CsrfToken = None,
) -> Response:
    """Create a survey; then its page."""
    check_csrf(request, csrf_token)
    survey = create_survey(db, name=name, kind=kind, question=question or None, owner_id=owner,
                           follow_up_days=follow_up_days, actor=_actor(request, user))
    db.commit()
    return RedirectResponse(local_url(request, f"/surveys/{survey.id}"), status_code=303)


# --- results ------------------------------------------------------------------------------------------------


def _group_name(key: str, lang: str) -> str:
    if key == "unclassified":
        return translator(lang)("survey_unclassified")
    return label("rfm_group", key, lang)


def _chart(chart_id: str, labels: list[str], groups: list[Any], kind: str, nps: bool, title: str) -> dict[str, Any]:
    values = [g.score.value for g in groups]
    return {"id": chart_id, "kind": kind, "labels": labels, "percent": not nps, "y_title": title,
            "values": [v.estimate for v in values], "low": [v.low for v in values],
            "high": [v.high for v in values], "range": [-100, 100] if nps else [0, 1]}


def _charts(r: SurveyResults, lang: str) -> list[dict[str, Any]]:
    t = translator(lang)
    nps = r.kind == "nps"
    title = "NPS" if nps else t("survey_csat_share")
    out = []
    if r.monthly:
        out.append(_chart("chart-monthly", [g.key for g in r.monthly], r.monthly, "line_ci", nps, title))
    if r.by_group:
        out.append(_chart("chart-groups", [_group_name(g.key, lang) for g in r.by_group], r.by_group, "bars_ci", nps,
                          title))
    return out


def _follow_ups(db: Session, survey: Survey) -> list[dict[str, Any]]:
    rows = db.execute(select(SurveyResponse, Task, User.username).join(Task, Task.id == SurveyResponse.task_id)
                      .outerjoin(User, User.id == Task.owner_id)
                      .where(SurveyResponse.survey_id == survey.id)
                      .order_by(SurveyResponse.answered_at.desc(), SurveyResponse.id.desc())
                      .limit(FOLLOW_UPS_SHOWN)).all()
    ids = {resp.customer_id for resp, _, _ in rows}
    ext = dict(db.execute(select(Customer.id, Customer.external_id).where(Customer.id.in_(ids))).all()) \
        if ids else {}
    return [{"response": resp, "task": task, "owner": owner, "customer": ext.get(resp.customer_id)}
            for resp, task, owner in rows]


def _comments(request: Request, db: Session, survey: Survey) -> list[dict[str, Any]]:
    """The newest comments, decrypted (only for roles with ``reveal_pii``: a comment may hold personal data)."""
    from cryptography.exceptions import InvalidTag

    rows = db.execute(select(SurveyResponse, Customer.external_id)
                      .join(Customer, Customer.id == SurveyResponse.customer_id)
                      .where(SurveyResponse.survey_id == survey.id, SurveyResponse.comment_enc.isnot(None))
                      .order_by(SurveyResponse.answered_at.desc(), SurveyResponse.id.desc())
                      .limit(COMMENTS_SHOWN)).all()
    out = []
    for resp, external_id in rows:
        try:
            text = request.app.state.cipher.decrypt(COMMENT_FIELD, resp.comment_enc)
        except (InvalidTag, ValueError):
            text = None
        out.append({"response": resp, "customer": external_id, "text": text})
    return out


def _survey_page(request: Request, db: Session, user: SignedIn, survey: Survey, as_of: date | None,
                 report: Any = None, status_code: int = 200) -> Response:
    lang = lang_of(request)
    results = survey_results(db, survey, as_of)
    answers, invited = response_counts(db, [survey.id])[survey.id]
    snapshots = list(db.scalars(select(ClassificationSnapshot.as_of).where(ClassificationSnapshot.status == "ready")
                                .distinct().order_by(ClassificationSnapshot.as_of.desc()).limit(50)))
    context = {
        "active": "surveys", "s": survey, "r": results, "nps": survey.kind == "nps", "answers": answers,
        "invited": invited,
        "charts": _charts(results, lang), "group_name": lambda key: _group_name(key, lang),
        "follow_ups": _follow_ups(db, survey) if user.can("view_tasks") else [],
        "comments": _comments(request, db, survey) if user.can("reveal_pii") else [],
        "snapshots": snapshots, "as_of_param": as_of, "report": report,
        "kinds": {"lifecycle_stage": list(LIFECYCLE_STAGES), "rfm_group": list(RFM_GROUPS),
                  "rfm_class": list(RFM_CLASSES)},
        "segments": segment_choices(db),
    }
    return render(request.app.state.templates, request, "survey.html", context, status_code)


@router.get("/surveys/{survey_id}")
def survey_page(request: Request, db: DbSession, user: Viewer, survey_id: SurveyId,
                as_of: Annotated[date | None, Query()] = None) -> Response:
    """A survey's results with their intervals, its call-backs, and (for managers) links and import."""
    return _survey_page(request, db, user, get_survey(db, survey_id), as_of)


@router.post("/surveys/{survey_id}/links")
def survey_links(
    request: Request,
    db: DbSession,
    user: Manager,
    survey_id: SurveyId,
    target_kind: Annotated[Literal["lifecycle_stage", "rfm_group", "rfm_class", "churn_risk", "segment"], Form()],
    lifecycle_stage: Codes = [],  # noqa: B006 - FastAPI copies form defaults
    rfm_group: Codes = [],  # noqa: B006
    rfm_class: Codes = [],  # noqa: B006
    churn_risk: Annotated[str, Form(max_length=16)] = "",
    segment: Annotated[str, Form(max_length=16)] = "",
    as_of: Annotated[date | None, Form()] = None,
    csrf_token: CsrfToken = None,
) -> Response:
    """A CSV of answer links (customer's source-system id and link; no personal data) for the customers of a
    target; they are recorded as invited. Audited."""
    check_csrf(request, csrf_token)
    values = {"lifecycle_stage": lifecycle_stage, "rfm_group": rfm_group, "rfm_class": rfm_class,
              "churn_risk": [churn_risk], "segment": [segment]}[target_kind]
    survey = get_survey(db, survey_id)
    links = issue_links(db, survey, survey_key(request.app.state.settings), target=Target(target_kind, tuple(values)),
                        as_of=as_of, actor=_actor(request, user))
    db.commit()
    base = str(request.base_url).rstrip("/")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["customer_id", "link"])
    for link in links:
        ext = ("'" + link.external_id) if link.external_id[:1] in "=+-@\t\r" else link.external_id
        writer.writerow([ext, f"{base}/s/{link.token}"])
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="survey-{survey.id}-links.csv"'})


@router.post("/surveys/{survey_id}/import")
async def survey_import(
    request: Request,
    db: DbSession,
    user: Manager,
    survey_id: SurveyId,
    file: Annotated[UploadFile, File()],
    follow_up: Annotated[bool, Form()] = False,
    csrf_token: CsrfToken = None,
) -> Response:
    """Import answers from a CSV (customer_id, answered_at, score, comment); the page then shows what happened."""
    check_csrf(request, csrf_token)
    data = await file.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise InvalidInput(f"the file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB; import it with "
                           "`kehu survey import`")
    survey = get_survey(db, survey_id)
    report = import_answers(db, survey, data, cipher=request.app.state.cipher, actor=_actor(request, user),
                            follow_up=follow_up)
    db.commit()
    return _survey_page(request, db, user, survey, None, report=report)


@router.post("/surveys/{survey_id}/close")
def survey_close(request: Request, db: DbSession, user: Manager, survey_id: SurveyId,
                 csrf_token: CsrfToken = None) -> Response:
    """Stop taking answers; then the survey's page."""
    check_csrf(request, csrf_token)
    close_survey(db, get_survey(db, survey_id), actor=_actor(request, user))
    db.commit()
    return RedirectResponse(local_url(request, f"/surveys/{survey_id}"), status_code=303)


# --- the public answer page ---------------------------------------------------------------------------------


def _answer_page(request: Request, context: dict[str, Any], status_code: int = 200) -> Response:
    """The answer page, rendered without the staff app's session: no cookie is set for a respondent."""
    lang = lang_of(request)
    root = request.scope.get("root_path", "")
    base = {"state": "form", "survey": None, "scale": None, "error": None, "comment": "", "token": None,
            "lang": lang, "t": translator(lang), "static": lambda file: f"{root}/static/{file}",
            "url": lambda path=None, **params: local_url(request, path, **params)}
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "survey_answer.html", {**base, **context}, status_code=status_code)


def _open(request: Request, db: Session, token: str) -> tuple[Survey, int]:
    survey_id, customer_id = read_token(survey_key(request.app.state.settings), token)
    survey = db.get(Survey, survey_id)
    if survey is None:
        raise InvalidLink("this survey link is not valid")
    return survey, customer_id


def _answered(db: Session, survey: Survey, customer_id: int) -> bool:
    return db.scalar(select(SurveyResponse.id).where(SurveyResponse.survey_id == survey.id,
                                                      SurveyResponse.customer_id == customer_id)) is not None


@router.get("/s/{token}")
def answer_form(request: Request, db: DbSession, token: Annotated[str, Path(max_length=200)]) -> Response:
    """The questionnaire of one customer's link (no sign-in; no personal data shown)."""
    try:
        survey, customer_id = _open(request, db, token)
    except InvalidLink:
        return _answer_page(request, {"state": "invalid"}, 404)
    if _answered(db, survey, customer_id):
        return _answer_page(request, {"state": "answered", "survey": survey})
    if survey.closed_at is not None:
        return _answer_page(request, {"state": "closed", "survey": survey}, 410)
    return _answer_page(request, {"survey": survey, "scale": SCALES[survey.kind], "token": token})


@router.post("/s/{token}")
def answer_submit(
    request: Request,
    db: DbSession,
    token: Annotated[str, Path(max_length=200)],
    score: Annotated[str, Form(max_length=4)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record the answer once; a second answer, a forged link or a closed survey get a polite page."""
    try:
        survey, customer_id = _open(request, db, token)
    except InvalidLink:
        return _answer_page(request, {"state": "invalid"}, 404)
    low, high = SCALES[survey.kind]
    try:
        value = int(score)
    except ValueError:
        value = -1
    if not low <= value <= high:
        return _answer_page(request, {"survey": survey, "scale": (low, high), "token": token, "comment": comment,
                                      "error": "survey_pick_score"}, 422)
    try:
        record_answer(db, survey, customer_id=customer_id, score=value, comment=comment,
                      cipher=request.app.state.cipher, source="link")
        db.commit()
    except AlreadyAnswered:
        db.rollback()
        return _answer_page(request, {"state": "answered", "survey": survey}, 409)
    except SurveyClosed:
        db.rollback()
        return _answer_page(request, {"state": "closed", "survey": survey}, 410)
    except KehuError:
        db.rollback()
        return _answer_page(request, {"survey": survey, "scale": (low, high), "token": token, "comment": "",
                                      "error": "survey_comment_too_long"}, 422)
    return _answer_page(request, {"state": "thanks", "survey": survey})
