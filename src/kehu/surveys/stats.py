"""Survey scores with 95% intervals.

* **NPS** (0–10): promoters score 9–10, detractors 0–6, passives 7–8. Give each answer +1, 0 or −1; the NPS is 100 ×
  the mean, i.e. %promoters − %detractors. Its interval uses the variance of those scores:
  var = (p_P + p_D − (p_P − p_D)²) / n, NPS ± z·sqrt(var)·100, clipped to [−100, 100] (the normal approximation of
  the multinomial; fine from about 30 answers, shown with fewer but to be read with care).
* **CSAT** (1–5): the share of satisfied answers (4–5) with a Wilson score interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from kehu.campaigns.stats import Interval, wilson
from kehu.errors import InvalidInput

KINDS: tuple[str, ...] = ("nps", "csat")
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}


def check_score(kind: str, score: int) -> int:
    """``score`` when it is on the scale of ``kind``; :class:`InvalidInput` naming the scale otherwise."""
    if kind not in SCALES:
        raise InvalidInput(f"unknown survey kind {kind!r}; use nps or csat")
    low, high = SCALES[kind]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise InvalidInput(f"score {score!r} is not on the {kind.upper()} scale {low}–{high}")
    return score


def category(kind: str, score: int) -> str:
    """``promoter`` / ``passive`` / ``detractor`` for NPS; ``satisfied`` / ``neutral`` / ``dissatisfied`` for CSAT
    (4–5 / 3 / 1–2)."""
    if kind == "nps":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return "satisfied" if score >= 4 else "neutral" if score == 3 else "dissatisfied"


def needs_follow_up(kind: str, score: int) -> bool:
    """True for an NPS detractor (0–6) or a dissatisfied CSAT answer (1–2): these open a call-back task."""
    return category(kind, score) in ("detractor", "dissatisfied")


@dataclass(frozen=True)
class Score:
    """A survey's headline over some answers: the count, the shares of each category and the score's interval
    (NPS in points −100…100, CSAT as a share 0…1)."""

    kind: str
    n: int
    shares: dict[str, float]
    value: Interval


def nps(scores: list[int], confidence: float = 0.95) -> Score:
    """The NPS of ``scores`` (0–10) with its interval (see the module's description); no answers → ``None``s."""
    n = len(scores)
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    if n == 0:
        return Score("nps", 0, {"promoter": 0.0, "passive": 0.0, "detractor": 0.0}, Interval(None, None, None))
    p, d = promoters / n, detractors / n
    value = 100 * (p - d)
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    half = 100 * z * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return Score("nps", n, {"promoter": p, "passive": 1 - p - d, "detractor": d},
                 Interval(value, max(-100.0, value - half), min(100.0, value + half)))


def csat(scores: list[int], confidence: float = 0.95) -> Score:
    """The CSAT share (answers 4–5 of 1–5) with its Wilson interval; no answers → ``None``s."""
    n = len(scores)
    satisfied = sum(1 for s in scores if s >= 4)
    dissatisfied = sum(1 for s in scores if s <= 2)
    shares = {"satisfied": satisfied / n if n else 0.0, "neutral": (n - satisfied - dissatisfied) / n if n else 0.0,
              "dissatisfied": dissatisfied / n if n else 0.0}
    return Score("csat", n, shares, wilson(satisfied, n, confidence))


def score(kind: str, scores: list[int], confidence: float = 0.95) -> Score:
    """:func:`nps` or :func:`csat` by ``kind``."""
    if kind == "nps":
        return nps(scores, confidence)
    if kind == "csat":
        return csat(scores, confidence)
    raise InvalidInput(f"unknown survey kind {kind!r}; use nps or csat")
