"""The predictions on the pages: the profile's card, the dashboard's charts and model quality, the list's CLV and
churn columns, filters and sorting; and pages of snapshots without predictions (or with broken ones)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from kehu.models.reasons import reason_text
from kehu.web.present import yuan


class Marked(HTMLParser):
    """Text of the elements carrying ``data-field`` / ``data-quality`` / ``data-section`` / ``data-tier`` /
    ``data-col``, and the items of lists, keyed by the attribute's value."""

    ATTRS = ("data-field", "data-quality", "data-section", "data-tier", "data-col")

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, list[str]] = defaultdict(list)
        self.items: dict[str, list[str]] = defaultdict(list)
        self.open: list[tuple[str, str | None]] = []  # (tag, key) of every open element
        self.item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "input", "img", "meta", "link"):
            return
        found = dict(attrs)
        key = next((f"{a}={found[a]}" for a in self.ATTRS if found.get(a)), None)
        self.open.append((tag, key))
        if key:
            self.text[key].append("")
        if tag == "li":
            self.item = []

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            open_tag, _ = self.open.pop()
            if open_tag == tag:
                break
        if tag == "li" and self.item is not None:
            parent = next((k for _, k in reversed(self.open) if k), None)
            if parent:
                self.items[parent].append("".join(self.item).strip())
            self.item = None

    def handle_data(self, data: str) -> None:
        for _, key in self.open:
            if key:
                self.text[key][-1] += data
        if self.item is not None:
            self.item.append(data)


def marked(html: str) -> Marked:
    parser = Marked()
    parser.feed(html)
    return parser


def field(page: Marked, name: str, attr: str = "data-field") -> str:
    values = page.text.get(f"{attr}={name}")
    assert values, f"no {attr}={name} in the page"
    return " ".join(values[0].split())


def chart_data(html: str) -> dict[str, dict]:
    match = re.search(r'<script type="application/json" id="kehu-charts">(.*?)</script>', html, re.S)
    assert match, "no chart data block"
    return {c["id"]: c for c in json.loads(match.group(1))["charts"]}


