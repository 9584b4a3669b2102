"""The seeded demo data: deterministic, valid, in the generic formats, shaped like a real store's."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from kehu.ingest.formats import CUSTOMER_FIELDS, ORDER_FIELDS, get_format
from kehu.ingest.transform import resolve_mapping
from kehu.sample import CITY_TIERS, DemoFiles, generate_demo
from kehu.sample.generate import main

END = date(2026, 10, 31)
GRID = {  # DESIGN.md's score grid, R score → F score → group
    5: {1: "new", 2: "potential_loyalist", 3: "potential_loyalist", 4: "champions", 5: "champions"},
    4: {1: "promising", 2: "potential_loyalist", 3: "potential_loyalist", 4: "loyal", 5: "loyal"},
    3: {1: "about_to_sleep", 2: "about_to_sleep", 3: "needs_attention", 4: "loyal", 5: "loyal"},
    2: {1: "hibernating", 2: "hibernating", 3: "at_risk", 4: "at_risk", 5: "cannot_lose"},
    1: {1: "hibernating", 2: "hibernating", 3: "at_risk", 4: "at_risk", 5: "cannot_lose"},
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def customers(demo: DemoFiles) -> list[dict[str, str]]:
    return _rows(demo.customers_csv)


@pytest.fixture(scope="module")
def lines(demo: DemoFiles) -> list[dict[str, str]]:
    return _rows(demo.orders_csv)


@pytest.fixture(scope="module")
def orders(lines: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """First line of each order (the order's fields repeat on every line)."""
    first: dict[str, dict[str, str]] = {}
    for row in lines:
        first.setdefault(row["order_id"], row)
    return first


@pytest.fixture(scope="module")
def purchases(orders: dict[str, dict[str, str]]) -> dict[str, list[tuple[date, int]]]:
    """Per customer: (day, paid cents) of the paid, not fully refunded orders, in time order."""
    by_customer: dict[str, list[tuple[str, date, int]]] = defaultdict(list)
    for row in orders.values():
        if row["status"] == "paid":
            cents = round(float(row["amount"]) * 100)
            by_customer[row["customer_id"]].append(
                (row["ordered_at"], date.fromisoformat(row["ordered_at"][:10]), cents)
            )
    return {c: [(d, m) for _, d, m in sorted(v)] for c, v in by_customer.items()}


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", customers=1500)
    b = generate_demo(tmp_path / "b", customers=1500)
    c = generate_demo(tmp_path / "c", customers=1500, seed=7)
    assert a.customers_csv.read_bytes() == b.customers_csv.read_bytes()
    assert a.orders_csv.read_bytes() == b.orders_csv.read_bytes()
    assert a.orders_csv.read_bytes() != c.orders_csv.read_bytes()


def test_rejects_no_customers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="customers must be at least 1"):
        generate_demo(tmp_path, customers=0)


def test_every_generic_field_is_present(demo: DemoFiles) -> None:
    for path, kind, expected in (
        (demo.customers_csv, "customers", set(CUSTOMER_FIELDS) - {"address"}),
        (demo.orders_csv, "orders", set(ORDER_FIELDS) - {"customer_name", "phone", "email", "address"}),
    ):
        with path.open(encoding="utf-8") as fh:
            headers = next(csv.reader(fh))
        mapping = resolve_mapping(get_format(kind, "generic"), headers, {}, str(path))
        assert expected <= set(mapping.headers), expected - set(mapping.headers)
        assert all(mapping.headers[f] == f for f in expected)  # the canonical names themselves


def test_phones_are_valid_mainland_mobiles(customers: list[dict[str, str]]) -> None:
    phones = [c["phone"] for c in customers]
    assert all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)
    assert len(set(phones)) == len(phones)


def test_customer_fields_look_real(customers: list[dict[str, str]]) -> None:
    assert len(customers) == 20_000
    assert len({c["customer_id"] for c in customers}) == 20_000
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", c["name"]) for c in customers)
    emails = [c["email"] for c in customers if c["email"]]
    assert 0.2 < len(emails) / len(customers) < 0.5
    assert all(re.fullmatch(r"[a-z0-9]+@[a-z0-9]+\.com", e) for e in emails)
    assert {c["gender"] for c in customers} == {"男", "女", ""}
    assert {c["marketing_consent"] for c in customers} == {"是", "否"}
    assert all(c["city"] in CITY_TIERS for c in customers)
    tiers = [CITY_TIERS[c["city"]] for c in customers]
    assert {1, 2, 3} <= set(tiers)
    assert {"天猫", "京东", "小程序", "门店", "抖音"} <= {c["channel"] for c in customers}
    for c in customers[:500]:
        datetime.strptime(c["registered_at"], "%Y-%m-%d %H:%M:%S")
        if c["birth_date"]:
            assert 1940 < date.fromisoformat(c["birth_date"]).year < 2011


def test_order_lines_add_up(lines: list[dict[str, str]], orders: dict[str, dict[str, str]]) -> None:
    assert 60_000 <= len(lines) <= 90_000
    subtotal: dict[str, int] = defaultdict(int)
    for row in lines:
        subtotal[row["order_id"]] += int(row["quantity"]) * round(float(row["unit_price"]) * 100)
    for order_id, row in orders.items():
        amount, discount, refunded = (round(float(row[k]) * 100) for k in ("amount", "discount", "refunded"))
        assert amount == subtotal[order_id] - discount > 0
        assert 0 <= refunded <= amount
        assert (refunded == amount) == (row["status"] == "refunded")
    assert len({r["sku"] for r in lines}) >= 55
    assert {"手机", "平板", "耳机", "智能手表", "配件", "家电"} <= {r["category"] for r in lines}


