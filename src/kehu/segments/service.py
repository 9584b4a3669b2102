"""Segments in the store: create, change and archive them, compute their members per classification snapshot,
read their sizes over time and the migration between two dates, preview a rule.

Membership is written by the store itself (``INSERT INTO segment_members … SELECT`` from the feature query with
the compiled rule as its filter), one statement per segment and snapshot, replacing what was there; the size is
written beside it in the same transaction, so a reader sees the old or the new membership, never half of it.
Functions take the caller's session and do not commit, except :func:`refresh_segments`, which opens its own.
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Integer, and_, delete, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session, aliased

from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.privacy import audit
from kehu.segments.rules import CompiledRule, Places, RuleContext, RuleError, compile_rule, member_query
from kehu.segments.tags import ensure_default_tags
from kehu.segments.traits import compute_traits, ensure_traits
from kehu.store import (
    Classification,
    ClassificationSnapshot,
    Customer,
    Segment,
    SegmentMember,
    SegmentRefresh,
    SegmentSize,
    SegmentTrait,
    open_store,
    session_scope,
)
from kehu.store.locks import session_lock
from kehu.users import Actor

#: Longest segment name (characters).
NAME_MAX = 64
#: Longest description (characters).
DESCRIPTION_MAX = 500
#: Members shown as a sample (builder, detail page, CLI).
SAMPLE_SIZE = 20
#: How long the store's distinct cities and provinces (for ``city_tier``) are reused while no customer is added.
PLACES_CACHE_SECONDS = 300.0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- snapshots ---------------------------------------------------------------------------------------------------


def ready_snapshots(session: Session) -> list[ClassificationSnapshot]:
    """Every ready snapshot, oldest first."""
    return list(session.scalars(select(ClassificationSnapshot).where(ClassificationSnapshot.status == "ready")
                                .order_by(ClassificationSnapshot.as_of, ClassificationSnapshot.id)))


def snapshot_for(session: Session, as_of: date | None = None) -> ClassificationSnapshot:
    """The newest ready snapshot, or the one dated ``as_of``; :class:`NotFound` saying what to do otherwise."""
    stmt = select(ClassificationSnapshot).where(ClassificationSnapshot.status == "ready")
    if as_of is not None:
        stmt = stmt.where(ClassificationSnapshot.as_of == as_of)
    found = session.scalar(stmt.order_by(ClassificationSnapshot.as_of.desc(), ClassificationSnapshot.id.desc())
                           .limit(1))
    if found is None:
        if as_of is None:
            raise NotFound("no classification snapshot yet; run `kehu classify` first")
        raise NotFound(f"no ready classification snapshot dated {as_of.isoformat()}; run `kehu classify --as-of "
                       f"{as_of.isoformat()}` or pick another date")
    return found


# --- compiling with the store's context --------------------------------------------------------------------------

_places_cache: dict[str, tuple[float, Any, Places]] = {}


def store_places(session: Session) -> Places:
    """The distinct cities and provinces of the customers (for ``city_tier``), reused for
    :data:`PLACES_CACHE_SECONDS` per store while the largest customer id stays the same."""
    bind = session.get_bind()
    url = (bind.engine if isinstance(bind, Connection) else bind).url.render_as_string(hide_password=True)
    newest = session.scalar(select(func.max(Customer.id)))
    cached = _places_cache.get(url)
    now = clock.monotonic()
    if cached is not None and cached[1] == newest and now - cached[0] < PLACES_CACHE_SECONDS:
        return cached[2]
    cities = [str(c) for c in session.scalars(select(Customer.city).where(Customer.city.is_not(None)).distinct())]
    provinces = [str(p) for p in session.scalars(select(Customer.province).where(Customer.province.is_not(None))
                                                 .distinct())]
    places = Places(cities=tuple(sorted(cities)), provinces=tuple(sorted(provinces)))
    _places_cache[url] = (now, newest, places)
    return places


def rule_context(session: Session, snapshot: ClassificationSnapshot | None) -> RuleContext:
    """The context to compile a rule for ``snapshot``: its date (``age``) and the store's places (``city_tier``)."""
    return RuleContext(as_of=snapshot.as_of if snapshot is not None else date.today(),
                       places=lambda: store_places(session))


