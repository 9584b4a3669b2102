"""Demo content for ``kehu demo``: the default profile tags and a few segments a CRM analyst would make first."""

from __future__ import annotations

from sqlalchemy import select

from kehu.config import Settings
from kehu.segments.service import add_segment, refresh_segments
from kehu.store import Segment, session_scope
from kehu.users import Actor

#: (name, rule, description) of the demo's user segments.
DEMO_SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("江浙沪高价值客户", "rfm_class IN ('重要价值客户', '重要发展客户') AND province IN ('江苏', '浙江', '上海')",
     "江浙沪的重要价值与重要发展客户 / important value and development customers in Jiangsu, Zhejiang, Shanghai"),
    ("高价值流失预警", "lifecycle_stage = '流失预警' AND monetary >= 1000",
     "消费满 1000 元、已出现流失迹象，适合挽回活动 / spent 1,000 yuan or more and at risk: for a win-back campaign"),
    ("一线年轻女性", "city_tier IN ('一线', '新一线') AND gender = '女' AND age BETWEEN 18 AND 34",
     "一线与新一线城市 18–34 岁女性 / women aged 18–34 in first and new first-tier cities"),
)


def add_demo_segments(settings: Settings) -> list[str]:
    """Refresh the segments of every snapshot (creating the default tags), then add :data:`DEMO_SEGMENTS` that do
    not exist yet, with their members in every snapshot; returns the names added. Needs a classified store."""
    refresh_segments(settings, all_snapshots=True)
    added = []
    with session_scope(settings.store_url) as session:
        have = set(session.scalars(select(Segment.name)))
        for name, rule, description in DEMO_SEGMENTS:
            if name not in have:
                add_segment(session, name=name, rule=rule, description=description,
                            actor=Actor(username="demo", via="cli"))
                added.append(name)
    return added


__all__ = ["DEMO_SEGMENTS", "add_demo_segments"]