def test_realistic_shape(
    orders: dict[str, dict[str, str]], purchases: dict[str, list[tuple[date, int]]]
) -> None:
    counts = [len(v) for v in purchases.values()]
    one_time = sum(1 for n in counts if n == 1) / len(counts)
    assert 0.40 <= one_time <= 0.75
    days = sorted(r["ordered_at"] for r in orders.values())
    assert days[0] < "2023-11-15" and days[-1] >= "2026-10-25"  # three years up to the end date
    statuses = [r["status"] for r in orders.values()]
    assert 0.005 < statuses.count("refunded") / len(statuses) < 0.1
    assert 0.005 < statuses.count("cancelled") / len(statuses) < 0.1
    partial = [r for r in orders.values() if r["status"] == "paid" and float(r["refunded"]) > 0]
    assert len(partial) > 100
    discounted = sum(1 for r in orders.values() if float(r["discount"]) > 0) / len(orders)
    assert 0.15 < discounted < 0.6
    won_back = [
        c
        for c, v in purchases.items()
        if len(v) >= 2 and (END - v[-1][0]).days <= 90 and (v[-1][0] - v[-2][0]).days > 365
    ]
    assert len(won_back) >= 50


def test_seasonality(orders: dict[str, dict[str, str]]) -> None:
    per_day: dict[str, int] = defaultdict(int)
    for r in orders.values():
        per_day[r["ordered_at"][:10]] += 1
    typical = float(np.median(list(per_day.values())))
    assert per_day["2025-11-11"] > 3 * typical  # 双十一
    assert per_day["2025-06-18"] > 2 * typical  # 618
    assert per_day["2025-01-29"] < typical  # 春节


def test_every_stage_class_and_group_is_populated(
    customers: list[dict[str, str]], purchases: dict[str, list[tuple[date, int]]]
) -> None:
    """DESIGN.md's rules, computed here: every lifecycle stage, RFM class and grid group has customers."""
    ids = list(purchases)
    recency = np.array([(END - purchases[c][-1][0]).days for c in ids])
    frequency = np.array([len(purchases[c]) for c in ids])
    monetary = np.array([sum(m for _, m in purchases[c]) for c in ids])
    stages = defaultdict(int)
    for c, s, n in zip(ids, recency, frequency, strict=True):
        days = [d for d, _ in purchases[c]]
        gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
        if s > 365:
            stages["churned"] += 1
        elif s <= 90 and gaps and gaps[-1] >= 365:
            stages["won_back"] += 1
        elif n == 1 and s <= 90:
            stages["new"] += 1
        elif (n >= 2 and s > max(2 * float(np.median(gaps)), 60)) or (n == 1 and s > 180):
            stages["at_risk"] += 1
        else:
            stages["active"] += 1
    stages["prospect"] = len(customers) - len(ids)
    assert min(stages.values()) >= 100, dict(stages)

    def score(values: np.ndarray, lower_is_better: bool = False) -> np.ndarray:
        cuts = np.percentile(values, [20, 40, 60, 80])
        if lower_is_better:
            return 1 + sum((values < c).astype(int) for c in cuts)
        return 1 + sum((values > c).astype(int) for c in cuts)

    r, f = score(recency, lower_is_better=True), score(frequency)
    groups = defaultdict(int)
    for rs, fs in zip(r, f, strict=True):
        groups[GRID[int(rs)][int(fs)]] += 1
    assert len(groups) == 10 and min(groups.values()) >= 100, dict(groups)
    classes = defaultdict(int)
    for key in zip(
        recency < recency.mean(), frequency > frequency.mean(), monetary > monetary.mean(), strict=True
    ):
        classes[key] += 1
    assert len(classes) == 8 and min(classes.values()) >= 100, dict(classes)


def test_main_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "out"), "--customers", "300", "--seed", "1", "--end", "2025-06-30"]) == 0
    out = capsys.readouterr().out
    assert "customers.csv" in out and "orders.csv" in out
    days = sorted(r["ordered_at"][:10] for r in _rows(tmp_path / "out" / "orders.csv"))
    assert days[-1] <= "2025-06-30" and days[0] >= "2022-07-01"


def test_cdnow_log_is_shipped() -> None:
    log = resources.files("kehu.sample") / "cdnow" / "CDNOW_master.txt"
    text = log.read_text(encoding="ascii").splitlines()
    assert len(text) == 69_660  # header + 69,659 transactions
    assert text[1].split() == ["00001", "19970101", "1", "11.77"]


def test_demo_imports_and_fills_every_class_group_and_stage(settings, demo: DemoFiles) -> None:  # noqa: ANN001
    """Through kehu itself: no rejects, and every RFM class, grid group and lifecycle stage has customers."""
    from kehu.analytics import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS, classify
    from kehu.ingest import import_file

    report = import_file(settings=settings, path=demo.customers_csv, kind="customers", format_name="generic")
    assert report.counts.rejected == 0 and report.counts.inserted == 20_000
    report = import_file(settings=settings, path=demo.orders_csv, kind="orders", format_name="generic")
    assert report.counts.rejected == 0 and report.counts.new_customers == 0
    snapshot = classify(settings=settings, as_of=END)
    assert snapshot.customers == 20_000
    for counts, names in ((snapshot.by_class, RFM_CLASSES), (snapshot.by_group, RFM_GROUPS),
                          (snapshot.by_stage, LIFECYCLE_STAGES)):
        assert {k for k, v in counts.items() if v >= 50} >= set(names), counts
