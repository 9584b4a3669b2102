"""The customer list (filters, search, saved views, export) and a customer's 360° profile (masked fields with an
audited reveal, tags, classes, predictions, orders, notes and interactions, marketing consent).

Personal fields are masked everywhere; the plaintext of one field is shown only in the answer to a reveal (a POST
with the CSRF token by a role with ``reveal_pii``), and each reveal, export and note is audited.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from kehu.analytics.export import neutralise_formulas
from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, label
from kehu.errors import InvalidInput, NotFound
from kehu.membership import membership_summary
from kehu.privacy import FieldCipher, audit
from kehu.privacy.consent import record_consent
from kehu.store import Classification, Customer, CustomerNote
from kehu.web import queries, queries_models
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render, require
from kehu.web.i18n import translator
from kehu.web.predictions import CLV_TIERS, cluster_names, customer_predictions, product_ids, tier_label
from kehu.web.present import PII_FIELDS, masked_pii

router = APIRouter()

CustomersViewer = Annotated[SignedIn, Depends(require("view_customers"))]
Exporter = Annotated[SignedIn, Depends(require("export_data"))]
Revealer = Annotated[SignedIn, Depends(require("reveal_pii"))]
NoteTaker = Annotated[SignedIn, Depends(require("add_notes"))]
CustomerEditor = Annotated[SignedIn, Depends(require("edit_customers"))]
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CsrfToken = Annotated[str | None, Form()]

#: An export holds at most this many customers; a longer list must be narrowed first.
EXPORT_MAX_ROWS = 100_000
NOTE_KINDS: tuple[str, ...] = ("note", "call", "message", "visit", "email")
NOTE_CHANNELS: tuple[str, ...] = ("phone", "wechat", "sms", "email", "store", "app", "other")
NOTE_MAX_CHARS = 4000
CONSENT_SOURCES: tuple[str, ...] = ("phone", "store", "web", "email", "sms", "wechat", "paper")
#: The list parameters a saved view keeps: filters and sort. Not the search (it may be a phone number or an e-mail,
#: which must not be stored in plaintext) and not the snapshot date (a view follows the newest snapshot).
VIEW_KEYS: tuple[str, ...] = ("rfm_class", "stage", "province", "clv_tier", "cluster", "sort", "dir")


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _known(value: str | None, codes: dict[str, Any], what: str) -> str | None:
    value = _blank_is_none(value)
    if value is not None and value not in codes:
        raise InvalidInput(f"unknown {what} {value!r}; use one of {', '.join(codes)}")
    return value


def _cluster(value: str | None) -> int | None:
    value = _blank_is_none(value)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > 32767:
        raise InvalidInput(f"unknown cluster {value!r}; use a cluster number such as 0")
    return int(value)


#: Where the search box's text is kept: the signed session cookie, never a URL, so a phone number or an e-mail
#: typed into the box does not end up in access logs, proxies or the browser's history.
SEARCH_KEY = "customer_search"


class ListParams(BaseModel):
    """The customer list's parameters: the query string of ``GET /customers`` and the hidden fields of the
    forms that act on the list (search, export, save view). Unknown codes are refused by :meth:`filters` (400).

    ``search`` says whether the search kept in the session (:data:`SEARCH_KEY`) applies; the text itself is
    never a parameter.
    """

    rfm_class: str | None = Field(None, max_length=32)
    stage: str | None = Field(None, max_length=32)
    province: str | None = Field(None, max_length=32)
    clv_tier: str | None = Field(None, max_length=16)
    cluster: str | None = Field(None, max_length=8)
    sort: queries.SortKey = "monetary_cents"
    dir: queries.SortDir = "desc"
    as_of: date | None = None
    search: bool = False

    def filters(self) -> queries.CustomerFilters:
        """The checked filters; :class:`InvalidInput` naming the allowed codes for an unknown one."""
        return queries.CustomerFilters(
            rfm_class=_known(self.rfm_class, RFM_CLASSES, "RFM class"),
            lifecycle_stage=_known(self.stage, LIFECYCLE_STAGES, "lifecycle stage"),
            province=_blank_is_none(self.province),
            clv_tier=_known(self.clv_tier, dict.fromkeys(CLV_TIERS), "CLV tier"),
            cluster=_cluster(self.cluster),
        )

    def link(self) -> dict[str, str]:
        """The non-blank parameters, for links and hidden fields (``search=1`` only when it applies)."""
        values = self.model_dump(exclude_none=True)
        values["search"] = 1 if self.search else None
        return {k: v.isoformat() if isinstance(v, date) else str(v).strip() for k, v in values.items()
                if v is not None and str(v).strip()}

    def search_text(self, request: Request) -> str | None:
        """The text of the search box when the search applies, else ``None``."""
        text = request.session.get(SEARCH_KEY) if self.search else None
        return text if isinstance(text, str) and text else None

    def view_query(self) -> dict[str, str]:
        """What a saved view keeps (:data:`VIEW_KEYS`), after checking the filters."""
        self.filters()
        return {k: v for k, v in self.link().items() if k in VIEW_KEYS}


def _view_link(request: Request, query: Any) -> tuple[str, dict[str, str]]:
    """The list URL of a saved view's stored query (only :data:`VIEW_KEYS` with text values), and that query."""
    kept = {k: v for k, v in query.items() if k in VIEW_KEYS and isinstance(v, str)} if isinstance(query, dict) else {}
    return local_url(request, "/customers", **kept), kept


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- the list ---------------------------------------------------------------------------------------------


