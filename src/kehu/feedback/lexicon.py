"""The bundled word lists of the feedback analysis: sentiment words (Chinese and English) with their weights,
negations, degree words, contrast words and stopwords.

Small on purpose: written for shop feedback (products, delivery, service, price), not for general text. A word's
weight is its polarity and strength (−2 … 2); degree words multiply the next sentiment word; a negation within
:data:`NEGATION_WINDOW` tokens before a sentiment word flips it (and halves it: "not bad" is mildly good, not
great). Chinese words are also given to jieba as dictionary words, so that "不满意" or "太慢" stay one token.
"""

from __future__ import annotations

#: Chinese sentiment words → weight.
ZH_SENTIMENT: dict[str, float] = {
    # positive
    "好": 1.0, "很好": 1.5, "不错": 1.0, "挺好": 1.2, "满意": 1.5, "非常满意": 2.0, "喜欢": 1.2, "好评": 1.5,
    "推荐": 1.0, "值得": 1.0, "好用": 1.2, "耐用": 1.0, "实用": 0.8, "精致": 1.0, "漂亮": 1.0, "美观": 1.0,
    "舒服": 1.0, "舒适": 1.0, "流畅": 1.0, "清晰": 0.8, "正品": 0.8, "给力": 1.2, "完美": 1.8, "优秀": 1.5,
    "棒": 1.5, "赞": 1.5, "点赞": 1.5, "惊喜": 1.2, "开心": 1.2, "快": 0.8, "很快": 1.2, "迅速": 1.0,
    "及时": 1.0, "准时": 1.0, "便宜": 0.6, "实惠": 1.0, "划算": 1.0, "超值": 1.5, "物美价廉": 1.5,
    "性价比高": 1.5, "热情": 1.2, "耐心": 1.2, "周到": 1.2, "专业": 1.0, "礼貌": 1.0, "贴心": 1.2, "细心": 1.0,
    "认真": 0.8, "负责": 0.8, "感谢": 1.0, "谢谢": 0.8, "放心": 1.0, "靠谱": 1.2, "完好": 1.0, "完好无损": 1.2,
    "严实": 0.8, "结实": 0.8, "稳定": 0.8, "省心": 1.0, "方便": 0.8, "高效": 1.0, "解决了": 1.0, "已解决": 1.0,
    "一如既往": 0.8, "回购": 1.2, "还会再买": 1.5, "物超所值": 1.8, "好看": 1.0, "新鲜": 0.8, "顺利": 0.8,
    "愉快": 1.0, "到位": 0.8, "值": 0.8, "很值": 1.2, "值了": 1.2, "出色": 1.5, "齐全": 0.8, "灵敏": 0.8,
    "清楚": 0.6, "准确": 0.8, "好听": 1.0, "好吃": 1.0, "合身": 0.8, "合适": 0.6, "还行": 0.3, "还可以": 0.4,
    "性价比": 0.5,
    # negative
    "差": -1.5, "很差": -1.8, "太差": -2.0, "不好": -1.2, "不满意": -1.5, "失望": -1.5, "很失望": -1.8,
    "差评": -1.8, "垃圾": -2.0, "坑": -1.5, "坑人": -1.8, "骗": -1.8, "骗子": -2.0, "假货": -2.0, "山寨": -1.5,
    "烂": -1.5, "坏": -1.2, "坏了": -1.5, "损坏": -1.5, "破损": -1.5, "破": -1.0, "碎": -1.2, "裂": -1.2,
    "开裂": -1.5, "瑕疵": -1.2, "次品": -1.8, "劣质": -1.8, "故障": -1.5, "死机": -1.5, "卡顿": -1.2, "发热": -0.8,
    "发烫": -1.0, "异味": -1.2, "掉色": -1.0, "漏水": -1.5, "失灵": -1.5, "不能用": -1.8, "用不了": -1.8,
    "慢": -1.0, "太慢": -1.5, "很慢": -1.5, "延迟": -1.0, "迟迟": -1.0, "拖": -0.8, "丢件": -1.8, "漏发": -1.5,
    "少发": -1.5, "发错": -1.5, "错发": -1.5, "没收到": -1.2, "还没到": -1.2, "贵": -1.0, "太贵": -1.5,
    "偏贵": -0.8, "不值": -1.5, "不值得": -1.5, "坑钱": -1.8, "涨价": -0.8, "乱收费": -1.8, "敷衍": -1.5,
    "推诿": -1.5, "踢皮球": -1.8, "冷淡": -1.2, "态度差": -1.8, "态度恶劣": -2.0, "恶劣": -1.8, "不耐烦": -1.5,
    "不理": -1.5, "没人理": -1.8, "不回复": -1.5, "不处理": -1.5, "不负责": -1.5, "投诉": -1.0, "退货": -0.6,
    "退款": -0.5, "换货": -0.5, "麻烦": -0.4, "糟糕": -1.8, "糟心": -1.5, "生气": -1.5, "气人": -1.5,
    "后悔": -1.5, "无语": -1.2, "郁闷": -1.2, "难用": -1.5, "难看": -1.2, "粗糙": -1.2, "不行": -1.2,
    "问题": -0.5, "毛病": -1.0, "缺陷": -1.2, "欺骗": -2.0, "虚假": -1.8, "差劲": -1.8, "不靠谱": -1.5,
    "划痕": -1.0, "脏": -1.2, "旧": -0.8, "二手": -1.0, "不合适": -0.8, "不准": -1.0, "打不通": -1.2,
    "无人接听": -1.2, "等了": -0.6, "不及时": -1.2, "晚到": -1.2, "缺货": -0.8, "白等": -1.5, "好慢": -1.5,
    "没反应": -1.5, "不均匀": -1.0, "发黄": -1.0, "不一样": -0.6, "不符": -1.2, "描述不符": -1.5, "找不到人": -1.5,
    "黑屏": -1.5, "花屏": -1.5, "闪退": -1.5, "断连": -1.2, "没声音": -1.5, "杂音": -1.0, "松动": -1.0,
    "变形": -1.0, "生锈": -1.2, "过期": -1.2, "少了": -0.8, "错了": -0.8, "不给": -0.6, "拒绝": -1.0,
    "一般": -0.4, "没发货": -1.2, "不发货": -1.2, "没人处理": -1.8, "性价比低": -1.5, "性价比不高": -1.2,
    "不会再买": -1.5, "再也不买": -1.8, "不会再来": -1.2, "不推荐": -1.5, "别买": -1.8, "上当": -1.8,
}