def customer_ids(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/customers/\d+[^"]*">(C\d{4})</a>', html)


@pytest.fixture
def predicted(web_settings, store, pfx):  # type: ignore[no-untyped-def]
    """The fixture store with predictions in its current snapshot; the ids of the products."""
    return pfx.add_predictions(web_settings, store.snapshot_id)


# --- profile ------------------------------------------------------------------------------------------------


def test_profile_shows_the_predictions(admin: TestClient, store, predicted, pfx) -> None:
    page = marked(admin.get(f"/customers/{store.vip_id}?lang=en").text)
    assert field(page, "p_alive") == "80.0%"
    assert field(page, "expected_purchases_90d") == "0.50"
    assert field(page, "expected_purchases_365d") == "2.00"
    assert field(page, "expected_aov") == "¥123.45"
    assert field(page, "clv_365d") == yuan(59 * 10_000) == "¥5,900.00"
    assert field(page, "clv_tier") == "high value"
    # Two views of churn side by side: the churn model's risk and 1 − P(alive).
    assert field(page, "churn_risk") == "10.0%"
    assert field(page, "one_minus_p_alive") == "20.0%"
    assert field(page, "cluster") == "frequent high spenders"
    # Names in the recommended order; the unknown product id left out; a product without a name by its SKU.
    assert page.items["data-field=recommendations"] == ["茶叶礼盒 Tea gift box", "保温杯 Thermos", "SKU-C"]


@pytest.mark.parametrize(
    ("lang", "first_reason", "cluster", "tier"),
    [
        ("en", "no purchase for 210 days, 3× their usual gap", "frequent high spenders", "high value"),
        ("zh", "已 210 天未购买，是其平时购买间隔的 3 倍", "高频高消费", "高价值"),
    ],
)
def test_profile_reasons_cluster_and_tier_in_each_language(
    admin: TestClient, store, predicted, pfx, lang, first_reason, cluster, tier
) -> None:
    html = admin.get(f"/customers/{store.vip_id}?lang={lang}").text
    page = marked(html)
    reasons = page.items["data-field=churn_reasons"]
    assert reasons == [reason_text(r, lang) for r in pfx.VIP_REASONS]
    assert reasons[0] == first_reason
    assert field(page, "cluster") == cluster
    assert field(page, "clv_tier") == tier
    assert ("预测" if lang == "zh" else "Predictions") in html


def test_profile_links_tier_and_cluster_to_the_filtered_list(admin: TestClient, store, predicted) -> None:
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    assert 'href="/customers?clv_tier=high"' in html
    assert 'href="/customers?cluster=0"' in html


def test_profile_of_a_cluster_without_a_name(admin: TestClient, store, predicted) -> None:
    c0002 = store.vip_id + 2  # cluster 2 has no name in the model report
    assert field(marked(admin.get(f"/customers/{c0002}?lang=en").text), "cluster") == "Cluster 2"
    assert field(marked(admin.get(f"/customers/{c0002}?lang=zh").text), "cluster") == "第 2 群"


def test_profile_of_a_prospect_shows_recommendations_only(admin: TestClient, store, predicted) -> None:
    page = marked(admin.get(f"/customers/{store.prospect_id}?lang=en").text)
    assert page.items["data-field=recommendations"] == ["保温杯 Thermos"]
    for name in ("p_alive", "clv_365d", "churn_risk", "one_minus_p_alive", "cluster", "churn_reasons"):
        assert f"data-field={name}" not in page.text


def test_profile_without_predictions_renders_without_them(admin: TestClient, store) -> None:
    response = admin.get(f"/customers/{store.vip_id}?lang=en")  # the fixture store: models NULL, columns NULL
    assert response.status_code == 200
    page = marked(response.text)
    assert field(page, "predictions_off").startswith("Predictions were not computed")
    for name in ("p_alive", "clv_365d", "churn_risk", "cluster", "recommendations", "churn_reasons"):
        assert f"data-field={name}" not in page.text
    assert field(page, "rfm_class") == "important value"  # the rest of the page as before


def test_profile_with_a_report_but_no_predictions_for_the_customer(admin: TestClient, web_settings, store) -> None:
    from kehu.store import ClassificationSnapshot, session_scope

    with session_scope(web_settings.store_url) as session:
        session.get(ClassificationSnapshot, store.snapshot_id).models = {"bg_nbd": {"error": "no repeat purchases"}}
    page = marked(admin.get(f"/customers/{store.vip_id}?lang=en").text)
    assert field(page, "no_predictions") == "No predictions for this customer in this snapshot."


def test_profile_survives_malformed_json_columns(admin: TestClient, web_settings, store, predicted) -> None:
    from kehu.store import Classification, ClassificationSnapshot, session_scope

    with session_scope(web_settings.store_url) as session:
        k = session.get(Classification, (store.snapshot_id, store.vip_id))
        k.churn_reasons = '[{"code": "martian"}, "not a dict", {"code": "long_gap"}'  # truncated JSON
        k.recommendations = '{"not": "a list"}'
        session.get(ClassificationSnapshot, store.snapshot_id).models = {"clusters": ["garbage"], "churn": 3}
    response = admin.get(f"/customers/{store.vip_id}?lang=en")
    assert response.status_code == 200
    page = marked(response.text)
    assert "data-field=churn_reasons" not in page.text
    assert "data-field=recommendations" not in page.text
    assert field(page, "cluster") == "Cluster 0"
    assert field(page, "p_alive") == "80.0%"


def test_profile_with_unknown_reason_codes_says_so(admin: TestClient, web_settings, store, predicted) -> None:
    from kehu.store import Classification, session_scope

    with session_scope(web_settings.store_url) as session:
        k = session.get(Classification, (store.snapshot_id, store.vip_id))
        k.churn_reasons = json.dumps([{"code": "martian"}, {"code": "long_gap"}])
    page = marked(admin.get(f"/customers/{store.vip_id}?lang=en").text)
    assert page.items["data-field=churn_reasons"] == ["other reason: martian", "other reason: long_gap"]


def test_profile_when_the_churn_model_fell_back_to_p_alive(admin: TestClient, web_settings, store, pfx) -> None:
    models = {**pfx.MODELS, "churn": {"error": "too little history", "risk": "1 - p_alive"}}
    pfx.add_predictions(web_settings, store.snapshot_id, models=models)
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    assert "too little history to train the churn model" in html


# --- dashboard ----------------------------------------------------------------------------------------------


def test_dashboard_clv_tiers(admin: TestClient, predicted, pfx) -> None:
    page = marked(admin.get("/?lang=en").text)
    for tier in pfx.TIER_COUNTS:
        assert f"data-tier={tier}" in page.text
    customers = [" ".join(t.split()) for t in page.text["data-col=customers"]]
    assert customers == ["12", "18", "29"]
    clv = [" ".join(t.split()) for t in page.text["data-col=clv"]]
    assert clv == [yuan(642 * 10_000), yuan(693 * 10_000), yuan(435 * 10_000)]


def test_dashboard_prediction_charts(admin: TestClient, store, predicted, pfx) -> None:
    charts = chart_data(admin.get("/?lang=en").text)
    assert {"chart-clv", "chart-churn", "chart-clusters"} <= set(charts)
    clv = charts["chart-clv"]
    assert sum(clv["values"]) == pfx.BUYERS
    assert 9 <= len(clv["values"]) <= 11
    assert clv["labels"][0].startswith("¥0–")
    churn = charts["chart-churn"]
    assert churn["labels"] == ["0–25%", "25–50%", "50–75%", "75–100%"]
    assert churn["values"] == pfx.BAND_COUNTS
    clusters = charts["chart-clusters"]
    assert clusters["labels"] == ["frequent high spenders", "newcomers", "Cluster 2"]
    assert clusters["values"] == list(pfx.CLUSTER_COUNTS.values())
    assert clusters["param"] == "cluster" and clusters["codes"] == ["0", "1", "2"]


def test_dashboard_prediction_charts_in_chinese(admin: TestClient, predicted) -> None:
    charts = chart_data(admin.get("/?lang=zh").text)
    assert charts["chart-clusters"]["labels"] == ["高频高消费", "新客户群", "第 2 群"]
    assert charts["chart-churn"]["title"] == "流失风险分布"


def test_dashboard_model_quality(admin: TestClient, predicted) -> None:
    page = marked(admin.get("/?lang=en").text)
    assert field(page, "bg_nbd", "data-quality") == "r = 0.243, alpha = 4.414, a = 0.793, b = 2.426"
    assert field(page, "churn_auc", "data-quality") == "0.812"
    assert field(page, "baseline_auc", "data-quality") == "0.700"
    assert field(page, "no_purchase_auc", "data-quality") == "0.753"
    assert field(page, "churn_risk_source", "data-quality") == "gradient boosting"
    assert field(page, "hit_rate", "data-quality") == "23.0%"
    assert field(page, "popularity_hit_rate", "data-quality") == "11.0%"
    assert field(page, "clv_total", "data-quality") == "¥177,000.00"


def test_dashboard_without_predictions_has_no_prediction_parts(admin: TestClient) -> None:
    html = admin.get("/?lang=en").text
    page = marked(html)
    assert set(chart_data(html)) == {"chart-classes", "chart-groups", "chart-stages", "chart-revenue"}
    assert field(page, "predictions-off", "data-section").startswith("Predictions were not computed")
    assert "data-section=model-quality" not in page.text
    assert "data-section=clv-tiers" not in page.text


def test_dashboard_with_failed_models(admin: TestClient, web_settings, store) -> None:
    from kehu.store import ClassificationSnapshot, session_scope

    models = {
        "time_unit": "days",
        "bg_nbd": {"error": "no repeat purchases yet"},
        "gamma_gamma": {"error": "too few repeat buyers"},
        "churn": {"error": "too little history", "risk": "1 - p_alive", "baseline_error": "no baseline"},
        "clusters": {"error": "too few customers"},
        "recommendations": {"error": "no order lines with products in the store"},
    }
    with session_scope(web_settings.store_url) as session:
        session.get(ClassificationSnapshot, store.snapshot_id).models = models
    response = admin.get("/?lang=en")
    assert response.status_code == 200
    page = marked(response.text)
    assert field(page, "bg_nbd", "data-quality") == "Not computed: no repeat purchases yet"
    assert field(page, "churn_auc", "data-quality") == "Not computed: too little history"
    assert field(page, "baseline_auc", "data-quality") == "Not computed: no baseline"
    assert field(page, "churn_risk_source", "data-quality") == "1 − P(alive)"
    assert field(page, "hit_rate", "data-quality").startswith("Not computed: no order lines")
    assert field(page, "clusters", "data-quality") == "Not computed: too few customers"
    assert "chart-clv" not in chart_data(response.text)


@pytest.mark.parametrize("models", [{}, {"bg_nbd": "x", "churn": [], "recommendations": {"hit_rate": 3}}, []])
def test_dashboard_survives_odd_model_reports(admin: TestClient, web_settings, store, models) -> None:
    from kehu.store import ClassificationSnapshot, session_scope

    with session_scope(web_settings.store_url) as session:
        session.get(ClassificationSnapshot, store.snapshot_id).models = models
    response = admin.get("/?lang=en")
    assert response.status_code == 200
    assert field(marked(response.text), "bg_nbd", "data-quality") == "Not computed"


def test_dashboard_of_an_older_snapshot_without_predictions(admin: TestClient, predicted, fx) -> None:
    html = admin.get(f"/?as_of={fx.OLD_AS_OF.isoformat()}&lang=en").text
    assert "chart-clv" not in chart_data(html)
    assert "Predictions were not computed" in html


# --- customer list ------------------------------------------------------------------------------------------


def test_list_shows_clv_and_churn_columns(admin: TestClient, predicted) -> None:
    html = admin.get("/customers?lang=en&sort=external_id&dir=asc").text
    page = marked(html)
    assert "12-month CLV" in html and "Churn risk" in html
    assert [" ".join(t.split()) for t in page.text["data-col=clv"]][:2] == ["¥5,900.00", "¥5,800.00"]
    assert [" ".join(t.split()) for t in page.text["data-col=churn_risk"]][:2] == ["10.0%", "35.0%"]


def test_list_without_predictions_has_no_prediction_columns(admin: TestClient) -> None:
    html = admin.get("/customers?lang=en").text
    assert "12-month CLV" not in html
    assert 'name="clv_tier"' not in html


def test_filter_by_clv_tier(admin: TestClient, predicted, pfx) -> None:
    for tier, n in pfx.TIER_COUNTS.items():
        html = admin.get(f"/customers?clv_tier={tier}&sort=external_id&dir=asc&lang=en").text
        assert f"{n} customers" in html
        ids = customer_ids(html)
        assert ids and all(pfx.tier(int(i[1:])) == tier for i in ids)
    assert '<option value="low" selected>' in html


def test_filter_by_cluster_with_names_in_the_select(admin: TestClient, predicted, pfx) -> None:
    html = admin.get("/customers?cluster=1&sort=external_id&dir=asc&lang=en").text
    assert "20 customers" in html
    assert all(int(i[1:]) % 3 == 1 for i in customer_ids(html))
    assert '<option value="1" selected>newcomers</option>' in html
    combined = admin.get("/customers?cluster=0&clv_tier=high&lang=en").text
    assert "4 customers" in combined  # i < 12 and i % 3 == 0


def test_filter_by_a_cluster_the_report_does_not_name(admin: TestClient, predicted) -> None:
    html = admin.get("/customers?cluster=7&lang=en").text
    assert "0 customers" in html
    assert '<option value="7" selected>Cluster 7</option>' in html


@pytest.mark.parametrize(
    ("query", "first", "last"),
    [
        ("sort=clv_365d_cents&dir=desc", "C0000", "C0059"),  # the prospect has no CLV: last either way
        ("sort=clv_365d_cents&dir=asc", "C0058", "C0059"),
        ("sort=churn_risk&dir=desc", "C0055", "C0059"),  # ties (85 %) by customer id, descending
        ("sort=churn_risk&dir=asc", "C0000", "C0059"),
    ],
)
def test_sort_by_clv_and_churn_risk(admin: TestClient, predicted, query, first, last) -> None:
    one = customer_ids(admin.get(f"/customers?{query}").text)
    two = customer_ids(admin.get(f"/customers?{query}&page=2").text)
    assert one[0] == first
    assert two[-1] == last
    assert len(one + two) == 60


def test_sort_header_marks_the_prediction_column(admin: TestClient, predicted) -> None:
    html = admin.get("/customers?sort=churn_risk&dir=desc&lang=en").text
    assert re.search(r'aria-sort="descending">\s*<a href="[^"]*sort=churn_risk', html)


@pytest.mark.parametrize(
    ("query", "message"),
    [("clv_tier=gold", "use one of high, medium, low"), ("cluster=abc", "cluster number"), ("cluster=-1", "cluster")],
)
def test_bad_prediction_filters_are_400(admin: TestClient, query: str, message: str) -> None:
    response = admin.get(f"/customers?{query}&lang=en")
    assert response.status_code == 400
    assert message in response.text


def test_blank_prediction_filters_mean_all(admin: TestClient, predicted) -> None:
    assert "60 customers" in admin.get("/customers?clv_tier=&cluster=&lang=en").text


# --- permissions --------------------------------------------------------------------------------------------


def test_viewer_sees_the_dashboard_predictions_but_no_customer(
    client: TestClient, web_settings, store, predicted, fx, helpers
) -> None:
    fx.add_user(web_settings, "vera", "viewer")
    helpers.sign_in(client, "vera")
    assert "chart-clusters" in chart_data(client.get("/?lang=en").text)
    assert client.get(f"/customers/{store.vip_id}").status_code == 403
    assert client.get("/customers?clv_tier=high").status_code == 403
    assert client.get("/customers?sort=churn_risk").status_code == 403


def test_signed_out_is_sent_to_login(client: TestClient, store, predicted) -> None:
    response = client.get(f"/customers/{store.vip_id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
