"""The dashboard: key figures and charts of classes, groups, stages and monthly revenue; the RFM score grid, the
class and group treemap, the lifecycle funnel, monthly cohorts, provinces and city tiers, the channel mix, revenue
by class and the migration between two snapshots; when the snapshot has predictions, CLV tiers and distribution,
churn-risk bands, clusters and the models' quality.

Every chart's numbers are also in a table under it. Chart data goes to ``static/charts.js`` in two JSON blocks:
``#kehu-charts`` (the first four charts and the predictions) and ``#kehu-dashboard-charts`` (the analysis
sections of :mod:`kehu.web.dashboard_sections`).

Cost on SQLite at 1M customers, 10M orders (2 shared cores, CPU time): one scan of the snapshot for the grid,
classes, groups, stages, treemap, funnel and revenue by class (0.6 s), provinces and city tiers (0.5 s), the
migration between two snapshots (0.8 s), the channel mix over the orders (3.6 s); all but the geography are kept in
an in-process cache (:func:`kehu.web.queries_dashboard.cached`), so a second view costs about a second.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from kehu.analytics.labels import label
from kehu.store import ClassificationSnapshot
from kehu.web import queries, queries_dashboard, queries_models
from kehu.web.auth import SignedIn
from kehu.web.dashboard_sections import LABEL_ORDER, analysis_sections, compare_snapshot
from kehu.web.deps import DbSession, lang_of, render, require
from kehu.web.i18n import translator
from kehu.web.predictions import cluster_names, model_quality
from kehu.web.present import yuan, yuan_number
from kehu.web.queries_dashboard import BreakdownRow, totals_by

router = APIRouter()


def _ordered(kind: str, counts: list[tuple[str | None, int]]) -> list[tuple[str | None, int]]:
    """Counts in the labels' own order (e.g. lifecycle rule order), unknown codes last."""
    rank = {code: i for i, code in enumerate(LABEL_ORDER[kind])}
    return sorted(counts, key=lambda item: (rank.get(item[0] or "", len(rank)), item[0] or ""))


def chart_series(breakdown: list[BreakdownRow], kind: str, lang: str) -> dict[str, Any]:
    """One bar chart's data: labels, codes and customer counts for ``kind`` (rfm_class, rfm_group or
    lifecycle_stage) from a snapshot's breakdown (:func:`kehu.web.queries_dashboard.snapshot_breakdown`)."""
    totals = totals_by(breakdown, kind)  # type: ignore[arg-type]
    counts = _ordered(kind, [(key[0], total.customers) for key, total in totals.items()])
    if kind == "rfm_class":  # prospects have no class; the 8 classes are of buyers
        counts = [(code, n) for code, n in counts if code]
    return {
        "codes": [code for code, _ in counts],
        "labels": [label(kind, code, lang) or "—" for code, _ in counts],
        "values": [n for _, n in counts],
    }


def _yuan_edge(cents: int) -> str:
    """A histogram edge: ``¥1,500`` (whole yuan without decimals)."""
    return f"¥{cents // 100:,}" if cents % 100 == 0 else yuan(cents)