#: English sentiment words (lower case) → weight.
EN_SENTIMENT: dict[str, float] = {
    # positive
    "good": 1.0, "great": 1.5, "excellent": 1.8, "amazing": 1.8, "awesome": 1.8, "perfect": 1.8,
    "love": 1.5, "loved": 1.5, "loves": 1.5, "like": 0.3, "liked": 0.8, "nice": 1.0, "happy": 1.2,
    "pleased": 1.2, "satisfied": 1.2, "recommend": 1.2, "recommended": 1.2, "fast": 0.8, "quick": 0.8,
    "quickly": 0.8, "prompt": 1.0, "promptly": 1.0, "helpful": 1.2, "friendly": 1.2, "polite": 1.0,
    "professional": 1.0, "patient": 1.0, "kind": 0.8, "courteous": 1.0, "reliable": 1.0, "sturdy": 0.8,
    "durable": 1.0, "beautiful": 1.2, "comfortable": 1.0, "smooth": 0.8, "works": 0.6, "worth": 1.0,
    "cheap": 0.3, "affordable": 1.0, "bargain": 1.0, "fair": 0.6, "best": 1.5, "fantastic": 1.8,
    "wonderful": 1.8, "superb": 1.8, "solved": 1.0, "resolved": 1.0, "thanks": 0.8, "thank": 0.8,
    "well": 0.5, "fine": 0.5, "exceeded": 1.2, "impressed": 1.2, "delighted": 1.5, "glad": 1.0,
    "on-time": 1.0, "intact": 0.8, "genuine": 0.8, "easy": 0.8, "efficient": 1.0,
    # negative
    "bad": -1.2, "poor": -1.2, "terrible": -1.8, "awful": -1.8, "horrible": -1.8, "worst": -2.0,
    "hate": -1.5, "hated": -1.5, "disappointed": -1.5, "disappointing": -1.5, "disappointment": -1.5,
    "unhappy": -1.2, "unsatisfied": -1.2, "dissatisfied": -1.2, "broken": -1.5, "broke": -1.2, "defective": -1.5,
    "faulty": -1.5, "damaged": -1.5, "cracked": -1.2, "scratched": -1.0, "useless": -1.5, "junk": -1.8,
    "garbage": -2.0, "rubbish": -1.8, "fake": -1.8, "counterfeit": -1.8, "scam": -2.0, "slow": -1.0,
    "late": -1.0, "delayed": -1.0, "delay": -1.0, "lost": -1.2, "missing": -1.2, "wrong": -1.0,
    "expensive": -1.0, "overpriced": -1.5, "pricey": -0.8, "rude": -1.8, "unhelpful": -1.5, "ignored": -1.5,
    "impolite": -1.5, "careless": -1.2, "unprofessional": -1.5, "complaint": -0.8, "complain": -0.8,
    "refund": -0.5, "return": -0.3, "returned": -0.5, "problem": -0.6, "problems": -0.6, "issue": -0.5,
    "issues": -0.5, "waste": -1.5, "annoying": -1.2, "annoyed": -1.2, "angry": -1.5, "frustrated": -1.5,
    "frustrating": -1.5, "stopped": -0.6, "flimsy": -1.2, "dirty": -1.2, "used": -0.3,
    "cheaply": -0.8, "ridiculous": -1.5, "unacceptable": -1.8, "regret": -1.5, "failed": -1.2, "fails": -1.2,
    "overheats": -1.2, "overheating": -1.2, "leaks": -1.2, "leaking": -1.2, "unreliable": -1.5,
    "mediocre": -0.8, "worse": -1.2, "nobody": -0.8, "hung": -0.6, "waiting": -0.5, "waited": -0.6,
    "crash": -1.2, "crashes": -1.2, "crashing": -1.2, "crashed": -1.2, "freezes": -1.2, "freezing": -1.0,
    "solid": 0.8, "crisp": 0.8, "sharp": 0.6, "loud": 0.3, "scratches": -1.0, "dead": -1.2, "unusable": -1.8,
    "misleading": -1.5, "wrongly": -1.0, "refused": -1.2, "cancelled": -0.6, "dented": -1.2, "leaked": -1.2,
}

