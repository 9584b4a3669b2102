"""The imports pages: upload a file, check its column mapping and problems, import it in the background, follow
its progress, download its rejected rows; the list of past import runs.

Every page needs the ``import_data`` permission (analyst, admin). The flow:

1. ``GET /imports``: the upload form and the past runs. ``POST /imports`` (multipart, CSRF) stores the file in
   ``<data_dir>/uploads/<random>/`` with a ``meta.json`` (uploader, kind, chosen format, original name, size) and
   redirects to the mapping step. Only ``.csv``, ``.txt``, ``.xlsx`` and ``.parquet`` files of at most
   :data:`MAX_UPLOAD_BYTES` are taken (larger files: ``kehu import`` on the command line).
2. ``GET /imports/uploads/<token>``: the mapping step (:func:`kehu.ingest.preview.preview_file`): detected format,
   first rows (personal values masked), one select of the file's headers per kehu field pre-filled from the alias
   lists, required fields marked, and the problems found by validating the whole file without writing.
   ``POST`` with ``action=validate`` checks again with the chosen mapping, ``action=commit`` starts the import
   (:func:`kehu.ingest.jobs.start_import`) and redirects to the run, ``action=discard`` deletes the upload.
3. ``GET /imports/runs/<id>``: status, progress and counters; ``/static/imports.js`` polls
   ``GET /imports/runs/<id>/progress`` (JSON) and reloads the page when the run ends (without JavaScript a
   Refresh link does). ``GET /imports/runs/<id>/rejects`` downloads the rejects CSV (audited as an export).

An upload holds personal data in clear, so it does not stay: its folder is removed when its import ends, when it is
discarded, and :data:`UPLOAD_TTL_HOURS` after the upload if it was never imported (checked at each upload).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from sqlalchemy import select
from starlette.responses import Response

from kehu.config import Settings
from kehu.errors import InvalidInput, KehuError, NotFound
from kehu.ingest import jobs
from kehu.ingest.formats import CUSTOMER_FIELDS, FORMATS, ORDER_FIELDS, get_format
from kehu.ingest.preview import KINDS, Preview, preview_file
from kehu.privacy import audit
from kehu.store import ImportRun
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, check_csrf, lang_of, local_url, render
from kehu.web.deps import require as require_permission
from kehu.web.i18n import translator

router = APIRouter()

Importer = Annotated[SignedIn, Depends(require_permission("import_data"))]

#: Largest upload taken by the web page, in bytes (200 MiB). The whole file is validated on each check of the
#: mapping step, inside the request; the command line (``kehu import``) has no limit.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: File name endings taken by the upload (compared lower-cased); the content is still sniffed by the reader.
ALLOWED_EXTENSIONS = (".csv", ".txt", ".xlsx", ".parquet")
#: Hours after which an upload that was never imported is deleted.
UPLOAD_TTL_HOURS = 24
#: Rows shown in the mapping step's preview.
PREVIEW_ROWS = 10
#: Past runs listed on the imports page (newest first).
RUNS_LISTED = 50
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CHUNK = 1 << 20


def _uploads(settings: Settings) -> FilePath:
    return FilePath(settings.data_dir) / "uploads"


def _safe_name(name: str) -> str:
    """The base name of an uploaded file with only letters, digits, CJK, ``.-_`` and spaces (at most 100)."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^\w.\- \u4e00-\u9fff]", "_", base).strip(" .") or "upload"
    stem, dot, ext = cleaned.rpartition(".")
    return (stem[: 100 - len(ext) - 1] + dot + ext) if dot else cleaned[:100]


