"""The dashboard's analysis sections: RFM score grid, class and group treemap, lifecycle funnel, revenue by class,
monthly cohorts, provinces and city tiers, channel mix and the migration between two snapshots (Sankey).

Each section is a dict for ``templates/dashboard.html``: ``id``, ``title``, ``desc``, ``chart`` (the data
``static/charts.js`` draws, or ``None`` with ``empty`` saying why), ``tables`` (the chart's numbers: ``head`` and
``rows`` of cells) and optional ``note``, ``aside``, ``toggle``, ``wide``. Links to the customer list use only the
filters that list declares (:func:`list_filters`). Money in tables is formatted yuan; in charts, yuan numbers.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from kehu.analytics.geo import tier_label
from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GRID, RFM_GROUPS, label
from kehu.errors import InvalidInput
from kehu.store import ClassificationSnapshot
from kehu.web import queries, queries_dashboard
from kehu.web.deps import local_url
from kehu.web.i18n import translator
from kehu.web.present import percent, yuan, yuan_number
from kehu.web.queries_dashboard import BreakdownRow, Total, mean_cents, totals_by
from kehu.web.routes import customers as customer_routes

#: Codes of each kind in display order (e.g. lifecycle rule order).
LABEL_ORDER = {
    "rfm_class": list(RFM_CLASSES),
    "rfm_group": list(RFM_GROUPS),
    "lifecycle_stage": list(LIFECYCLE_STAGES),
}
#: The funnel's stages, in order; ``won_back`` is shown beside it.
FUNNEL_STAGES = ("new", "active", "at_risk", "churned")
#: Provinces drawn in the province chart (the table lists all).
TOP_PROVINCES = 15
#: One colour per RFM group and per lifecycle stage, the same in every chart.
GROUP_COLORS = {
    "champions": "#2f855a",
    "loyal": "#38a169",
    "potential_loyalist": "#68d391",
    "new": "#3182ce",
    "promising": "#63b3ed",
    "needs_attention": "#d69e2e",
    "about_to_sleep": "#ed8936",
    "at_risk": "#dd6b20",
    "cannot_lose": "#c53030",
    "hibernating": "#718096",
    "prospect": "#a0aec0",
}
STAGE_COLORS = {
    "prospect": "#a0aec0",
    "churned": "#c53030",
    "won_back": "#6b46c1",
    "new": "#3182ce",
    "at_risk": "#dd6b20",
    "active": "#2f855a",
}
#: The treemap's class tiles (their groups inside carry :data:`GROUP_COLORS`); no class (prospects) is grey.
CLASS_COLORS = {
    "important_value": "#1a365d",
    "important_development": "#2a4365",
    "important_retention": "#285e61",
    "important_winback": "#744210",
    "general_value": "#4a5568",
    "general_development": "#2d3748",
    "general_retention": "#234e52",
    "general_winback": "#7b341e",
}
OTHER_COLOR = "#cbd5e0"


def _query_names(dependant: Any) -> set[str]:
    """The query parameter names of a route's dependant and its sub-dependencies; a parameter declared as a
    pydantic model (``Annotated[Model, Query()]``) stands for the model's fields."""
    names: set[str] = set()
    for param in dependant.query_params:
        annotation = getattr(param.field_info, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {field.alias or name for name, field in annotation.model_fields.items()}
        else:
            names.add(param.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


@cache
def list_filters() -> frozenset[str]:
    """The query parameters the customer list (``GET /customers`` of :mod:`kehu.web.routes.customers`) accepts,
    read from its route, so that links from the charts use only filters the list really applies."""
    for route in customer_routes.router.routes:
        if isinstance(route, APIRoute) and route.path == "/customers" and "GET" in (route.methods or ()):
            return frozenset(_query_names(route.dependant))
    return frozenset()


class Links:
    """Builds links to the customer list for one request (same snapshot date, only supported filters)."""

    def __init__(self, request: Request, as_of: date | None) -> None:
        self.request = request
        self.as_of = as_of
        self.supported = list_filters()

    def customers(self, **filters: Any) -> str | None:
        """``/customers?…`` with ``filters``, or ``None`` when the list does not support one of them."""
        if not filters or not set(filters) <= self.supported:
            return None
        return local_url(self.request, "/customers", **filters, as_of=self.as_of)

    def grid_cell(self, r: int, f: int) -> str | None:
        """The customers of one score-grid cell: by R and F score when the list filters by them, else by the
        cell's RFM group when it can; ``None`` otherwise."""
        return self.customers(r_score=r, f_score=f) or self.customers(rfm_group=RFM_GRID[r][f])


def cell(text: Any, *, href: str | None = None, num: bool = False, col: str | None = None) -> dict[str, Any]:
    """One table cell: its text, an optional link, right-aligned when ``num``, ``data-cell`` when ``col``."""
    return {"text": str(text), "href": href, "num": num, "col": col}


def _share(part: int, whole: int) -> str:
    return percent(part / whole if whole else None)


def grid_section(breakdown: list[BreakdownRow], t: Any, lang: str, links: Links) -> dict[str, Any]:
    """The 5×5 RFM score grid as a heatmap: R score rows (5 on top), F score columns; customers per cell, mean
    monetary on hover, a click opens the cell's customers."""
    grid = queries_dashboard.rfm_grid(breakdown)
    rows, z, hover, hrefs = [], [], [], []
    for r in (1, 2, 3, 4, 5):  # Plotly draws y upwards: R 1 at the bottom
        z_row, hover_row, href_row = [], [], []
        for f in (1, 2, 3, 4, 5):
            c = grid[(r, f)]
            group = label("rfm_group", RFM_GRID[r][f], lang)
            z_row.append(c.customers)
            hover_row.append(
                f"R {r} · F {f} · {group}<br>{t('count')}: {c.customers:,}<br>"
                f"{t('mean_monetary')}: {yuan(c.mean_monetary_cents)}"
            )
            href_row.append(links.grid_cell(r, f))
        z.append(z_row)
        hover.append(hover_row)
        hrefs.append(href_row)
    for r in (5, 4, 3, 2, 1):
        cells = [cell(f"R {r}")]
        for f in (1, 2, 3, 4, 5):
            c = grid[(r, f)]
            cells.append(
                cell(
                    f"{c.customers:,} · {yuan(c.mean_monetary_cents)}",
                    href=links.grid_cell(r, f) if c.customers else None,
                    num=True,
                    col=f"f{f}",
                )
            )
        rows.append({"key": f"r{r}", "cells": cells})
    linked = any(h for row in hrefs for h in row)
    return {
        "id": "sec-rfm-grid",
        "title": t("sec_rfm_grid"),
        "desc": t("rfm_grid_desc"),
        "note": None if linked else t("rfm_grid_no_filter"),
        "chart": {
            "id": "chart-rfm-grid",
            "kind": "heatmap",
            "title": t("sec_rfm_grid"),
            "x": [f"F {f}" for f in range(1, 6)],
            "y": [f"R {r}" for r in range(1, 6)],
            "z": z,
            "text": hover,
            "links": hrefs,
            "x_title": t("axis_f_score"),
            "y_title": t("axis_r_score"),
            "colorscale": [[0, "#edf2f7"], [1, "#2c5282"]],
            "show_values": True,
        },
        "tables": [
            {"caption": t("sec_rfm_grid"), "head": [t("axis_r_score")] + [f"F {f}" for f in range(1, 6)], "rows": rows}
        ],
    }


def treemap_section(breakdown: list[BreakdownRow], t: Any, lang: str, links: Links) -> dict[str, Any]:
    """RFM classes (8, plus "no class" for prospects) split into their score-grid groups, sized by customers."""
    by_class = totals_by(breakdown, "rfm_class")
    pairs = totals_by(breakdown, "rfm_class", "rfm_group")
    total = sum(v.customers for v in by_class.values())
    ids: list[str] = []
    labels: list[str] = []
    parents: list[str] = []
    values: list[int] = []
    hover: list[str] = []
    hrefs: list[str | None] = []
    colors: list[str] = []
    rows: list[dict[str, Any]] = []
    class_rank = {code: i for i, code in enumerate(RFM_CLASSES)}
    group_rank = {code: i for i, code in enumerate(RFM_GROUPS)}
    for (klass,), ktotal in sorted(
        by_class.items(), key=lambda kv: (class_rank.get(kv[0][0] or "", 99), kv[0][0] or "")
    ):
        name = label("rfm_class", klass, lang) if klass else t("no_class")
        href = links.customers(rfm_class=klass) if klass else links.customers(stage="prospect")
        node = f"c:{klass or ''}"
        ids.append(node)
        labels.append(name)
        parents.append("")
        values.append(ktotal.customers)
        hover.append(f"{name}<br>{t('count')}: {ktotal.customers:,} ({_share(ktotal.customers, total)})")
        hrefs.append(href)
        colors.append(CLASS_COLORS.get(klass or "", "#a0aec0"))
        groups = sorted(
            ((g, v) for (c, g), v in pairs.items() if c == klass),
            key=lambda gv: (group_rank.get(gv[0] or "", 99), gv[0] or ""),
        )
        for group, gtotal in groups:
            gname = label("rfm_group", group, lang) or "—"
            ids.append(f"{node}/g:{group or ''}")
            labels.append(gname)
            parents.append(node)
            values.append(gtotal.customers)
            hover.append(f"{name} · {gname}<br>{t('count')}: {gtotal.customers:,} ({_share(gtotal.customers, total)})")
            ghref = (links.customers(rfm_class=klass, rfm_group=group) if klass else None) or href
            hrefs.append(ghref)
            colors.append(GROUP_COLORS.get(group or "", OTHER_COLOR))
            rows.append(
                {
                    "key": f"{klass or ''}/{group or ''}",
                    "cells": [
                        cell(name, href=href),
                        cell(gname),
                        cell(f"{gtotal.customers:,}", num=True, col="customers"),
                        cell(_share(gtotal.customers, total), num=True),
                    ],
                }
            )
    return {
        "id": "sec-treemap",
        "title": t("sec_treemap"),
        "desc": t("treemap_desc"),
        "chart": {
            "id": "chart-treemap",
            "kind": "treemap",
            "title": t("sec_treemap"),
            "ids": ids,
            "labels": labels,
            "parents": parents,
            "values": values,
            "text": hover,
            "links": hrefs,
            "colors": colors,
        },
        "tables": [
            {
                "caption": t("sec_treemap"),
                "head": [t("col_class"), t("col_group"), t("count"), t("share")],
                "rows": rows,
            }
        ],
    }


def funnel_section(stages: dict[tuple[str | None, ...], Total], t: Any, lang: str, links: Links) -> dict[str, Any]:
    """Customers per stage along new → active → at risk → churned, with the won-back customers beside."""
    counts = [stages.get((s,), Total(0, 0)).customers for s in FUNNEL_STAGES]
    won_back = stages.get(("won_back",), Total(0, 0)).customers
    buyers = sum(counts) + won_back
    names = [label("lifecycle_stage", s, lang) for s in FUNNEL_STAGES]
    hrefs = [links.customers(stage=s) for s in FUNNEL_STAGES]
    rows = [
        {
            "key": s,
            "cells": [
                cell(names[i], href=hrefs[i]),
                cell(f"{counts[i]:,}", num=True, col="customers"),
                cell(_share(counts[i], buyers), num=True),
            ],
        }
        for i, s in enumerate(FUNNEL_STAGES)
    ]
    won_name = label("lifecycle_stage", "won_back", lang)
    rows.append(
        {
            "key": "won_back",
            "cells": [
                cell(f"{won_name} ({t('beside')})", href=links.customers(stage="won_back")),
                cell(f"{won_back:,}", num=True, col="customers"),
                cell(_share(won_back, buyers), num=True),
            ],
        }
    )
    return {
        "id": "sec-funnel",
        "title": t("sec_funnel"),
        "desc": t("funnel_desc"),
        "aside": {
            "key": "won_back",
            "label": won_name,
            "value": f"{won_back:,}",
            "share": _share(won_back, buyers),
            "href": links.customers(stage="won_back"),
        },
        "chart": {
            "id": "chart-funnel",
            "kind": "funnel",
            "title": t("sec_funnel"),
            "labels": names,
            "values": counts,
            "links": hrefs,
            "colors": [STAGE_COLORS[s] for s in FUNNEL_STAGES],
        },
        "tables": [
            {"caption": t("sec_funnel"), "head": [t("col_stage"), t("count"), t("share_of_buyers")], "rows": rows}
        ],
    }


def cohort_section(snapshot: ClassificationSnapshot, t: Any) -> dict[str, Any]:
    """Monthly cohorts (first-purchase month) and the share buying again in month +1 … +12, from the snapshot's
    summary; "not computed" for a snapshot made before cohorts were stored."""
    cohorts = queries_dashboard.snapshot_cohorts(snapshot)
    section: dict[str, Any] = {"id": "sec-cohorts", "title": t("sec_cohorts"), "desc": t("cohorts_desc"), "wide": True}
    if cohorts is None:
        return {**section, "empty": t("cohorts_not_computed"), "chart": None, "tables": []}
    if not cohorts:
        return {**section, "empty": t("no_data"), "chart": None, "tables": []}
    months = [f"+{k}" for k in range(1, queries_dashboard.COHORT_MONTHS + 1)]
    z, hover, rows = [], [], []
    for c in cohorts:
        z.append([None if s is None else round(s, 4) for s in c.shares])
        hover.append(
            [
                f"{c.month} {months[k]}: " + (t("not_yet") if n is None else f"{n:,} / {c.customers:,} ({percent(s)})")
                for k, (n, s) in enumerate(zip(c.returned, c.shares, strict=True))
            ]
        )
        rows.append(
            {
                "key": c.month,
                "cells": [cell(c.month), cell(f"{c.customers:,}", num=True, col="customers")]
                + [cell("" if s is None else percent(s), num=True, col=f"m{k + 1}") for k, s in enumerate(c.shares)],
            }
        )
    return {
        **section,
        "chart": {
            "id": "chart-cohorts",
            "kind": "heatmap",
            "title": t("sec_cohorts"),
            "x": months,
            "y": [c.month for c in cohorts],
            "z": z,
            "text": hover,
            "x_title": t("cohort_axis"),
            "y_title": t("cohort_month"),
            "colorscale": "YlGnBu",
            "percent": True,
            "reverse_y": True,
            "zmin": 0,
        },
        "tables": [{"caption": t("sec_cohorts"), "head": [t("cohort_month"), t("count"), *months], "rows": rows}],
    }


def geography_sections(db: Any, snapshot_id: int, t: Any, lang: str, links: Links) -> list[dict[str, Any]]:
    """Customers per province (top provinces drawn, all in the table) and per city tier (一线 … 其他)."""
    places = queries_dashboard.geography(db, snapshot_id)  # not cached: customers' places may be edited
    provinces = queries_dashboard.by_province(places)
    tiers = queries_dashboard.by_city_tier(places)
    total = sum(p.customers for p in provinces)
    head = [t("count"), t("share"), t("fig_buyers"), t("col_monetary")]

    def row(key: str, name: str, href: str | None, p: queries_dashboard.PlaceTotal) -> dict[str, Any]:
        return {
            "key": key,
            "cells": [
                cell(name, href=href),
                cell(f"{p.customers:,}", num=True, col="customers"),
                cell(_share(p.customers, total), num=True),
                cell(f"{p.buyers:,}", num=True, col="buyers"),
                cell(yuan(p.monetary_cents), num=True, col="monetary"),
            ],
        }

    named = [p for p in provinces if p.key]
    drawn = named[:TOP_PROVINCES][::-1]  # horizontal bars: the largest on top
    province_rows = [
        row(p.key or "", p.key or t("unknown_value"), links.customers(province=p.key) if p.key else None, p)
        for p in provinces
    ]
    tier_names = [tier_label(p.key or "other", lang) for p in tiers]
    return [
        {
            "id": "sec-provinces",
            "title": t("sec_provinces"),
            "desc": t("provinces_desc", n=TOP_PROVINCES) if len(named) > TOP_PROVINCES else None,
            "chart": {
                "id": "chart-provinces",
                "kind": "bar",
                "orientation": "h",
                "title": t("sec_provinces"),
                "labels": [p.key for p in drawn],
                "values": [p.customers for p in drawn],
                "links": [links.customers(province=p.key) for p in drawn],
                "x_title": t("chart_customers_axis"),
                "single_color": True,
            }
            if named
            else None,
            "empty": None if named else t("no_data"),
            "tables": [{"caption": t("sec_provinces"), "head": [t("filter_province"), *head], "rows": province_rows}],
        },
        {
            "id": "sec-city-tiers",
            "title": t("sec_city_tiers"),
            "desc": t("city_tiers_desc"),
            "chart": {
                "id": "chart-city-tiers",
                "kind": "bar",
                "title": t("sec_city_tiers"),
                "labels": tier_names,
                "codes": [p.key for p in tiers],
                "values": [p.customers for p in tiers],
                "y_title": t("chart_customers_axis"),
            },
            "tables": [
                {
                    "caption": t("sec_city_tiers"),
                    "head": [t("city_tier"), *head],
                    "rows": [row(p.key or "", name, None, p) for p, name in zip(tiers, tier_names, strict=True)],
                }
            ],
        },
    ]


def channel_section(db: Any, snapshot: ClassificationSnapshot, t: Any) -> dict[str, Any]:
    """Purchases and revenue per order channel up to the snapshot's date, drawn as each channel's revenue share."""
    revision = queries_dashboard.orders_revision(db)
    compute = lambda: queries_dashboard.channel_mix(db, until=snapshot.as_of)  # noqa: E731
    key = ("channels", queries_dashboard.store_of(db), snapshot.as_of, revision)
    channels = compute() if revision is None else queries_dashboard.cached(key, compute)
    revenue = sum(c.revenue_cents for c in channels)
    names = [c.channel or t("unknown_value") for c in channels]
    rows = [
        {
            "key": c.channel or "",
            "cells": [
                cell(name),
                cell(f"{c.orders:,}", num=True, col="orders"),
                cell(yuan(c.revenue_cents), num=True, col="revenue"),
                cell(_share(c.revenue_cents, revenue), num=True, col="share"),
            ],
        }
        for c, name in zip(channels, names, strict=True)
    ]
    return {
        "id": "sec-channels",
        "title": t("sec_channels"),
        "desc": t("channels_desc"),
        "chart": {
            "id": "chart-channels",
            "kind": "pie",
            "title": t("sec_channels"),
            "labels": names,
            "values": [yuan_number(c.revenue_cents) for c in channels],
            "money": True,
        }
        if channels
        else None,
        "empty": None if channels else t("no_data"),
        "tables": [
            {
                "caption": t("sec_channels"),
                "head": [t("channel"), t("fig_orders"), t("fig_revenue"), t("share")],
                "rows": rows,
            }
        ],
    }


def revenue_class_section(
    classes: dict[tuple[str | None, ...], Total], t: Any, lang: str, links: Links
) -> dict[str, Any]:
    """The sum of monetary (cents, the snapshot's RFM window) per RFM class, with customers and mean."""
    rank = {code: i for i, code in enumerate(RFM_CLASSES)}
    items = sorted(
        ((k[0], v) for k, v in classes.items() if k[0]), key=lambda kv: (rank.get(kv[0] or "", 99), kv[0] or "")
    )
    total = sum(v.monetary_cents for _, v in items)
    names = [label("rfm_class", code, lang) for code, _ in items]
    hrefs = [links.customers(rfm_class=code) for code, _ in items]
    rows = [
        {
            "key": code or "",
            "cells": [
                cell(name, href=href),
                cell(f"{v.customers:,}", num=True, col="customers"),
                cell(yuan(v.monetary_cents), num=True, col="monetary"),
                cell(_share(v.monetary_cents, total), num=True, col="share"),
                cell(yuan(mean_cents(v.monetary_cents, v.customers)), num=True),
            ],
        }
        for (code, v), name, href in zip(items, names, hrefs, strict=True)
    ]
    return {
        "id": "sec-revenue-class",
        "title": t("sec_revenue_class"),
        "desc": t("revenue_class_desc"),
        "chart": {
            "id": "chart-revenue-class",
            "kind": "bar",
            "title": t("sec_revenue_class"),
            "labels": names,
            "codes": [code for code, _ in items],
            "values": [yuan_number(v.monetary_cents) for _, v in items],
            "links": hrefs,
            "y_title": t("chart_revenue_axis"),
            "money": True,
        }
        if items
        else None,
        "empty": None if items else t("no_data"),
        "tables": [
            {
                "caption": t("sec_revenue_class"),
                "head": [t("col_class"), t("count"), t("col_monetary"), t("share"), t("mean_monetary")],
                "rows": rows,
            }
        ],
    }


def sankey_variant(
    pairs: list[tuple[str | None, str, int]],
    kind: str,
    colors: dict[str, str],
    lang: str,
    t: Any,
    dates: tuple[str, str],
) -> dict[str, Any]:
    """Nodes (earlier codes left, later codes right, in label order) and links of one Sankey diagram."""
    rank = {code: i for i, code in enumerate(LABEL_ORDER[kind])}
    order = lambda code: (rank.get(code or "", -1 if code is None else 99), code or "")  # noqa: E731
    left = sorted({a for a, _, _ in pairs}, key=order)
    right = sorted({b for _, b, _ in pairs}, key=order)
    names = [t("not_in_snapshot") if c is None else label(kind, c, lang) for c in left]
    names += [label(kind, c, lang) for c in right]
    node_colors = [OTHER_COLOR if c is None else colors.get(c, OTHER_COLOR) for c in left]
    node_colors += [colors.get(c, OTHER_COLOR) for c in right]
    li = {c: i for i, c in enumerate(left)}
    ri = {c: len(left) + i for i, c in enumerate(right)}
    return {
        "labels": names,
        "colors": node_colors,
        "hover": [f"{dates[0]}: {n}" for n in names[: len(left)]] + [f"{dates[1]}: {n}" for n in names[len(left) :]],
        "source": [li[a] for a, _, _ in pairs],
        "target": [ri[b] for _, b, _ in pairs],
        "value": [n for _, _, n in pairs],
    }


def migration_section(
    db: Any, current: ClassificationSnapshot, other: ClassificationSnapshot, t: Any, lang: str
) -> dict[str, Any]:
    """How customers moved between RFM groups (and, toggled, lifecycle stages) from the earlier of the two
    snapshots to the later."""
    earlier, later = sorted((current, other), key=lambda s: (s.as_of, s.id))
    key = (*queries_dashboard.snapshot_key(db, earlier, "migration"), later.id, later.created_at)
    rows = queries_dashboard.cached(
        key, lambda: queries_dashboard.migration(db, earlier_id=earlier.id, later_id=later.id)
    )
    dates = (earlier.as_of.isoformat(), later.as_of.isoformat())
    variants, tables = {}, []
    for kind, dim, colors, title in (
        ("group", "rfm_group", GROUP_COLORS, t("by_group")),
        ("stage", "lifecycle_stage", STAGE_COLORS, t("by_stage")),
    ):
        pairs = queries_dashboard.flows(rows, kind)  # type: ignore[arg-type]
        variants[kind] = sankey_variant(pairs, dim, colors, lang, t, dates)
        name = lambda c, d=dim: t("not_in_snapshot") if c is None else label(d, c, lang)  # noqa: E731
        tables.append(
            {
                "caption": f"{t('sec_migration')}: {title}",
                "key": kind,
                "head": [f"{t('col_from')} ({dates[0]})", f"{t('col_to')} ({dates[1]})", t("count")],
                "rows": [
                    {
                        "key": f"{a or ''}>{b}",
                        "cells": [cell(name(a)), cell(name(b)), cell(f"{n:,}", num=True, col="customers")],
                    }
                    for a, b, n in pairs
                ],
            }
        )
    return {
        "id": "sec-migration",
        "title": t("sec_migration"),
        "desc": t("migration_desc", earlier=dates[0], later=dates[1]),
        "wide": True,
        "toggle": [("group", t("by_group")), ("stage", t("by_stage"))],
        "chart": {
            "id": "chart-migration",
            "kind": "sankey",
            "title": t("sec_migration"),
            "variants": variants,
            "current": "group",
            "dates": list(dates),
        },
        "tables": tables,
    }


def compare_snapshot(
    snapshots: list[ClassificationSnapshot], current: ClassificationSnapshot, compare: date | None, db: Any
) -> ClassificationSnapshot | None:
    """The snapshot to compare with: the one dated ``compare``, else the nearest older one (the nearest newer
    one when ``current`` is the oldest); ``None`` with a single snapshot."""
    if compare is not None:
        if compare == current.as_of:
            raise InvalidInput(
                f"compare with another date than {compare.isoformat()}: the migration needs two snapshots"
            )
        return queries.pick_snapshot(db, compare)
    others = [s for s in snapshots if s.as_of != current.as_of]
    older = [s for s in others if s.as_of < current.as_of]
    if older:
        return max(older, key=lambda s: (s.as_of, s.id))
    return min(others, key=lambda s: (s.as_of, -s.id)) if others else None


def analysis_sections(
    request: Request,
    db: Any,
    snapshot: ClassificationSnapshot,
    breakdown: list[BreakdownRow],
    snapshots: list[ClassificationSnapshot],
    compare: ClassificationSnapshot | None,
    as_of: date | None,
    lang: str,
) -> list[dict[str, Any]]:
    """Every analysis section of the dashboard for ``snapshot``, in page order."""
    t = translator(lang)
    links = Links(request, as_of)
    sections = [
        grid_section(breakdown, t, lang, links),
        treemap_section(breakdown, t, lang, links),
        funnel_section(totals_by(breakdown, "lifecycle_stage"), t, lang, links),
        revenue_class_section(totals_by(breakdown, "rfm_class"), t, lang, links),
        cohort_section(snapshot, t),
        *geography_sections(db, snapshot.id, t, lang, links),
        channel_section(db, snapshot, t),
    ]
    if compare is not None:
        sections.append(migration_section(db, snapshot, compare, t, lang))
    return sections
