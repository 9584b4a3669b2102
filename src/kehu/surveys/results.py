"""A survey's results: overall, per month of the answer, per RFM group and per user segment, each with its 95%
interval (:mod:`kehu.surveys.stats`).

Groups are those of one classification snapshot (the newest ready one unless a date is given): a respondent
missing from it (a customer newer than the snapshot) counts under ``unclassified``. User segments come from
:mod:`kehu.segments` when it is installed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.campaigns.targets import find_snapshot, segment_choices, segment_member_ids
from kehu.errors import NotFound
from kehu.store import Classification, ClassificationSnapshot, Survey, SurveyResponse
from kehu.surveys.stats import Score, score

UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class GroupScore:
    """The score of one group (a month ``YYYY-MM``, an RFM group code or a segment name)."""

    key: str
    score: Score


@dataclass(frozen=True)
class SurveyResults:
    """Overall, monthly, per RFM group and per segment scores; ``as_of`` of the snapshot used for the groups."""

    survey_id: int
    kind: str
    overall: Score
    monthly: list[GroupScore]
    by_group: list[GroupScore]
    by_segment: list[GroupScore]
    as_of: date | None
    follow_ups: int


def _answers(session: Session, survey_id: int) -> list[tuple[int, int, datetime, int | None]]:
    rows = session.execute(select(SurveyResponse.customer_id, SurveyResponse.score, SurveyResponse.answered_at,
                                  SurveyResponse.task_id)
                           .where(SurveyResponse.survey_id == survey_id)
                           .order_by(SurveyResponse.answered_at, SurveyResponse.id)).all()
    return [(int(c), int(s), a, t) for c, s, a, t in rows]


def _segment_groups(session: Session, snapshot: ClassificationSnapshot, respondents: set[int]) -> dict[str, set[int]]:
    """segment name → its respondents, for every user segment (empty without :mod:`kehu.segments`)."""
    out: dict[str, set[int]] = {}
    for seg_id, name in segment_choices(session):
        out[name] = segment_member_ids(session, seg_id, snapshot.id) & respondents
    return out


def survey_results(session: Session, survey: Survey, as_of: date | None = None) -> SurveyResults:
    """The results of ``survey`` (see the module's description)."""
    answers = _answers(session, survey.id)
    scores = [s for _, s, _, _ in answers]
    months: dict[str, list[int]] = defaultdict(list)
    for _, s, at, _ in answers:
        months[at.strftime("%Y-%m")].append(s)
    snapshot = None
    try:
        snapshot = find_snapshot(session, as_of)
    except NotFound:
        if as_of is not None:
            raise
    groups: dict[str, list[int]] = defaultdict(list)
    segments: list[GroupScore] = []
    if snapshot is not None and answers:
        respondents = {c for c, _, _, _ in answers}
        group_of = dict(session.execute(select(Classification.customer_id, Classification.rfm_group).where(
            Classification.snapshot_id == snapshot.id, Classification.customer_id.in_(respondents))
        ).all()) if len(respondents) < 30_000 else dict(session.execute(
            select(Classification.customer_id, Classification.rfm_group).where(
                Classification.snapshot_id == snapshot.id)).all())
        for c, s, _, _ in answers:
            groups[group_of.get(c) or UNCLASSIFIED].append(s)
        by_customer = {c: s for c, s, _, _ in answers}
        for name, members in sorted(_segment_groups(session, snapshot, respondents).items()):
            segments.append(GroupScore(name, score(survey.kind, [by_customer[c] for c in sorted(members)])))
    return SurveyResults(
        survey_id=survey.id, kind=survey.kind, overall=score(survey.kind, scores),
        monthly=[GroupScore(m, score(survey.kind, v)) for m, v in sorted(months.items())],
        by_group=sorted((GroupScore(g, score(survey.kind, v)) for g, v in groups.items()),
                        key=lambda g: (-g.score.n, g.key)),
        by_segment=segments,
        as_of=snapshot.as_of if snapshot is not None else None,
        follow_ups=sum(1 for _, _, _, t in answers if t is not None),
    )