#: English phrases (lower case, words separated by one space) → weight; matched before single words.
EN_PHRASES: dict[str, float] = {
    "stopped working": -1.8, "does not work": -1.8, "doesn't work": -1.8, "did not work": -1.8,
    "didn't work": -1.8, "fell apart": -1.8, "waste of money": -2.0, "not worth": -1.5, "never arrived": -1.8,
    "never again": -1.5, "value for money": 1.2, "as described": 0.8, "well made": 1.2, "high quality": 1.2,
    "low quality": -1.5, "poor quality": -1.8, "customer service was great": 1.5, "no response": -1.5,
    "no reply": -1.5, "hung up": -1.2, "on time": 1.0, "arrived early": 1.2, "too expensive": -1.5,
    "rip off": -1.8, "ripped off": -1.8, "five stars": 1.5, "5 stars": 1.5, "one star": -1.5, "1 star": -1.5,
    "no complaints": 1.2, "no complaint": 1.2, "no solution": -1.2, "been opened": -1.2, "looked like": 0.0,
    "looks like": 0.0, "seems like": 0.0, "feels like": 0.0, "not as described": -1.5,
    "highly recommend": 1.8, "would recommend": 1.5, "not recommend": -1.5, "went above and beyond": 1.8,
}

#: Negations: a sentiment word within :data:`NEGATION_WINDOW` tokens after one is flipped.
ZH_NEGATIONS: frozenset[str] = frozenset({
    "不", "没", "没有", "无", "非", "别", "未", "毫无", "并不", "不太", "不是", "从不", "从来不", "不怎么", "并没有",
    "一点也不", "一点都不", "绝不", "不会", "不够",
})
EN_NEGATIONS: frozenset[str] = frozenset({
    "not", "no", "never", "hardly", "barely", "nothing", "neither", "nor", "without", "isn't", "wasn't", "aren't",
    "weren't", "don't", "doesn't", "didn't", "won't", "wouldn't", "can't", "cannot", "couldn't", "shouldn't",
    "haven't", "hasn't", "hadn't", "ain't", "nt",
})
#: How many tokens after a negation it reaches (punctuation ends it sooner).
NEGATION_WINDOW = 3

