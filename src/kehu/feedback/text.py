"""Text analysis of feedback: language, tokens, sentiment score and keywords, in Chinese and English, offline.

Chinese text is cut by jieba (its dictionary ships with the package; nothing is downloaded). jieba keeps a cache of
its parsed dictionary; kehu points it to a private folder in the system temp dir (:func:`jieba_cache_dir`, or
``KEHU_JIEBA_CACHE_DIR``), never the source tree, and silences jieba's log. The bundled lists of
:mod:`kehu.feedback.lexicon` are added to jieba's dictionary, so that "不满意" or "太慢" stay one token.

Sentiment (:func:`sentiment`) is lexicon-based: each sentiment word has a weight (−2 … 2); a degree word before it
multiplies it ("很", "very"); a negation up to three tokens before it flips it ("不", "not": a flipped positive
keeps 0.8 of its weight, a flipped negative 0.5, so "not bad" is mildly good); after a contrast word ("但是", "but")
words weigh 1.4 and those before it 0.6. The sum ``s`` is squashed to ``s / sqrt(s² + 4)``, in (−1, 1); no
sentiment word gives 0. Punctuation ends a negation's or a degree word's reach.

Keywords (:func:`keywords`) never carry personal data: e-mail addresses, URLs and every token holding a digit are
dropped before and after tokenisation; in Chinese, jieba's part-of-speech tags keep nouns, verbs and adjectives and
drop person, place and organisation names (``nr``, ``ns``, ``nt``); in English, capitalised words inside a sentence
(likely names) are dropped.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kehu.feedback.lexicon import (
    CONTRAST_AFTER,
    CONTRAST_BEFORE,
    EN_CONTRAST,
    EN_DEGREE,
    EN_NEGATIONS,
    EN_PHRASES,
    EN_SENTIMENT,
    EN_STOPWORDS,
    NEGATION_WINDOW,
    ZH_CONTRAST,
    ZH_DEGREE,
    ZH_NEGATIONS,
    ZH_SENTIMENT,
    ZH_STOPWORDS,
)

#: How many keywords :func:`keywords` returns at most.
MAX_KEYWORDS = 5
#: ``s / sqrt(s² + SQUASH)``: with 4, one plain word (weight 1) scores 0.45 and two score 0.71.
SQUASH = 4.0
#: A flipped positive word keeps this share of its weight, a flipped negative word :data:`FLIP_NEGATIVE`.
FLIP_POSITIVE = 0.8
FLIP_NEGATIVE = 0.5
#: jieba part-of-speech tags kept as Chinese keywords (nouns, verb-nouns, verbs, adjectives, other proper nouns).
ZH_KEYWORD_POS: tuple[str, ...] = ("n", "vn", "v", "a", "an", "ad", "nz", "l", "i")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9０-９]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_PUNCT = frozenset("，。！？；：、,.!?;:…~～\n\r\t（）()【】[]“”\"'‘’《》<>/|-—")
_EN_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[0-9]+|[.!?;,:]")
_EN_EXTRA_NEGATIONS = frozenset({"dont", "didnt", "doesnt", "isnt", "wasnt", "cant", "wont", "wouldnt", "couldnt",
                                 "havent", "hasnt", "arent", "werent", "shouldnt"})
#: English words taken for ordinary words even when capitalised at the start of a sentence (other capitalised
#: words may be names and are never keywords).
_EN_KNOWN = frozenset("""
delivery shipping package parcel courier box packaging quality price service support staff product phone screen
battery order refund return item seller store shop customer size colour color fit material value cost charge
""".split())
_lock = threading.Lock()
_state: dict[str, Any] = {}


def jieba_cache_dir() -> Path:
    """Where jieba keeps its dictionary cache: ``KEHU_JIEBA_CACHE_DIR`` or ``<temp>/kehu-jieba-<uid>`` (mode
    0700), created when missing."""
    configured = os.environ.get("KEHU_JIEBA_CACHE_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"kehu-jieba-{uid}"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _jieba() -> tuple[Any, Any, Any]:
    """jieba's tokenizer, part-of-speech tokenizer and TF-IDF keyword extractor, loaded once (≈ 1 s the first
    time in a process; the cache makes the dictionary load fast afterwards)."""
    with _lock:
        if "tokenizer" not in _state:
            import jieba
            import jieba.analyse
            import jieba.posseg

            jieba.setLogLevel(logging.WARNING)
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.tmp_dir = str(jieba_cache_dir())
            tokenizer.initialize()
            for word, weight in ZH_SENTIMENT.items():
                if len(word) > 1:
                    tokenizer.add_word(word, tag="a" if weight else None)
            for word in (*ZH_NEGATIONS, *ZH_DEGREE, *ZH_CONTRAST):
                if len(word) > 1:
                    tokenizer.add_word(word, tag="d")
            pos = jieba.posseg.POSTokenizer(tokenizer)
            tfidf = jieba.analyse.TFIDF()
            tfidf.tokenizer = tokenizer
            tfidf.postokenizer = pos
            tfidf.stop_words = set(tfidf.stop_words) | set(ZH_STOPWORDS) | set(EN_STOPWORDS)
            _state.update(tokenizer=tokenizer, pos=pos, tfidf=tfidf)
    return _state["tokenizer"], _state["pos"], _state["tfidf"]


def scrub(text: str) -> str:
    """``text`` without e-mail addresses, URLs and digits (each replaced by a space)."""
    return _DIGITS.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", text)))


def detect_language(text: str) -> str:
    """``zh`` when the Chinese characters number more than a third of the Latin letters ("iPhone 屏幕坏了" is
    Chinese, "Thanks, 小王!" English), else ``en``; text with neither is ``zh``."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return "zh"
    return "zh" if cjk * 3 > latin else "en"


