"""Chinese city tiers (城市等级): 一线, 新一线, 二线, 三线及以下, and 其他 for what is not known.

The first-tier, new-first-tier and second-tier lists follow the 2024 ranking of 第一财经·新一线城市研究所 (the
usual reference for "city tier" in Chinese retail); the third-tier-and-below list is partial: the remaining
provincial capitals and other prefecture-level cities that commonly appear in shop data. A city that is in none
of the lists is ``other`` (其他), never guessed.

Matching is on the city name as written in an export: surrounding spaces and a trailing ``市`` are ignored
(``深圳市`` = ``深圳``), and the pinyin of the first three tiers is accepted in any case (``Shenzhen``,
``shenzhen shi``). When the city is empty, a province-level municipality (北京, 上海, 天津, 重庆) given as the
province stands for the city.
"""

from __future__ import annotations

import re

#: Tier codes in display order: code → (Chinese, English).
CITY_TIERS: dict[str, tuple[str, str]] = {
    "tier1": ("一线", "first-tier"),
    "new_tier1": ("新一线", "new first-tier"),
    "tier2": ("二线", "second-tier"),
    "tier3": ("三线及以下", "third-tier and below"),
    "other": ("其他", "other"),
}

#: City (Chinese) → pinyin, per tier.
_TIER1 = {"北京": "beijing", "上海": "shanghai", "广州": "guangzhou", "深圳": "shenzhen"}
_NEW_TIER1 = {
    "成都": "chengdu",
    "杭州": "hangzhou",
    "重庆": "chongqing",
    "苏州": "suzhou",
    "武汉": "wuhan",
    "西安": "xian",
    "南京": "nanjing",
    "长沙": "changsha",
    "天津": "tianjin",
    "郑州": "zhengzhou",
    "东莞": "dongguan",
    "无锡": "wuxi",
    "宁波": "ningbo",
    "青岛": "qingdao",
    "合肥": "hefei",
}
_TIER2 = {
    "佛山": "foshan",
    "沈阳": "shenyang",
    "昆明": "kunming",
    "济南": "jinan",
    "厦门": "xiamen",
    "福州": "fuzhou",
    "温州": "wenzhou",
    "哈尔滨": "harbin",
    "石家庄": "shijiazhuang",
    "大连": "dalian",
    "南宁": "nanning",
    "泉州": "quanzhou",
    "金华": "jinhua",
    "贵阳": "guiyang",
    "常州": "changzhou",
    "长春": "changchun",
    "南昌": "nanchang",
    "南通": "nantong",
    "嘉兴": "jiaxing",
    "徐州": "xuzhou",
    "惠州": "huizhou",
    "太原": "taiyuan",
    "台州": "taizhou",
    "绍兴": "shaoxing",
    "保定": "baoding",
    "中山": "zhongshan",
    "潍坊": "weifang",
    "临沂": "linyi",
    "珠海": "zhuhai",
    "烟台": "yantai",
}
_TIER3 = (
    "兰州 乌鲁木齐 海口 呼和浩特 银川 西宁 拉萨 扬州 洛阳 盐城 镇江 泰州 湖州 芜湖 赣州 漳州 揭阳 汕头 江门 湛江 "
    "桂林 柳州 遵义 绵阳 宜昌 襄阳 岳阳 衡阳 株洲 唐山 邯郸 沧州 廊坊 淄博 济宁 威海 东营 包头 鄂尔多斯 三亚 "
    "连云港 淮安 宿迁 宁德 莆田 龙岩 三明 肇庆 清远 茂名 汕尾 梅州 韶关 河源 阳江 潮州 云浮 丽水 衢州 舟山 "
    "蚌埠 阜阳 安庆 九江 上饶 宜春 吉安 南阳 新乡 商丘 信阳 周口 驻马店 许昌 开封 安阳 平顶山 荆州 黄冈 孝感 "
    "十堰 常德 郴州 邵阳 益阳 德州 聊城 泰安 菏泽 日照 枣庄 滨州 邢台 秦皇岛 承德 张家口 衡水 大同 晋中 运城 "
    "宝鸡 咸阳 榆林 渭南 汉中 吉林 鞍山 抚顺 锦州 营口 大庆 齐齐哈尔 牡丹江 南充 宜宾 泸州 德阳 乐山 达州 "
    "曲靖 玉溪 大理 丽江 北海 玉林 钦州 六盘水 天水 酒泉 克拉玛依 喀什"
).split()

_TIER_OF: dict[str, str] = {
    **dict.fromkeys(_TIER1, "tier1"),
    **dict.fromkeys(_NEW_TIER1, "new_tier1"),
    **dict.fromkeys(_TIER2, "tier2"),
    **dict.fromkeys(_TIER3, "tier3"),
}
_PINYIN: dict[str, str] = {
    **{py: "tier1" for py in _TIER1.values()},
    **{py: "new_tier1" for py in _NEW_TIER1.values()},
    **{py: "tier2" for py in _TIER2.values()},
}
_MUNICIPALITIES = frozenset({"北京", "上海", "天津", "重庆"})
_LATIN_NOISE = re.compile(r"[\s'’.-]+")


def _clean(name: str | None) -> str:
    """The name without surrounding spaces and a trailing 市 (``" 深圳市 "`` → ``深圳``); ``""`` for none."""
    text = (name or "").strip()
    if len(text) > 2 and text.endswith("市"):
        text = text[:-1]
    return text


def city_tier(city: str | None, province: str | None = None) -> str:
    """The tier code (:data:`CITY_TIERS`) of ``city``; ``other`` when the city is unknown or empty.

    Parameters
    ----------
    city:
        The city as written: ``深圳``, ``深圳市``, ``Shenzhen`` (pinyin, any case, optional ``shi``/``city``).
    province:
        Used only when ``city`` is empty: a municipality (``北京``/``北京市``…) is its own city.
    """
    name = _clean(city)
    if not name:
        name = _clean(province)
        return _TIER_OF[name] if name in _MUNICIPALITIES else "other"
    tier = _TIER_OF.get(name)
    if tier is not None:
        return tier
    latin = name.lower()
    if not latin.isascii():
        return "other"
    latin = _LATIN_NOISE.sub("", latin)  # "Xi'an" → "xian", "shen zhen" → "shenzhen"
    for suffix in ("shi", "city"):
        if latin.endswith(suffix) and latin[: -len(suffix)] in _PINYIN:
            latin = latin[: -len(suffix)]
    return _PINYIN.get(latin, "other")


def tier_label(code: str, lang: str = "zh") -> str:
    """The display name of a tier code in ``lang`` (``zh`` or ``en``); an unknown code comes back as given."""
    names = CITY_TIERS.get(code)
    if names is None:
        return code
    return names[0] if lang == "zh" else names[1]


__all__ = ["CITY_TIERS", "city_tier", "tier_label"]