@router.get("/customers")
def customer_list(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    params: Annotated[ListParams, Query()],
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    after: Annotated[str | None, Query(max_length=600)] = None,
    before: Annotated[str | None, Query(max_length=600)] = None,
) -> Response:
    """One page of the customers in the snapshot (or found by the search box), with their masked name, classes,
    CLV and churn risk; the user's saved views; the export form for roles that may export."""
    filters = params.filters()
    sort = params.sort
    search_text = params.search_text(request)
    cursor = None
    if after or before:
        cursor = queries.Cursor.parse(after or before or "", sort, before=not after)
    snapshot = queries.pick_snapshot(db, params.as_of)
    models = snapshot.models if snapshot is not None else None
    link = params.link()
    views = []
    for view in queries.saved_views(db, user.id):
        href, query = _view_link(request, view.query)
        views.append({"id": view.id, "name": view.name, "href": href, "current": query == params.view_query()})
    context: dict[str, Any] = {
        "active": "customers",
        "snapshot": snapshot,
        "filters": filters,
        "sort": sort,
        "dir": params.dir,
        "q": search_text or "",
        "as_of_param": params.as_of,
        "link": link,
        "view_fields": {k: v for k, v in link.items() if k in VIEW_KEYS},
        "views": views,
        "classes": list(RFM_CLASSES),
        "stages": list(LIFECYCLE_STAGES),
        "provinces": queries.province_choices(db),
        "tiers": list(CLV_TIERS),
        "clusters": sorted(cluster_names(models, lang_of(request)).items()),
        "export_max": EXPORT_MAX_ROWS,
        # Prediction columns and filters when the snapshot has predictions, or the query asks for them.
        "predicted": models is not None
        or bool(filters.clv_tier)
        or filters.cluster is not None
        or sort in ("clv_365d_cents", "churn_risk"),
    }
    if snapshot is not None:
        result = queries.customer_page(
            db,
            snapshot_id=snapshot.id,
            filters=filters,
            sort=sort,
            direction=params.dir,
            page=page,
            search=queries.customer_search(request.app.state.cipher, search_text),
            cursor=cursor,
        )
        cipher = request.app.state.cipher
        context["result"] = result
        context["rows"] = [(c, k, masked_pii(cipher, c)) for c, k in result.rows]
    return render(request.app.state.templates, request, "customers.html", context)


@router.post("/customers/search")
def search_list(
    request: Request,
    user: CustomersViewer,
    params: Annotated[ListParams, Form()],
    q: Annotated[str, Form(max_length=128)] = "",
    csrf_token: CsrfToken = None,
) -> Response:
    """Keep the search box's text in the session (blank text ends the search) and show the list with it and
    the current filters. A POST, so that the text stays out of URLs (see :data:`SEARCH_KEY`)."""
    check_csrf(request, csrf_token)
    text = " ".join(q.split())
    if text:
        request.session[SEARCH_KEY] = text
    else:
        request.session.pop(SEARCH_KEY, None)
    link = params.model_copy(update={"search": bool(text)}).link()
    return RedirectResponse(local_url(request, "/customers", **link), status_code=303)


