"""Both language catalogues have the same keys and placeholders; the language is chosen and remembered."""

from __future__ import annotations

import re
import string
from pathlib import Path

from fastapi.testclient import TestClient

from kehu.web.i18n import LANG_COOKIE, MESSAGES, translator

TEMPLATES = Path(__file__).parents[2] / "src" / "kehu" / "web" / "templates"


def test_catalogues_have_the_same_keys() -> None:
    assert set(MESSAGES) == {"zh", "en"}
    assert set(MESSAGES["zh"]) == set(MESSAGES["en"])


def test_catalogues_have_the_same_placeholders() -> None:
    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}  # noqa: E731
    for key in MESSAGES["zh"]:
        assert fields(MESSAGES["zh"][key]) == fields(MESSAGES["en"][key]), key


def test_every_key_used_in_a_template_exists() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*'([a-z0-9_]+)'""", path.read_text()))
    assert used, "no t('...') calls found"
    assert used <= set(MESSAGES["en"]), used - set(MESSAGES["en"])


def test_translator_fills_values() -> None:
    assert translator("en")("page_of", page=2, pages=5) == "Page 2 of 5"
    assert translator("zh")("page_of", page=2, pages=5) == "第 2 / 5 页"


def test_lang_parameter_switches_and_is_remembered(admin: TestClient) -> None:
    zh = admin.get("/")
    assert '<html lang="zh-CN">' in zh.text
    assert "客户概览" in zh.text
    en = admin.get("/?lang=en")
    assert '<html lang="en">' in en.text
    assert "Customer overview" in en.text
    assert admin.cookies.get(LANG_COOKIE) == "en"
    again = admin.get("/customers")
    assert '<html lang="en">' in again.text


def test_unknown_lang_falls_back_to_the_setting(admin: TestClient) -> None:
    response = admin.get("/?lang=fr")
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in response.text


def test_default_language_comes_from_settings(web_settings, store, helpers) -> None:
    from kehu.web import create_app

    with TestClient(create_app(web_settings.model_copy(update={"language": "en"}))) as client:
        assert "Sign in to kehu" in client.get("/login").text


def test_language_switch_keeps_the_page_and_its_filters(admin: TestClient) -> None:
    html = admin.get("/customers?stage=new&page=1").text
    assert 'href="/customers?stage=new&amp;page=1&amp;lang=en"' in html
