"""The monthly report as an XLSX workbook: one sheet per section (:data:`kehu.reports.tables.SECTIONS`), text cells
formula-neutralised (a name starting with ``=`` cannot run in a spreadsheet), notes below each table."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font

from kehu.analytics.export import neutralise_formulas
from kehu.reports.monthly import MonthlyReport
from kehu.reports.tables import Cell, report_notes, report_sections
from kehu.web.i18n import translator


def _safe(row: list[Cell]) -> list[Cell]:
    texts = neutralise_formulas([v if isinstance(v, str) else None for v in row])
    return [texts[i] if isinstance(v, str) else v for i, v in enumerate(row)]


def report_xlsx(report: MonthlyReport, lang: str = "zh") -> bytes:
    """The workbook's bytes: a cover sheet (month, snapshots, notes) then one sheet per section."""
    t = translator(lang)
    book = Workbook()
    cover = book.active
    assert cover is not None
    cover.title = t("rep_sheet_cover")[:31]
    cover.append([t("rep_title")])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([t("rep_month"), report.month])
    cover.append([t("rep_snapshot"), report.as_of.isoformat()])
    cover.append([t("rep_prev_snapshot"), report.previous_as_of.isoformat() if report.previous_as_of else
                  t("rep_not_available")])
    for note in report_notes(report, lang):
        cover.append(_safe([note]))
    for section in report_sections(report, lang):
        sheet = book.create_sheet(section.title[:31])
        sheet.append(_safe(list(section.header)))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in section.rows:
            sheet.append(_safe(row))
        if section.notes:
            sheet.append([])
            for note in section.notes:
                sheet.append(_safe([note]))
        for i, _ in enumerate(section.header):
            sheet.column_dimensions[chr(ord("A") + i)].width = 22
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
