"""Reports (报告): the monthly customer report — key figures, RFM classes and lifecycle stages, migration, CLV,
churn, campaigns and NPS of a month against the month before — as a dataclass, an XLSX workbook and a printable
HTML page."""

from kehu.reports.html import report_html
from kehu.reports.monthly import MonthlyReport, monthly_report, parse_month
from kehu.reports.tables import SECTIONS, Section, report_sections
from kehu.reports.xlsx import report_xlsx

__all__ = ["SECTIONS", "MonthlyReport", "Section", "monthly_report", "parse_month", "report_html", "report_sections",
           "report_xlsx"]
