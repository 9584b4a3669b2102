"""``/exports/classifications``: a snapshot as a CSV, XLSX or Parquet file (the CLI's ``kehu export
classifications``), one row per customer, no personal fields."""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.responses import Response

from kehu.analytics.export import export_classifications
from kehu.api.auth import ApiUser, api_require, client_ip
from kehu.privacy import audit
from kehu.web.deps import DbSession

router = APIRouter(tags=["exports"])

Exporter = Annotated[ApiUser, Depends(api_require("export_data"))]

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


@router.get("/exports/classifications", summary="Export a snapshot as a file", response_class=FileResponse,
            responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA_TYPES.values()},
                             "description": "the snapshot, one row per customer"}})
def export_snapshot(
    request: Request,
    db: DbSession,
    user: Exporter,
    format: Literal["csv", "xlsx", "parquet"] = "csv",
    as_of: Annotated[date | None, Query(description="snapshot date (default: the newest ready snapshot)")] = None,
) -> Response:
    """The snapshot dated ``as_of`` (or the newest) with the export columns of ``kehu export classifications``
    (money in yuan with two decimals, labels in Chinese and English). 404 when there is no such snapshot.
    Audited (``export``). The file is written to ``<data_dir>/tmp`` and deleted once sent."""
    settings = request.app.state.settings
    folder = Path(settings.data_dir) / "tmp" / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{secrets.token_hex(12)}.{format}"
    try:
        rows, snapshot_as_of = export_classifications(settings=settings, out=out, as_of=as_of)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="snapshot",
                 target_id=snapshot_as_of.isoformat(),
                 detail={"what": "classifications", "format": format, "rows": rows}, ip=client_ip(request),
                 via="api")
    db.commit()
    return FileResponse(out, media_type=MEDIA_TYPES[format],
                        filename=f"classifications-{snapshot_as_of.isoformat()}.{format}",
                        background=BackgroundTask(_remove, out))
