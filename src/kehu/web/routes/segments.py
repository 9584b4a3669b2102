"""User segments and profile tags: the list with sizes over time, the builder (rule box with a live count and a
masked sample, error marks at the offending text), a segment's page (size over time, migration between two dates,
members), saving, archiving, refreshing and exporting.

The builder's live count comes from ``GET /segments/preview`` (JSON), polled by ``/static/segments.js`` as the rule
is typed; without JavaScript the builder's *Check* button shows the same count and sample in the page.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.analytics.labels import LIFECYCLE_STAGES, label
from kehu.errors import InvalidInput, KehuError
from kehu.privacy import FieldCipher
from kehu.segments import service
from kehu.segments.columns import COLUMN_LIST
from kehu.segments.export import export_segment, masked
from kehu.segments.rules import MAX_RULE_CHARS, RuleError
from kehu.segments.tags import TAGS_BY_CODE
from kehu.store import Classification, ClassificationSnapshot, Customer, Segment
from kehu.users import Actor
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator
from kehu.web.present import yuan

router = APIRouter()

SegmentsViewer = Annotated[SignedIn, Depends(require("view_segments"))]
SegmentsManager = Annotated[SignedIn, Depends(require("manage_segments"))]
Exporter = Annotated[SignedIn, Depends(require("export_data"))]
SegmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CsrfToken = Annotated[str | None, Form()]
RuleText = Annotated[str, Form(max_length=MAX_RULE_CHARS)]

#: Examples shown under the rule box (each is a valid rule).
EXAMPLES: tuple[str, ...] = (
    "rfm_class = '重要价值客户' AND province IN ('广东','浙江') AND clv_12m > 500",
    "lifecycle_stage = 'at_risk' AND monetary >= 1000",
    "city_tier IN ('一线', '新一线') AND gender = '女' AND age BETWEEN 25 AND 34",
    "discount_share > 0.5 AND NOT marketing_consent IS NULL",
)


def _actor(request: Request, user: SignedIn) -> Actor:
    return Actor(user_id=user.id, username=user.username, via="web",
                 ip=request.client.host if request.client else None)


def _unchanged_default(segment: Segment) -> bool:
    """True for a default tag whose name and rule are still the defaults (then its words can be translated)."""
    tag = TAGS_BY_CODE.get(segment.builtin or "")
    return tag is not None and segment.name == tag.zh and segment.rule == tag.rule


def display_name(segment: Segment, t: Any) -> str:
    """A default tag's name in the page's language; a user's segment (or an edited tag) as named."""
    return t(f"seg_tag_{segment.builtin}") if _unchanged_default(segment) else segment.name


def display_description(segment: Segment, t: Any) -> str | None:
    """A default tag's meaning in the page's language; a user's segment's (or an edited tag's) description."""
    return t(f"seg_tag_{segment.builtin}_desc") if _unchanged_default(segment) else segment.description


def sparkline(points: list[service.SizePoint], width: int = 120, height: int = 28) -> dict[str, Any] | None:
    """An inline SVG polyline of sizes over time (no script, no chart library), scaled from the smallest to the
    largest size (a constant size is a line across the middle): ``points`` attribute text, the last point, and the
    values for the accessible label; ``None`` without points."""
    if not points:
        return None
    low, high = min(p.customers for p in points), max(p.customers for p in points)
    step = (width - 4) / (len(points) - 1) if len(points) > 1 else 0

    def y(n: int) -> float:
        return height / 2 if high == low else height - 2 - (height - 4) * (n - low) / (high - low)

    xy = [(2 + i * step if len(points) > 1 else width / 2, y(p.customers)) for i, p in enumerate(points)]
    return {"points": " ".join(f"{x:.1f},{y:.1f}" for x, y in xy), "last": xy[-1], "width": width,
            "height": height, "values": ", ".join(f"{p.as_of.isoformat()}: {p.customers:,}" for p in points)}


