"""Feedback categories by keyword rules: product quality 产品质量, service attitude 服务态度, logistics 物流,
price 价格, other 其他.

A rule is (category, keyword, weight). A Chinese keyword (one holding a Chinese character) matches anywhere in the
text; an English keyword matches at the start of a word, case-insensitively, so ``ship`` matches "shipped" and
"Shipping" but not "worship", and a phrase (``customer service``) matches with any spaces between its words. A
category's score is the sum of the weights of its distinct matching keywords; the highest score wins, a tie goes to
the category whose first match comes first in the text, and no match at all gives ``other``.

:data:`DEFAULT_RULES` are the seeds written to the store on first use; admins and analysts edit them on the rules
page (:mod:`kehu.feedback.rules`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

#: Category codes in display order; ``other`` has no rules (it is what matches nothing).
CATEGORIES: tuple[str, ...] = ("product_quality", "service_attitude", "logistics", "price", "other")
RULE_CATEGORIES: tuple[str, ...] = CATEGORIES[:-1]
#: Names of the categories.
CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "product_quality": {"zh": "产品质量", "en": "Product quality"},
    "service_attitude": {"zh": "服务态度", "en": "Service attitude"},
    "logistics": {"zh": "物流", "en": "Logistics"},
    "price": {"zh": "价格", "en": "Price"},
    "other": {"zh": "其他", "en": "Other"},
}
#: Longest keyword (characters); weights are 1 … 5.
KEYWORD_MAX = 64
WEIGHT_MIN, WEIGHT_MAX = 1, 5


def category_name(code: str, lang: str) -> str:
    """The name of category ``code`` in ``lang`` (``zh`` or ``en``); an unknown code is returned as it is."""
    names = CATEGORY_NAMES.get(code)
    return names.get(lang, names["zh"]) if names else code


def _defaults() -> list[tuple[str, str, int]]:
    strong = 2
    table: dict[str, tuple[list[str], list[str]]] = {
        "product_quality": (
            ["质量", "品质", "做工", "材质", "瑕疵", "次品", "劣质", "假货", "正品", "故障", "死机", "卡顿", "发热",
             "发烫", "坏了", "损坏", "破损", "开裂", "划痕", "掉色", "异味", "漏水", "失灵", "不能用", "用不了", "屏幕",
             "电池", "续航", "耐用", "返修", "维修", "做得", "功能"],
            ["quality", "defect", "faulty", "broken", "broke", "damaged", "crack", "scratch", "stopped working",
             "doesn't work", "does not work", "fake", "counterfeit", "battery", "screen", "material", "durable",
             "fell apart", "overheat", "malfunction", "repair", "flimsy", "well made", "build"],
        ),
        "service_attitude": (
            ["客服", "态度", "服务", "售后", "回复", "不理", "没人理", "敷衍", "推诿", "踢皮球", "耐心", "热情",
             "礼貌", "专业", "沟通", "解释", "打不通", "无人接听", "不耐烦", "处理"],
            ["customer service", "support", "staff", "agent", "rude", "attitude", "unhelpful", "helpful", "polite",
             "friendly", "respond", "response", "reply", "replied", "ignored", "service", "hung up", "manager"],
        ),
        "logistics": (
            ["物流", "快递", "发货", "配送", "送货", "到货", "包装", "运输", "丢件", "漏发", "少发", "发错", "错发",
             "签收", "快递员", "顺丰", "没收到", "还没到", "晚到", "派送", "驿站"],
            ["delivery", "deliver", "shipping", "shipped", "shipment", "ship", "courier", "package", "packaging",
             "parcel", "arrived", "arrive", "tracking", "dispatch", "late", "lost in transit", "never arrived"],
        ),
        "price": (
            ["价格", "价钱", "贵", "便宜", "性价比", "划算", "实惠", "降价", "涨价", "优惠", "优惠券", "折扣", "差价",
             "收费", "运费", "不值", "坑钱", "乱收费", "价位", "贵了"],
            ["price", "expensive", "cheap", "cost", "overpriced", "value for money", "discount", "coupon",
             "charge", "fee", "pricey", "worth", "money", "refund the difference", "afford"],
        ),
    }
    heads = {"质量", "quality", "客服", "customer service", "态度", "attitude", "物流", "快递", "delivery",
             "shipping", "价格", "price", "expensive", "贵", "overpriced"}
    rules: list[tuple[str, str, int]] = []
    for category, (zh, en) in table.items():
        for word in (*zh, *en):
            rules.append((category, word, strong if word in heads else 1))
    return rules


#: The seeded rules: (category, keyword, weight).
DEFAULT_RULES: tuple[tuple[str, str, int], ...] = tuple(_defaults())


def normalise_keyword(keyword: str) -> str:
    """A keyword as stored: trimmed, inner whitespace collapsed to one space, lower case."""
    return " ".join(keyword.split()).lower()


@dataclass(frozen=True)
class Rule:
    """One keyword rule."""

    category: str
    keyword: str
    weight: int = 1


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in text)


@lru_cache(maxsize=4096)
def _pattern(keyword: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in keyword.split()]
    return re.compile(r"(?<![a-z0-9])" + r"\s+".join(parts))


def _first_match(keyword: str, lowered: str) -> int:
    """Where ``keyword`` first matches in ``lowered`` text, or −1."""
    if _has_cjk(keyword):
        return lowered.find(keyword)
    found = _pattern(keyword).search(lowered)
    return found.start() if found else -1


def categorise(text: str, rules: Iterable[Rule]) -> str:
    """The category of ``text`` under ``rules`` (see the module docstring); empty text is ``other``."""
    if not text:
        return "other"
    lowered = text.lower()
    score: dict[str, int] = {}
    first: dict[str, int] = {}
    for rule in rules:
        keyword = normalise_keyword(rule.keyword)
        if not keyword or rule.category not in RULE_CATEGORIES:
            continue
        at = _first_match(keyword, lowered)
        if at < 0:
            continue
        score[rule.category] = score.get(rule.category, 0) + rule.weight
        first[rule.category] = min(first.get(rule.category, at), at)
    if not score:
        return "other"
    return min(score, key=lambda c: (-score[c], first[c], CATEGORIES.index(c)))


def matches(text: str, rules: Iterable[Rule]) -> list[Rule]:
    """The rules whose keyword matches ``text`` (for showing why an item got its category)."""
    lowered = text.lower()
    return [r for r in rules if _first_match(normalise_keyword(r.keyword), lowered) >= 0]


def default_rules() -> list[Rule]:
    """:data:`DEFAULT_RULES` as :class:`Rule` values (the duplicates a keyword may have across categories kept)."""
    return [Rule(c, normalise_keyword(k), w) for c, k, w in DEFAULT_RULES]


__all__ = ["CATEGORIES", "CATEGORY_NAMES", "DEFAULT_RULES", "RULE_CATEGORIES", "Rule", "categorise",
           "category_name", "default_rules", "matches", "normalise_keyword"]
