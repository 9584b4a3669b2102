"""Who a campaign or a survey is aimed at: the customers of some classes, groups or stages, of a churn-risk band or of
a user segment, in one ready classification snapshot.

A target is a :class:`Target` (kind and values). :func:`target_members` lists its customers with their marketing
consent; campaigns keep those whose ``customers.marketing_consent`` is true and whose personal data was not erased.
User segments come from :mod:`kehu.segments` (another part) when it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS
from kehu.errors import InvalidInput, NotFound
from kehu.store import Classification, ClassificationSnapshot, Customer

#: Target kinds and the codes each accepts (``churn_risk`` takes one number, ``segment`` one segment id).
CODE_KINDS: dict[str, dict[str, tuple[str, str]]] = {
    "lifecycle_stage": LIFECYCLE_STAGES,
    "rfm_group": RFM_GROUPS,
    "rfm_class": RFM_CLASSES,
}
KINDS: tuple[str, ...] = ("lifecycle_stage", "rfm_group", "rfm_class", "churn_risk", "segment")


@dataclass(frozen=True)
class Target:
    """A target definition: ``kind`` (one of :data:`KINDS`) and its ``values`` (codes, a threshold or a segment
    id, as text)."""

    kind: str
    values: tuple[str, ...]

    def check(self) -> Target:
        """This target with its values cleaned (blank ones dropped, duplicates removed); :class:`InvalidInput`
        naming what is accepted otherwise."""
        if self.kind not in KINDS:
            raise InvalidInput(f"unknown target kind {self.kind!r}; use one of {', '.join(KINDS)}")
        values = tuple(dict.fromkeys(v.strip() for v in self.values if v and v.strip()))
        if not values:
            raise InvalidInput(f"the target {self.kind} needs at least one value")
        if self.kind in CODE_KINDS:
            unknown = [v for v in values if v not in CODE_KINDS[self.kind]]
            if unknown:
                raise InvalidInput(f"unknown {self.kind.replace('_', ' ')} {unknown[0]!r}; use one of "
                                   f"{', '.join(CODE_KINDS[self.kind])}")
        elif self.kind == "churn_risk":
            if len(values) != 1:
                raise InvalidInput("a churn-risk target takes one threshold, e.g. 0.7")
            try:
                threshold = float(values[0])
            except ValueError:
                raise InvalidInput(f"churn-risk threshold {values[0]!r} is not a number; use e.g. 0.7") from None
            if not 0 < threshold < 1:
                raise InvalidInput(f"churn-risk threshold {threshold} must be between 0 and 1 (e.g. 0.7)")
            values = (repr(threshold),)
        else:
            if len(values) != 1 or not values[0].isdigit():
                raise InvalidInput(f"a segment target takes one segment id (a number), not {', '.join(values)!r}")
        return Target(self.kind, values)


def find_snapshot(session: Session, as_of: date | None = None) -> ClassificationSnapshot:
    """The ready snapshot dated ``as_of`` (newest of that date), or the newest ready one.

    Raises :class:`NotFound` saying what to do when there is none.
    """
    stmt = select(ClassificationSnapshot).where(ClassificationSnapshot.status == "ready")
    if as_of is not None:
        stmt = stmt.where(ClassificationSnapshot.as_of == as_of)
    snapshot = session.scalar(stmt.order_by(ClassificationSnapshot.as_of.desc(),
                                            ClassificationSnapshot.id.desc()).limit(1))
    if snapshot is None:
        if as_of is None:
            raise NotFound("no classification snapshot yet; run `kehu classify` first")
        raise NotFound(f"no ready classification snapshot dated {as_of.isoformat()}; run `kehu classify --as-of "
                       f"{as_of.isoformat()}` or pick another date")
    return snapshot


def _segments_module() -> Any:  # noqa: ANN401
    """:mod:`kehu.segments` when it is installed with a membership query, else ``None``."""
    try:
        import kehu.segments as segments
    except ImportError:
        return None
    return segments if hasattr(segments, "segment_member_ids") else None


def segments_available() -> bool:
    """True when the user-segments part (:mod:`kehu.segments`) is installed with a membership query."""
    return _segments_module() is not None


def segment_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of the user segments, or ``[]`` without :mod:`kehu.segments`."""
    segments = _segments_module()
    lister = getattr(segments, "list_segments", None)
    if lister is None:
        return []
    return [(int(s.id), str(s.name)) for s in lister(session)]