def compile_for(session: Session, rule: str, snapshot: ClassificationSnapshot | None) -> CompiledRule:
    """:func:`kehu.segments.rules.compile_rule` with the store's context for ``snapshot``."""
    return compile_rule(rule, rule_context(session, snapshot))


# --- segments ----------------------------------------------------------------------------------------------------


def list_segments(session: Session, *, include_archived: bool = False) -> list[Segment]:
    """The segments, user segments first, then tags, each by name (archived ones only when asked)."""
    stmt = select(Segment).order_by(Segment.is_tag, Segment.name)
    if not include_archived:
        stmt = stmt.where(Segment.archived_at.is_(None))
    return list(session.scalars(stmt))


def get_segment(session: Session, ref: str | int) -> Segment:
    """The segment with this id, name or default-tag code; :class:`NotFound` naming the segments there are."""
    found = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        found = session.get(Segment, int(ref))
    if found is None and isinstance(ref, str):
        text = ref.strip()
        found = session.scalar(select(Segment).where(or_(Segment.name == text, Segment.builtin == text.lower())))
    if found is None:
        names = [s.name for s in list_segments(session)]
        known = f"; segments: {', '.join(names[:20])}" if names else "; there are no segments yet"
        raise NotFound(f"no segment {ref!r}{known}")
    return found


def check_name(name: str) -> str:
    """The name without surrounding spaces; :class:`InvalidInput` when it is empty, too long or only digits."""
    text = " ".join((name or "").split())
    if not text:
        raise InvalidInput("the segment needs a name")
    if len(text) > NAME_MAX:
        raise InvalidInput(f"the segment name is longer than {NAME_MAX} characters")
    if text.isdigit():
        raise InvalidInput(f"the segment name {text!r} is only digits; add a word (numbers stand for segment ids)")
    return text


def _check_unique(session: Session, name: str, segment_id: int | None = None) -> None:
    other = session.scalar(select(Segment).where(Segment.name == name))
    if other is not None and other.id != segment_id:
        state = " (archived)" if other.archived_at else ""
        raise InvalidInput(f"a segment named {name!r} exists already{state}; choose another name")


def _description(text: str | None) -> str | None:
    value = (text or "").strip()
    if len(value) > DESCRIPTION_MAX:
        raise InvalidInput(f"the description is longer than {DESCRIPTION_MAX} characters")
    return value or None


def add_segment(session: Session, *, name: str, rule: str, description: str | None = None, is_tag: bool = False,
                actor: Actor | None = None) -> Segment:
    """Create a segment (checking its name and rule) and compute its members in every ready snapshot, so its
    size over time shows at once. Audited (``create``)."""
    name = check_name(name)
    rule = (rule or "").strip()
    compile_rule(rule)  # a RuleError points at the offending text before anything is written
    _check_unique(session, name)
    actor = actor or Actor()
    segment = Segment(name=name, rule=rule, description=_description(description), is_tag=is_tag,
                      created_by=actor.username, created_at=_now())
    session.add(segment)
    session.flush()
    compute_history(session, segment)
    audit.record(session, action="create", user_id=actor.user_id, username=actor.username, target_type="segment",
                 target_id=segment.id, detail={"is_tag": is_tag}, ip=actor.ip, via=actor.via)
    return segment


