"""Categories by keyword rules on fixed Chinese and English examples; matching, ties and the default rules."""

from __future__ import annotations

import pytest

from kehu.feedback import CATEGORIES, DEFAULT_RULES, Rule, categorise, category_name
from kehu.feedback.categories import default_rules, matches

RULES = default_rules()


@pytest.mark.parametrize(("text", "category"), [
    ("质量太差了，用了三天就坏了", "product_quality"),
    ("屏幕有划痕，做工粗糙", "product_quality"),
    ("客服态度很差，问了三次都不回复", "service_attitude"),
    ("售后推诿，没人处理", "service_attitude"),
    ("物流太慢了，等了一个星期", "logistics"),
    ("快递包装破损", "logistics"),
    ("价格太贵了，买完就降价", "price"),
    ("性价比高，很划算", "price"),
    ("请问可以开发票吗", "other"),
    ("The screen arrived cracked.", "product_quality"),
    ("Customer service was rude.", "service_attitude"),
    ("Delivery was late and the package was damaged.", "logistics"),
    ("Way too expensive.", "price"),
    ("Hello there", "other"),
    ("", "other"),
])
def test_categories_on_fixed_examples(text: str, category: str) -> None:
    assert categorise(text, RULES) == category


def test_english_keywords_match_at_word_starts_and_phrases_across_spaces() -> None:
    rules = [Rule("logistics", "ship"), Rule("service_attitude", "customer service")]
    assert categorise("It SHIPPED fast", rules) == "logistics"
    assert categorise("I worship it", rules) == "other"
    assert categorise("customer   service", rules) == "service_attitude"


def test_highest_score_wins_and_ties_go_to_the_first_match() -> None:
    rules = [Rule("price", "贵"), Rule("logistics", "物流"), Rule("logistics", "慢")]
    assert categorise("太贵了，物流也慢", rules) == "logistics"  # 2 against 1
    assert categorise("太贵了，物流也快", rules) == "price"  # a tie: 贵 comes first
    assert categorise("物流好，就是贵", rules) == "logistics"
    assert categorise("就是贵", [Rule("price", "贵", 1), Rule("other", "贵", 9)]) == "price"  # 'other' has no rules


def test_default_rules_cover_every_category_but_other_in_both_languages() -> None:
    assert CATEGORIES[-1] == "other"
    for category in CATEGORIES[:-1]:
        words = [k for c, k, _ in DEFAULT_RULES if c == category]
        assert any(any("\u4e00" <= ch <= "\u9fff" for ch in w) for w in words)
        assert any(w.isascii() for w in words)
    assert len({(c, k) for c, k, _ in DEFAULT_RULES}) == len(DEFAULT_RULES)
    assert [r.keyword for r in matches("物流太慢", RULES) if r.category == "logistics"] == ["物流"]
    assert category_name("logistics", "zh") == "物流" and category_name("price", "en") == "Price"
    assert category_name("nonsense", "en") == "nonsense"