@router.post("/customers/views")
def save_view(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    params: Annotated[ListParams, Form()],
    name: Annotated[str, Form(max_length=200)],
    csrf_token: CsrfToken = None,
) -> Response:
    """Save the list's filters and sort as one of the user's views (the same name replaces it), then show it."""
    check_csrf(request, csrf_token)
    query = params.view_query()
    queries.save_view(db, user_id=user.id, name=name, query=query)
    db.commit()
    return RedirectResponse(local_url(request, "/customers", **query), status_code=303)


@router.post("/customers/views/{view_id}/delete")
def delete_view(
    request: Request,
    db: DbSession,
    user: CustomersViewer,
    view_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    csrf_token: CsrfToken = None,
) -> Response:
    """Delete one of the user's saved views (another user's view is 404), then show the plain list."""
    check_csrf(request, csrf_token)
    queries.delete_view(db, user_id=user.id, view_id=view_id)
    db.commit()
    return RedirectResponse(local_url(request, "/customers"), status_code=303)


def _export_rows(
    rows: Any, cipher: FieldCipher, lang: str, names: dict[int, str]
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of an export: masked personal fields, labels in ``lang``, money in yuan; every text cell
    formula-neutralised (a spreadsheet must not run ``=…`` from imported data)."""
    t = translator(lang)
    header = [t(k) for k in ("col_customer", "col_name", "phone", "email", "col_province", "city", "channel",
                             "col_class", "col_group", "col_stage", "col_recency", "col_frequency", "col_monetary",
                             "col_clv", "clv_tier", "col_churn_risk", "cluster")]
    out: list[list[Any]] = []
    for c, k in rows:
        pii = masked_pii(cipher, c)
        texts = [c.external_id, pii.name, pii.phone, pii.email, c.province, c.city, c.channel]
        if k is not None:
            texts += [label("rfm_class", k.rfm_class, lang), label("rfm_group", k.rfm_group, lang),
                      label("lifecycle_stage", k.lifecycle_stage, lang)]
            numbers: list[Any] = [k.recency_days, k.frequency, _yuan_value(k.monetary_cents),
                                  _yuan_value(k.clv_365d_cents)]
            tail: list[Any] = [tier_label(k.clv_tier, t) or None,
                               None if k.churn_risk is None else round(float(k.churn_risk), 4),
                               None if k.cluster is None else names.get(k.cluster, str(k.cluster))]
        else:
            texts += [None, None, None]
            numbers, tail = [None] * 4, [None] * 3
        safe = neutralise_formulas([v or None for v in texts])
        tail[0], tail[2] = neutralise_formulas([tail[0], tail[2]])
        out.append([*safe, *numbers, *tail])
    return header, out


def _yuan_value(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(int(cents)).scaleb(-2)


def _csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(header)
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.post("/customers/export")
def export_list(
    request: Request,
    db: DbSession,
    user: Exporter,
    params: Annotated[ListParams, Form()],
    format: Annotated[Literal["csv", "xlsx"], Form()] = "csv",
    csrf_token: CsrfToken = None,
) -> Response:
    """The filtered, searched, sorted list as CSV (UTF-8 with BOM, for Excel) or XLSX, with personal fields
    masked; at most :data:`EXPORT_MAX_ROWS` customers. Audited (``export``: format, filters, kinds of search,
    row count; never the search text) and committed before the file is sent."""
    check_csrf(request, csrf_token)
    filters = params.filters()
    snapshot = queries.pick_snapshot(db, params.as_of)
    if snapshot is None:
        raise NotFound("no classification snapshot yet; run `kehu classify` first")
    cipher: FieldCipher = request.app.state.cipher
    search = queries.customer_search(cipher, params.search_text(request))
    found = queries.count_customers(db, snapshot_id=snapshot.id, filters=filters, search=search,
                                    limit=EXPORT_MAX_ROWS + 1)
    if found > EXPORT_MAX_ROWS:
        raise InvalidInput(f"the list has more than {EXPORT_MAX_ROWS:,} customers; narrow it with the filters "
                           "before exporting (`kehu export` writes a whole snapshot without personal fields)")
    lang = lang_of(request)
    rows = queries.customer_rows(db, snapshot_id=snapshot.id, filters=filters, sort=params.sort,
                                 direction=params.dir, search=search, limit=EXPORT_MAX_ROWS)
    header, table = _export_rows(rows, cipher, lang, cluster_names(snapshot.models, lang))
    body = _csv_bytes(header, table) if format == "csv" else _xlsx_bytes(header, table)
    detail: dict[str, Any] = {
        "format": format,
        "rows": len(table),
        "as_of": snapshot.as_of.isoformat(),
        "filters": {k: v for k, v in params.link().items() if k in VIEW_KEYS},
    }
    if search is not None:
        detail["search"] = search.kinds
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="customers",
                 detail=detail, ip=_ip(request), via="web")
    db.commit()
    media = "text/csv; charset=utf-8" if format == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    filename = f"customers-{snapshot.as_of.isoformat()}.{format}"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- the profile ------------------------------------------------------------------------------------------


def _tags(k: Classification | None, predictions: Any) -> list[dict[str, Any]]:
    """The profile's tag chips: RFM class and group, lifecycle stage, CLV tier, cluster (each when known), with
    the list filter it links to (none for the group, which the list cannot filter by)."""
    if k is None:
        return []
    tags: list[dict[str, Any]] = []
    if k.rfm_class:
        tags.append({"kind": "rfm_class", "code": k.rfm_class, "filter": {"rfm_class": k.rfm_class}})
    tags.append({"kind": "rfm_group", "code": k.rfm_group, "filter": None})
    tags.append({"kind": "lifecycle_stage", "code": k.lifecycle_stage, "filter": {"stage": k.lifecycle_stage}})
    if k.clv_tier in CLV_TIERS:
        tags.append({"kind": "clv_tier", "code": k.clv_tier, "filter": {"clv_tier": k.clv_tier}})
    if k.cluster is not None:
        name = predictions.cluster_name if predictions is not None else None
        tags.append({"kind": "cluster", "code": k.cluster, "name": name, "filter": {"cluster": k.cluster}})
    return tags


def _decrypt(cipher: FieldCipher, field: str, token: str | None) -> str | None:
    """The plaintext of one ciphertext; ``None`` when it does not decrypt with this key."""
    try:
        return cipher.decrypt(field, token)
    except (InvalidTag, ValueError):
        return None


def _profile(
    request: Request,
    db: Session,
    user: SignedIn,
    customer_id: int,
    as_of: date | None,
    revealed: dict[str, str] | None = None,
) -> Response:
    snapshot = queries.pick_snapshot(db, as_of)
    profile = queries.customer_profile(db, customer_id=customer_id, snapshot_id=snapshot.id if snapshot else None)
    k = profile.classification
    lang = lang_of(request)
    predictions = None
    if snapshot is not None and k is not None:
        products = queries_models.product_names(db, product_ids(k.recommendations))
        predictions = customer_predictions(k, snapshot.models, products, lang)
    cipher: FieldCipher = request.app.state.cipher
    show_text = user.can("reveal_pii")
    notes = [
        {"note": note, "author": author, "text": _decrypt(cipher, "note", note.body_enc) if show_text else None}
        for note, author in queries.customer_notes(db, customer_id)
    ]
    customer = profile.customer
    t = translator(lang)
    context = {
        "active": "customers",
        "snapshot": snapshot,
        "as_of_param": as_of,
        "profile": profile,
        "pii": masked_pii(cipher, customer),
        "present": {f for f, (column, _) in PII_FIELDS.items() if getattr(customer, column)},
        "revealed": revealed or {},
        "predictions": predictions,
        "predictions_ran": snapshot is not None and snapshot.models is not None,
        "tags": _tags(k, predictions),
        "notes": notes,
        "note_text_shown": show_text,
        "note_kinds": NOTE_KINDS,
        "note_channels": NOTE_CHANNELS,
        "note_max": NOTE_MAX_CHARS,
        "consents": queries.consent_events(db, customer_id),
        "consent_sources": CONSENT_SOURCES,
        "membership": membership_summary(db, customer_id),
        "names": {
            "field": {f: t(f"cust_field_{f}") for f in PII_FIELDS},
            "note_kind": {k: t(f"cust_note_kind_{k}") for k in NOTE_KINDS},
            "note_channel": {c: t(f"cust_note_channel_{c}") for c in NOTE_CHANNELS},
            "consent_source": {s: t(f"cust_consent_source_{s}") for s in CONSENT_SOURCES},
        },
    }
    return render(request.app.state.templates, request, "customer.html", context)


@router.get("/customers/{customer_id}")
def customer_profile(
    request: Request, db: DbSession, user: CustomersViewer, customer_id: CustomerId, as_of: date | None = None
) -> Response:
    """A customer's 360° profile: masked personal fields, tags, classes and scores, predictions, orders (newest
    first, with their lines), notes and interactions, marketing consent with its history."""
    return _profile(request, db, user, customer_id, as_of)


def _customer(db: Session, customer_id: int, action: str) -> Customer:
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if customer.erased_at is not None:
        raise InvalidInput(f"customer {customer_id}'s personal data was erased on request; {action} is not possible")
    return customer


@router.get("/customers/{customer_id}/reveal")
def reveal_page(
    request: Request, user: CustomersViewer, customer_id: CustomerId, as_of: date | None = None
) -> Response:
    """The address of a reveal's answer, opened again (a language switch, a bookmark): the masked profile."""
    lang = request.query_params.get("lang")
    return RedirectResponse(local_url(request, f"/customers/{customer_id}", as_of=as_of, lang=lang), status_code=303)


