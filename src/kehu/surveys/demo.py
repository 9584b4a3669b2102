"""The demo's NPS survey with six months of answers.

:func:`seed_demo_survey` runs after ``kehu demo`` has loaded and classified its data: it creates an NPS survey
(售后满意度), invites about 1,500 buyers chosen by a fixed hash and records the answers of about 60% of them, spread
over the six months before the newest snapshot. Scores depend on the customer's RFM group (champions and loyal
customers promote, at-risk and hibernating ones detract more often), so the per-group table shows real
differences. Detractors of the last 14 days get their call-back task (the older ones are history).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

from sqlalchemy import insert, select

from kehu.campaigns.targets import find_snapshot
from kehu.config import Settings
from kehu.privacy import FieldCipher
from kehu.store import Classification, Survey, SurveyInvite, open_store, session_scope
from kehu.surveys.service import create_survey, record_answer
from kehu.users import Actor

DEMO_NAME = "售后满意度 After-sales NPS (demo)"
INVITED_SHARE = 0.09
ANSWER_SHARE = 0.6
DAYS = 182
RECENT_DAYS = 14
#: Mean NPS answer per RFM group (others: 7.9).
MEANS = {"champions": 9.4, "loyal": 9.0, "potential_loyalist": 8.5, "new": 8.4, "promising": 8.1,
         "needs_attention": 7.5, "about_to_sleep": 7.2, "at_risk": 6.5, "cannot_lose": 6.9, "hibernating": 6.8}
COMMENTS = {
    "detractor": ["物流太慢，等了一个星期", "客服态度不好，问题没解决", "Battery died after two months.",
                  "价格比别家贵", "The screen scratches too easily."],
    "passive": ["还可以，包装可以更好", "Fine, but delivery could be faster.", "性价比一般"],
    "promoter": ["很满意，会推荐给朋友", "Great phone, fast delivery!", "售后服务很专业，点赞"],
}


def _u(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def seed_demo_survey(settings: Settings) -> int:
    """Create the demo's NPS survey with its answers; return the survey's id (an existing one is returned as is)."""
    url = settings.store_url
    open_store(url)
    cipher = FieldCipher.from_settings(settings)
    actor = Actor(username="demo", via="cli")
    with session_scope(url) as session:
        existing = session.scalar(select(Survey.id).where(Survey.name == DEMO_NAME))
        if existing is not None:
            return int(existing)
        snapshot = find_snapshot(session)
        end = datetime.combine(snapshot.as_of, time(20, 0))
        survey = create_survey(session, name=DEMO_NAME, kind="nps", actor=actor, follow_up_days=2)
        buyers = session.execute(select(Classification.customer_id, Classification.rfm_group).where(
            Classification.snapshot_id == snapshot.id, Classification.frequency > 0)
            .order_by(Classification.customer_id)).all()
        invited = [(int(c), g) for c, g in buyers if _u(f"kehu-demo-invite:{c}") < INVITED_SHARE]
        session.execute(insert(SurveyInvite), [{"survey_id": survey.id, "customer_id": c,
                                                "invited_at": end - timedelta(days=DAYS)} for c, _ in invited])
        for cid, group in invited:
            if _u(f"kehu-demo-answers:{cid}") >= ANSWER_SHARE:
                continue
            mean = MEANS.get(group, 7.9)
            noise = (_u(f"kehu-demo-score:{cid}") + _u(f"kehu-demo-score2:{cid}") - 1) * 7
            value = max(0, min(10, round(mean + noise)))
            when = end - timedelta(minutes=int(_u(f"kehu-demo-when:{cid}") * DAYS * 24 * 60))
            kind = "promoter" if value >= 9 else "passive" if value >= 7 else "detractor"
            comment = None
            if _u(f"kehu-demo-comment:{cid}") < 0.35:
                options = COMMENTS[kind]
                comment = options[int(_u(f"kehu-demo-which:{cid}") * len(options))]
            record_answer(session, survey, customer_id=cid, score=value, cipher=cipher, comment=comment,
                          answered_at=when, source="link", follow_up=(end - when).days < RECENT_DAYS)
        return int(survey.id)
