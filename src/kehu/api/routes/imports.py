"""``/imports``: upload a file to import in the background, follow its run, download its rejected rows.

Uploads are saved to ``<data_dir>/uploads/`` under a random name (the original name kept after it, reduced to
letters, digits, ``.``, ``-`` and ``_``), at most :data:`MAX_UPLOAD_BYTES`. The credential is checked before the
body is read, and the body is counted while it is read, so an oversized upload is refused (413) without being
stored. The import runs in this process's import worker (:mod:`kehu.ingest.jobs`); once it has finished, the
uploaded file is deleted (its rows are in the store, its problems in the rejects file).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.types import Message

from kehu.api.auth import ApiUser, api_require, client_ip
from kehu.api.errors import ApiError
from kehu.api.paging import Paging, paginate
from kehu.api.params import RunId
from kehu.api.schemas import ImportAccepted, ImportProgress, ImportRunPublic, Page
from kehu.errors import InvalidInput, NotFound
from kehu.ingest import jobs
from kehu.ingest.formats import CUSTOMER_FIELDS, FORMATS, ORDER_FIELDS, get_format
from kehu.privacy import audit
from kehu.store import ImportRun
from kehu.web.deps import DbSession

log = logging.getLogger(__name__)
router = APIRouter(tags=["imports"])

Importer = Annotated[ApiUser, Depends(api_require("import_data"))]

#: Largest accepted upload, in bytes (500 MiB), counted over the whole request body.
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
#: How long the cleanup thread waits for a run before it looks again, in seconds.
_CLEANUP_POLL = 600.0
_SAFE_NAME = re.compile(r"[^\w.\-]+")

KINDS = ("orders", "customers")

_UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "CSV, XLSX or Parquet export (at most 500 MiB)"},
                        "kind": {"type": "string", "enum": list(KINDS)},
                        "format": {"type": "string", "default": "generic",
                                   "enum": sorted({name for _, name in FORMATS}),
                                   "description": "import format (generic, taobao, shopify, cdnow)"},
                        "mapping": {"type": "string",
                                    "description": 'JSON object FIELD → HEADER, e.g. {"amount": "实付金额"}'},
                    },
                }
            }
        },
    }
}


def uploads_dir(request: Request) -> Path:
    """``<data_dir>/uploads`` (created when missing, mode 0700: uploads hold personal data in plain text)."""
    path = Path(request.app.state.settings.data_dir) / "uploads"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _upload_name(original: str | None) -> str:
    """A random file name that keeps a readable tail of the original (``3f9c…_orders-2025.csv``)."""
    tail = _SAFE_NAME.sub("_", Path(original or "upload").name)[-80:].lstrip(".") or "upload"
    return f"{secrets.token_hex(16)}_{tail}"


def _parse_mapping(text: str | None, kind: str) -> dict[str, str]:
    """The ``mapping`` form field: a JSON object of canonical field → file header; :class:`InvalidInput` when it is
    not one or names a field the kind does not have."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidInput('mapping: expected a JSON object FIELD → HEADER, e.g. {"amount": "实付金额"}') from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidInput('mapping: expected a JSON object of text to text, e.g. {"amount": "实付金额"}')
    fields = ORDER_FIELDS if kind == "orders" else CUSTOMER_FIELDS
    for name, header in value.items():
        if name not in fields:
            raise InvalidInput(f"mapping: {name[:40]!r} is not a {kind} field; fields are: {', '.join(fields)}")
        if not header.strip() or len(header) > 256 or "\x00" in header:
            raise InvalidInput(f"mapping: the header for {name} must be 1 to 256 characters")
    return {k: v.strip() for k, v in value.items()}


def _form_text(form: Any, name: str) -> str | None:  # noqa: ANN401
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected a text field, not a file")
    return value


def _copy_upload(source: IO[bytes], target: Path) -> int:
    """Copy the spooled upload to ``target`` (mode 0600); returns its size in bytes."""
    source.seek(0)
    with target.open("xb") as out:
        target.chmod(0o600)
        shutil.copyfileobj(source, out, 1024 * 1024)
        return out.tell()


def _remove_when_finished(run_id: int, path: Path) -> None:
    """Delete the uploaded file once its run has finished (a daemon thread; the file stays if the process ends
    first)."""

    def watch() -> None:
        try:
            while not jobs.wait(run_id, timeout=_CLEANUP_POLL):
                pass
        except Exception:  # noqa: BLE001 - the run was forgotten: it has finished
            pass
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.warning("cannot delete the upload of import run %s", run_id)

    threading.Thread(target=watch, name=f"kehu-upload-{run_id}", daemon=True).start()


