"""The XLSX workbook, the printable page and the CLI: every section present, text formula-safe, notes instead of
errors, one-line errors for bad input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from kehu.cli import app
from kehu.config import Settings
from kehu.reports import SECTIONS, monthly_report, report_html, report_sections, report_xlsx
from kehu.store import Campaign, session_scope
from kehu.web.i18n import translator

from .conftest import END
from .htmltree import parse


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_xlsx_has_a_cover_and_one_sheet_per_section(report_store: Settings, lang: str) -> None:
    with session_scope(report_store.store_url) as s:
        report = monthly_report(s, "2026-10", today=END)
    book = load_workbook(io.BytesIO(report_xlsx(report, lang)))
    t = translator(lang)
    assert book.sheetnames == [t("rep_sheet_cover")] + [t(f"rep_sec_{k}")[:31] for k in SECTIONS]
    figures = book[t("rep_sec_figures")]
    assert [c.value for c in figures[1]][:3] == [t("rep_col_figure"), t("rep_col_value"), t("rep_col_previous")]
    values = {row[0]: row[1] for row in figures.iter_rows(min_row=2, values_only=True)}
    assert values[t("rep_fig_orders")] == next(f.value for f in report.figures if f.key == "orders")
    assert values[t("rep_fig_revenue_cents")] == pytest.approx(report.figures[3].value / 100)


def test_text_cells_are_formula_neutralised(report_store: Settings) -> None:
    with session_scope(report_store.store_url) as s:
        campaign = s.query(Campaign).one()
        original = campaign.name
        campaign.name = "=HYPERLINK(\"http://x\")"
        s.flush()
        report = monthly_report(s, "2026-09", today=END)
        campaign.name = original
    book = load_workbook(io.BytesIO(report_xlsx(report, "en")))
    cell = book["Campaigns"]["A2"].value
    assert cell.startswith("'=")
    section = next(parse(report_html(report, "en")).iter("section", data_section="campaigns"))
    assert next(section.iter("td")).text() == "=HYPERLINK(\"http://x\")"


def test_printable_page_is_self_contained_with_every_section(report_store: Settings) -> None:
    with session_scope(report_store.store_url) as s:
        report = monthly_report(s, "2026-10", today=END)
    page = report_html(report, "zh")
    root = parse(page)
    found = {x.attrs["data-section"]: x for x in root.iter("section", data_section=None)}
    assert list(found) == list(SECTIONS)
    assert not list(root.iter("script")) and not list(root.iter("link")) and "http" not in page
    assert "@media print" in next(root.iter("style")).text()
    assert list(next(found["groups"].iter("svg")).iter("rect"))
    sections = {x.key: x for x in report_sections(report, "zh")}
    rows = list(next(found["migration"].iter("tbody")).iter("tr"))
    assert len(rows) == len(sections["migration"].rows) > 0
    cells = [td.text() for td in next(found["figures"].iter("tbody")).iter("td")]
    assert f"{report.figures[2].value:,}" in cells  # orders of the month


def test_missing_parts_become_notes_on_the_page(report_store: Settings) -> None:
    with session_scope(report_store.store_url) as s:
        report = monthly_report(s, "2026-08", today=END)
    found = {x.attrs["data-section"]: x for x in parse(report_html(report, "en")).iter("section", data_section=None)}
    t = translator("en")
    assert [n.text() for n in found["migration"].iter(data_note=None)] == [t("rep_note_no_previous_snapshot")]
    assert [n.text() for n in found["churn"].iter(data_note=None)] == [t("rep_note_no_churn")]


def test_cli_writes_xlsx_and_html_and_rejects_bad_input(report_store: Settings, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEHU_DATA_DIR", str(report_store.data_dir))
    monkeypatch.setenv("KEHU_SECRET_KEY", str(report_store.secret_key))
    runner = CliRunner()
    for name in ("r.xlsx", "r.html"):
        result = runner.invoke(app, ["report", "monthly", "--month", "2026-10", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).stat().st_size > 1000
    assert load_workbook(tmp_path / "r.xlsx").sheetnames[1] == translator("zh")("rep_sec_figures")
    bad = runner.invoke(app, ["report", "monthly", "--month", "2026-13", "--out", str(tmp_path / "x.xlsx")])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    wrong = runner.invoke(app, ["report", "monthly", "--month", "2026-10", "--out", str(tmp_path / "x.pdf")])
    assert wrong.exit_code != 0 and ".xlsx or .html" in wrong.output
    early = runner.invoke(app, ["report", "monthly", "--month", "2019-01", "--out", str(tmp_path / "x.xlsx")])
    assert early.exit_code != 0 and "kehu classify" in early.output
