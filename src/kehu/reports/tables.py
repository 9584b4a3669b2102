"""The monthly report as language-specific tables, one per section: what the XLSX sheets, the printable page and the
web page show. Cells are numbers (money in yuan, shares in percent, rounded) or text; ``None`` is "not available".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kehu.analytics.labels import label
from kehu.campaigns.stats import Interval
from kehu.reports.monthly import MonthlyReport, Share
from kehu.web.i18n import translator

Cell = str | int | float | None

#: Section keys in report order (also the XLSX sheet order).
SECTIONS = ("figures", "classes", "groups", "stages", "migration", "clv", "churn", "campaigns", "nps")


@dataclass
class Section:
    """One section: ``key`` (stable, see :data:`SECTIONS`), title, header, rows, notes; ``bars`` are
    (label, share 0…1) pairs for a bar chart (empty: none)."""

    key: str
    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    bars: list[tuple[str, float]] = field(default_factory=list)


def _yuan(cents: float | None) -> float | None:
    return None if cents is None else round(cents / 100, 2)


def _pct(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def _iv(iv: Interval, scale: float = 1.0, digits: int = 1) -> str | None:
    if iv.estimate is None:
        return None
    text = f"{iv.estimate * scale:,.{digits}f}"
    if iv.low is not None and iv.high is not None:
        text += f" [{iv.low * scale:,.{digits}f}, {iv.high * scale:,.{digits}f}]"
    return text


def _share_section(key: str, kind: str, shares: list[Share], tr: Callable[..., str], lang: str,
                   has_prev: bool) -> Section:
    header = [tr("rep_col_code"), tr("rep_col_name"), tr("rep_col_count"), tr("rep_col_share")]
    if has_prev:
        header += [tr("rep_col_prev_count"), tr("rep_col_prev_share"), tr("rep_col_change")]
    rows: list[list[Cell]] = []
    for s in shares:
        row: list[Cell] = [s.code, label(kind, s.code, lang), s.count, _pct(s.share)]
        if has_prev:
            row += [s.previous_count, _pct(s.previous_share), s.change]
        rows.append(row)
    return Section(key, tr(f"rep_sec_{key}"), header, rows,
                   bars=[(label(kind, s.code, lang), s.share) for s in shares])


def report_sections(report: MonthlyReport, lang: str = "zh") -> list[Section]:
    """The sections of ``report`` in ``lang`` (zh/en), in the order of :data:`SECTIONS`."""
    t = translator(lang)
    na = t("rep_not_available")
    has_prev = report.previous_as_of is not None
    out: list[Section] = []

    rows: list[list[Cell]] = []
    for f in report.figures:
        money = f.key == "revenue_cents"
        conv = _yuan if money else (lambda v: v)
        rows.append([t(f"rep_fig_{f.key}"), conv(f.value), conv(f.previous), conv(f.change),
                     None if f.change_pct is None else round(f.change_pct, 1)])
    out.append(Section("figures", t("rep_sec_figures"),
                       [t("rep_col_figure"), t("rep_col_value"), t("rep_col_previous"), t("rep_col_change"),
                        t("rep_col_change_pct")], rows))

    prev_note = [t("rep_note_no_previous_snapshot")] if not has_prev else []
    for key, kind, shares in (("classes", "rfm_class", report.rfm_classes), ("groups", "rfm_group", report.rfm_groups),
                              ("stages", "lifecycle_stage", report.stages)):
        section = _share_section(key, kind, shares, t, lang, has_prev)
        section.notes = list(prev_note)
        out.append(section)

    mig = Section("migration", t("rep_sec_migration"),
                  [t("rep_col_from"), t("rep_col_to"), t("rep_col_customers")],
                  [[label("rfm_group", f.source, lang), label("rfm_group", f.target, lang), f.count]
                   for f in report.flows])
    if report.migrated is None:
        mig.notes.append(t("rep_note_no_previous_snapshot"))
    else:
        mig.notes.append(t("rep_migrated", moved=f"{report.migrated:,}", stayed=f"{report.stayed or 0:,}"))
        total = sum(f.count for f in report.flows) or 1
        mig.bars = [(f"{label('rfm_group', f.source, lang)} → {label('rfm_group', f.target, lang)}", f.count / total)
                    for f in report.flows]
    out.append(mig)

    clv = Section("clv", t("rep_sec_clv"), [t("rep_col_tier"), t("rep_col_customers"), t("rep_col_clv")],
                  [[t(f"rep_tier_{c.tier}") if c.tier in ("high", "medium", "low") else c.tier, c.customers,
                    _yuan(c.clv_cents)] for c in report.clv_tiers])
    if report.clv_total_cents is None:
        clv.notes.append(t("rep_note_no_clv"))
    else:
        clv.rows.append([t("rep_clv_total"), sum(c.customers for c in report.clv_tiers),
                         _yuan(report.clv_total_cents)])
        clv.bars = [(str(r[0]), c.clv_cents / (report.clv_total_cents or 1))
                    for r, c in zip(clv.rows, report.clv_tiers, strict=False)]
    out.append(clv)

    churn = Section("churn", t("rep_sec_churn"), [t("rep_col_figure"), t("rep_col_value")], [])
    if report.churn is None:
        churn.notes.append(t("rep_note_no_churn"))
    else:
        c = report.churn
        churn.rows = [[t("rep_churn_at_risk"), c.at_risk],
                      [t("rep_churn_mean"), None if c.mean_risk is None else round(c.mean_risk, 4)],
                      [t("rep_churn_auc"), None if c.auc is None else round(c.auc, 4)],
                      [t("rep_churn_baseline"), None if c.baseline_auc is None else round(c.baseline_auc, 4)]]
    out.append(churn)

    camp = Section("campaigns", t("rep_sec_campaigns"),
                   [t("rep_col_campaign"), t("rep_col_window"), t("rep_col_status"), t("rep_col_treated"),
                    t("rep_col_holdout"), t("rep_col_conv_diff"), t("rep_col_incremental")], [])
    for r in report.campaigns:
        res = r.result
        camp.rows.append([r.name, f"{r.starts_on.isoformat()} – {r.ends_on.isoformat()}",
                          t("rep_finished") if r.finished else t("rep_running"), res.treatment.customers,
                          res.holdout.customers, _iv(res.conversion_diff, 100),
                          _iv(res.incremental_revenue_cents, 0.01, 2)])
    if not report.campaigns:
        camp.notes.append(t("rep_note_no_campaigns"))
    out.append(camp)

    nps = Section("nps", t("rep_sec_nps"),
                  [t("rep_col_survey"), t("rep_col_answers"), t("rep_col_nps"), t("rep_col_promoters"),
                   t("rep_col_detractors")], [])
    if report.nps is None:
        nps.notes.append(t("rep_note_no_nps"))
    else:
        for name, sc in [(t("rep_nps_all"), report.nps)] + [(x.name, x.score) for x in report.nps_surveys]:
            nps.rows.append([name, sc.n, _iv(sc.value), _pct(sc.shares.get("promoter")),
                             _pct(sc.shares.get("detractor"))])
    out.append(nps)
    for s in out:
        s.rows = [[na if v is None else v for v in row] for row in s.rows]
    return out


def report_notes(report: MonthlyReport, lang: str = "zh") -> list[str]:
    """The report-wide notes (e.g. the snapshot predates the month's end) in ``lang``."""
    t = translator(lang)
    return [t("rep_note_snapshot_before_month_end", as_of=report.as_of.isoformat())
            for n in report.notes if n == "snapshot_before_month_end"]
