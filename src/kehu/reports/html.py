# ruff: noqa: E501  (the page template holds long HTML lines)
"""The monthly report as one self-contained printable HTML page: inline CSS with print rules, inline SVG bars, no
scripts, no external resources. Autoescaped Jinja2 (names of campaigns and surveys are user text)."""

from __future__ import annotations

from datetime import datetime

from jinja2 import DictLoader, Environment, select_autoescape

from kehu.reports.monthly import MonthlyReport
from kehu.reports.tables import Cell, report_notes, report_sections
from kehu.web.i18n import translator

#: The page, kept in the module so that it ships with the package without package-data entries.
PAGE = """<!DOCTYPE html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t('rep_title') }} {{ report.month }}</title>
<style>
  body { font-family: "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", system-ui, sans-serif; color: #1a202c;
         margin: 2rem auto; max-width: 60rem; padding: 0 1rem; line-height: 1.45; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; }
  h2 { font-size: 1.15rem; border-bottom: 2px solid #2b6cb0; padding-bottom: .2rem; margin-top: 1.8rem; }
  .meta { color: #4a5568; margin: 0; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: .5rem 0; }
  th, td { border: 1px solid #cbd5e0; padding: .25rem .5rem; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  th { background: #edf2f7; }
  .note { color: #744210; background: #fefcbf; padding: .3rem .6rem; border-radius: 3px; }
  svg text { font-size: 11px; fill: #2d3748; }
  section { break-inside: avoid; page-break-inside: avoid; }
  @media print {
    body { margin: 0; max-width: none; font-size: 10pt; }
    h2 { break-after: avoid; page-break-after: avoid; }
    @page { size: A4; margin: 15mm; }
  }
</style>
</head>
<body data-month="{{ report.month }}">
<header>
  <h1>{{ t('rep_title') }} · {{ report.month }}</h1>
  <p class="meta">{{ t('rep_snapshot') }}: {{ report.as_of.isoformat() }} ·
    {{ t('rep_prev_snapshot') }}: {{ report.previous_as_of.isoformat() if report.previous_as_of else t('rep_not_available') }} ·
    {{ t('rep_generated') }}: {{ generated }}</p>
  {% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
</header>
{% for s in sections %}
<section id="sec-{{ s.key }}" data-section="{{ s.key }}">
  <h2>{{ s.title }}</h2>
  {% for note in s.notes %}<p class="note" data-note>{{ note }}</p>{% endfor %}
  {% if s.rows %}
  <table>
    <thead><tr>{% for h in s.header %}<th scope="col">{{ h }}</th>{% endfor %}</tr></thead>
    <tbody>{% for row in s.rows %}<tr>{% for v in row %}<td{% if v is number %} class="num"{% endif %}>{{ v | cell }}</td>{% endfor %}</tr>{% endfor %}</tbody>
  </table>
  {% endif %}
  {% if s.bars %}
  {% set h = 18 %}
  <svg role="img" aria-label="{{ s.title }}" width="100%" viewBox="0 0 600 {{ s.bars | length * h + 4 }}" preserveAspectRatio="xMinYMin meet">
    {% for name, share in s.bars %}
    <text x="0" y="{{ loop.index0 * h + 13 }}">{{ name }}</text>
    <rect x="200" y="{{ loop.index0 * h + 3 }}" width="{{ '%.1f' | format(340 * share) }}" height="{{ h - 6 }}" fill="#2b6cb0"></rect>
    <text x="{{ '%.1f' | format(205 + 340 * share) }}" y="{{ loop.index0 * h + 13 }}">{{ '%.1f' | format(100 * share) }}%</text>
    {% endfor %}
  </svg>
  {% endif %}
</section>
{% endfor %}
</body>
</html>
"""


def cell_text(value: Cell) -> str:
    """A cell as shown: thousands separators for numbers, text as is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}"
    return value


def _environment() -> Environment:
    env = Environment(loader=DictLoader({"report_print.html": PAGE}), autoescape=select_autoescape(default=True))
    env.filters["cell"] = cell_text
    return env


def report_html(report: MonthlyReport, lang: str = "zh") -> str:
    """The printable page of ``report`` in ``lang`` (zh/en)."""
    template = _environment().get_template("report_print.html")
    return template.render(report=report, sections=report_sections(report, lang), notes=report_notes(report, lang),
                           t=translator(lang), lang=lang, generated=datetime.now().strftime("%Y-%m-%d %H:%M"))