def tokens(text: str, language: str | None = None) -> list[str]:
    """The tokens of ``text``: jieba's words for Chinese (whitespace dropped, Latin words lower-cased), words and
    punctuation for English (lower-cased, ``don't`` kept whole)."""
    language = language or detect_language(text)
    if language == "zh":
        tokenizer, _, _ = _jieba()
        return [w.lower() for w in tokenizer.lcut(text) if w.strip()]
    return [w.lower() for w in _EN_TOKEN.findall(text)]


@dataclass(frozen=True)
class _Lexicon:
    sentiment: dict[str, float]
    negations: frozenset[str]
    degree: dict[str, float]
    contrast: frozenset[str]


_ZH = _Lexicon({**ZH_SENTIMENT, **EN_SENTIMENT}, ZH_NEGATIONS | EN_NEGATIONS, {**ZH_DEGREE, **EN_DEGREE},
               ZH_CONTRAST | EN_CONTRAST)
_EN = _Lexicon(EN_SENTIMENT, EN_NEGATIONS | _EN_EXTRA_NEGATIONS, EN_DEGREE, EN_CONTRAST)
_EN_MULTI: dict[tuple[str, ...], tuple[str, float]] = {
    **{tuple(p.split()): ("sentiment", w) for p, w in EN_PHRASES.items()},
    **{tuple(p.split()): ("degree", w) for p, w in EN_DEGREE.items() if " " in p},
}
_EN_MULTI_MAX = max(len(k) for k in _EN_MULTI)


def _units(toks: list[str], language: str) -> list[tuple[str, float]]:
    """Tokens classified as (kind, value): ``sentiment``, ``negation``, ``degree``, ``contrast``, ``stop``
    (punctuation) or ``other``; English phrases of :data:`EN_PHRASES` become one unit."""
    lex = _ZH if language == "zh" else _EN
    units: list[tuple[str, float]] = []
    i = 0
    while i < len(toks):
        if language == "en":
            for n in range(min(_EN_MULTI_MAX, len(toks) - i), 1, -1):
                hit = _EN_MULTI.get(tuple(toks[i:i + n]))
                if hit:
                    units.append(hit)
                    i += n
                    break
            else:
                hit = None
            if hit:
                continue
        tok = toks[i]
        i += 1
        if tok in _PUNCT or all(c in _PUNCT for c in tok):
            units.append(("stop", 0.0))
        elif tok in lex.contrast:
            units.append(("contrast", 0.0))
        elif tok in lex.negations:
            units.append(("negation", 0.0))
        elif tok in lex.degree and tok in lex.sentiment:
            units.append(("degree_or_sentiment", lex.degree[tok]))
            units.append(("_sentiment_value", lex.sentiment[tok]))
        elif tok in lex.degree:
            units.append(("degree", lex.degree[tok]))
        elif tok in lex.sentiment:
            units.append(("sentiment", lex.sentiment[tok]))
        else:
            units.append(("other", 0.0))
    return units


