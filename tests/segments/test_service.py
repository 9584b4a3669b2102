"""Segments in the store, on SQLite and PostgreSQL: the default tags and their members (checked against the
definitions computed in Python), sizes over time, migration between two snapshots, the ids other parts read,
changes and archiving with their audit records, masked and formula-safe exports, and the refresh after a real
``kehu classify``."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from kehu.errors import InvalidInput, NotFound
from kehu.privacy import FieldCipher
from kehu.segments import (
    RuleError,
    add_segment,
    archive_segment,
    customer_segments,
    get_segment,
    list_segments,
    migration,
    refresh_segments,
    segment_member_ids,
    sizes,
    update_segment,
)
from kehu.segments.export import export_segment
from kehu.segments.service import compute_membership, preview, snapshot_for
from kehu.store import (
    AuditEvent,
    Classification,
    ClassificationSnapshot,
    Customer,
    Order,
    OrderLine,
    Segment,
    SegmentMember,
    SegmentSize,
    SegmentTrait,
    session_scope,
)
from kehu.users import Actor


def _members(session: Any, segment_id: int, snapshot_id: int) -> set[int]:  # noqa: ANN401
    return set(session.scalars(select(SegmentMember.customer_id).where(
        SegmentMember.segment_id == segment_id, SegmentMember.snapshot_id == snapshot_id)))


def _purchases(session: Any, as_of: date) -> list[Order]:  # noqa: ANN401
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    return [o for o in session.scalars(select(Order).where(Order.ordered_at < end))
            if o.is_paid and (o.refunded_cents or 0) < o.amount_cents]


def _expected_tags(session: Any, snapshot: ClassificationSnapshot) -> dict[str, set[int]]:  # noqa: ANN401
    """Each default tag's members in ``snapshot``, from DESIGN.md's definitions computed here in Python."""
    orders = _purchases(session, snapshot.as_of)
    per_customer: dict[int, list[Order]] = {}
    for o in orders:
        per_customer.setdefault(o.customer_id, []).append(o)
    price_sensitive = {c for c, mine in per_customer.items()
                       if sum(1 for o in mine if (o.discount_cents or 0) > 0) / len(mine) > 0.5}
    ids = {o.id for o in orders}
    lines = [(line, o_customer) for line, o_customer in session.execute(
        select(OrderLine, Order.customer_id).join(Order, Order.id == OrderLine.order_id)) if line.order_id in ids]
    prices = sorted(line.unit_price_cents for line, _ in lines)
    ranks: dict[int, list[float]] = {}
    for line, customer in lines:  # PERCENT_RANK over the one category: (rank - 1) / (n - 1), ties share a rank
        below = sum(1 for p in prices if p < line.unit_price_cents)
        ranks.setdefault(customer, []).append(below / (len(prices) - 1))
    quality = {c for c, r in ranks.items() if sum(r) / len(r) >= 0.8}
    rows = session.execute(select(Customer, Classification).join(Classification, Classification.customer_id
                                                                 == Customer.id)
                           .where(Classification.snapshot_id == snapshot.id)).all()
    return {
        "price_sensitive": price_sensitive,
        "quality_seeking": quality,
        "service_heavy": set(),
        "big_spender": {c.id for c, k in rows if k.m_score == 5},
        "frequent_buyer": {c.id for c, k in rows if k.f_score == 5},
        "first_tier_city": {c.id for c, k in rows if c.city == "深圳"},
        "young_adult": {c.id for c, k in rows if 18 <= snapshot.as_of.year - c.birth_year <= 29},
    }


def _complaints(seg) -> bool:  # type: ignore[no-untyped-def]
    """Two complaints of the VIP inside the 180 days before the newest snapshot, one outside, and a review of
    another customer; False when the feedback part is not installed."""
    import kehu.store as store

    feedback = getattr(store, "Feedback", None)
    if feedback is None:
        return False
    with session_scope(seg.settings.store_url) as session:
        for days in (3, 100, 200):
            session.add(feedback(customer_id=seg.store.vip_id, created_at=datetime(2025, 6, 30) - timedelta(days=days),
                                 kind="complaint", language="zh", category="logistics", sentiment=-0.5))
        session.add(feedback(customer_id=seg.store.vip_id + 1, created_at=datetime(2025, 6, 1), kind="review",
                             language="zh", category="other", sentiment=0.5))
    return True


def test_first_refresh_creates_the_default_tags_with_their_members(seg) -> None:  # type: ignore[no-untyped-def]
    complaints = _complaints(seg)
    reports = refresh_segments(seg.settings, all_snapshots=True)
    assert [r.as_of for r in reports] == [date(2025, 3, 31), date(2025, 6, 30)]
    assert len(reports[0].created_tags) == 7 and reports[1].created_tags == [] and not reports[0].errors
    assert reports[1].traits == 59  # every buyer; the prospect has no purchase
    with session_scope(seg.settings.store_url) as session:
        tags = {s.builtin: s for s in list_segments(session) if s.is_tag}
        assert set(tags) == {"price_sensitive", "quality_seeking", "service_heavy", "big_spender", "frequent_buyer",
                             "first_tier_city", "young_adult"}
        for snapshot_id in (seg.old_snapshot_id, seg.store.snapshot_id):
            snapshot = session.get(ClassificationSnapshot, snapshot_id)
            expected = _expected_tags(session, snapshot)
            if complaints:  # two of the three complaints fall in each snapshot's 180 days
                expected["service_heavy"] = {seg.store.vip_id}
            for code, wanted in expected.items():
                assert _members(session, tags[code].id, snapshot_id) == wanted, (code, snapshot.as_of)
        assert expected["price_sensitive"] and expected["quality_seeking"] and expected["young_adult"]
        history = sizes(session, [tags["price_sensitive"].id])[tags["price_sensitive"].id]
        assert [p.as_of for p in history] == [date(2025, 3, 31), date(2025, 6, 30)]
        # The traits behind the tags: shares of discounted purchases, price ranks, complaints.
        traits = {t.customer_id: t for t in session.scalars(select(SegmentTrait).where(
            SegmentTrait.snapshot_id == seg.store.snapshot_id))}
        vip = traits[seg.store.vip_id]
        assert vip.discount_share == pytest.approx(1.0)  # one purchase, with a coupon; later/unpaid ones left out
        assert vip.price_rank == pytest.approx(0.0)  # the cheapest line of the category
        assert vip.complaints_180d == (2 if complaints else None)
        assert seg.store.prospect_id not in traits
        shares = sorted({round(t.discount_share, 4) for t in traits.values()})
        assert shares == [0.3333, 0.5, 1.0]  # 1, 2 or 3 purchases, the first one discounted
        archive_segment(session, tags["young_adult"])
    again = refresh_segments(seg.settings)
    assert again[0].created_tags == [] and len(again[0].sizes) == 6  # archived: not revived, not refreshed


def test_segment_history_migration_and_ids(seg) -> None:  # type: ignore[no-untyped-def]
    actor = Actor(user_id=None, username="analyst1", via="web", ip="127.0.0.1")
    with session_scope(seg.settings.store_url) as session:
        segment = add_segment(session, name=" 重要价值  客户 ", rule="rfm_class = '重要价值客户'",
                              description="VIP", actor=actor)
        assert segment.name == "重要价值 客户" and segment.created_by == "analyst1"
        old = session.get(ClassificationSnapshot, seg.old_snapshot_id)
        new = session.get(ClassificationSnapshot, seg.store.snapshot_id)
        before = {c.id for c, k in seg.rows(old.id) if k.rfm_class == "important_value"}
        after = {c.id for c, k in seg.rows(new.id) if k.rfm_class == "important_value"}
        assert [(p.as_of, p.customers) for p in sizes(session, [segment.id])[segment.id]] == [
            (old.as_of, len(before)), (new.as_of, len(after))]
        moved = migration(session, segment, old, new)
        assert (moved.stayed, moved.entered, moved.left) == (len(before & after), len(after - before),
                                                             len(before - after))
        assert {c.id for c, _ in moved.entered_sample} <= after - before
        assert {c.id for c, _ in moved.left_sample} <= before - after
        assert sum(n for _, n in moved.left_stages) == moved.left
        stage_now = {c.id: k.lifecycle_stage for c, k in seg.rows(new.id)}
        assert dict(moved.left_stages) == {s: sum(1 for c in before - after if stage_now[c] == s)
                                           for s in {stage_now[c] for c in before - after}}
        assert segment_member_ids(session, segment_id=segment.id, snapshot_id=new.id) == sorted(after)
        some = min(after)
        assert [s.name for s in customer_segments(session, customer_id=some, snapshot_id=new.id)] == ["重要价值 客户"]
        # Without stored members the ids come from the rule, and nothing is written.
        session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
        session.execute(delete(SegmentSize).where(SegmentSize.segment_id == segment.id))
        assert segment_member_ids(session, segment_id=segment.id, snapshot_id=new.id) == sorted(after)
        assert not _members(session, segment.id, new.id)
        with pytest.raises(InvalidInput, match="two different snapshot dates"):
            migration(session, segment, new, new)

        update_segment(session, segment, name="重要价值 客户", rule="rfm_class = '重要价值客户' AND province = '广东'",
                       description="VIP", is_tag=False, actor=actor)
        guangdong = {c.id for c, k in seg.rows(new.id) if k.rfm_class == "important_value" and c.province == "广东"}
        assert _members(session, segment.id, new.id) == guangdong
        assert _members(session, segment.id, old.id) == {
            c.id for c, k in seg.rows(old.id) if k.rfm_class == "important_value" and c.province == "广东"}
        archive_segment(session, segment, actor=actor)
        assert segment.id not in {s.id for s in list_segments(session)}
        assert segment.id in {s.id for s in list_segments(session, include_archived=True)}
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.target_type == "segment")
                                      .order_by(AuditEvent.id)))
        assert [(e.action, e.username, e.via) for e in events] == [("create", "analyst1", "web")] + [
            ("update", "analyst1", "web")] * 2
        assert events[1].detail == {"fields": ["rule"]} and events[2].detail == {"fields": ["archived"]}
        assert all("重要" not in str(e.detail) for e in events)  # ids and field names only


def test_mistakes_are_refused_before_anything_is_written(seg_sqlite) -> None:  # type: ignore[no-untyped-def]
    seg = seg_sqlite
    with session_scope(seg.settings.store_url) as session:
        add_segment(session, name="广东", rule="province = '广东'")
        with pytest.raises(InvalidInput, match="a segment named '广东' exists already"):
            add_segment(session, name="广东", rule="province = '浙江'")
        with pytest.raises(InvalidInput, match="only digits"):
            add_segment(session, name="2024", rule="province = '浙江'")
        with pytest.raises(InvalidInput, match="needs a name"):
            add_segment(session, name="  ", rule="province = '浙江'")
        with pytest.raises(RuleError, match="unknown column 'provice'"):
            add_segment(session, name="浙江", rule="provice = '浙江'")
        assert [s.name for s in list_segments(session)] == ["广东"]
        with pytest.raises(NotFound, match="no segment 'nope'; segments: 广东"):
            get_segment(session, "nope")
        assert get_segment(session, "广东").name == get_segment(session, str(get_segment(session, "广东").id)).name


def test_export_is_masked_formula_safe_and_audited(seg_sqlite, fx) -> None:  # type: ignore[no-untyped-def]
    seg = seg_sqlite
    cipher = FieldCipher.from_settings(seg.settings)
    with session_scope(seg.settings.store_url) as session:
        vip = session.get(Customer, seg.store.vip_id)
        vip.city = '=HYPERLINK("http://evil.example","x")'
        segment = add_segment(session, name="贵宾", rule="frequency >= 1")
        snapshot = snapshot_for(session)
        result = export_segment(session, cipher, segment, snapshot, fmt="csv", lang="en",
                                actor=Actor(username="exporter", via="cli"))
        book = export_segment(session, cipher, segment, snapshot, fmt="xlsx", lang="zh")
    text = result.content.decode("utf-8")
    assert text.startswith("\ufeff") and result.rows == 59
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["customer_id", "name", "phone", "email"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id["C0000"][2] == "138****5678" and by_id["C0000"][1] == "张**"
    assert by_id["C0000"][5].startswith("'=HYPERLINK")  # neutralised: a spreadsheet shows it as text
    assert fx.VIP_PHONE not in text and fx.VIP_EMAIL not in text and fx.VIP_NAME not in text
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert [c.value for c in next(sheet.iter_rows(max_row=1))][:2] == ["客户编号", "姓名"]
    with session_scope(seg.settings.store_url) as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "export")))
        assert [(e.target_type, e.target_id, e.detail["format"], e.detail["rows"]) for e in events] == [
            ("segment", str(segment.id), "csv", 59), ("segment", str(segment.id), "xlsx", 59)]
        assert events[0].username == "exporter" and events[0].via == "cli"


def test_preview_counts_and_samples_without_writing(seg_sqlite) -> None:  # type: ignore[no-untyped-def]
    seg = seg_sqlite
    with session_scope(seg.settings.store_url) as session:
        snapshot = snapshot_for(session)
        found = preview(session, "province = '广东' AND frequency >= 2", snapshot)
        expected = [c for c, k in seg.rows() if c.province == "广东" and k.frequency >= 2]
        assert (found.count, found.total) == (len(expected), 60)
        assert found.share == pytest.approx(len(expected) / 60)
        spends = [k.monetary_cents for _, k in found.sample]
        assert spends == sorted(spends, reverse=True) and len(found.sample) == min(20, len(expected))
        assert session.scalar(select(func.count()).select_from(Segment)) == 0


def test_city_tier_uses_the_province_when_the_city_is_empty(seg_sqlite) -> None:  # type: ignore[no-untyped-def]
    with session_scope(seg_sqlite.settings.store_url) as session:
        snapshot = snapshot_for(session)
        extra = [Customer(source="generic", external_id="X1", province="北京市", city=None),
                 Customer(source="generic", external_id="X2", province="上海", city="  "),
                 Customer(source="generic", external_id="X3", province="江苏", city=None),
                 Customer(source="generic", external_id="X4", province="广东", city="Shenzhen")]
        session.add_all(extra)
        session.flush()
        for c in extra:
            session.add(Classification(snapshot_id=snapshot.id, customer_id=c.id, frequency=0, monetary_cents=0,
                                       rfm_group="prospect", lifecycle_stage="prospect"))
        session.flush()
        segment = add_segment(session, name="一线", rule="city_tier = '一线'")
        members = _members(session, segment.id, snapshot.id)
        assert {c.id for c in extra} & members == {extra[0].id, extra[1].id, extra[3].id}
        other = add_segment(session, name="其他", rule="city_tier = 'other'")
        assert {c.id for c in extra} & _members(session, other.id, snapshot.id) == {extra[2].id}


def test_refresh_after_classify_replaces_the_snapshot_and_drops_orphans(seg_sqlite, fx) -> None:  # type: ignore[no-untyped-def]
    from kehu.analytics import classify

    settings = seg_sqlite.settings.model_copy(update={"predict": False})
    refresh_segments(settings, all_snapshots=True)
    old_id = seg_sqlite.store.snapshot_id
    report = classify(settings=settings, as_of=fx.AS_OF)  # replaces the snapshot of that date (foreign keys off)
    assert report.snapshot_id != old_id
    done = refresh_segments(settings, report.snapshot_id)
    assert done[0].snapshot_id == report.snapshot_id and not done[0].errors
    with session_scope(settings.store_url) as session:
        for table in (SegmentMember, SegmentSize, SegmentTrait):
            assert session.scalar(select(func.count()).select_from(table).where(table.snapshot_id == old_id)) == 0
        tag = get_segment(session, "big_spender")
        assert _members(session, tag.id, report.snapshot_id) == {
            k.customer_id for k in session.scalars(select(Classification).where(
                Classification.snapshot_id == report.snapshot_id, Classification.m_score == 5))}


def test_refresh_without_a_snapshot_says_what_to_do(settings, fx) -> None:  # type: ignore[no-untyped-def]
    fx.build_store(settings, customers=3, with_snapshot=False)
    with pytest.raises(NotFound, match="run `kehu classify` first"):
        refresh_segments(settings)
    with pytest.raises(NotFound, match="no ready classification snapshot with id 99"):
        refresh_segments(settings, 99)
    with session_scope(settings.store_url) as session:
        segment = add_segment(session, name="all", rule="TRUE")  # nothing to compute yet, nothing fails
        assert sizes(session, [segment.id]) == {}
        with pytest.raises(NotFound):
            compute_membership(session, segment, snapshot_for(session))