def _sample_rows(request: Request, user: SignedIn, rows: list[tuple[Customer, Classification | None]],
                 lang: str) -> list[dict[str, Any]]:
    """Sample members for a page or the JSON preview: masked name, place, class, stage, spend, profile link."""
    cipher: FieldCipher = request.app.state.cipher
    link = user.can("view_customers")
    out = []
    for customer, k in rows:
        name, _, _ = masked(cipher, customer)
        out.append({
            "id": customer.id,
            "external_id": customer.external_id,
            "href": local_url(request, f"/customers/{customer.id}") if link else None,
            "name": name or "",
            "province": customer.province or "",
            "city": customer.city or "",
            "rfm_class": label("rfm_class", k.rfm_class, lang) if k is not None else "",
            "stage": label("lifecycle_stage", k.lifecycle_stage, lang) if k is not None else "",
            "monetary": yuan(k.monetary_cents) if k is not None else "—",
        })
    return out


def _error_view(error: KehuError | None, lang: str) -> dict[str, Any] | None:
    """An error for the builder: its message, and for a rule error the rule cut around the offending text."""
    if error is None:
        return None
    if isinstance(error, RuleError):
        return {"message": error.message(lang), "before": error.rule[:error.start],
                "token": error.rule[error.start:error.end], "after": error.rule[error.end:], "rule": True,
                "start": error.start, "end": error.end}
    return {"message": str(error), "rule": False}


def _columns_help(lang: str) -> list[dict[str, Any]]:
    """The column reference of the builder: name, aliases, kind, meaning, accepted values."""
    t = translator(lang)
    rows = []
    for spec in COLUMN_LIST:
        values = [(code, names[0] if lang == "zh" else names[1]) for code, names in spec.vocabulary.items()]
        rows.append({"name": spec.name, "aliases": [a for a in spec.aliases if a != spec.name],
                     "kind": t(f"seg_kind_{spec.kind}"), "meaning": spec.zh if lang == "zh" else spec.en,
                     "values": values})
    return rows


def _snapshot_or_none(db: Session, as_of: date | None) -> ClassificationSnapshot | None:
    """The snapshot for ``as_of`` (404 when that date has none), the newest without a date, ``None`` when the store
    has no snapshot at all."""
    if as_of is None and not service.ready_snapshots(db):
        return None
    return service.snapshot_for(db, as_of)


# --- the list ----------------------------------------------------------------------------------------------------