async def _read_form(request: Request) -> Any:  # noqa: ANN401
    """The multipart form, refused with 413 as soon as the body passes :data:`MAX_UPLOAD_BYTES`."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "too_large", limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024))
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type")
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_UPLOAD_BYTES:
                raise ApiError(413, "too_large", limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024))
        return message

    counted = StarletteRequest(request.scope, receive=receive)
    try:
        return await counted.form(max_files=1, max_fields=8)
    except ApiError:
        raise
    except Exception as exc:  # starlette's MultiPartException, a malformed body
        raise InvalidInput(f"the upload is not a readable multipart form ({exc})") from None


@router.post("/imports", status_code=202, response_model=ImportAccepted, summary="Upload a file to import",
             openapi_extra=_UPLOAD_SCHEMA)
async def create_import(request: Request, user: Importer) -> Response:
    """Save the uploaded file and queue its import; answers 202 with the run id at once (follow it at ``url``).

    ``kind`` is ``orders`` or ``customers``; ``format`` one of the import formats (default ``generic``);
    ``mapping`` an optional JSON object FIELD → HEADER for headers the format does not know. An unknown kind,
    format or field is refused now (400/422); a file that turns out unreadable ends its run ``failed`` with the
    reason.
    """
    form = await _read_form(request)
    try:
        kind = (_form_text(form, "kind") or "").strip()
        if kind not in KINDS:
            raise InvalidInput(f"kind: expected orders or customers, got {kind[:40]!r}")
        format_name = (_form_text(form, "format") or "generic").strip()
        fmt = get_format(kind, format_name)
        mapping = _parse_mapping(_form_text(form, "mapping"), kind)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file: attach the file to import as the form field 'file'")
        target = uploads_dir(request) / _upload_name(upload.filename)
        size = await run_in_threadpool(_copy_upload, upload.file, target)
    finally:
        await form.close()
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidInput("file: the uploaded file is empty")
    settings = request.app.state.settings
    try:
        run_id = await run_in_threadpool(
            lambda: jobs.start_import(settings=settings, path=target, kind=kind, format_name=fmt.name,
                                      mapping=mapping or None, user_id=user.id, username=user.username,
                                      ip=client_ip(request), via="api"))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    _remove_when_finished(run_id, target)
    url = f"{request.scope.get('root_path', '')}/api/v1/imports/{run_id}"
    body = ImportAccepted(run_id=run_id, status="running", url=url)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": url})


def _run_public(run: ImportRun) -> ImportRunPublic:
    return ImportRunPublic(
        id=run.id, kind=run.kind, format=run.format, file=Path(run.file or "").name, status=run.status,
        started_at=run.started_at, finished_at=run.finished_at, rows_read=run.rows_read or 0,
        inserted=run.inserted or 0, updated=run.updated or 0, unchanged=run.unchanged or 0,
        rejected=run.rejected or 0, skipped=run.skipped or 0,
        has_rejects=bool(run.rejects_path) and Path(run.rejects_path or "").is_file(),
        message=None if run.status == "running" else run.message,
    )


@router.get("/imports", response_model=Page[ImportRunPublic], summary="List import runs")
def list_imports(db: DbSession, user: Importer, paging: Paging) -> Page[ImportRunPublic]:
    """Import runs (from the API, the web app and the CLI), newest first."""
    stmt = select(ImportRun).order_by(ImportRun.id.desc())
    return paginate(db, stmt, paging, _run_public)


@router.get("/imports/{run_id}", response_model=ImportProgress, summary="Follow an import run")
def get_import(request: Request, user: Importer, run_id: RunId) -> ImportProgress:
    """Status, stage, progress and counters of a run; poll until ``finished`` is true."""
    return ImportProgress(**jobs.get_progress(run_id, settings=request.app.state.settings))


@router.get("/imports/{run_id}/rejects", summary="Download the rejected rows of a run (CSV)",
            response_class=FileResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "file, line, column, value, reason"}})
def import_rejects(request: Request, db: DbSession, user: Importer, run_id: RunId) -> Response:
    """The run's rejects CSV (file, line, column, value, reason; UTF-8 with BOM); 404 ``no_rejects`` when the run
    rejected nothing. Audited (``export``), since rejected cells may hold personal data."""
    run = db.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"no import run {run_id}")
    path = Path(run.rejects_path) if run.rejects_path else None
    if path is None or not path.is_file():
        raise ApiError(404, "no_rejects", run_id=run_id)
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="import_run",
                 target_id=run_id, detail={"what": "rejects"}, ip=client_ip(request), via="api")
    db.commit()
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"import-{run_id}-rejects.csv")