def _sweep(settings: Settings) -> None:
    """Delete upload folders older than :data:`UPLOAD_TTL_HOURS` that no queued or running import uses."""
    root = _uploads(settings)
    if not root.is_dir():
        return
    busy = {p.parent for p in jobs.active_paths()}
    limit = time.time() - UPLOAD_TTL_HOURS * 3600
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder not in busy and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _load_upload(settings: Settings, token: str, user: SignedIn) -> tuple[FilePath, dict[str, Any]]:
    """The uploaded file and its meta data; NotFound when gone, not this user's (admins see all) or malformed."""
    gone = NotFound("this upload is gone (imported, discarded or older than "
                    f"{UPLOAD_TTL_HOURS} hours); upload the file again")
    if not _TOKEN.fullmatch(token):
        raise gone
    folder = _uploads(settings) / token
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise gone from None
    path = folder / str(meta.get("file", ""))
    if not path.is_file() or path.parent != folder or (meta.get("user_id") != user.id and user.role != "admin"):
        raise gone
    return path, meta


def _size(n: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 KB``, ``12.0 MB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _formats(kind: str) -> list[str]:
    return sorted(name for k, name in FORMATS if k == kind)


def _runs(db: DbSession) -> list[ImportRun]:
    return list(db.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(RUNS_LISTED)))


def _shown_message(message: str | None, settings: Settings) -> str | None:
    """A run's or reader's message without the data folder's path (an upload's folder is a secret token)."""
    if not message:
        return message
    text = re.sub(re.escape(str(_uploads(settings))) + r"/[A-Za-z0-9_-]+/", "", message)
    return text.replace(str(FilePath(settings.data_dir)) + "/", "")


COUNTERS = ("rows_read", "inserted", "updated", "unchanged", "rejected", "skipped")


def words(t: Callable[..., str]) -> dict[str, dict[str, str]]:
    """The words of the imports pages for codes: kinds, formats, run statuses, stages, fields, counters.

    Templates get them as ``w`` (``w.kind['orders']``); the run page also hands ``stage`` and ``status`` to
    ``/static/imports.js``. Built here so that a missing catalogue key fails at once.
    """
    fields = dict.fromkeys([*ORDER_FIELDS, *CUSTOMER_FIELDS])
    return {
        "kind": {k: t(f"imp_kind_{k}") for k in KINDS},
        "format": {f: t(f"imp_format_{f}") for f in sorted({name for _, name in FORMATS})},
        "status": {s: t(f"imp_status_{s}") for s in ("running", "succeeded", "failed")},
        "stage": {s: t(f"imp_stage_{s}") for s in ("queued", "read", "validate", "load", "finished")},
        "field": {f: t(f"field_{f}") for f in fields},
        "counter": {c: t("imp_col_read" if c == "rows_read" else f"imp_col_{c}") for c in COUNTERS},
    }


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    context = {"active": "imports", "w": words(translator(lang_of(request))), **context}
    return render(request.app.state.templates, request, name, context, status_code)


def _index(request: Request, db: DbSession, *, error: str | None = None, status_code: int = 200,
           kind: str = "orders", format_name: str = "") -> Response:
    settings: Settings = request.app.state.settings
    context = {
        "runs": _runs(db),
        "error": error,
        "kinds": KINDS,
        "formats": {k: _formats(k) for k in KINDS},
        "all_formats": sorted({name for _, name in FORMATS}),
        "chosen_kind": kind,
        "chosen_format": format_name,
        "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        "accept": ",".join(ALLOWED_EXTENSIONS),
        "basename": lambda p: FilePath(p).name if p else "",
        "shown_message": lambda m: _shown_message(m, settings),
    }
    return _render(request, "imports.html", context, status_code)


@router.get("/imports")
def imports_page(request: Request, db: DbSession, user: Importer) -> Response:
    """The upload form and the last :data:`RUNS_LISTED` import runs with their counters and status."""
    return _index(request, db)