#: Degree words: multiply the next sentiment word.
ZH_DEGREE: dict[str, float] = {
    "很": 1.3, "非常": 1.6, "太": 1.5, "特别": 1.5, "十分": 1.5, "极其": 1.8, "极": 1.7, "超": 1.5, "超级": 1.6,
    "相当": 1.4, "挺": 1.2, "比较": 0.9, "有点": 0.8, "有些": 0.8, "稍微": 0.7, "最": 1.6, "更": 1.2, "真": 1.3,
    "真的": 1.3, "实在": 1.4, "简直": 1.5, "巨": 1.6, "好": 1.3,
}
EN_DEGREE: dict[str, float] = {
    "very": 1.3, "really": 1.3, "so": 1.3, "extremely": 1.7, "too": 1.3, "super": 1.5, "incredibly": 1.6,
    "absolutely": 1.6, "totally": 1.4, "completely": 1.4, "quite": 1.1, "pretty": 1.1, "fairly": 0.9,
    "somewhat": 0.8, "slightly": 0.7, "a bit": 0.8, "most": 1.4, "utterly": 1.7, "truly": 1.3, "highly": 1.4,
}

#: Contrast words: what follows weighs :data:`CONTRAST_AFTER` times, what came before :data:`CONTRAST_BEFORE`.
ZH_CONTRAST: frozenset[str] = frozenset({"但是", "但", "可是", "不过", "然而", "却", "只是"})
EN_CONTRAST: frozenset[str] = frozenset({"but", "however", "yet", "though", "although"})
CONTRAST_BEFORE = 0.6
CONTRAST_AFTER = 1.4

#: Chinese stopwords left out of keywords (with jieba's own list and every single character).
ZH_STOPWORDS: frozenset[str] = frozenset({
    "我们", "你们", "他们", "这个", "那个", "这些", "那些", "一个", "什么", "怎么", "为什么", "因为", "所以", "但是",
    "而且", "然后", "还是", "就是", "已经", "现在", "时候", "可以", "没有", "不是", "这样", "那样", "自己", "这次",
    "一下", "一直", "还有", "真的", "感觉", "觉得", "东西", "收到", "购买", "买了", "使用", "用了", "一次", "两次",
    "商家", "卖家", "店家", "亲", "您好", "你好", "希望", "知道", "问题", "非常", "特别", "比较", "有点", "这么",
    "那么", "如果", "虽然", "不过", "之后", "以后", "之前", "以前", "今天", "昨天", "明天", "天天", "直接",
})
#: English stopwords left out of keywords.
EN_STOPWORDS: frozenset[str] = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below between
both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few for from
further get got had hadn't has hasn't have haven't having he her here hers herself him himself his how i i'm i've
if in into is isn't it it's its itself just let's me more most my myself no nor not now of off on once only or
other ought our ours ourselves out over own same she should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they're this those through to too under until up us very
was wasn't we we're were weren't what when where which while who whom why will with won't would wouldn't you
you're your yours yourself yourselves also really still even much many one two three ever since again back
bought buy order ordered item items product products thing things day days week weeks month months time times
would could been am pm via per lot bit way made make said say says told tell asked ask us ok okay never
""".split())
