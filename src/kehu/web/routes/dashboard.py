"""The dashboard: key figures and charts of classes, groups, stages and monthly revenue."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS, label
from kehu.web import queries
from kehu.web.auth import SignedIn
from kehu.web.deps import DbSession, lang_of, render, require
from kehu.web.i18n import translator
from kehu.web.present import yuan_number

router = APIRouter()

_ORDER = {
    "rfm_class": list(RFM_CLASSES),
    "rfm_group": list(RFM_GROUPS),
    "lifecycle_stage": list(LIFECYCLE_STAGES),
}


def _ordered(kind: str, counts: list[tuple[str | None, int]]) -> list[tuple[str | None, int]]:
    """Counts in the labels' own order (e.g. lifecycle rule order), unknown codes last."""
    rank = {code: i for i, code in enumerate(_ORDER[kind])}
    return sorted(counts, key=lambda item: (rank.get(item[0] or "", len(rank)), item[0] or ""))


def chart_series(db: Any, snapshot_id: int, kind: str, lang: str) -> dict[str, Any]:
    """One bar chart's data: labels, codes and customer counts for ``kind`` in a snapshot."""
    counts = _ordered(kind, queries.counts_by(db, snapshot_id, kind))
    if kind == "rfm_class":  # prospects have no class; the 8 classes are of buyers
        counts = [(code, n) for code, n in counts if code]
    return {
        "codes": [code for code, _ in counts],
        "labels": [label(kind, code, lang) or "—" for code, _ in counts],
        "values": [n for _, n in counts],
    }


@router.get("/")
def dashboard(
    request: Request,
    db: DbSession,
    user: Annotated[SignedIn, Depends(require("view_dashboard"))],
    as_of: date | None = None,
) -> Response:
    """Key figures and charts for the chosen (default: newest) ready snapshot, or how to make one."""
    lang = lang_of(request)
    t = translator(lang)
    snapshot = queries.pick_snapshot(db, as_of)
    context: dict[str, Any] = {"active": "dashboard", "snapshot": snapshot, "as_of_param": as_of}
    if snapshot is None:
        context["figures"] = queries.key_figures(db)
        return render(request.app.state.templates, request, "dashboard.html", context)

    classes = chart_series(db, snapshot.id, "rfm_class", lang)
    groups = chart_series(db, snapshot.id, "rfm_group", lang)
    stages = chart_series(db, snapshot.id, "lifecycle_stage", lang)
    months = queries.snapshot_months(db, snapshot)
    charts = [
        {
            "id": "chart-classes",
            "kind": "bar",
            "title": t("chart_classes"),
            "y_title": t("chart_customers_axis"),
            "filter": "rfm_class",
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
            "filter": "lifecycle_stage",
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
    context.update(
        figures=queries.snapshot_figures(db, snapshot),
        snapshots=queries.ready_snapshots(db),
        charts=charts,
        classified=sum(classes["values"]),
    )
    return render(request.app.state.templates, request, "dashboard.html", context)
