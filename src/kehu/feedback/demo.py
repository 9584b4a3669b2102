"""Demo feedback and tasks for ``kehu demo``: complaints and reviews in Chinese and English over the demo shop's
history, most of them handled, the recent ones open (some past the SLA), and follow-up tasks for the negative ones.

Customers whose last order is long ago complain more often, so the complaints are also a churn signal in the demo.
Seeded: the same store and seed give the same feedback.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
from sqlalchemy import func, select

from kehu.config import Settings
from kehu.feedback.rules import load_rules
from kehu.feedback.service import Analysis, add_feedback, analyse, is_negative
from kehu.privacy import FieldCipher
from kehu.store import Feedback, Order, User, open_store, session_scope
from kehu.tasks import create_task

PRODUCTS_ZH = ("手机", "平板", "笔记本", "耳机", "手表")
PRODUCTS_EN = ("phone", "tablet", "laptop", "earbuds", "watch")

#: (category, negative?) → texts; ``{p}`` is a product.
TEXTS_ZH: dict[tuple[str, bool], tuple[str, ...]] = {
    ("product_quality", True): (
        "{p}用了三天就坏了，质量太差", "收到的{p}屏幕有划痕，做工粗糙", "{p}经常死机，很失望",
        "电池续航太差，半天就没电", "{p}发烫严重，不满意", "质量一般，和描述不符"),
    ("product_quality", False): (
        "{p}质量很好，做工精致", "用了一个月，{p}很耐用，满意", "正品，{p}运行流畅，好评", "做工不错，屏幕清晰"),
    ("service_attitude", True): (
        "客服态度很差，问了三次都不回复", "售后推诿，没人处理我的问题", "客服敷衍，电话打不通", "态度恶劣，再也不买了"),
    ("service_attitude", False): (
        "客服很耐心，解决了我的问题", "售后服务热情周到，点赞", "客服回复及时，态度很好"),
    ("logistics", True): (
        "物流太慢了，等了一个星期", "快递包装破损，{p}盒子都压坏了", "发货太慢，催了好几次",
        "快递员态度差，直接放驿站不通知", "漏发了配件，物流也慢"),
    ("logistics", False): (
        "物流很快，第二天就到了", "包装很严实，快递小哥很热情", "发货迅速，{p}完好无损"),
    ("price", True): (
        "价格太贵了，买完就降价", "刚买就降价，不退差价，很生气", "性价比不高，不值这个价"),
    ("price", False): (
        "价格实惠，性价比高", "活动价很划算，推荐购买", "优惠力度大，物超所值"),
}
TEXTS_EN: dict[tuple[str, bool], tuple[str, ...]] = {
    ("product_quality", True): (
        "The {p} stopped working after a week. Poor quality.", "Screen arrived cracked, very disappointed.",
        "Battery life is terrible."),
    ("product_quality", False): ("Great {p}, well made and fast.", "Excellent quality, works perfectly."),
    ("service_attitude", True): (
        "Customer service was rude and unhelpful.", "Support never replied to my emails."),
    ("service_attitude", False): ("The support agent was friendly and solved my problem quickly.",),
    ("logistics", True): ("Delivery was late and the package was damaged.", "Shipping took two weeks."),
    ("logistics", False): ("Fast delivery, arrived early. Thanks!",),
    ("price", True): ("Too expensive for what it is.", "Overpriced, the price dropped right after I bought it."),
    ("price", False): ("Good value for money.",),
}
CHANNELS = ("app", "wechat", "phone", "web", "marketplace")


def load_demo_feedback(settings: Settings, *, as_of: date | None = None, seed: int = 20260105,
                       share: float = 0.05, tasks: int = 40) -> int:
    """Add demo feedback for about ``share`` of the buyers, dated up to ``as_of`` (default: the last order date),
    and up to ``tasks`` follow-up tasks for recent negative feedback; returns how many feedback items were added.

    Items older than 14 days before ``as_of`` are resolved (most answered within the SLA, some late); newer ones
    are new or in progress. Owners are the active agents (round-robin), or none when there is no agent.
    """
    url = settings.store_url
    open_store(url)
    cipher = FieldCipher.from_settings(settings)
    rng = np.random.default_rng(seed)
    sla = settings.feedback_sla_hours
    with session_scope(url) as session:
        buyers = session.execute(select(Order.customer_id, func.min(Order.ordered_at), func.max(Order.ordered_at))
                                 .group_by(Order.customer_id).order_by(Order.customer_id)).all()
        if not buyers:
            return 0
        end = as_of or max(row[2] for row in buyers).date()
        agents = list(session.scalars(select(User.id).where(User.role == "agent", User.is_active.is_(True))
                                      .order_by(User.id)))
        rules = load_rules(session)
        added: list[Feedback] = []
        analyses: dict[tuple[str, int | None], Analysis] = {}  # the demo's texts repeat: analyse each once
        for customer_id, first, last in buyers:
            idle = (end - last.date()).days
            if rng.random() >= share * (2.0 if idle > 180 else 1.0):
                continue
            span = max(1, (min(last.date() + timedelta(days=30), end) - first.date()).days)
            day = first.date() + timedelta(days=int(rng.integers(0, span + 1)))
            at = datetime.combine(min(day, end), time(int(rng.integers(8, 22)), int(rng.integers(0, 60))))
            negative = rng.random() < (0.7 if idle > 180 else 0.45)
            category = ("product_quality", "service_attitude", "logistics", "price")[
                int(rng.choice(4, p=[0.35, 0.2, 0.3, 0.15]))]
            english = rng.random() < 0.15
            pool = (TEXTS_EN if english else TEXTS_ZH)[(category, negative)]
            product = (PRODUCTS_EN if english else PRODUCTS_ZH)[int(rng.integers(0, 5))]
            text = pool[int(rng.integers(0, len(pool)))].format(p=product)
            kind = "complaint" if negative and rng.random() < 0.6 else "review"
            rating = None if kind == "complaint" else int(rng.integers(1, 3) if negative else rng.integers(4, 6))
            age = (end - at.date()).days
            status, responded = "new", None
            if age > 14:
                status = "resolved"
                late = rng.random() < 0.15
                responded = at + timedelta(hours=float(rng.uniform(sla, 3 * sla) if late else rng.uniform(0.5, sla)))
            elif rng.random() < 0.4:
                status = "in_progress"
                responded = at + timedelta(hours=float(rng.uniform(0.5, 2 * sla)))
            found = analyses.get((text, rating))
            if found is None:
                found = analyses[(text, rating)] = analyse(text, rules, rating=rating)
            item = add_feedback(session, cipher, customer_id=int(customer_id), kind=kind, text=text, created_at=at,
                                channel=CHANNELS[int(rng.integers(0, len(CHANNELS)))], rating=rating, source="demo",
                                rules=rules, status=status, first_response_at=responded, analysis=found)
            if agents and status != "resolved":
                item.owner_id = agents[len(added) % len(agents)]
            added.append(item)
        recent = [f for f in added if f.status != "resolved" and is_negative(f)]
        for turn, item in enumerate(recent[:tasks]):
            owner = agents[turn % len(agents)] if agents else None
            create_task(session, customer_id=item.customer_id, kind="complaint",
                        title="投诉回访 Call back about feedback", owner_id=owner,
                        due_at=item.created_at + timedelta(days=2), source_type="feedback", source_id=item.id,
                        created_by=None)
        return len(added)


__all__ = ["load_demo_feedback"]