def prediction_section(db: Any, snapshot: ClassificationSnapshot, lang: str) -> dict[str, Any]:
    """What the dashboard shows of a snapshot's predictions: CLV per tier, the CLV histogram, churn-risk bands
    and clusters as charts (only those with data), and the model report's headline numbers.

    A snapshot made without predictions (no model report) costs no query.
    """
    t = translator(lang)
    if snapshot.models is None:
        return {"ran": False, "tiers": [], "charts": [], "quality": model_quality(None)}
    tiers = queries_models.clv_tiers(db, snapshot.id)
    charts: list[dict[str, Any]] = []
    if tiers:
        low = min(row.min_cents for row in tiers)
        high = max(row.max_cents for row in tiers)
        bins = queries_models.clv_histogram(db, snapshot.id, low=low, high=high)
        counts = [b.customers for b in bins]
        nonzero = [n for n in counts if n]
        charts.append(
            {
                "id": "chart-clv",
                "kind": "bar",
                "title": t("chart_clv_hist"),
                "x_title": t("chart_clv_axis"),
                "y_title": t("chart_customers_axis"),
                "labels": [f"{_yuan_edge(b.low_cents)}–{_yuan_edge(b.high_cents)}" for b in bins],
                "values": counts,
                "single_color": True,
                # A skewed distribution (the usual case for CLV) on a log axis, so the tail stays visible.
                "y_log": bool(nonzero) and max(nonzero) > 50 * min(nonzero),
            }
        )
    bands = queries_models.churn_bands(db, snapshot.id)
    if any(bands):
        edges = [0, *(round(b * 100) for b in queries_models.CHURN_BANDS)]
        charts.append(
            {
                "id": "chart-churn",
                "kind": "bar",
                "title": t("chart_churn_bands"),
                "x_title": t("chart_churn_axis"),
                "y_title": t("chart_customers_axis"),
                "labels": [f"{a}–{b}%" for a, b in zip(edges, edges[1:], strict=False)],
                "values": bands,
            }
        )
    sizes = queries_models.cluster_sizes(db, snapshot.id)
    if sizes:
        names = cluster_names(snapshot.models, lang)
        charts.append(
            {
                "id": "chart-clusters",
                "kind": "bar",
                "title": t("chart_clusters"),
                "y_title": t("chart_customers_axis"),
                "param": "cluster",
                "codes": [str(cluster) for cluster, _ in sizes],
                "labels": [names.get(cluster) or t("cluster_n", id=cluster) for cluster, _ in sizes],
                "values": [n for _, n in sizes],
            }
        )
    tier_customers = sum(row.customers for row in tiers)
    tier_clv = sum(row.clv_cents for row in tiers)
    return {
        "ran": True,
        "tiers": tiers,
        "tier_customers": tier_customers,
        "tier_clv_cents": tier_clv,
        "charts": charts,
        "quality": model_quality(snapshot.models),
    }


@router.get("/")
def dashboard(
    request: Request,
    db: DbSession,
    user: Annotated[SignedIn, Depends(require("view_dashboard"))],
    as_of: date | None = None,
    compare: Annotated[date | None, Query(description="second snapshot date for the migration chart")] = None,
) -> Response:
    """Key figures and charts for the chosen (default: newest) ready snapshot, or how to make one.

    ``compare``: the date of a second snapshot for the migration chart (default: the one before ``as_of``);
    404 when no ready snapshot has that date, 400 when it is ``as_of`` itself.
    """
    lang = lang_of(request)
    t = translator(lang)
    snapshot = queries.pick_snapshot(db, as_of)
    context: dict[str, Any] = {"active": "dashboard", "snapshot": snapshot, "as_of_param": as_of}
    if snapshot is None:
        context["figures"] = queries.key_figures(db)
        return render(request.app.state.templates, request, "dashboard.html", context)

    snapshots = queries.ready_snapshots(db)
    other = compare_snapshot(snapshots, snapshot, compare, db)
    breakdown = queries_dashboard.cached(
        queries_dashboard.snapshot_key(db, snapshot, "breakdown"),
        lambda: queries_dashboard.snapshot_breakdown(db, snapshot.id),
    )
    classes = chart_series(breakdown, "rfm_class", lang)
    groups = chart_series(breakdown, "rfm_group", lang)
    stages = chart_series(breakdown, "lifecycle_stage", lang)
    months = queries.snapshot_months(db, snapshot)
    charts = [
        {
            "id": "chart-classes",
            "kind": "bar",
            "title": t("chart_classes"),
            "y_title": t("chart_customers_axis"),
            "param": "rfm_class",
            **classes,
        },
        {
            "id": "chart-groups",
            "kind": "bar",
            "title": t("chart_groups"),
            "y_title": t("chart_customers_axis"),
            **groups,
        },
        {
            "id": "chart-stages",
            "kind": "pie",
            "title": t("chart_stages"),
            "param": "stage",
            **stages,
        },
        {
            "id": "chart-revenue",
            "kind": "line",
            "title": t("chart_revenue"),
            "x_title": t("chart_month_axis"),
            "y_title": t("chart_revenue_axis"),
            "labels": [m for m, _ in months],
            "values": [yuan_number(c) for _, c in months],
        },
    ]
    models = prediction_section(db, snapshot, lang)
    sections = analysis_sections(request, db, snapshot, breakdown, snapshots, other, as_of, lang)
    context.update(
        figures=queries.snapshot_figures(db, snapshot),
        snapshots=snapshots,
        compare=other,
        charts=charts,
        models=models,
        sections=sections,
        section_charts=[s["chart"] for s in sections if s.get("chart")],
        classified=sum(classes["values"]),
    )
    return render(request.app.state.templates, request, "dashboard.html", context)