@router.post("/imports")
async def upload(
    request: Request,
    db: DbSession,
    user: Importer,
    file: Annotated[UploadFile | None, File()] = None,
    kind: Annotated[str, Form(max_length=16)] = "orders",
    format: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Store an uploaded file in its own random folder and go to the mapping step.

    A wrong extension, an empty or too large file gives the upload page again with a message (400 / 413).
    """
    check_csrf(request, csrf_token)
    t = translator(lang_of(request))
    settings: Settings = request.app.state.settings
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; choose orders or customers")

    def again(message: str, status: int = 400) -> Response:
        return _index(request, db, error=message, status_code=status, kind=kind, format_name=format)

    if format:
        try:
            get_format(kind, format)
        except InvalidInput as exc:
            return again(str(exc))

    if file is None or not file.filename:
        return again(t("imp_err_no_file"))
    name = _safe_name(file.filename)
    ext = FilePath(name).suffix.lower()
    if ext not in ALLOWED_EXTENSIONS:
        return again(t("imp_err_ext", ext=ext or name))
    _sweep(settings)
    token = secrets.token_urlsafe(18)
    folder = _uploads(settings) / token
    folder.mkdir(parents=True, mode=0o700)
    target = folder / name
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := await file.read(_CHUNK):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    break
                out.write(chunk)
    finally:
        await file.close()
    if size > MAX_UPLOAD_BYTES or size == 0:
        shutil.rmtree(folder, ignore_errors=True)
        if size == 0:
            return again(t("imp_err_empty"))
        return again(t("imp_err_size", mb=MAX_UPLOAD_BYTES // (1024 * 1024)), 413)
    meta = {"user_id": user.id, "file": name, "kind": kind, "format": format, "size": size,
            "uploaded_at": int(time.time())}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return RedirectResponse(local_url(request, f"/imports/uploads/{token}"), status_code=303)


Token = Annotated[str, Path(min_length=16, max_length=64)]


def _mapping_page(request: Request, *, token: str, path: FilePath, meta: dict[str, Any], format_name: str | None,
                  chosen: dict[str, str] | None, notice: str | None = None, status_code: int = 200) -> Response:
    """Render the mapping step for ``format_name`` (``None``: detected) with ``chosen`` overrides."""
    t = translator(lang_of(request))
    settings: Settings = request.app.state.settings
    kind = str(meta.get("kind", "orders"))
    preview: Preview | None = None
    error = None
    try:
        preview = preview_file(path, kind=kind, format_name=format_name, mapping=chosen, rows=PREVIEW_ROWS,
                               settings=settings)
    except InvalidInput as exc:
        if chosen:  # a header that is not in the file: show the error beside the mapping from the aliases
            error = t("imp_err_mapping", message=_shown_message(str(exc), settings))
            try:
                preview = preview_file(path, kind=kind, format_name=format_name, rows=PREVIEW_ROWS,
                                       settings=settings)
            except KehuError as again:
                error = t("imp_err_file", message=_shown_message(str(again), settings))
        else:
            error = t("imp_err_file", message=_shown_message(str(exc), settings))
        status_code = 400
    context = {
        "token": token,
        "file_name": path.name,
        "file_size": _size(int(meta.get("size", 0))),
        "kind": kind,
        "formats": _formats(kind),
        "preview": preview,
        "error": error,
        "notice": notice,
        "chosen_format": format_name or "",
        "missing_labels": ", ".join(t(f"field_{f}") for f in preview.missing) if preview else "",
    }
    return _render(request, "imports_mapping.html", context, status_code)


@router.get("/imports/uploads/{token}")
def mapping_step(request: Request, user: Importer, token: Token) -> Response:
    """The mapping step of an upload: preview, mapping from the alias lists, validation of the whole file."""
    path, meta = _load_upload(request.app.state.settings, token, user)
    return _mapping_page(request, token=token, path=path, meta=meta, format_name=meta.get("format") or None,
                         chosen=None)


@router.post("/imports/uploads/{token}")
async def mapping_action(request: Request, user: Importer, token: Token) -> Response:
    """``action``: ``validate`` (check the chosen mapping), ``commit`` (start the import), ``discard``.

    Form fields: ``csrf_token``, ``format``, ``shown_format`` (the format the mapping was shown for; a changed format
    drops the mapping and checks again), ``map_<field>`` (a header, empty for none) and ``suggested_<field>`` (the
    header from the aliases; only choices that differ from it are passed on, so a field keeps every alias match as
    its fallback).
    """
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    settings: Settings = request.app.state.settings
    t = translator(lang_of(request))
    path, meta = _load_upload(settings, token, user)
    action = str(form.get("action") or "validate")
    if action == "discard":
        shutil.rmtree(path.parent, ignore_errors=True)
        return RedirectResponse(local_url(request, "/imports"), status_code=303)
    kind = str(meta.get("kind", "orders"))
    format_name = str(form.get("format") or "") or None
    if format_name:
        get_format(kind, format_name)
    if format_name != (str(form.get("shown_format") or "") or None):
        notice = t("imp_format_changed") if action == "commit" else None
        return _mapping_page(request, token=token, path=path, meta=meta, format_name=format_name, chosen=None,
                             notice=notice)
    chosen = {key[4:]: str(value) for key, value in form.multi_items()
              if key.startswith("map_") and isinstance(value, str) and len(key) < 40 and len(value) < 1000}
    suggested = {key[10:]: str(value) for key, value in form.multi_items()
                 if key.startswith("suggested_") and isinstance(value, str)}
    overrides = {f: h for f, h in chosen.items() if h and suggested.get(f) != h}
    if action != "commit":
        return _mapping_page(request, token=token, path=path, meta=meta, format_name=format_name, chosen=overrides)
    fmt = get_format(kind, format_name or str(form.get("detected_format") or "generic"))
    missing = [f for f in fmt.required if f not in fmt.derived and not chosen.get(f)]
    if missing:
        return _mapping_page(request, token=token, path=path, meta=meta, format_name=format_name,
                             chosen=overrides, status_code=400,
                             notice=t("imp_missing", fields=", ".join(t(f"field_{f}") for f in missing)))
    run_id = jobs.start_import(settings=settings, path=path, kind=kind, format_name=fmt.name, mapping=overrides,
                               user_id=user.id, username=user.username,
                               ip=request.client.host if request.client else None, via="web", cleanup=path.parent)
    return RedirectResponse(local_url(request, f"/imports/runs/{run_id}"), status_code=303)


RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/imports/runs/{run_id}")
def run_page(request: Request, db: DbSession, user: Importer, run_id: RunId) -> Response:
    """One import run: its status, progress (polled by ``/static/imports.js``), counters and rejects."""
    settings: Settings = request.app.state.settings
    state = jobs.get_progress(run_id, settings=settings)
    run = db.get(ImportRun, run_id)
    context = {
        "run": run,
        "state": state,
        "file_name": FilePath(run.file).name if run else "",
        "message": _shown_message(state["message"], settings),
    }
    return _render(request, "imports_run.html", context)


@router.get("/imports/runs/{run_id}/progress")
def run_progress(request: Request, user: Importer, run_id: RunId) -> Response:
    """The run's state as JSON (see :func:`kehu.ingest.jobs.get_progress`), with the stage's label and the
    message without folder paths."""
    settings: Settings = request.app.state.settings
    state = jobs.get_progress(run_id, settings=settings)
    t = translator(lang_of(request))
    state["message"] = _shown_message(state["message"], settings)
    state["stage_label"] = t(f"imp_stage_{state['stage']}") if state.get("stage") else None
    state["status_label"] = t(f"imp_status_{state['status']}")
    return JSONResponse(state)


@router.get("/imports/runs/{run_id}/rejects")
def run_rejects(request: Request, db: DbSession, user: Importer, run_id: RunId) -> Response:
    """The run's rejects CSV (file, line, column, value, reason) as a download; the download is audited."""
    settings: Settings = request.app.state.settings
    run = db.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"no import run {run_id}")
    data_dir = FilePath(settings.data_dir).resolve()
    path = FilePath(run.rejects_path).resolve() if run.rejects_path else None
    if path is None or not path.is_file() or data_dir not in path.parents:
        raise NotFound(f"import run {run_id} has no rejects file")
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="import_run",
                 target_id=run_id, detail={"what": "rejects", "rows": run.rejected},
                 ip=request.client.host if request.client else None, via="web")
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"import-{run_id}-rejects.csv")
