"""The columns a segment rule may name: the one table of names, aliases, types, units and value vocabularies.

The feature table a rule filters is one row per customer of a classification snapshot: the snapshot's columns
(``classifications``), the customer's attributes (``customers``), two computed columns (``age`` and
``city_tier``) and the behaviour traits computed with the segments (``segment_traits``). Money is written in yuan
in a rule (``clv_12m > 500``) and compared in cents in the store, so no float ever meets a sum. A class, group,
stage, tier or gender is written as its code, its Chinese name or its English name (``'重要价值客户'`` =
``'important_value'`` = ``'important value'``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kehu.analytics.geo import CITY_TIERS
from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS

Kind = Literal["int", "money", "float", "text", "enum", "bool", "date"]
#: Where a column comes from: the snapshot row, the customer row, the segment traits, or computed from them.
Source = Literal["classification", "customer", "trait", "computed"]

#: CLV tiers (kehu.analytics.predict): code → (Chinese, English).
CLV_TIER_NAMES: dict[str, tuple[str, str]] = {
    "high": ("高价值", "high"),
    "medium": ("中价值", "medium"),
    "low": ("低价值", "low"),
}
#: Genders as the import stores them: code → (Chinese, English).
GENDERS: dict[str, tuple[str, str]] = {"male": ("男", "male"), "female": ("女", "female")}
#: How a code may be stored besides itself: the import writes ``male``/``female``, older or hand-made rows may hold
#: the letter or the Chinese word.
STORED_SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {"male": ("male", "M", "m", "男"), "female": ("female", "F", "f", "女")},
}
#: More spellings accepted for a vocabulary's codes (lower case).
EXTRA_SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {"male": ("m", "man", "男性"), "female": ("f", "woman", "女性")},
    "city_tier": {"tier1": ("一线城市", "tier 1", "first tier"), "new_tier1": ("新一线城市",),
                  "tier2": ("二线城市", "tier 2"), "tier3": ("三线", "tier 3")},
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the rule language.

    Attributes
    ----------
    name
        The name used in rules and shown in messages (lower case, ASCII).
    kind
        ``int``, ``money`` (yuan in a rule, integer cents in the store), ``float``, ``text``, ``enum`` (a fixed
        vocabulary, see ``vocabulary``), ``bool`` or ``date`` (``'YYYY-MM-DD'`` in a rule).
    source, column
        Where the value comes from and the store column (for ``computed``: what it is computed from).
    zh, en
        What the column means, for the builder's reference and the docs.
    aliases
        Other names accepted in rules (lower case; Chinese names as written).
    vocabulary
        For ``enum``: code → (Chinese, English).
    """

    name: str
    kind: Kind
    source: Source
    column: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    vocabulary: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def unit(self) -> str | None:
        """The unit a rule writes the column's values in (``yuan``, ``days``, ``share``), when it has one."""
        if self.kind == "money":
            return "yuan"
        if self.name.endswith("_days") or self.name in ("recency_days",):
            return "days"
        if self.name in ("p_alive", "churn_risk", "discount_share", "price_rank"):
            return "share"
        return None


def _c(name: str, kind: Kind, source: Source, column: str, zh: str, en: str, *aliases: str,
       vocabulary: dict[str, tuple[str, str]] | None = None) -> ColumnSpec:
    return ColumnSpec(name, kind, source, column, zh, en, tuple(aliases), vocabulary or {})


