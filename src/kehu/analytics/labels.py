"""Names of the classes, groups and stages: stable codes in the store, Chinese and English for people."""

from __future__ import annotations

#: 8-class Chinese RFM model: code → (Chinese, English). Keyed by (R high, F high, M high) in RFM_CLASS_BY_HML.
RFM_CLASSES: dict[str, tuple[str, str]] = {
    "important_value": ("重要价值客户", "important value"),
    "important_development": ("重要发展客户", "important development"),
    "important_retention": ("重要保持客户", "important retention"),
    "important_winback": ("重要挽留客户", "important win-back"),
    "general_value": ("一般价值客户", "general value"),
    "general_development": ("一般发展客户", "general development"),
    "general_retention": ("一般保持客户", "general retention"),
    "general_winback": ("一般挽留客户", "general win-back"),
}
RFM_CLASS_BY_HML: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "important_value",
    (True, False, True): "important_development",
    (False, True, True): "important_retention",
    (False, False, True): "important_winback",
    (True, True, False): "general_value",
    (True, False, False): "general_development",
    (False, True, False): "general_retention",
    (False, False, False): "general_winback",
}

#: Score-grid groups: code → (Chinese, English).
RFM_GROUPS: dict[str, tuple[str, str]] = {
    "champions": ("冠军客户", "champions"),
    "loyal": ("忠诚客户", "loyal"),
    "potential_loyalist": ("潜力客户", "potential loyalist"),
    "new": ("新客户", "new"),
    "promising": ("有希望客户", "promising"),
    "needs_attention": ("需要关注", "needs attention"),
    "about_to_sleep": ("即将沉睡", "about to sleep"),
    "at_risk": ("有流失风险", "at risk"),
    "cannot_lose": ("不能失去", "cannot lose"),
    "hibernating": ("休眠客户", "hibernating"),
    "prospect": ("潜在客户", "prospect"),
}

#: The grid of DESIGN.md: RFM_GRID[r_score][f_score] → group code (scores 1–5).
RFM_GRID: dict[int, dict[int, str]] = {
    5: {1: "new", 2: "potential_loyalist", 3: "potential_loyalist", 4: "champions", 5: "champions"},
    4: {1: "promising", 2: "potential_loyalist", 3: "potential_loyalist", 4: "loyal", 5: "loyal"},
    3: {1: "about_to_sleep", 2: "about_to_sleep", 3: "needs_attention", 4: "loyal", 5: "loyal"},
    2: {1: "hibernating", 2: "hibernating", 3: "at_risk", 4: "at_risk", 5: "cannot_lose"},
    1: {1: "hibernating", 2: "hibernating", 3: "at_risk", 4: "at_risk", 5: "cannot_lose"},
}

#: Lifecycle stages in rule order: code → (Chinese, English).
LIFECYCLE_STAGES: dict[str, tuple[str, str]] = {
    "prospect": ("潜在客户", "prospect"),
    "churned": ("流失客户", "churned"),
    "won_back": ("已挽回", "won back"),
    "new": ("新客户", "new"),
    "at_risk": ("流失预警", "at risk"),
    "active": ("活跃客户", "active"),
}


def label(kind: str, code: str | None, lang: str = "zh") -> str:
    """The display name of a class (``rfm_class``), group (``rfm_group``) or stage (``lifecycle_stage``).

    ``lang`` is ``zh`` or ``en``; an unknown or empty code comes back as given (``""`` for ``None``).
    """
    table = {"rfm_class": RFM_CLASSES, "rfm_group": RFM_GROUPS, "lifecycle_stage": LIFECYCLE_STAGES}[kind]
    if code is None:
        return ""
    names = table.get(code)
    if names is None:
        return code
    return names[0] if lang == "zh" else names[1]