@router.get("/segments")
def segment_list(request: Request, db: DbSession, user: SegmentsViewer, as_of: date | None = None,
                 refreshed: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    """Segments and tags with their size in the snapshot, the change since the previous snapshot and a small
    chart of their sizes over time."""
    t = translator(lang_of(request))
    snapshot = _snapshot_or_none(db, as_of)
    segments = service.list_segments(db)
    history = service.sizes(db, [s.id for s in segments])
    rows: list[dict[str, Any]] = []
    for segment in segments:
        points = history.get(segment.id, [])
        current = next((p for p in points if snapshot is not None and p.snapshot_id == snapshot.id), None)
        earlier = [p for p in points if current is not None and p.as_of < current.as_of]
        previous = earlier[-1] if earlier else None
        rows.append({
            "segment": segment,
            "name": display_name(segment, t),
            "description": display_description(segment, t),
            "size": current.customers if current else None,
            "share": current.customers / snapshot.customers if current and snapshot and snapshot.customers else None,
            "change": current.customers - previous.customers if current and previous else None,
            "spark": sparkline(points),
        })
    context = {
        "active": "segments",
        "snapshot": snapshot,
        "snapshots": list(reversed(service.ready_snapshots(db))),
        "as_of_param": as_of,
        "segments": [r for r in rows if not r["segment"].is_tag],
        "tags": [r for r in rows if r["segment"].is_tag],
        "refreshed": refreshed,
    }
    return render(request.app.state.templates, request, "segments.html", context)


@router.post("/segments/refresh")
def refresh(request: Request, db: DbSession, user: SegmentsManager, csrf_token: CsrfToken = None,
            as_of: Annotated[date | None, Form()] = None) -> Response:
    """Recompute every segment's members in the snapshot (the first refresh creates the default tags)."""
    check_csrf(request, csrf_token)
    snapshot = service.snapshot_for(db, as_of)
    service.refresh_snapshot(db, snapshot)
    db.commit()
    return RedirectResponse(local_url(request, "/segments", as_of=as_of, refreshed=snapshot.as_of.isoformat()),
                            status_code=303)


# --- the builder -------------------------------------------------------------------------------------------------


def _builder(request: Request, db: Session, user: SignedIn, *, segment: Segment | None, form: dict[str, Any],
             as_of: date | None, error: KehuError | None = None, check: bool = False, status: int = 200) -> Response:
    lang = lang_of(request)
    snapshot = _snapshot_or_none(db, as_of)
    result = None
    rule = str(form.get("rule") or "")
    if error is None and snapshot is not None and rule.strip() and (check or segment is not None):
        try:
            found = service.preview(db, rule, snapshot)
            result = {"count": found.count, "total": found.total, "share": found.share,
                      "sample": _sample_rows(request, user, list(found.sample), lang)}
        except KehuError as exc:
            error, status = exc, 400
    context = {
        "active": "segments",
        "segment": segment,
        "form": form,
        "snapshot": snapshot,
        "snapshots": list(reversed(service.ready_snapshots(db))),
        "as_of_param": as_of,
        "error": _error_view(error, lang),
        "result": result,
        "columns": _columns_help(lang),
        "examples": EXAMPLES,
        "max_rule": MAX_RULE_CHARS,
        "name_max": service.NAME_MAX,
        "description_max": service.DESCRIPTION_MAX,
    }
    return render(request.app.state.templates, request, "segments_builder.html", context, status)


@router.get("/segments/new")
def new_segment(request: Request, db: DbSession, user: SegmentsManager,
                rule: Annotated[str, Query(max_length=MAX_RULE_CHARS)] = "", as_of: date | None = None) -> Response:
    """The builder for a new segment (``?rule=`` fills the rule box)."""
    form = {"name": "", "rule": rule, "description": "", "is_tag": False}
    return _builder(request, db, user, segment=None, form=form, as_of=as_of, check=bool(rule.strip()))


@router.get("/segments/preview")
def preview_rule(request: Request, db: DbSession, user: SegmentsManager,
                 rule: Annotated[str, Query(max_length=MAX_RULE_CHARS)] = "", as_of: date | None = None) -> Response:
    """How many customers of the snapshot a rule selects and 20 of them (masked), as JSON, for the builder's live
    count; a rule error is a 400 with the message and the offending text's position."""
    lang = lang_of(request)
    try:
        snapshot = service.snapshot_for(db, as_of)
        found = service.preview(db, rule, snapshot)
    except RuleError as exc:
        return JSONResponse({"ok": False, "error": exc.to_json(lang)}, status_code=400)
    except KehuError as exc:
        return JSONResponse({"ok": False, "error": {"code": "other", "message": str(exc)}}, status_code=exc.status)
    share = found.share
    t = translator(lang)
    return JSONResponse({
        "ok": True,
        "as_of": found.as_of.isoformat(),
        "count": found.count,
        "total": found.total,
        "share": share,
        "summary": t("seg_preview_summary", count=f"{found.count:,}", total=f"{found.total:,}",
                     share=f"{share * 100:.1f}%" if share is not None else "—", as_of=found.as_of.isoformat()),
        "columns": sorted(found.columns),
        "sample": _sample_rows(request, user, list(found.sample), lang),
    }, headers={"Cache-Control": "no-store"})


def _form(name: str, rule: str, description: str, is_tag: bool) -> dict[str, Any]:
    return {"name": name, "rule": rule, "description": description, "is_tag": is_tag}


@router.post("/segments")
def create_segment(
    request: Request,
    db: DbSession,
    user: SegmentsManager,
    name: Annotated[str, Form(max_length=200)] = "",
    rule: RuleText = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    is_tag: Annotated[bool, Form()] = False,
    action: Annotated[Literal["save", "check"], Form()] = "save",
    as_of: Annotated[date | None, Form()] = None,
    csrf_token: CsrfToken = None,
) -> Response:
    """Save a new segment (its members computed in every snapshot), then show it; *Check* shows the count and
    sample without saving. A mistake shows the builder again with the message (400)."""
    check_csrf(request, csrf_token)
    form = _form(name, rule, description, is_tag)
    if action == "check":
        return _builder(request, db, user, segment=None, form=form, as_of=as_of, check=True)
    try:
        segment = service.add_segment(db, name=name, rule=rule, description=description, is_tag=is_tag,
                                      actor=_actor(request, user))
    except KehuError as exc:
        db.rollback()
        return _builder(request, db, user, segment=None, form=form, as_of=as_of, error=exc, status=exc.status)
    db.commit()
    return RedirectResponse(local_url(request, f"/segments/{segment.id}", as_of=as_of), status_code=303)


# --- one segment -------------------------------------------------------------------------------------------------


def _segment(db: Session, segment_id: int) -> Segment:
    found = db.get(Segment, segment_id)
    if found is None:
        from kehu.errors import NotFound

        raise NotFound(f"segment {segment_id} does not exist")
    return found


def _sankey(migration: service.Migration, t: Any, lang: str) -> dict[str, Any] | None:
    """The migration as a Sankey for ``/static/charts.js``: members and non-members at the earlier date on the
    left; members at the later date and, for those who left, their lifecycle stage then on the right."""
    if not (migration.stayed or migration.entered or migration.left):
        return None
    labels = [t("seg_sankey_in"), t("seg_sankey_out"), t("seg_sankey_in")]
    colors = ["#2b6cb0", "#a0aec0", "#2b6cb0"]
    source, target, value = [0, 1], [2, 2], [migration.stayed, migration.entered]
    palette = ["#c53030", "#c05621", "#b7791f", "#2f855a", "#6b46c1", "#4a5568", "#718096"]
    for i, (stage, n) in enumerate(migration.left_stages):
        name = label("lifecycle_stage", stage, lang) if stage else t("seg_not_in_snapshot")
        labels.append(t("seg_sankey_left_to", stage=name))
        colors.append(palette[i % len(palette)])
        source.append(0)
        target.append(len(labels) - 1)
        value.append(n)
    hover = list(labels)
    return {"id": "chart-migration", "kind": "sankey", "current": "members",
            "dates": [migration.before.as_of.isoformat(), migration.after.as_of.isoformat()],
            "variants": {"members": {"labels": labels, "colors": colors, "hover": hover, "source": source,
                                     "target": target, "value": value}}}


@router.get("/segments/{segment_id}")
def segment_detail(request: Request, db: DbSession, user: SegmentsViewer, segment_id: SegmentId,
                   as_of: date | None = None, compare: date | None = None) -> Response:
    """A segment: its rule, size in the snapshot and over time, the migration from an earlier snapshot (who
    stayed, entered and left, and where the leavers went), and a masked sample of its members."""
    lang = lang_of(request)
    t = translator(lang)
    segment = _segment(db, segment_id)
    snapshot = _snapshot_or_none(db, as_of)
    snapshots = list(reversed(service.ready_snapshots(db)))
    context: dict[str, Any] = {
        "active": "segments",
        "segment": segment,
        "name": display_name(segment, t),
        "description": display_description(segment, t),
        "snapshot": snapshot,
        "snapshots": snapshots,
        "as_of_param": as_of,
        "compare": None,
        "migration": None,
        "charts": [],
        "size_chart": None,
    }
    if snapshot is not None:
        size = service.ensure_membership(db, segment, snapshot)
        points = service.sizes(db, [segment.id]).get(segment.id, [])
        earlier = [s for s in snapshots if s.as_of < snapshot.as_of]
        before = None
        if compare is not None:
            before = service.snapshot_for(db, compare)
        elif earlier:
            before = earlier[0]
        charts: list[dict[str, Any]] = []
        context["size_chart"] = {"id": "chart-sizes", "lang": lang, "y_title": t("seg_members"),
                                 "labels": [p.as_of.isoformat() for p in points],
                                 "values": [p.customers for p in points]}
        if before is not None and before.id != snapshot.id:
            moved = service.migration(db, segment, before, snapshot)
            context["migration"] = {
                "data": moved,
                "entered_sample": _sample_rows(request, user, moved.entered_sample, lang),
                "left_sample": _sample_rows(request, user, moved.left_sample, lang),
                "left_stages": [(label("lifecycle_stage", s, lang) if s else t("seg_not_in_snapshot"), n)
                                for s, n in moved.left_stages],
            }
            context["compare"] = before
            sankey = _sankey(moved, t, lang)
            if sankey:
                charts.append(sankey)
        context.update({
            "size": size,
            "share": size / snapshot.customers if snapshot.customers else None,
            "points": points,
            "sample": _sample_rows(request, user, list(service.member_rows(db, segment, snapshot)), lang),
            "charts": charts,
            "stages": LIFECYCLE_STAGES,
        })
    return render(request.app.state.templates, request, "segments_detail.html", context)


@router.get("/segments/{segment_id}/edit")
def edit_segment(request: Request, db: DbSession, user: SegmentsManager, segment_id: SegmentId,
                 as_of: date | None = None) -> Response:
    """The builder for an existing segment, with its count and sample."""
    segment = _segment(db, segment_id)
    if segment.archived_at is not None:
        raise InvalidInput(f"segment {segment.name!r} is archived; create a new one instead")
    form = _form(segment.name, segment.rule, segment.description or "", segment.is_tag)
    return _builder(request, db, user, segment=segment, form=form, as_of=as_of)


@router.post("/segments/{segment_id}")
def save_segment(
    request: Request,
    db: DbSession,
    user: SegmentsManager,
    segment_id: SegmentId,
    name: Annotated[str, Form(max_length=200)] = "",
    rule: RuleText = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    is_tag: Annotated[bool, Form()] = False,
    action: Annotated[Literal["save", "check"], Form()] = "save",
    as_of: Annotated[date | None, Form()] = None,
    csrf_token: CsrfToken = None,
) -> Response:
    """Save changes to a segment (a changed rule recomputes its members in every snapshot)."""
    check_csrf(request, csrf_token)
    segment = _segment(db, segment_id)
    form = _form(name, rule, description, is_tag)
    if action == "check":
        return _builder(request, db, user, segment=segment, form=form, as_of=as_of, check=True)
    try:
        service.update_segment(db, segment, name=name, rule=rule, description=description, is_tag=is_tag,
                               actor=_actor(request, user))
    except KehuError as exc:
        db.rollback()
        return _builder(request, db, user, segment=_segment(db, segment_id), form=form, as_of=as_of, error=exc,
                        status=exc.status)
    db.commit()
    return RedirectResponse(local_url(request, f"/segments/{segment_id}", as_of=as_of), status_code=303)


@router.post("/segments/{segment_id}/archive")
def archive(request: Request, db: DbSession, user: SegmentsManager, segment_id: SegmentId,
            csrf_token: CsrfToken = None) -> Response:
    """Archive a segment (its history stays); back to the list."""
    check_csrf(request, csrf_token)
    service.archive_segment(db, _segment(db, segment_id), actor=_actor(request, user))
    db.commit()
    return RedirectResponse(local_url(request, "/segments"), status_code=303)


@router.post("/segments/{segment_id}/export")
def export(request: Request, db: DbSession, user: Exporter, segment_id: SegmentId,
           format: Annotated[Literal["csv", "xlsx"], Form()] = "csv",
           as_of: Annotated[date | None, Form()] = None, csrf_token: CsrfToken = None) -> Response:
    """The members as CSV or XLSX, personal fields masked, formula-safe; audited and committed before the file
    is sent."""
    check_csrf(request, csrf_token)
    segment = _segment(db, segment_id)
    snapshot = service.snapshot_for(db, as_of)
    result = export_segment(db, request.app.state.cipher, segment, snapshot, fmt=format, lang=lang_of(request),
                            actor=_actor(request, user))
    db.commit()
    return Response(result.content, media_type=result.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{result.filename}"'})
