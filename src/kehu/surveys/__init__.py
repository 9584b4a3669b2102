"""Satisfaction surveys (满意度调查): NPS and CSAT questionnaires answered once per customer through a signed link
or imported, results per RFM group, user segment and month with 95% intervals, and a call-back task (电话回访) for
every detractor."""

from kehu.surveys.demo import seed_demo_survey
from kehu.surveys.results import GroupScore, SurveyResults, survey_results
from kehu.surveys.service import (
    COMMENT_FIELD,
    AlreadyAnswered,
    ImportReport,
    Link,
    SurveyClosed,
    close_survey,
    create_survey,
    get_survey,
    import_answers,
    issue_links,
    list_surveys,
    record_answer,
    response_counts,
)
from kehu.surveys.stats import KINDS, SCALES, Score, category, csat, needs_follow_up, nps, score
from kehu.surveys.tokens import InvalidLink, make_token, read_token, survey_key

__all__ = [
    "COMMENT_FIELD",
    "KINDS",
    "SCALES",
    "AlreadyAnswered",
    "GroupScore",
    "ImportReport",
    "InvalidLink",
    "Link",
    "Score",
    "SurveyClosed",
    "SurveyResults",
    "category",
    "close_survey",
    "create_survey",
    "csat",
    "get_survey",
    "import_answers",
    "issue_links",
    "list_surveys",
    "make_token",
    "needs_follow_up",
    "nps",
    "read_token",
    "record_answer",
    "response_counts",
    "score",
    "seed_demo_survey",
    "survey_key",
    "survey_results",
]
