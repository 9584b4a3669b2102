"""Dashboard, customer list and profile: both languages, filters, sorting, paging, masking, errors."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from kehu.web.present import percent, yuan


def chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="kehu-charts">(.*?)</script>', html, re.S)
    assert match, "no chart data block"
    return json.loads(match.group(1))


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, name
    return unescape(match.group(1))


def customer_ids(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/customers/\d+[^"]*">(C\d{4})</a>', html)


# --- dashboard ----------------------------------------------------------------------------------------------


def test_dashboard_key_figures(admin: TestClient, store) -> None:
    html = admin.get("/?lang=en").text
    assert figure(html, "customers") == f"{store.customers:,}"
    assert figure(html, "buyers") == str(store.buyers)
    assert figure(html, "orders") == str(store.orders)  # unpaid, refunded and later orders left out
    assert figure(html, "revenue") == yuan(store.revenue_cents)
    aov = (2 * store.revenue_cents + store.orders) // (2 * store.orders)
    assert figure(html, "aov") == yuan(aov)
    assert figure(html, "repeat-share") == percent(store.repeat_buyers / store.buyers)
    assert "2025-06-30" in html


@pytest.mark.parametrize(
    ("lang", "class_label", "stage_label", "title"),
    [("zh", "重要价值客户", "活跃客户", "RFM 八类客户"), ("en", "important value", "active", "RFM classes")],
)
def test_dashboard_chart_data_in_each_language(
    admin: TestClient, store, lang, class_label, stage_label, title
):
    html = admin.get(f"/?lang={lang}").text
    data = chart_data(html)
    assert data["lang"] == lang
    charts = {c["id"]: c for c in data["charts"]}
    assert set(charts) == {"chart-classes", "chart-groups", "chart-stages", "chart-revenue"}
    classes = charts["chart-classes"]
    assert classes["title"] == title
    assert class_label in classes["labels"]
    assert sum(classes["values"]) == store.buyers  # prospects have no class
    assert sum(charts["chart-groups"]["values"]) == store.customers
    stages = charts["chart-stages"]
    assert stage_label in stages["labels"]
    assert sum(stages["values"]) == store.customers
    revenue = charts["chart-revenue"]
    assert revenue["labels"] == sorted(revenue["labels"])
    assert round(sum(revenue["values"]) * 100) == store.revenue_cents
    assert '<script src="/static/plotly.min.js" defer></script>' in html
    assert '<script src="/static/charts.js" defer></script>' in html


def test_dashboard_picks_another_snapshot_by_date(admin: TestClient, fx) -> None:
    html = admin.get(f"/?as_of={fx.OLD_AS_OF.isoformat()}&lang=en").text
    assert f'<option value="{fx.OLD_AS_OF.isoformat()}" selected>' in html
    assert 'href="/customers?as_of=2025-03-31"' in html


def test_dashboard_ignores_snapshots_still_building(admin: TestClient) -> None:
    html = admin.get("/").text
    assert '<option value="2025-06-30" selected>' in html
    assert "2025-09-30" not in html


def test_unknown_snapshot_date_is_404_and_bad_date_is_422(admin: TestClient) -> None:
    missing = admin.get("/?as_of=2001-01-01&lang=en")
    assert missing.status_code == 404
    assert "kehu classify" in missing.text
    bad = admin.get("/?as_of=yesterday")
    assert bad.status_code == 422
    assert "Traceback" not in bad.text
    assert "as_of" in bad.text


def test_dashboard_without_snapshot_says_what_to_run(web_settings, fx, helpers) -> None:
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    fx.build_store(web_settings, customers=5, with_snapshot=False)
    ensure_admin(web_settings)
    with TestClient(create_app(web_settings)) as client:
        helpers.sign_in(client)
        for lang in ("zh", "en"):
            response = client.get(f"/?lang={lang}")
            assert response.status_code == 200
            assert "kehu import" in response.text and "kehu classify" in response.text
            assert 'id="kehu-charts"' not in response.text
        assert "kehu classify" in client.get("/customers").text


def test_empty_store_dashboard(web_settings, helpers) -> None:
    from kehu.web import create_app
    from kehu.web.auth import ensure_admin

    ensure_admin(web_settings)
    with TestClient(create_app(web_settings)) as client:
        helpers.sign_in(client)
        assert "kehu classify" in client.get("/").text


# --- customer list ------------------------------------------------------------------------------------------


def test_list_is_paged_by_50_with_total(admin: TestClient, store) -> None:
    first = admin.get("/customers?lang=en&sort=external_id&dir=asc").text
    assert "60 customers" in first
    assert "Page 1 of 2" in first
    ids = customer_ids(first)
    assert len(ids) == 50
    assert ids[0] == "C0000" and ids[-1] == "C0049"
    second = admin.get("/customers?lang=en&sort=external_id&dir=asc&page=2").text
    assert customer_ids(second) == [f"C{i:04d}" for i in range(50, 60)]
    assert "Page 2 of 2" in second
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_page_past_the_end_is_empty_not_an_error(admin: TestClient) -> None:
    response = admin.get("/customers?page=99&lang=en")
    assert response.status_code == 200
    assert "No customers match" in response.text


@pytest.mark.parametrize("query", ["page=0", "page=x", "sort=name", "dir=up", "as_of=2025-13-01"])
def test_bad_list_parameters_are_422(admin: TestClient, query: str) -> None:
    response = admin.get(f"/customers?{query}")
    assert response.status_code == 422
    assert "<html" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("query", ["rfm_class=vip", "stage=zombie"])
def test_unknown_codes_are_400(admin: TestClient, query: str) -> None:
    response = admin.get(f"/customers?{query}&lang=en")
    assert response.status_code == 400
    assert "use one of" in response.text


def test_filter_by_class(admin: TestClient, fx) -> None:
    html = admin.get("/customers?rfm_class=important_value&lang=en").text
    ids = customer_ids(html)
    assert ids and all(int(i[1:]) % 4 == 0 for i in ids)
    assert "15 customers" in html
    assert '<option value="important_value" selected>' in html


def test_filter_by_stage_and_province_together(admin: TestClient) -> None:
    html = admin.get("/customers?stage=new&province=浙江&lang=en").text
    ids = customer_ids(html)
    assert ids
    assert all(int(i[1:]) % 4 == 1 for i in ids)  # stage "new" and province 浙江 are both i % 4 == 1
    none = admin.get("/customers?stage=new&province=广东&lang=en").text
    assert "0 customers" in none and "No customers match" in none


def test_blank_filters_mean_all(admin: TestClient) -> None:
    html = admin.get("/customers?rfm_class=&stage=&province=&lang=en").text
    assert "60 customers" in html


def test_sort_by_monetary_both_ways(admin: TestClient) -> None:
    desc = customer_ids(admin.get("/customers?sort=monetary_cents&dir=desc").text)
    assert desc[0] == "C0056"  # the biggest spender (3 orders); C0059 has no order
    asc = customer_ids(admin.get("/customers?sort=monetary_cents&dir=asc").text)
    assert asc[0] == "C0059"


def test_sort_by_recency_puts_prospects_last(admin: TestClient) -> None:
    asc = customer_ids(admin.get("/customers?sort=recency_days&dir=asc&page=2").text)
    assert asc[-1] == "C0059"
    html = admin.get("/customers?sort=recency_days&dir=asc").text
    assert 'aria-sort="ascending"' in html


def test_list_shows_masked_names_only(admin: TestClient, fx) -> None:
    html = admin.get("/customers?sort=external_id&dir=asc").text
    assert "张**" in html
    assert fx.VIP_NAME not in html
    assert "客户1号" not in html


def test_list_uses_the_chosen_snapshot(admin: TestClient, fx) -> None:
    now = admin.get("/customers?rfm_class=important_value&sort=external_id&dir=asc").text
    old = admin.get(
        f"/customers?rfm_class=important_value&sort=external_id&dir=asc&as_of={fx.OLD_AS_OF}"
    ).text
    assert customer_ids(now)[0] == "C0000"
    assert customer_ids(old)[0] == "C0003"


# --- profile ------------------------------------------------------------------------------------------------


def test_profile_shows_masked_pii_never_plaintext(admin: TestClient, store, fx) -> None:
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    assert "138****5678" in html
    assert "张**" in html
    assert "z************@example.com" in html
    for secret in (fx.VIP_PHONE, fx.VIP_NAME, fx.VIP_EMAIL, "zhang.sanfeng"):
        assert secret not in html


def test_profile_shows_classification_and_orders_newest_first(admin: TestClient, store) -> None:
    html = admin.get(f"/customers/{store.vip_id}?lang=en").text
    assert 'data-field="rfm_class">important value<' in html
    assert 'data-field="lifecycle_stage">active<' in html
    order_nos = re.findall(r'class="order-no">Order ([^<]+)<', html)
    assert order_nos[:3] == ["O-LATER", "O-REFUND", "O-UNPAID"]
    assert "保温杯 Thermos" in html
    assert "¥50.00" in html  # unit price of the first order's line


def test_profile_in_chinese(admin: TestClient, store) -> None:
    html = admin.get(f"/customers/{store.vip_id}?lang=zh").text
    assert 'data-field="rfm_class">重要价值客户<' in html
    assert "订单记录" in html


def test_profile_of_a_prospect(admin: TestClient, store) -> None:
    html = admin.get(f"/customers/{store.prospect_id}?lang=en").text
    assert "No orders." in html
    assert 'data-field="lifecycle_stage">prospect<' in html


@pytest.mark.parametrize("path", ["/customers/999999", "/no-such-page", "/static/nothing.js"])
def test_unknown_things_are_404_pages(admin: TestClient, path: str) -> None:
    response = admin.get(path + "?lang=en")
    assert response.status_code == 404
    assert "does not exist" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_non_numeric_customer_id_is_422(admin: TestClient) -> None:
    response = admin.get("/customers/abc")
    assert response.status_code == 422
    assert "Traceback" not in response.text


def test_undecryptable_field_shows_a_question_mark(admin: TestClient, web_settings, store) -> None:
    from kehu.store import Customer, session_scope

    with session_scope(web_settings.store_url) as session:
        session.get(Customer, store.vip_id).phone_enc = "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    html = admin.get(f"/customers/{store.vip_id}").text
    assert 'data-field="phone">?<' in html