def _raw_score(units: list[tuple[str, float]]) -> tuple[float, int]:
    """The weighted sum of the sentiment words and how many there were."""
    before: list[float] = []
    after: list[float] = []
    current = before
    contrasted = False
    negation_left = 0
    degree = 1.0
    hits = 0
    i = 0
    while i < len(units):
        kind, value = units[i]
        if kind == "degree_or_sentiment":
            sentiment_value = units[i + 1][1]
            nxt = units[i + 2][0] if i + 2 < len(units) else None
            i += 2
            if nxt in ("sentiment", "degree_or_sentiment", "negation"):
                degree *= value
                continue
            kind, value = "sentiment", sentiment_value
        else:
            i += 1
        if kind == "stop":
            negation_left, degree = 0, 1.0
        elif kind == "contrast":
            if not contrasted:
                contrasted, current = True, after
            negation_left, degree = 0, 1.0
        elif kind == "negation":
            negation_left = NEGATION_WINDOW
        elif kind == "degree":
            degree *= value
        elif kind == "sentiment":
            if value:
                hits += 1
                v = value * degree
                if negation_left > 0:
                    v = -v * (FLIP_POSITIVE if v > 0 else FLIP_NEGATIVE)
                current.append(v)
            negation_left, degree = 0, 1.0
        else:
            negation_left = max(0, negation_left - 1)
    if contrasted:
        return CONTRAST_BEFORE * sum(before) + CONTRAST_AFTER * sum(after), hits
    return sum(before), hits


def sentiment(text: str, language: str | None = None) -> float:
    """Sentiment of ``text`` in [−1, 1] (rounded to 3 decimals): negative below 0, positive above; 0 when the text
    holds no sentiment word (see the module docstring for the rules)."""
    if not text or not text.strip():
        return 0.0
    language = language or detect_language(text)
    raw, _ = _raw_score(_units(tokens(text, language), language))
    return round(raw / math.sqrt(raw * raw + SQUASH), 3)


def _has_digit_or_at(word: str) -> bool:
    return any(c.isdigit() for c in word) or "@" in word


def keywords(text: str, language: str | None = None, limit: int = MAX_KEYWORDS) -> list[str]:
    """Up to ``limit`` keywords of ``text``, most telling first, with no digits, e-mails, URLs or names.

    Chinese: jieba's TF-IDF over nouns, verbs and adjectives (its bundled IDF table), single characters and
    stopwords left out. English: the most frequent words of three or more letters that are not stopwords, ties in
    order of appearance; capitalised words inside a sentence are taken for names and dropped.
    """
    if not text or not text.strip():
        return []
    language = language or detect_language(text)
    clean = scrub(text)
    if language == "zh":
        _, _, tfidf = _jieba()
        found = tfidf.extract_tags(clean, topK=limit * 3, allowPOS=ZH_KEYWORD_POS)
        words = [w.lower() for w in found if len(w.strip()) >= 2 and not _has_digit_or_at(w) and not _PUNCT & set(w)]
        return words[:limit]
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    lowered = {w for w in _EN_TOKEN.findall(clean) if w.islower()}
    sentence_start = True
    for i, raw in enumerate(_EN_TOKEN.findall(clean)):
        if raw in ".!?;":
            sentence_start = True
            continue
        if raw in ",:":
            continue
        word = raw.lower()
        capitalised = raw[0].isupper() and not raw.isupper()
        known = word in EN_SENTIMENT or word in _EN_KNOWN or word in lowered
        looks_like_name = capitalised and (not sentence_start or not known)
        sentence_start = False
        if looks_like_name or len(word) < 3 or word in EN_STOPWORDS or _has_digit_or_at(word):
            continue
        counts[word] += 1
        first.setdefault(word, i)
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:limit]


__all__ = ["detect_language", "jieba_cache_dir", "keywords", "scrub", "sentiment", "tokens"]
