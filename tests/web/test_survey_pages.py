"""Survey pages: creating a survey, the public answer page (no sign-in, no personal data, zh/en, one answer, forged
links and closed surveys answered politely), the detractor's call-back on the survey page, links and import,
permissions by role."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kehu.store import AuditEvent, Survey, SurveyInvite, SurveyResponse, Task, session_scope
from kehu.surveys import make_token, nps, read_token, survey_key


def _pages():  # type: ignore[no-untyped-def]
    name = "kehu_campaign_page_tests"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_campaign_pages.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def parse(html: str):  # type: ignore[no-untyped-def]
    return _pages().parse(html)


def csrf_of(html: str) -> str:
    return str(_pages().csrf_of(html))


def _create(admin: TestClient, kind: str = "nps", **fields: str) -> int:
    html = admin.get("/surveys").text
    response = admin.post("/surveys", data={"csrf_token": csrf_of(html), "name": "售后 NPS", "kind": kind, **fields},
                          follow_redirects=False)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _link(web_settings, survey_id: int, customer_id: int) -> str:  # type: ignore[no-untyped-def]
    return "/s/" + make_token(survey_key(web_settings), survey_id, customer_id)


def test_public_answer_page_one_answer_and_a_call_back(admin: TestClient, web_settings, store, fx) -> None:  # type: ignore[no-untyped-def]
    survey_id = _create(admin)
    link = _link(web_settings, survey_id, store.vip_id)
    public = TestClient(admin.app)  # a customer: not signed in
    page = public.get(link)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers  # no session for respondents
    assert '<html lang="zh-CN">' in page.text and "推荐给朋友或同事" in page.text
    assert len(re.findall(r'type="radio" name="score"', page.text)) == 11
    for secret in (fx.VIP_NAME, fx.VIP_PHONE, fx.VIP_EMAIL, "C0000", "138****5678", "张**"):
        assert secret not in page.text
    english = public.get(link + "?lang=en")
    assert '<html lang="en">' in english.text and "recommend us to a friend" in english.text
    assert parse(public.post(link, data={"comment": "x"}).text).find("data-state", "form")  # no score: asked again

    done = public.post(link, data={"score": "3", "comment": "物流太慢"})
    assert done.status_code == 200 and parse(done.text).find("data-state", "thanks")
    again = public.post(link, data={"score": "10"})
    assert again.status_code == 409 and parse(again.text).find("data-state", "answered")
    assert parse(public.get(link).text).find("data-state", "answered")
    with session_scope(web_settings.store_url) as session:
        [response] = session.scalars(select(SurveyResponse).where(SurveyResponse.survey_id == survey_id)).all()
        assert response.score == 3 and response.source == "link"
        task = session.get(Task, response.task_id)
        assert task is not None and task.kind == "survey_follow_up" and task.customer_id == store.vip_id
        assert (task.source_type, task.source_id) == ("survey_response", response.id)

    page = parse(admin.get(f"/surveys/{survey_id}").text)
    row = page.find("data-task", str(task.id))
    assert "C0000" in row["text"] and "3" in row["text"].split()
    overall = page.find("data-score", "overall")
    assert float(overall["data-value"]) == pytest.approx(nps([3]).value.estimate)
    assert page.find("data-figure", "follow_ups")["data-value"] == "1"


def test_forged_links_and_closed_surveys_get_a_polite_page(admin: TestClient, web_settings, store) -> None:  # type: ignore[no-untyped-def]
    survey_id = _create(admin, "csat")
    link = _link(web_settings, survey_id, store.vip_id)
    public = TestClient(admin.app)
    forged = link[:-3] + ("abc" if not link.endswith("abc") else "xyz")
    for bad in (forged, "/s/not-a-token", _link(web_settings.model_copy(update={"secret_key": "x" * 40}), survey_id,
                                                  store.vip_id)):
        response = public.get(bad)
        assert response.status_code == 404 and parse(response.text).find("data-state", "invalid")
        assert public.post(bad, data={"score": "5"}).status_code == 404
    page = public.get(link)
    assert len(re.findall(r'type="radio" name="score"', page.text)) == 5
    html = admin.get(f"/surveys/{survey_id}").text
    admin.post(f"/surveys/{survey_id}/close", data={"csrf_token": csrf_of(html)})
    closed = public.post(link, data={"score": "5"})
    assert closed.status_code == 410 and parse(closed.text).find("data-state", "closed")
    with session_scope(web_settings.store_url) as session:
        assert session.scalars(select(SurveyResponse)).all() == []


def test_links_download_and_import(admin: TestClient, web_settings, store, fx) -> None:  # type: ignore[no-untyped-def]
    survey_id = _create(admin)
    html = admin.get(f"/surveys/{survey_id}").text
    response = admin.post(f"/surveys/{survey_id}/links", data={"csrf_token": csrf_of(html), "target_kind": "rfm_group",
                                                              "rfm_group": ["champions"]})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["customer_id", "link"] and len(rows) > 5
    assert fx.VIP_PHONE not in response.text and "@" not in response.text
    key = survey_key(web_settings)
    tokens = [read_token(key, link.rsplit("/s/", 1)[1]) for _, link in rows[1:]]
    assert {s for s, _ in tokens} == {survey_id}
    with session_scope(web_settings.store_url) as session:
        assert len(session.scalars(select(SurveyInvite)).all()) == len(rows) - 1
        assert session.scalars(select(AuditEvent).where(AuditEvent.target_type == "survey",
                                                        AuditEvent.action == "export")).all()

    data = "customer_id,answered_at,score,comment\nC0001,2025-06-01,10,很好\nC0002,2025-06-02,2,\nNOPE,2025-06-02,9,\n"
    response = admin.post(f"/surveys/{survey_id}/import", data={"csrf_token": csrf_of(html), "follow_up": "true"},
                          files={"file": ("answers.csv", data.encode("utf-8"), "text/csv")})
    assert response.status_code == 200
    page = parse(response.text)
    notice = page.text("data-import", "done")
    assert "2" in notice and "NOPE" in notice
    assert page.find("data-figure", "answers")["data-value"] == "2"
    assert page.find("data-figure", "follow_ups")["data-value"] == "1"
    groups = page.all("data-group")
    assert sum(int(g["data-n"]) for g in groups if g["data-group"] in ("2025-06",)) == 2


def test_viewer_reads_results_but_cannot_create(client: TestClient, admin: TestClient, fx, web_settings,  # type: ignore[no-untyped-def]
                                                helpers) -> None:
    survey_id = _create(admin)
    client.cookies.clear()
    fx.add_user(web_settings, "viewer", "viewer")
    helpers.sign_in(client, "viewer")
    html = client.get(f"/surveys/{survey_id}").text
    assert 'action="/surveys/' + str(survey_id) + '/links"' not in html
    listing = client.get("/surveys").text
    assert 'action="/surveys"' not in listing
    assert client.post("/surveys", data={"csrf_token": csrf_of(listing), "name": "x", "kind": "nps"}).status_code == 403
    assert client.post(f"/surveys/{survey_id}/close", data={"csrf_token": csrf_of(html)}).status_code == 403
    with session_scope(web_settings.store_url) as session:
        assert len(session.scalars(select(Survey)).all()) == 1


def test_survey_form_errors(admin: TestClient) -> None:
    html = admin.get("/surveys").text
    response = admin.post("/surveys", data={"csrf_token": csrf_of(html), "name": "  ", "kind": "nps"})
    assert response.status_code == 400 and "name of 1 to 128" in response.text
    assert admin.post("/surveys", data={"csrf_token": csrf_of(html), "name": "x", "kind": "ces"}).status_code == 422
    assert admin.get("/surveys/999").status_code == 404