def segment_member_ids(session: Session, segment_id: int, snapshot_id: int) -> set[int]:
    """Customer ids of user segment ``segment_id`` in snapshot ``snapshot_id`` (:mod:`kehu.segments`)."""
    segments = _segments_module()
    if segments is None:
        raise InvalidInput("user segments are not available in this installation; target a class, group, stage or "
                           "churn-risk band instead")
    ids = segments.segment_member_ids(session, segment_id=segment_id, snapshot_id=snapshot_id)
    return {int(i) for i in ids}


def target_members(session: Session, snapshot: ClassificationSnapshot, target: Target) -> list[tuple[int, bool]]:
    """(customer id, may be marketed to) of every customer of ``target`` in ``snapshot``, by customer id.

    *May be marketed to* means ``marketing_consent`` is true and the personal data was not erased; a NULL consent
    (never asked) counts as no consent.
    """
    target = target.check()
    k, c = Classification, Customer
    stmt = (select(k.customer_id, c.marketing_consent, c.erased_at)
            .join(c, c.id == k.customer_id)
            .where(k.snapshot_id == snapshot.id)
            .order_by(k.customer_id))
    if target.kind == "segment":
        wanted = segment_member_ids(session, int(target.values[0]), snapshot.id)
        rows = [r for r in session.execute(stmt) if r[0] in wanted]
    else:
        if target.kind == "churn_risk":
            stmt = stmt.where(k.churn_risk >= float(target.values[0]))
        else:
            column = getattr(k, target.kind)
            stmt = stmt.where(column.in_(target.values))
        rows = list(session.execute(stmt))
    return [(int(cid), bool(consent) and erased is None) for cid, consent, erased in rows]


def target_counts(session: Session, snapshot: ClassificationSnapshot, target: Target) -> tuple[int, int]:
    """(customers in the target, of whom may be marketed to), counted in the database (a user segment is listed
    first). For the template card and previews: no list of ids crosses into Python for class or stage targets."""
    target = target.check()
    if target.kind == "segment":
        members = target_members(session, snapshot, target)
        return len(members), sum(1 for _, ok in members if ok)
    k, c = Classification, Customer
    allowed = case((and_(c.marketing_consent.is_(True), c.erased_at.is_(None)), 1), else_=0)
    stmt = (select(func.count(), func.coalesce(func.sum(allowed), 0)).select_from(k)
            .join(c, c.id == k.customer_id).where(k.snapshot_id == snapshot.id))
    if target.kind == "churn_risk":
        stmt = stmt.where(k.churn_risk >= float(target.values[0]))
    else:
        stmt = stmt.where(getattr(k, target.kind).in_(target.values))
    row: Any = session.execute(stmt).one()
    return int(row[0] or 0), int(row[1] or 0)


def describe(target: Target, lang: str, segment_names: dict[int, str] | None = None) -> str:
    """The target in words, e.g. ``流失客户、流失预警`` or ``churn risk ≥ 0.7``."""
    from kehu.analytics.labels import label

    if target.kind in CODE_KINDS:
        sep = "、" if lang == "zh" else ", "
        return sep.join(label(target.kind, v, lang) for v in target.values)
    if target.kind == "churn_risk":
        return ("流失风险 ≥ " if lang == "zh" else "churn risk ≥ ") + target.values[0]
    seg = int(target.values[0])
    name = (segment_names or {}).get(seg)
    return name or (f"分群 #{seg}" if lang == "zh" else f"segment #{seg}")
