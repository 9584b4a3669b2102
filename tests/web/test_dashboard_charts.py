"""The dashboard's analysis charts: their queries with exact numbers on a small hand-made store (SQLite and
PostgreSQL), the cohorts computed at classification time, city tiers, and the page's sections, JSON data blocks,
tables, links and the migration (Sankey) between two snapshots."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from kehu.analytics.geo import CITY_TIERS, city_tier, tier_label
from kehu.config import Settings
from kehu.store import Classification, ClassificationSnapshot, Customer, Order, open_store, session_scope
from kehu.web import queries_dashboard as qd

AS_OF = date(2025, 6, 30)
EARLIER = date(2025, 3, 31)

# --- a hand-made store ----------------------------------------------------------------------------------------

#: name → (province, city)
PEOPLE = {
    "A": ("广东", "深圳市"),
    "B": ("浙江", "杭州"),
    "C": ("北京", None),  # a municipality without a city: 一线
    "D": (None, "某县"),  # unknown province, unknown city: 其他
    "E": ("甘肃", "兰州"),
    "F": ("广东", "佛山"),  # a prospect: no order
    "G": ("广东", "广州"),
}
#: name → [(ordered_at, amount cents, refunded cents, paid, channel)]
ORDERS = {
    "A": [
        (datetime(2025, 1, 10), 10_000, 0, True, "tmall"),
        (datetime(2025, 2, 15), 20_000, 5_000, True, "tmall"),
        (datetime(2025, 3, 5), 5_000, 0, True, "jd"),
    ],
    "B": [(datetime(2025, 1, 20), 30_000, 0, True, "jd"), (datetime(2025, 6, 1), 8_000, 0, True, None)],
    "C": [
        (datetime(2025, 2, 1), 12_000, 0, True, "tmall"),
        (datetime(2025, 3, 1), 99_999, 0, False, "tmall"),
        (datetime(2025, 3, 2), 7_000, 7_000, True, "jd"),
    ],  # unpaid and fully refunded: not purchases
    "D": [(datetime(2025, 3, 10), 4_000, 0, True, "douyin"), (datetime(2025, 7, 5), 50_000, 0, True, "douyin")],
    "E": [(datetime(2025, 4, 1), 6_000, 0, True, "tmall")],
    "G": [(datetime(2025, 5, 5), 30_001, 0, True, "tmall")],
}
#: name → (r, f, monetary cents, class, group, stage) in the later snapshot
LATER = {
    "A": (5, 5, 30_000, "important_value", "champions", "active"),
    "B": (5, 4, 38_000, "important_value", "champions", "active"),
    "C": (2, 3, 12_000, "important_winback", "at_risk", "at_risk"),
    "D": (3, 1, 4_000, "general_winback", "about_to_sleep", "new"),
    "E": (4, 1, 6_000, "general_development", "promising", "new"),
    "F": (None, None, 0, None, "prospect", "prospect"),
    "G": (5, 5, 30_001, "important_value", "champions", "active"),
}
#: name → (group, stage) in the earlier snapshot (E and G were not customers yet)
EARLIER_ROWS = {
    "A": ("loyal", "active"),
    "B": ("new", "new"),
    "C": ("potential_loyalist", "active"),
    "D": ("new", "new"),
    "F": ("prospect", "prospect"),
}


@dataclass(frozen=True)
class Hand:
    """Ids of the hand-made store."""

    ids: dict[str, int]
    later_id: int
    earlier_id: int


def build_hand_store(settings: Settings) -> Hand:
    """The customers, orders and two ready snapshots above (no personal data needed for the charts)."""
    open_store(settings.store_url)
    with session_scope(settings.store_url) as session:
        customers = {
            n: Customer(source="generic", external_id=f"H-{n}", province=p, city=c) for n, (p, c) in PEOPLE.items()
        }
        session.add_all(customers.values())
        session.flush()
        no = 0
        for n, orders in ORDERS.items():
            for when, amount, refunded, paid, channel in orders:
                no += 1
                session.add(
                    Order(
                        source="generic",
                        external_id=f"HO-{no}",
                        customer_id=customers[n].id,
                        ordered_at=when,
                        amount_cents=amount,
                        refunded_cents=refunded,
                        is_paid=paid,
                        channel=channel,
                    )
                )
        later = ClassificationSnapshot(as_of=AS_OF, status="ready", customers=len(LATER))
        earlier = ClassificationSnapshot(as_of=EARLIER, status="ready", customers=len(EARLIER_ROWS))
        session.add_all([later, earlier])
        session.flush()
        for n, (r, f, cents, klass, group, stage) in LATER.items():
            session.add(
                Classification(
                    snapshot_id=later.id,
                    customer_id=customers[n].id,
                    r_score=r,
                    f_score=f,
                    frequency=0 if r is None else 1,
                    monetary_cents=cents,
                    rfm_class=klass,
                    rfm_group=group,
                    lifecycle_stage=stage,
                )
            )
        for n, (group, stage) in EARLIER_ROWS.items():
            session.add(
                Classification(
                    snapshot_id=earlier.id,
                    customer_id=customers[n].id,
                    frequency=1,
                    monetary_cents=0,
                    rfm_group=group,
                    lifecycle_stage=stage,
                )
            )
        return Hand({n: c.id for n, c in customers.items()}, later.id, earlier.id)


@pytest.fixture
def hand(store_settings: Settings) -> tuple[Settings, Hand]:
    return store_settings, build_hand_store(store_settings)


# --- queries, on each store -----------------------------------------------------------------------------------


def test_rfm_grid_counts_and_mean_monetary(hand) -> None:  # type: ignore[no-untyped-def]
    settings, h = hand
    with session_scope(settings.store_url) as session:
        grid = qd.rfm_grid(qd.snapshot_breakdown(session, h.later_id))
    assert len(grid) == 25
    filled = {key: (c.customers, c.monetary_cents) for key, c in grid.items() if c.customers}
    assert filled == {
        (5, 5): (2, 60_001),
        (5, 4): (1, 38_000),
        (2, 3): (1, 12_000),
        (3, 1): (1, 4_000),
        (4, 1): (1, 6_000),
    }
    assert grid[(5, 5)].mean_monetary_cents == 30_001  # 30,000.5 cents rounds half up
    assert grid[(1, 1)].customers == 0 and grid[(1, 1)].mean_monetary_cents is None  # the prospect has no cell


def test_breakdown_gives_classes_groups_stages_and_revenue(hand) -> None:  # type: ignore[no-untyped-def]
    settings, h = hand
    with session_scope(settings.store_url) as session:
        rows = qd.snapshot_breakdown(session, h.later_id)
    classes = {k[0]: (v.customers, v.monetary_cents) for k, v in qd.totals_by(rows, "rfm_class").items()}
    assert classes == {
        "important_value": (3, 98_001),
        "important_winback": (1, 12_000),
        "general_winback": (1, 4_000),
        "general_development": (1, 6_000),
        None: (1, 0),
    }
    stages = {k[0]: v.customers for k, v in qd.totals_by(rows, "lifecycle_stage").items()}
    assert stages == {"active": 3, "at_risk": 1, "new": 2, "prospect": 1}
    pairs = {k: v.customers for k, v in qd.totals_by(rows, "rfm_class", "rfm_group").items()}
    assert pairs[("important_value", "champions")] == 3 and pairs[(None, "prospect")] == 1


def test_geography_by_province_and_city_tier(hand) -> None:  # type: ignore[no-untyped-def]
    settings, h = hand
    with session_scope(settings.store_url) as session:
        places = qd.geography(session, h.later_id)
    provinces = [(p.key, p.customers, p.buyers, p.monetary_cents) for p in qd.by_province(places)]
    assert provinces == [
        ("广东", 3, 2, 60_001),
        ("北京", 1, 1, 12_000),
        ("浙江", 1, 1, 38_000),
        ("甘肃", 1, 1, 6_000),
        (None, 1, 1, 4_000),
    ]  # ties by name, no province last
    tiers = [(p.key, p.customers, p.buyers, p.monetary_cents) for p in qd.by_city_tier(places)]
    assert tiers == [
        ("tier1", 3, 3, 72_001),
        ("new_tier1", 1, 1, 38_000),
        ("tier2", 1, 0, 0),
        ("tier3", 1, 1, 6_000),
        ("other", 1, 1, 4_000),
    ]


def test_channel_mix_counts_purchases_up_to_the_date(hand) -> None:  # type: ignore[no-untyped-def]
    settings, _ = hand
    with session_scope(settings.store_url) as session:
        mix = [(c.channel, c.orders, c.revenue_cents) for c in qd.channel_mix(session, until=AS_OF)]
        early = [(c.channel, c.orders, c.revenue_cents) for c in qd.channel_mix(session, until=date(2025, 1, 31))]
    # unpaid, fully refunded and later orders left out; a partial refund counts net; no channel last
    assert mix == [("tmall", 5, 73_001), ("jd", 2, 35_000), ("douyin", 1, 4_000), (None, 1, 8_000)]
    assert early == [("jd", 1, 30_000), ("tmall", 1, 10_000)]


def test_migration_flows_between_two_snapshots(hand) -> None:  # type: ignore[no-untyped-def]
    settings, h = hand
    with session_scope(settings.store_url) as session:
        rows = qd.migration(session, earlier_id=h.earlier_id, later_id=h.later_id)
    assert sum(r.customers for r in rows) == len(LATER)
    groups = sorted(qd.flows(rows, "group"), key=lambda f: (f[0] or "", f[1]))
    assert groups == [
        (None, "champions", 1),
        (None, "promising", 1),
        ("loyal", "champions", 1),
        ("new", "about_to_sleep", 1),
        ("new", "champions", 1),
        ("potential_loyalist", "at_risk", 1),
        ("prospect", "prospect", 1),
    ]  # None: not in the earlier snapshot
    stages = dict(((a, b), n) for a, b, n in qd.flows(rows, "stage"))
    assert stages == {
        (None, "new"): 1,
        (None, "active"): 1,
        ("active", "active"): 1,
        ("new", "active"): 1,
        ("active", "at_risk"): 1,
        ("new", "new"): 1,
        ("prospect", "prospect"): 1,
    }


# --- cohorts --------------------------------------------------------------------------------------------------


def _orders(rows: list[tuple[int, datetime, int, int, bool]]) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([r[0] for r in rows], pa.int64()),
            "ordered_at": pa.array([r[1] for r in rows], pa.timestamp("us")),
            "amount_cents": pa.array([r[2] for r in rows], pa.int64()),
            "refunded_cents": pa.array([r[3] for r in rows], pa.int64()),
            "is_paid": pa.array([r[4] for r in rows], pa.bool_()),
        }
    )


def test_purchase_summary_cohorts_exact() -> None:
    from kehu.analytics.classify import purchase_summary

    orders = _orders(
        [
            (1, datetime(2025, 1, 10), 100, 0, True),
            (1, datetime(2025, 2, 15), 100, 0, True),
            (1, datetime(2025, 2, 16), 100, 0, True),
            (1, datetime(2025, 3, 5), 100, 0, True),
            (2, datetime(2025, 1, 20), 100, 0, True),
            (2, datetime(2025, 6, 1), 100, 0, True),
            (3, datetime(2025, 2, 1), 100, 0, True),
            (3, datetime(2025, 3, 1), 100, 0, False),  # unpaid
            (3, datetime(2025, 4, 1), 100, 100, True),  # fully refunded
            (5, datetime(2024, 12, 31, 23, 59), 100, 0, True),
            (5, datetime(2025, 1, 1, 0, 0), 100, 0, True),
            (5, datetime(2025, 12, 5), 100, 0, True),
            (5, datetime(2026, 1, 2), 100, 0, True),  # +12 and +13
        ]
    )
    cohorts = purchase_summary(orders, customers=6)["cohorts"]
    zeros = [0] * 12
    assert cohorts == [
        ["2024-12", 1, [1] + [0] * 10 + [1]],
        ["2025-01", 2, [1, 1, 0, 0, 1] + [0] * 7],
        ["2025-02", 1, zeros],
    ]
    assert purchase_summary(_orders([]), customers=0)["cohorts"] == []


def test_snapshot_cohorts_mark_months_not_reached() -> None:
    snapshot = ClassificationSnapshot(
        as_of=date(2025, 6, 30),
        summary={
            "cohorts": [
                ["2024-12", 1, [1] + [0] * 10 + [1]],
                ["2025-01", 2, [1, 1, 0, 0, 1] + [0] * 7],
            ]
        },
    )
    first, second = qd.snapshot_cohorts(snapshot) or []
    assert first.returned == [1, 0, 0, 0, 0, 0] + [None] * 6  # Jan … Jun 2025 observed
    assert second.returned == [1, 1, 0, 0, 1] + [None] * 7
    assert second.shares[:5] == [0.5, 0.5, 0.0, 0.0, 0.5]
    assert qd.snapshot_cohorts(ClassificationSnapshot(as_of=AS_OF, summary={"orders": 1})) is None
    assert qd.snapshot_cohorts(ClassificationSnapshot(as_of=AS_OF, summary=None)) is None
    many = ClassificationSnapshot(as_of=AS_OF, summary={"cohorts": [[f"20{y:02d}-01", 1, [0] * 12] for y in range(30)]})
    assert [c.month for c in qd.snapshot_cohorts(many) or []][0] == "2006-01"  # the newest 24


def test_classify_stores_cohorts_in_the_snapshot(store_settings: Settings) -> None:
    from kehu.analytics.classify import classify

    build_hand_store(store_settings)
    report = classify(settings=store_settings.model_copy(update={"predict": False}), as_of=AS_OF)
    with session_scope(store_settings.store_url) as session:
        summary = session.get(ClassificationSnapshot, report.snapshot_id).summary
    cohorts = {month: (size, returned) for month, size, returned in summary["cohorts"]}
    assert cohorts["2025-01"] == (2, [1, 1, 0, 0, 1] + [0] * 7)  # A: Feb, Mar; B: Jun
    assert set(cohorts) == {"2025-01", "2025-02", "2025-03", "2025-04", "2025-05"}


# --- city tiers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("city", "province", "tier"),
    [
        ("深圳", None, "tier1"),
        ("深圳市", "广东", "tier1"),
        (" 北京市 ", None, "tier1"),
        ("Shanghai", None, "tier1"),
        ("GUANGZHOU city", None, "tier1"),
        ("杭州", None, "new_tier1"),
        ("Xi'an", None, "new_tier1"),
        ("成都市", None, "new_tier1"),
        ("佛山", None, "tier2"),
        ("harbin", None, "tier2"),
        ("兰州", None, "tier3"),
        ("某县", None, "other"),
        ("", None, "other"),
        (None, "上海市", "tier1"),
        (None, "广东", "other"),
        ("Springfield", None, "other"),
    ],
)
def test_city_tier(city: str | None, province: str | None, tier: str) -> None:
    assert city_tier(city, province) == tier


def test_city_tier_lists_cover_the_reference_cities() -> None:
    from kehu.analytics import geo

    assert len(geo._TIER1) == 4 and len(geo._NEW_TIER1) == 15 and len(geo._TIER2) == 30
    assert not set(geo._TIER1) & set(geo._NEW_TIER1) and not set(geo._TIER2) & set(geo._TIER3)
    assert [tier_label(code, "zh") for code in CITY_TIERS] == ["一线", "新一线", "二线", "三线及以下", "其他"]
    assert tier_label("other", "en") == "other"


# --- the page -------------------------------------------------------------------------------------------------


class Sections(HTMLParser):
    """Per ``data-section``: its tables (``data-table``) as rows by ``data-key`` → {cell name: text}, the row
    header's text and link; and the section's ``data-empty`` / ``data-aside`` / ``data-note`` texts."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self.stack: list[str] = []
        self.section: str | None = None
        self.table: str | None = None
        self.row: dict[str, Any] | None = None
        self.into: tuple[dict[str, Any], str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure" and a.get("data-section"):
            self.section = a["data-section"]
            self.sections[self.section] = {"tables": defaultdict(dict), "texts": {}}
        if self.section is None:
            return
        sec = self.sections[self.section]
        if tag == "details":
            self.table = a.get("data-table") or ""
        elif tag == "tr" and a.get("data-key") is not None and self.table is not None:
            self.row = {"cells": {}, "header": "", "href": None}
            sec["tables"][self.table][a["data-key"]] = self.row
        elif tag == "th" and self.row is not None and a.get("scope") == "row":
            self.into = (self.row, "header")
        elif tag == "td" and self.row is not None:
            self.row["cells"][a.get("data-cell") or f"c{len(self.row['cells'])}"] = ""
            self.into = (self.row["cells"], list(self.row["cells"])[-1])
        elif tag == "a" and self.row is not None and self.into and self.into[1] == "header":
            self.row["href"] = a.get("href")
        for attr in ("data-empty", "data-aside", "data-note"):
            if a.get(attr):
                sec["texts"][attr] = ""
                self.into = (sec["texts"], attr)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td", "p"):
            self.into = None
        elif tag == "tr":
            self.row = None
        elif tag == "details":
            self.table = None
        elif tag == "figure":
            self.section = None

    def handle_data(self, data: str) -> None:
        if self.into is not None:
            target, key = self.into
            target[key] += data


def parse(html: str) -> dict[str, dict[str, Any]]:
    parser = Sections()
    parser.feed(html)
    return parser.sections


def section_charts(html: str) -> dict[str, dict[str, Any]]:
    match = re.search(r'<script type="application/json" id="kehu-dashboard-charts">(.*?)</script>', html, re.S)
    assert match, "no dashboard chart data block"
    return {c["id"]: c for c in json.loads(match.group(1))["charts"]}


SECTIONS = {
    "sec-rfm-grid",
    "sec-treemap",
    "sec-funnel",
    "sec-revenue-class",
    "sec-cohorts",
    "sec-provinces",
    "sec-city-tiers",
    "sec-channels",
    "sec-migration",
}


@pytest.mark.parametrize(
    ("lang", "title", "champions"), [("zh", "RFM 评分矩阵", "冠军客户"), ("en", "RFM score grid", "champions")]
)
def test_every_section_with_its_data_block(admin: TestClient, store, lang: str, title: str, champions: str) -> None:
    html = admin.get(f"/?lang={lang}").text
    sections = parse(html)
    assert set(sections) == SECTIONS
    charts = section_charts(html)
    assert set(charts) == {
        "chart-rfm-grid",
        "chart-treemap",
        "chart-funnel",
        "chart-revenue-class",
        "chart-provinces",
        "chart-city-tiers",
        "chart-channels",
        "chart-migration",
    }
    assert 'id="kehu-charts"' in html  # the first four charts keep their own block
    grid = charts["chart-rfm-grid"]
    assert grid["title"] == title and grid["kind"] == "heatmap"
    assert sum(map(sum, grid["z"])) == store.buyers  # prospects have no scores
    assert any(champions in text for row in grid["text"] for text in row)
    treemap = charts["chart-treemap"]
    roots = [v for v, p in zip(treemap["values"], treemap["parents"], strict=True) if not p]
    assert sum(roots) == store.customers
    funnel = charts["chart-funnel"]
    assert funnel["values"] == [15, 15, 15, 14]  # new, active, at risk, churned (the fixture's stages)
    assert charts["chart-city-tiers"]["values"] == [15, 45, 0, 0, 0]  # 深圳 and 杭州
    assert sorted(charts["chart-provinces"]["values"]) == [15, 15, 15, 15]
    assert charts["chart-channels"]["labels"] == ["tmall"]
    assert round(sum(charts["chart-revenue-class"]["values"]) * 100) == store.revenue_cents
    # every chart's numbers are in a table, and in the chosen language
    tiers = next(iter(sections["sec-city-tiers"]["tables"].values()))
    assert tiers["tier1"]["header"] == tier_label("tier1", lang) and tiers["tier1"]["cells"]["customers"] == "15"
    assert sections["sec-cohorts"]["texts"]["data-empty"]  # the fixture's snapshots predate cohorts
    assert "sec-cohorts" not in charts


def test_tables_link_to_the_supported_filters(admin: TestClient, store, fx) -> None:
    html = admin.get(f"/?as_of={fx.AS_OF.isoformat()}&lang=en").text
    sections = parse(html)
    provinces = next(iter(sections["sec-provinces"]["tables"].values()))
    assert provinces["广东"]["href"] == "/customers?province=%E5%B9%BF%E4%B8%9C&as_of=2025-06-30"
    assert provinces["广东"]["cells"]["customers"] == "15"
    funnel = next(iter(sections["sec-funnel"]["tables"].values()))
    assert funnel["churned"]["href"] == "/customers?stage=churned&as_of=2025-06-30"
    assert sections["sec-funnel"]["texts"]["data-aside"].startswith("won back")
    revenue = next(iter(sections["sec-revenue-class"]["tables"].values()))
    assert revenue["important_value"]["href"] == "/customers?rfm_class=important_value&as_of=2025-06-30"
    # the customer list filters neither by R/F score nor by group: the grid says so and links nowhere
    charts = section_charts(html)
    assert all(link is None for row in charts["chart-rfm-grid"]["links"] for link in row)
    assert "cannot filter" in sections["sec-rfm-grid"]["texts"]["data-note"]


def test_grid_cells_link_by_score_when_the_list_supports_it(web_settings: Settings) -> None:
    from starlette.requests import Request

    from kehu.web.dashboard_sections import Links

    links = Links.__new__(Links)
    links.request = Request({"type": "http", "path": "/", "root_path": "", "query_string": b"", "headers": []})
    links.as_of = None
    links.supported = frozenset({"r_score", "f_score"})
    assert links.grid_cell(5, 4) == "/customers?r_score=5&f_score=4"
    links.supported = frozenset({"rfm_group"})
    assert links.grid_cell(5, 4) == "/customers?rfm_group=champions"
    links.supported = frozenset()
    assert links.grid_cell(5, 4) is None


def test_migration_sankey_flows_for_the_snapshot_pair(admin: TestClient, store, fx) -> None:
    html = admin.get("/?lang=en").text
    assert '<select id="compare" name="compare">' in html
    assert f'<option value="{fx.OLD_AS_OF.isoformat()}" selected>' in html
    sankey = section_charts(html)["chart-migration"]
    assert sankey["dates"] == [fx.OLD_AS_OF.isoformat(), fx.AS_OF.isoformat()]
    group = sankey["variants"]["group"]
    flows = {
        (group["labels"][s], group["labels"][t]): v
        for s, t, v in zip(group["source"], group["target"], group["value"], strict=True)
    }
    # the fixture gives buyer i the group GROUPS[(i + 1) % 4] in the old snapshot and GROUPS[i % 4] in the new
    expected: dict[tuple[str, str], int] = defaultdict(int)
    names = {"champions": "champions", "new": "new", "at_risk": "at risk", "hibernating": "hibernating"}
    for i in range(store.customers - 1):
        expected[(names[fx.GROUPS[(i + 1) % 4]], names[fx.GROUPS[i % 4]])] += 1
    expected[("prospect", "prospect")] = 1
    assert flows == expected
    stage = sankey["variants"]["stage"]
    assert sum(stage["value"]) == store.customers
    tables = parse(html)["sec-migration"]["tables"]
    assert set(tables) == {"group", "stage"}
    assert sum(int(r["cells"]["customers"]) for r in tables["group"].values()) == store.customers


def test_compare_picks_the_direction_by_date_and_rejects_bad_dates(admin: TestClient, fx) -> None:
    html = admin.get(f"/?as_of={fx.OLD_AS_OF.isoformat()}&compare={fx.AS_OF.isoformat()}&lang=en").text
    assert section_charts(html)["chart-migration"]["dates"] == [fx.OLD_AS_OF.isoformat(), fx.AS_OF.isoformat()]
    same = admin.get(f"/?compare={fx.AS_OF.isoformat()}&lang=en")
    assert same.status_code == 400 and "compare with another date" in same.text
    assert admin.get("/?compare=2001-01-01").status_code == 404
    bad = admin.get("/?compare=soon")
    assert bad.status_code == 422 and "Traceback" not in bad.text


def test_single_snapshot_has_no_migration(web_settings: Settings, helpers) -> None:
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    h = build_hand_store(web_settings)
    with session_scope(web_settings.store_url) as session:
        session.delete(session.get(ClassificationSnapshot, h.earlier_id))
    ensure_admin(web_settings)
    with TestClient(create_app(web_settings)) as client:
        helpers.sign_in(client)
        html = client.get("/?lang=en").text
    assert "sec-migration" not in parse(html) and 'id="compare"' not in html
    channels = section_charts(html)["chart-channels"]
    assert channels["labels"] == ["tmall", "jd", "douyin", "unknown"]
    assert channels["values"] == [730.01, 350.0, 40.0, 80.0]


def test_cohort_heatmap_from_the_snapshot_summary(admin: TestClient, web_settings: Settings, store) -> None:
    with session_scope(web_settings.store_url) as session:
        snap = session.get(ClassificationSnapshot, store.snapshot_id)
        snap.summary = {"cohorts": [["2025-01", 4, [2, 1, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0]], ["2025-06", 2, [0] * 12]]}
    html = admin.get("/?lang=en").text
    chart = section_charts(html)["chart-cohorts"]
    assert chart["y"] == ["2025-01", "2025-06"] and chart["x"][0] == "+1" and chart["x"][-1] == "+12"
    assert chart["z"][0][:5] == [0.5, 0.25, 0.0, 0.0, 0.25] and chart["z"][0][5:] == [None] * 7  # up to June
    assert chart["z"][1] == [None] * 12  # June 2025 is the snapshot's month: no later month reached
    rows = next(iter(parse(html)["sec-cohorts"]["tables"].values()))
    assert rows["2025-01"]["cells"]["customers"] == "4" and rows["2025-01"]["cells"]["m1"] == "50.0%"
    assert rows["2025-01"]["cells"]["m6"] == ""


def test_viewer_sees_the_charts_without_personal_data(web_settings: Settings, store, fx, helpers) -> None:
    from kehu.web import create_app

    fx.add_user(web_settings, "vera", "viewer")
    with TestClient(create_app(web_settings)) as client:
        helpers.sign_in(client, "vera")
        html = client.get("/").text
    assert set(parse(html)) == SECTIONS
    assert fx.VIP_PHONE not in html and fx.VIP_NAME not in html


def test_a_snapshot_without_rows_still_renders(web_settings: Settings, helpers) -> None:
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    open_store(web_settings.store_url)
    with session_scope(web_settings.store_url) as session:
        session.add(ClassificationSnapshot(as_of=AS_OF, status="ready", customers=0, summary={"cohorts": []}))
    ensure_admin(web_settings)
    with TestClient(create_app(web_settings)) as client:
        helpers.sign_in(client)
        for lang in ("zh", "en"):
            response = client.get(f"/?lang={lang}")
            assert response.status_code == 200
            sections = parse(response.text)
            assert set(sections) == SECTIONS - {"sec-migration"}
            for empty in ("sec-provinces", "sec-channels", "sec-revenue-class", "sec-cohorts"):
                assert sections[empty]["texts"]["data-empty"], empty
            assert sum(map(sum, section_charts(response.text)["chart-rfm-grid"]["z"])) == 0