def update_segment(session: Session, segment: Segment, *, name: str, rule: str, description: str | None,
                   is_tag: bool, actor: Actor | None = None) -> Segment:
    """Change a segment; a changed rule recomputes its members in every ready snapshot (sizes over time follow
    the rule as it is now). Audited (``update``, the names of the changed fields)."""
    if segment.archived_at is not None:
        raise InvalidInput(f"segment {segment.name!r} is archived; create a new one instead")
    name = check_name(name)
    rule = (rule or "").strip()
    compile_rule(rule)
    _check_unique(session, name, segment.id)
    description = _description(description)
    changed = [f for f, new in (("name", name), ("rule", rule), ("description", description), ("is_tag", is_tag))
               if getattr(segment, f) != new]
    if not changed:
        return segment
    rule_changed = segment.rule != rule
    segment.name, segment.rule, segment.description, segment.is_tag = name, rule, description, is_tag
    segment.updated_at = _now()
    session.flush()
    if rule_changed:
        compute_history(session, segment)
    actor = actor or Actor()
    audit.record(session, action="update", user_id=actor.user_id, username=actor.username, target_type="segment",
                 target_id=segment.id, detail={"fields": changed}, ip=actor.ip, via=actor.via)
    return segment


def archive_segment(session: Session, segment: Segment, *, actor: Actor | None = None) -> None:
    """Archive a segment: no longer listed or refreshed; its members and sizes stay (campaigns may name it).
    Audited (``update``, ``archived``)."""
    if segment.archived_at is not None:
        return
    segment.archived_at = _now()
    actor = actor or Actor()
    audit.record(session, action="update", user_id=actor.user_id, username=actor.username, target_type="segment",
                 target_id=segment.id, detail={"fields": ["archived"]}, ip=actor.ip, via=actor.via)
    session.flush()


# --- membership --------------------------------------------------------------------------------------------------


def compute_membership(session: Session, segment: Segment, snapshot: ClassificationSnapshot,
                       compiled: CompiledRule | None = None) -> int:
    """Replace the members of ``segment`` in ``snapshot`` by the customers its rule selects, and its size; returns
    the size. The traits the rule may read are computed first when the snapshot has none."""
    compiled = compiled or compile_for(session, segment.rule, snapshot)
    if compiled.needs_traits:
        ensure_traits(session, snapshot, commit=False)
    sid, gid = snapshot.id, segment.id
    session.execute(delete(SegmentMember).where(SegmentMember.snapshot_id == sid, SegmentMember.segment_id == gid))
    rows = member_query(compiled, sid, literal(sid, Integer), literal(gid, Integer), Classification.customer_id)
    session.execute(insert(SegmentMember).from_select(["snapshot_id", "segment_id", "customer_id"], rows))
    size = session.scalar(select(func.count()).select_from(SegmentMember)
                          .where(SegmentMember.snapshot_id == sid, SegmentMember.segment_id == gid)) or 0
    row = session.get(SegmentSize, (gid, sid))
    if row is None:
        session.add(SegmentSize(segment_id=gid, snapshot_id=sid, customers=size, computed_at=_now()))
    else:
        row.customers, row.computed_at = size, _now()
    session.flush()
    return int(size)


def compute_history(session: Session, segment: Segment) -> dict[int, int]:
    """:func:`compute_membership` for every ready snapshot; snapshot id → size."""
    return {s.id: compute_membership(session, segment, s) for s in ready_snapshots(session)}


def has_membership(session: Session, segment_id: int, snapshot_id: int) -> bool:
    """True when the segment's members in the snapshot were computed."""
    return session.get(SegmentSize, (segment_id, snapshot_id)) is not None


def ensure_membership(session: Session, segment: Segment, snapshot: ClassificationSnapshot) -> int:
    """The segment's size in the snapshot, computing its members first when they never were (a snapshot made
    before the segment, not refreshed since)."""
    row = session.get(SegmentSize, (segment.id, snapshot.id))
    if row is not None:
        return int(row.customers)
    return compute_membership(session, segment, snapshot)