@router.post("/customers/{customer_id}/reveal")
def reveal_field(
    request: Request,
    db: DbSession,
    user: Revealer,
    customer_id: CustomerId,
    field: Annotated[Literal["name", "phone", "email", "address", "id_number"], Form()],
    csrf_token: CsrfToken = None,
    as_of: date | None = None,
) -> Response:
    """The profile with the plaintext of one personal field, in this response only (pages are ``no-store``).

    Audited (``reveal``, the field's name) and committed before the value is shown.
    """
    check_csrf(request, csrf_token)
    customer = _customer(db, customer_id, "revealing a field")
    token = getattr(customer, PII_FIELDS[field][0])
    if not token:
        raise InvalidInput(f"customer {customer_id} has no {field.replace('_', ' ')} to reveal")
    value = _decrypt(request.app.state.cipher, field, token)
    if value is None:
        raise InvalidInput(f"customer {customer_id}'s {field} does not decrypt with this key; check KEHU_SECRET_KEY")
    audit.record(db, action="reveal", user_id=user.id, username=user.username, target_type="customer",
                 target_id=customer_id, detail={"field": field}, ip=_ip(request), via="web")
    db.commit()
    return _profile(request, db, user, customer_id, as_of, revealed={field: value})


@router.post("/customers/{customer_id}/notes")
def add_note(
    request: Request,
    db: DbSession,
    user: NoteTaker,
    customer_id: CustomerId,
    kind: Annotated[Literal["note", "call", "message", "visit", "email"], Form()],
    text: Annotated[str, Form(max_length=NOTE_MAX_CHARS)],
    channel: Annotated[Literal["", "phone", "wechat", "sms", "email", "store", "app", "other"], Form()] = "",
    csrf_token: CsrfToken = None,
    as_of: date | None = None,
) -> Response:
    """Add a note or an interaction (call, message, visit, e-mail) to the customer: the text encrypted (field
    ``note``), audited (``note``: kind, channel and id, never the text); then back to the profile's notes."""
    check_csrf(request, csrf_token)
    body = text.strip()
    if not body:
        raise InvalidInput("the note is empty; write what happened")
    _customer(db, customer_id, "adding a note")
    note = CustomerNote(customer_id=customer_id, user_id=user.id, kind=kind, channel=channel or None,
                        body_enc=request.app.state.cipher.encrypt("note", body),
                        at=datetime.now(UTC).replace(tzinfo=None))
    db.add(note)
    db.flush()
    audit.record(db, action="note", user_id=user.id, username=user.username, target_type="customer",
                 target_id=customer_id, detail={"kind": kind, "channel": channel or None, "note_id": note.id},
                 ip=_ip(request), via="web")
    db.commit()
    target = local_url(request, f"/customers/{customer_id}", as_of=as_of) + "#notes"
    return RedirectResponse(target, status_code=303)


@router.post("/customers/{customer_id}/consent")
def change_consent(
    request: Request,
    db: DbSession,
    user: CustomerEditor,
    customer_id: CustomerId,
    decision: Annotated[Literal["grant", "withdraw"], Form()],
    source: Annotated[Literal["phone", "store", "web", "email", "sms", "wechat", "paper"], Form()],
    csrf_token: CsrfToken = None,
    as_of: date | None = None,
) -> Response:
    """Record a grant or a withdrawal of marketing consent with its source
    (:func:`kehu.privacy.consent.record_consent`, which audits it); then back to the profile's consent card."""
    check_csrf(request, csrf_token)
    record_consent(db, customer_id=customer_id, granted=decision == "grant", source=source, user_id=user.id)
    db.commit()
    target = local_url(request, f"/customers/{customer_id}", as_of=as_of) + "#consent"
    return RedirectResponse(target, status_code=303)

