"""Task pages: "my tasks" overdue first, a task opened from a feedback item (which records the first response),
status and encrypted outcome, who may do what, mistakes shown as messages."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from kehu.feedback import add_feedback, local_now
from kehu.privacy import FieldCipher
from kehu.store import AuditEvent, Feedback, Task, User, session_scope
from kehu.tasks import create_task

OUTCOME = "客户同意换货，新手机号 13700001111"


class Page(HTMLParser):
    """Elements with attributes, their attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[dict[str, str], list[str]]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "br", "meta", "link", "img"):
            return
        texts: list[str] = []
        self.elements.append(({k: v or "" for k, v in attrs}, texts))
        self._open.append(texts)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in ("input", "br", "meta", "link", "img"):
            done = self._open.pop()
            if self._open:
                self._open[-1].extend(done)

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].append(data)

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, str]]:
        return [dict(a, _text=" ".join("".join(t).split())) for a, t in self.elements
                if name in a and (value is None or a[name] == value)]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def csrf(client: TestClient, path: str = "/tasks") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)



def _user_id(settings, name: str) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        return int(session.scalar(select(User.id).where(User.username == name)))


def _task(settings, customer_id: int, owner: int | None, hours: float, title: str = "回访") -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.store_url) as session:
        return create_task(session, customer_id=customer_id, kind="call_back", title=title, owner_id=owner,
                           due_at=local_now() + timedelta(hours=hours), created_by=None).id


def test_my_tasks_overdue_first(as_role, web_settings, store) -> None:
    client = as_role("agent")
    me = _user_id(web_settings, "agent")
    later = _task(web_settings, store.vip_id, me, 48)
    overdue = _task(web_settings, store.vip_id, me, -5)
    _task(web_settings, store.vip_id, None, -50)  # not mine
    page = parse(client.get("/tasks").text)  # an agent's default view is "mine"
    rows = page.with_attr("data-task")
    assert [int(r["data-task"]) for r in rows] == [overdue, later]
    assert [r["data-overdue"] for r in rows] == ["true", "false"]
    assert page.with_attr("data-total")[0]["data-total"] == "2"
    everyone = parse(client.get("/tasks?view=all").text).with_attr("data-task")
    assert len(everyone) == 3 and everyone[0]["data-overdue"] == "true"


def test_task_from_feedback_updates_and_outcome_is_encrypted(as_role, web_settings, store) -> None:
    client = as_role("agent")
    with session_scope(web_settings.store_url) as session:
        item = add_feedback(session, FieldCipher.from_settings(web_settings), customer_id=store.vip_id,
                            kind="complaint", text="快递丢件了")
        item_id = item.id
    feedback_page = parse(client.get(f"/feedback/items/{item_id}").text)
    link = feedback_page.with_attr("data-action", "new-task")[0]["href"].replace("&amp;", "&")
    form = parse(client.get(link).text)
    assert "C0000" in form.with_attr("data-field", "customer")[0]["_text"]
    response = client.post("/tasks/new", data={
        "csrf_token": csrf(client), "customer_id": str(store.vip_id), "source_type": "feedback",
        "source_id": str(item_id), "kind": "complaint", "title": "回访丢件 13800138000",
        "owner": str(_user_id(web_settings, "agent")), "due": (local_now() + timedelta(days=2)).date().isoformat()},
        follow_redirects=False)
    assert response.status_code == 303
    task_url = response.headers["location"]
    page = parse(client.get(task_url).text)
    assert page.with_attr("data-task")[0]["data-status"] == "open"
    assert page.with_attr("data-field", "source")[0]["_text"].endswith(f"#{item_id}")
    with session_scope(web_settings.store_url) as session:
        task = session.scalars(select(Task)).one()
        assert task.title == "回访丢件 ***"
        assert session.get(Feedback, item_id).first_response_at is not None  # opening a task answers it
    assert client.post(task_url, data={"csrf_token": csrf(client), "status": "done", "outcome": OUTCOME},
                       follow_redirects=False).status_code == 303
    page = parse(client.get(task_url).text)
    assert page.with_attr("data-task")[0]["data-status"] == "done"
    assert page.with_attr("data-field", "outcome")[0]["_text"] == OUTCOME
    with session_scope(web_settings.store_url) as session:
        raw = session.execute(text("SELECT * FROM tasks")).one()
        assert not any("13700001111" in str(v) or "换货" in str(v) for v in raw)
        events = session.scalars(select(AuditEvent).where(AuditEvent.target_type == "task")).all()
        assert [e.action for e in events] == ["create", "update"] and "换货" not in str([e.detail for e in events])
    feedback_tasks = parse(client.get(f"/feedback/items/{item_id}").text).with_attr("data-task")
    assert [int(t["data-task"]) for t in feedback_tasks] == [int(task_url.rsplit("/", 1)[1])]


def test_roles_and_mistakes(as_role, web_settings, store) -> None:
    task = _task(web_settings, store.vip_id, None, 24)
    analyst = as_role("analyst")
    assert analyst.get("/tasks").status_code == 200
    page = parse(analyst.get(f"/tasks/{task}").text)
    assert not page.with_attr("data-form", "update-task") and not page.with_attr("data-field", "outcome")
    assert analyst.post(f"/tasks/{task}", data={"csrf_token": csrf(analyst), "status": "done"}).status_code == 403
    assert analyst.get("/tasks/new").status_code == 403
    viewer = as_role("viewer")
    assert viewer.get("/tasks").status_code == 403
    agent = as_role("agent")
    token = csrf(agent)
    no_title = agent.post("/tasks/new", data={"csrf_token": token, "customer_id": str(store.vip_id), "title": " ",
                                              "kind": "call_back", "due": "2025-07-01"})
    assert no_title.status_code == 400 and parse(no_title.text).with_attr("data-error")
    bad_due = agent.post("/tasks/new", data={"csrf_token": token, "customer_id": str(store.vip_id), "title": "回访",
                                             "kind": "call_back", "due": "tomorrow"})
    assert bad_due.status_code == 400 and "tomorrow" in parse(bad_due.text).with_attr("data-error")[0]["_text"]
    unknown = agent.post("/tasks/new", data={"csrf_token": token, "external_id": "NOPE", "title": "回访",
                                             "kind": "call_back", "due": "2025-07-01"})
    assert unknown.status_code == 400 and "NOPE" in unknown.text
    assert agent.get("/tasks/999999").status_code == 404
    assert agent.post(f"/tasks/{task}", data={"csrf_token": token, "status": "finished"}).status_code == 400