def segment_member_ids(session: Session, *, segment_id: int, snapshot_id: int) -> list[int]:
    """The customer ids of a segment in a snapshot, ascending: the stored members when they were computed, else
    the rule evaluated now (nothing is written). :class:`NotFound` for an unknown segment or snapshot."""
    segment = get_segment(session, segment_id)
    snapshot = session.get(ClassificationSnapshot, snapshot_id)
    if snapshot is None or snapshot.status != "ready":
        raise NotFound(f"no ready classification snapshot with id {snapshot_id}")
    if has_membership(session, segment.id, snapshot.id):
        stmt = (select(SegmentMember.customer_id)
                .where(SegmentMember.snapshot_id == snapshot.id, SegmentMember.segment_id == segment.id))
    else:
        compiled = compile_for(session, segment.rule, snapshot)
        if compiled.needs_traits:
            ensure_traits(session, snapshot, commit=False)
        stmt = member_query(compiled, snapshot.id)
    return sorted(int(i) for i in session.scalars(stmt))


def customer_segments(session: Session, *, customer_id: int, snapshot_id: int) -> list[Segment]:
    """The segments and tags (not archived) a customer is a member of in a snapshot, tags first, by name: for a
    customer's profile. One primary-key probe per segment."""
    stmt = (select(Segment)
            .join(SegmentMember, and_(SegmentMember.segment_id == Segment.id, SegmentMember.snapshot_id == snapshot_id,
                                      SegmentMember.customer_id == customer_id))
            .where(Segment.archived_at.is_(None))
            .order_by(Segment.is_tag.desc(), Segment.name))
    return list(session.scalars(stmt))


def _drop_orphans(session: Session) -> None:
    """Remove membership, sizes and traits of snapshots that no longer exist (deleted by a connection that does
    not cascade: the SQLite snapshot writer replaces a date's snapshot with foreign keys off)."""
    known = select(ClassificationSnapshot.id)
    gone = set(session.scalars(select(SegmentSize.snapshot_id).where(SegmentSize.snapshot_id.not_in(known))
                               .distinct()))
    gone |= set(session.scalars(select(SegmentRefresh.snapshot_id).where(SegmentRefresh.snapshot_id.not_in(known))))
    for sid in gone:
        session.execute(delete(SegmentMember).where(SegmentMember.snapshot_id == sid))
        session.execute(delete(SegmentTrait).where(SegmentTrait.snapshot_id == sid))
        session.execute(delete(SegmentSize).where(SegmentSize.snapshot_id == sid))
        session.execute(delete(SegmentRefresh).where(SegmentRefresh.snapshot_id == sid))


