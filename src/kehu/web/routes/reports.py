"""Report pages: ``/reports`` picks a month and shows the monthly customer report (:mod:`kehu.reports`), with links
to download it as XLSX or as a printable HTML page.

The report holds aggregates only (counts, shares, sums, intervals; no personal data), so every role may read and
download it (``view_reports``). Downloads are audited (``export``, target ``report``, the month and format).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from kehu.errors import InvalidInput, NotFound
from kehu.privacy import audit
from kehu.reports import monthly_report, parse_month, report_html, report_sections, report_xlsx
from kehu.reports.html import cell_text
from kehu.reports.tables import report_notes
from kehu.store import ClassificationSnapshot
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, lang_of, render, require

router = APIRouter()

ReportViewer = Annotated[SignedIn, Depends(require("view_reports"))]
Month = Annotated[str | None, Query(max_length=16)]


def _default_month(db: DbSession) -> str | None:
    """The month of the newest ready snapshot (``YYYY-MM``), or ``None`` without snapshots."""
    newest: date | None = db.scalar(select(ClassificationSnapshot.as_of).where(
        ClassificationSnapshot.status == "ready").order_by(ClassificationSnapshot.as_of.desc()).limit(1))
    return None if newest is None else newest.strftime("%Y-%m")


@router.get("/reports")
def reports_page(request: Request, db: DbSession, user: ReportViewer, month: Month = None) -> Response:
    """The month picker and the report of the chosen month (default: the newest snapshot's); a bad month string
    gives the page with an error (400), a month before every snapshot a note."""
    lang = lang_of(request)
    chosen = (month or "").strip() or _default_month(db)
    context: dict[str, object] = {"active": "reports", "month": chosen or "", "report": None, "sections": [],
                                  "notes": [], "error": None, "missing": False, "cell": cell_text}
    status = 200
    if chosen:
        try:
            report = monthly_report(db, chosen, churn_threshold=request.app.state.settings.churn_risk_threshold)
            context.update(report=report, sections=report_sections(report, lang), notes=report_notes(report, lang))
        except InvalidInput as exc:
            context["error"], status = str(exc), 400
        except NotFound:
            context["missing"] = True
    else:
        context["missing"] = True
    return render(request.app.state.templates, request, "reports.html", context, status)


@router.get("/reports/monthly.{fmt}")
def report_download(request: Request, db: DbSession, user: ReportViewer, fmt: Literal["xlsx", "html"],
                    month: Annotated[str, Query(max_length=16)]) -> Response:
    """The report of ``month`` as an XLSX workbook or a printable, self-contained HTML page (audited)."""
    parse_month(month)
    report = monthly_report(db, month, churn_threshold=request.app.state.settings.churn_risk_threshold)
    lang = lang_of(request)
    audit.record(db, action="export", user_id=user.id, username=user.username, target_type="report",
                 target_id=report.month, detail={"report": "monthly", "month": report.month, "format": fmt},
                 ip=request.client.host if request.client else None, via="web")
    db.commit()
    filename = f"kehu-report-{report.month}.{fmt}"
    if fmt == "xlsx":
        return Response(report_xlsx(report, lang),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return Response(report_html(report, lang), media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})
