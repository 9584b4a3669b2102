"""The keyword rules in the store (``feedback_rules``): seeded with :data:`~kehu.feedback.categories.DEFAULT_RULES`
the first time they are read, edited by admins and analysts, and applied again to stored feedback on request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kehu.errors import InvalidInput, NotFound
from kehu.feedback.categories import (
    KEYWORD_MAX,
    RULE_CATEGORIES,
    WEIGHT_MAX,
    WEIGHT_MIN,
    Rule,
    categorise,
    default_rules,
    normalise_keyword,
)
from kehu.store import Feedback, FeedbackRule, StoreMeta

#: ``store_meta`` key set once the defaults were written, so deleting every rule does not bring them back.
SEEDED_KEY = "feedback_rules_seeded"


def ensure_default_rules(session: Session) -> int:
    """Write the default rules when they were never written (returns how many); afterwards the rules are the
    users' to edit, so an emptied table stays empty."""
    if session.get(StoreMeta, SEEDED_KEY) is not None:
        return 0
    existing = session.scalar(select(func.count()).select_from(FeedbackRule)) or 0
    added = 0
    if not existing:
        for rule in default_rules():
            session.add(FeedbackRule(category=rule.category, keyword=rule.keyword, weight=rule.weight))
            added += 1
    session.add(StoreMeta(key=SEEDED_KEY, value=1))
    session.flush()
    return added


def load_rules(session: Session) -> list[Rule]:
    """The rules in force (seeding the defaults first when needed), ordered by category and keyword."""
    ensure_default_rules(session)
    rows = session.scalars(select(FeedbackRule).order_by(FeedbackRule.category, FeedbackRule.keyword)).all()
    return [Rule(r.category, r.keyword, r.weight) for r in rows]


def rule_rows(session: Session) -> list[FeedbackRule]:
    """The rule rows (for the rules page), seeded first when needed."""
    ensure_default_rules(session)
    return list(session.scalars(select(FeedbackRule).order_by(FeedbackRule.category, FeedbackRule.keyword)).all())


def check_rule(category: str, keyword: str, weight: int) -> tuple[str, str, int]:
    """The rule's values, checked: a known category (not ``other``), a keyword of 1 … 64 characters without
    digits or ``@`` (keywords are shown and stored in plain text), a weight of 1 … 5."""
    if category not in RULE_CATEGORIES:
        raise InvalidInput(f"category {category!r} is not one of {', '.join(RULE_CATEGORIES)} "
                           "('other' is what no rule matches)")
    clean = normalise_keyword(keyword or "")
    if not clean:
        raise InvalidInput("the keyword is empty; type a word such as 物流 or delivery")
    if len(clean) > KEYWORD_MAX:
        raise InvalidInput(f"the keyword is longer than {KEYWORD_MAX} characters; use a shorter word")
    if any(c.isdigit() for c in clean) or "@" in clean:
        raise InvalidInput(f"keyword {clean!r} holds digits or '@'; keywords are words, not numbers or addresses")
    if not WEIGHT_MIN <= weight <= WEIGHT_MAX:
        raise InvalidInput(f"weight {weight} is not between {WEIGHT_MIN} and {WEIGHT_MAX}")
    return category, clean, weight


def add_rule(session: Session, *, category: str, keyword: str, weight: int = 1, user_id: int | None = None,
             now: datetime | None = None) -> FeedbackRule:
    """Add a rule; the same keyword in the same category again updates its weight instead."""
    ensure_default_rules(session)
    category, clean, weight = check_rule(category, keyword, weight)
    row = session.scalar(select(FeedbackRule).where(FeedbackRule.category == category,
                                                    FeedbackRule.keyword == clean))
    if row is None:
        row = FeedbackRule(category=category, keyword=clean, weight=weight, updated_by=user_id)
        session.add(row)
    else:
        row.weight = weight
        row.updated_by = user_id
    if now is not None:
        row.updated_at = now
    session.flush()
    return row


def delete_rule(session: Session, rule_id: int) -> FeedbackRule:
    """Delete the rule with id ``rule_id`` and return it; :class:`~kehu.errors.NotFound` when there is none."""
    row = session.get(FeedbackRule, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist (deleted already?)")
    session.delete(row)
    session.flush()
    return row


def reset_rules(session: Session) -> int:
    """Replace every rule by the defaults; returns how many rules there are now."""
    session.execute(delete(FeedbackRule))
    for rule in default_rules():
        session.add(FeedbackRule(category=rule.category, keyword=rule.keyword, weight=rule.weight))
    if session.get(StoreMeta, SEEDED_KEY) is None:
        session.add(StoreMeta(key=SEEDED_KEY, value=1))
    session.flush()
    return len(default_rules())


def recategorise(session: Session, decrypt: Callable[[str | None], str | None], *,
                 batch: int = 1000) -> tuple[int, int]:
    """Apply the current rules to every stored feedback text again; returns (items read, categories changed).

    ``decrypt`` turns ``text_enc`` into the text (see :func:`kehu.feedback.service.text_decrypter`); an item
    without text (erased, or a rating alone) keeps ``other``.
    """
    rules = load_rules(session)
    seen = changed = 0
    last = 0
    while True:
        rows = session.scalars(select(Feedback).where(Feedback.id > last).order_by(Feedback.id).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            seen += 1
            category = categorise(decrypt(row.text_enc) or "", rules)
            if category != row.category:
                row.category = category
                changed += 1
        last = rows[-1].id
        session.flush()
    return seen, changed


__all__ = ["add_rule", "check_rule", "delete_rule", "ensure_default_rules", "load_rules", "recategorise",
           "reset_rules", "rule_rows"]