@dataclass
class RefreshReport:
    """What a refresh of one snapshot did: the default tags it created, the traits rows, each segment's size,
    and the segments whose rule could not be used (name → message)."""

    snapshot_id: int
    as_of: date
    created_tags: list[str] = field(default_factory=list)
    traits: int = 0
    sizes: list[tuple[Segment, int]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def refresh_snapshot(session: Session, snapshot: ClassificationSnapshot) -> RefreshReport:
    """Create the default tags on the first refresh, recompute the snapshot's traits and the members of every
    segment that is not archived (in the caller's transaction)."""
    t0 = clock.perf_counter()
    session_lock(session, "segments")  # concurrent classifications take turns (both would create the tags)
    report = RefreshReport(snapshot_id=snapshot.id, as_of=snapshot.as_of)
    report.created_tags = [s.name for s in ensure_default_tags(session)]
    _drop_orphans(session)
    report.traits = compute_traits(session, snapshot)
    context = rule_context(session, snapshot)
    for segment in list_segments(session):
        try:
            compiled = compile_rule(segment.rule, context)
        except RuleError as exc:
            report.errors[segment.name] = str(exc)
            continue
        report.sizes.append((segment, compute_membership(session, segment, snapshot, compiled)))
    mark = session.get(SegmentRefresh, snapshot.id)
    if mark is not None:
        mark.refreshed_at = _now()
    session.flush()
    report.seconds = clock.perf_counter() - t0
    return report


def refresh_segments(settings: Settings, snapshot_id: int | None = None, *,
                     all_snapshots: bool = False) -> list[RefreshReport]:
    """Recompute the members of every segment in a snapshot (default: the newest ready one; every ready one with
    ``all_snapshots``), in one transaction per call. Meant to run after ``kehu classify``.

    Raises :class:`NotFound` when there is no such snapshot.
    """
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        if all_snapshots:
            snapshots = ready_snapshots(session)
            if not snapshots:
                raise NotFound("no classification snapshot yet; run `kehu classify` first")
        elif snapshot_id is not None:
            found = session.get(ClassificationSnapshot, snapshot_id)
            if found is None or found.status != "ready":
                raise NotFound(f"no ready classification snapshot with id {snapshot_id}")
            snapshots = [found]
        else:
            snapshots = [snapshot_for(session)]
        return [refresh_snapshot(session, s) for s in snapshots]


# --- reading -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizePoint:
    """A segment's size in one snapshot."""

    snapshot_id: int
    as_of: date
    customers: int


def sizes(session: Session, segment_ids: Sequence[int] | None = None) -> dict[int, list[SizePoint]]:
    """Segment id → its sizes in the ready snapshots where they were computed, oldest first."""
    stmt = (select(SegmentSize.segment_id, SegmentSize.snapshot_id, ClassificationSnapshot.as_of,
                   SegmentSize.customers)
            .join(ClassificationSnapshot, ClassificationSnapshot.id == SegmentSize.snapshot_id)
            .where(ClassificationSnapshot.status == "ready")
            .order_by(SegmentSize.segment_id, ClassificationSnapshot.as_of))
    if segment_ids is not None:
        stmt = stmt.where(SegmentSize.segment_id.in_(list(segment_ids)))
    out: dict[int, list[SizePoint]] = {}
    for gid, sid, as_of, n in session.execute(stmt):
        out.setdefault(int(gid), []).append(SizePoint(int(sid), as_of, int(n)))
    return out


@dataclass(frozen=True)
class Preview:
    """A rule's matches in a snapshot: how many of how many customers, and a sample (customer, snapshot row)."""

    snapshot_id: int
    as_of: date
    count: int
    total: int
    sample: list[tuple[Customer, Classification]]
    columns: frozenset[str]

    @property
    def share(self) -> float | None:
        """The matching share of the snapshot's customers (``None`` for an empty snapshot)."""
        return self.count / self.total if self.total else None


def preview(session: Session, rule: str, snapshot: ClassificationSnapshot, *, sample: int = SAMPLE_SIZE) -> Preview:
    """Count the snapshot's customers matching ``rule`` and take a sample, largest spend first (ties by id).

    Raises :class:`~kehu.segments.rules.RuleError` for a rule that cannot be used.
    """
    compiled = compile_for(session, rule.strip(), snapshot)
    if compiled.needs_traits:
        ensure_traits(session, snapshot)
    count = session.scalar(select(func.count()).select_from(member_query(compiled, snapshot.id).subquery())) or 0
    total = snapshot.customers or session.scalar(
        select(func.count()).select_from(Classification).where(Classification.snapshot_id == snapshot.id)) or 0
    rows = session.execute(member_query(compiled, snapshot.id, Customer, Classification, customers=True)
                           .order_by(Classification.monetary_cents.desc(), Classification.customer_id)
                           .limit(sample)).all()
    return Preview(snapshot_id=snapshot.id, as_of=snapshot.as_of, count=int(count), total=int(total),
                   sample=[(r[0], r[1]) for r in rows], columns=compiled.columns)


def member_rows(session: Session, segment: Segment, snapshot: ClassificationSnapshot, *,
                limit: int | None = SAMPLE_SIZE) -> list[tuple[Customer, Classification]]:
    """The stored members of ``segment`` in ``snapshot`` with their customer and snapshot rows, largest spend
    first (ties by id); at most ``limit`` (``None``: all)."""
    stmt = (select(Customer, Classification)
            .join(SegmentMember, SegmentMember.customer_id == Customer.id)
            .join(Classification, and_(Classification.customer_id == SegmentMember.customer_id,
                                       Classification.snapshot_id == SegmentMember.snapshot_id))
            .where(SegmentMember.snapshot_id == snapshot.id, SegmentMember.segment_id == segment.id)
            .order_by(Classification.monetary_cents.desc(), Classification.customer_id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(r[0], r[1]) for r in session.execute(stmt).all()]


@dataclass(frozen=True)
class Migration:
    """Who stayed in, entered and left a segment between two snapshots; samples of those who entered and left,
    each with their snapshot row at the later date (``None`` when they are not in it), and where the leavers'
    lifecycle stages were at the later date."""

    before: ClassificationSnapshot
    after: ClassificationSnapshot
    before_size: int
    after_size: int
    stayed: int
    entered_sample: list[tuple[Customer, Classification | None]]
    left_sample: list[tuple[Customer, Classification | None]]
    left_stages: list[tuple[str | None, int]]

    @property
    def entered(self) -> int:
        """Members at the later date who were not members at the earlier one."""
        return self.after_size - self.stayed

    @property
    def left(self) -> int:
        """Members at the earlier date who are not members at the later one."""
        return self.before_size - self.stayed


def migration(session: Session, segment: Segment, before: ClassificationSnapshot, after: ClassificationSnapshot,
              *, sample: int = SAMPLE_SIZE) -> Migration:
    """Compare the segment's members in two snapshots (computing them where they never were)."""
    if before.id == after.id:
        raise InvalidInput("pick two different snapshot dates to compare")
    before_size = ensure_membership(session, segment, before)
    after_size = ensure_membership(session, segment, after)
    old, new = aliased(SegmentMember), aliased(SegmentMember)
    in_old = exists().where(old.segment_id == segment.id, old.snapshot_id == before.id,
                            old.customer_id == new.customer_id)
    in_new = exists().where(new.segment_id == segment.id, new.snapshot_id == after.id,
                            new.customer_id == old.customer_id)
    stayed = session.scalar(select(func.count()).select_from(new)
                            .where(new.segment_id == segment.id, new.snapshot_id == after.id, in_old)) or 0
    later = aliased(Classification)

    def people(member: Any, snapshot_id: int, condition: Any) -> list[tuple[Customer, Classification | None]]:
        stmt = (select(Customer, later)
                .join(member, member.customer_id == Customer.id)
                .outerjoin(later, and_(later.customer_id == Customer.id, later.snapshot_id == after.id))
                .where(member.segment_id == segment.id, member.snapshot_id == snapshot_id, condition)
                .order_by(Customer.id).limit(sample))
        return [(r[0], r[1]) for r in session.execute(stmt).all()]

    entered_sample = people(new, after.id, ~in_old)
    left_sample = people(old, before.id, ~in_new)
    stages = (select(later.lifecycle_stage, func.count())
              .select_from(old)
              .outerjoin(later, and_(later.customer_id == old.customer_id, later.snapshot_id == after.id))
              .where(old.segment_id == segment.id, old.snapshot_id == before.id, ~in_new)
              .group_by(later.lifecycle_stage)
              .order_by(func.count().desc(), later.lifecycle_stage))
    left_stages: list[tuple[str | None, int]] = [(row[0], int(row[1])) for row in session.execute(stages)]
    return Migration(before=before, after=after, before_size=before_size, after_size=after_size,
                     stayed=int(stayed), entered_sample=entered_sample, left_sample=left_sample,
                     left_stages=left_stages)


__all__ = [
    "DESCRIPTION_MAX", "NAME_MAX", "SAMPLE_SIZE", "Migration", "Preview", "RefreshReport", "SizePoint",
    "add_segment", "archive_segment", "check_name", "compile_for", "compute_history", "compute_membership",
    "customer_segments",
    "ensure_membership", "get_segment", "has_membership", "list_segments", "member_rows", "migration", "preview",
    "ready_snapshots", "refresh_segments", "refresh_snapshot", "rule_context", "segment_member_ids", "sizes",
    "snapshot_for", "store_places", "update_segment",
]