#: Every column a rule may name, in the order the builder lists them.
COLUMN_LIST: tuple[ColumnSpec, ...] = (
    # The classification snapshot.
    _c("rfm_class", "enum", "classification", "rfm_class", "RFM 八类客户", "8-class RFM model class", "客户类别",
       vocabulary=RFM_CLASSES),
    _c("rfm_group", "enum", "classification", "rfm_group", "RFM 评分分组", "RFM score-grid group", "客户分组",
       vocabulary=RFM_GROUPS),
    _c("lifecycle_stage", "enum", "classification", "lifecycle_stage", "生命周期阶段", "lifecycle stage", "stage",
       "生命周期", vocabulary=LIFECYCLE_STAGES),
    _c("recency_days", "int", "classification", "recency_days", "距最近一次购买的天数", "days since the last purchase",
       "recency", "最近购买天数"),
    _c("frequency", "int", "classification", "frequency", "购买次数", "number of purchases", "orders", "购买次数"),
    _c("monetary", "money", "classification", "monetary_cents", "累计消费金额（元）", "total spend (yuan)", "spend",
       "消费金额"),
    _c("aov", "money", "classification", "aov_cents", "平均客单价（元）", "average order value (yuan)", "客单价"),
    _c("r_score", "int", "classification", "r_score", "R 评分（1–5）", "R score (1–5)"),
    _c("f_score", "int", "classification", "f_score", "F 评分（1–5）", "F score (1–5)"),
    _c("m_score", "int", "classification", "m_score", "M 评分（1–5）", "M score (1–5)"),
    _c("first_order_date", "date", "classification", "first_order_date", "首次购买日期", "date of the first purchase",
       "首购日期"),
    _c("last_order_date", "date", "classification", "last_order_date", "最近一次购买日期",
       "date of the latest purchase", "末次购买日期"),
    _c("median_gap_days", "float", "classification", "median_gap_days", "购买间隔中位数（天）",
       "median days between purchases", "购买间隔"),
    # Predictions (NULL when the models did not run).
    _c("clv_12m", "money", "classification", "clv_365d_cents", "未来 12 个月客户价值（元）",
       "customer lifetime value over the next 12 months (yuan)", "clv_365d", "clv", "客户价值"),
    _c("clv_tier", "enum", "classification", "clv_tier", "客户价值档", "CLV tier", "价值档",
       vocabulary=CLV_TIER_NAMES),
    _c("p_alive", "float", "classification", "p_alive", "仍活跃的概率（0–1）", "probability still active (0–1)",
       "存活概率"),
    _c("churn_risk", "float", "classification", "churn_risk", "流失风险（0–1）", "churn risk (0–1)", "流失风险"),
    _c("expected_purchases_90d", "float", "classification", "expected_purchases_90d", "未来 90 天预期购买次数",
       "expected purchases in the next 90 days"),
    _c("expected_purchases_365d", "float", "classification", "expected_purchases_365d", "未来 365 天预期购买次数",
       "expected purchases in the next 365 days"),
    _c("expected_aov", "money", "classification", "expected_aov_cents", "预期客单价（元）",
       "expected order value (yuan)"),
    _c("cluster", "int", "classification", "cluster", "聚类编号", "cluster number", "聚类"),
    # The customer.
    _c("province", "text", "customer", "province", "省份（“广东”与“广东省”均可）",
       "province (广东 matches 广东省 too)", "省份"),
    _c("city", "text", "customer", "city", "城市（“深圳”与“深圳市”均可）", "city (深圳 matches 深圳市 too)", "城市"),
    _c("city_tier", "enum", "computed", "city", "城市等级", "city tier", "城市等级", vocabulary=CITY_TIERS),
    _c("channel", "text", "customer", "channel", "注册渠道", "acquisition channel", "渠道"),
    _c("source", "text", "customer", "source", "数据来源（导入格式）", "data source (import format)", "来源"),
    _c("gender", "enum", "customer", "gender", "性别", "gender", "性别", vocabulary=GENDERS),
    _c("birth_year", "int", "customer", "birth_year", "出生年份", "year of birth", "出生年份"),
    _c("age", "int", "computed", "birth_year", "年龄（快照年份 − 出生年份）", "age (snapshot year − year of birth)",
       "年龄"),
    _c("marketing_consent", "bool", "customer", "marketing_consent", "已同意接收营销信息",
       "has given marketing consent", "consent", "营销同意"),
    # Behaviour traits computed with the segments (kehu.segments.traits).
    _c("discount_share", "float", "trait", "discount_share", "使用优惠的订单占比（0–1）",
       "share of purchases with a discount or coupon (0–1)", "折扣订单占比"),
    _c("price_rank", "float", "trait", "price_rank", "所购商品在其品类中的价格位次均值（0–1，1 为最贵）",
       "average price rank of the items bought within their category (0–1, 1 = dearest)", "价格位次"),
    _c("complaints_180d", "int", "trait", "complaints_180d", "近 180 天投诉次数", "complaints in the last 180 days",
       "complaints", "投诉次数"),
)

#: Canonical name → column.
COLUMNS: dict[str, ColumnSpec] = {spec.name: spec for spec in COLUMN_LIST}
#: Every accepted name (canonical and alias, lower case) → column.
NAMES: dict[str, ColumnSpec] = {
    **{alias: spec for spec in COLUMN_LIST for alias in spec.aliases},
    **COLUMNS,
}


def find_column(name: str) -> ColumnSpec | None:
    """The column a rule's name stands for (any case; aliases accepted); ``None`` when there is none."""
    return NAMES.get(name.strip().lower()) or NAMES.get(name.strip())


def spellings(spec: ColumnSpec) -> dict[str, str]:
    """Every accepted spelling (lower case) of the values of an ``enum`` column → its code."""
    out: dict[str, str] = {}
    for code, names in spec.vocabulary.items():
        for text in (code, code.replace("_", " "), *names, *EXTRA_SPELLINGS.get(spec.name, {}).get(code, ())):
            out[text.strip().lower()] = code
    return out


def stored_values(spec: ColumnSpec, codes: list[str]) -> list[str]:
    """The values the store may hold for ``codes`` of an ``enum`` column (:data:`STORED_SPELLINGS`)."""
    extra = STORED_SPELLINGS.get(spec.name, {})
    return list(dict.fromkeys(v for code in codes for v in extra.get(code, (code,))))


__all__ = ["COLUMNS", "COLUMN_LIST", "ColumnSpec", "Kind", "find_column", "spellings", "stored_values"]
