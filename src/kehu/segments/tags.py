"""The default profile tags of DESIGN.md (客户画像标签), written as rules of the segment language.

Every tag of DESIGN.md's list is expressible over the feature table, two of them through the computed traits
(:mod:`kehu.segments.traits`):

===================  =========================  ================================================================
tag                  rule                       meaning
===================  =========================  ================================================================
price_sensitive      ``discount_share > 0.5``   a discount or coupon on more than half of the purchases
quality_seeking      ``price_rank >= 0.8``      buys on average in the dearest 20% of each category
service_heavy        ``complaints_180d >= 2``   two or more complaints in 180 days (needs the feedback part)
big_spender          ``m_score = 5``            total spend above the 80th percentile
frequent_buyer       ``f_score = 5``            purchases above the 80th percentile
first_tier_city      ``city_tier = 'tier1'``    lives in 北京, 上海, 广州 or 深圳
young_adult          ``age BETWEEN 18 AND 29``  aged 18–29 at the snapshot's date
===================  =========================  ================================================================

The other demographic and geographic groups (gender, province, city tier, channel, age band) are columns of the
language, so any of them is a rule away (``gender = '女' AND city_tier IN ('tier1', 'new_tier1')``).

The tags are created on the first refresh; a default tag that was archived is not created again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.segments.rules import check_rule
from kehu.store import Segment


@dataclass(frozen=True)
class DefaultTag:
    """A default profile tag: its code, names and rule, and what it means in both languages."""

    code: str
    zh: str
    en: str
    rule: str
    zh_desc: str
    en_desc: str


DEFAULT_TAGS: tuple[DefaultTag, ...] = (
    DefaultTag("price_sensitive", "价格敏感", "price-sensitive", "discount_share > 0.5",
               "超过一半的订单使用了折扣或优惠券", "a discount or coupon on more than half of the purchases"),
    DefaultTag("quality_seeking", "品质追求", "quality-seeking", "price_rank >= 0.8",
               "所购商品的价格平均位于其品类最贵的 20%", "buys on average in the dearest 20% of each category"),
    DefaultTag("service_heavy", "服务需求高", "service-heavy", "complaints_180d >= 2",
               "近 180 天投诉 2 次及以上", "two or more complaints in the last 180 days"),
    DefaultTag("big_spender", "高消费", "big spender", "m_score = 5",
               "累计消费金额位于前 20%（M 评分为 5）", "total spend in the top 20% (M score 5)"),
    DefaultTag("frequent_buyer", "高频购买", "frequent buyer", "f_score = 5",
               "购买次数位于前 20%（F 评分为 5）", "number of purchases in the top 20% (F score 5)"),
    DefaultTag("first_tier_city", "一线城市", "first-tier city", "city_tier = 'tier1'",
               "居住在北京、上海、广州或深圳", "lives in Beijing, Shanghai, Guangzhou or Shenzhen"),
    DefaultTag("young_adult", "18–29 岁", "aged 18–29", "age BETWEEN 18 AND 29",
               "快照日期时年龄在 18 至 29 岁", "aged 18 to 29 at the snapshot's date"),
)
TAGS_BY_CODE: dict[str, DefaultTag] = {tag.code: tag for tag in DEFAULT_TAGS}


def ensure_default_tags(session: Session, *, created_by: str = "system") -> list[Segment]:
    """Create the default tags whose code has no segment yet (archived ones count: they are not revived);
    returns the ones created. A user segment that already has a tag's name keeps it, and the tag is skipped."""
    have = set(session.scalars(select(Segment.builtin).where(Segment.builtin.is_not(None))))
    names = set(session.scalars(select(Segment.name)))
    made = []
    for tag in DEFAULT_TAGS:
        if tag.code in have or tag.zh in names:
            continue
        check_rule(tag.rule)
        segment = Segment(name=tag.zh, rule=tag.rule, description=f"{tag.zh_desc} / {tag.en_desc}", is_tag=True,
                          builtin=tag.code, created_by=created_by)
        session.add(segment)
        made.append(segment)
    session.flush()
    return made


__all__ = ["DEFAULT_TAGS", "TAGS_BY_CODE", "DefaultTag", "ensure_default_tags"]
