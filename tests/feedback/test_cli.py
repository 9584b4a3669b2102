"""``kehu feedback import`` and ``kehu tasks list`` through Typer's runner; mistakes end in one line, no
traceback."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SECRET
from factories import write_generic_orders
from kehu.cli import app
from kehu.config import Settings
from kehu.store import User, session_scope
from kehu.tasks import create_task

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    orders = tmp_path / "orders.csv"
    write_generic_orders(orders, [("A1", "c1", "2025-01-02", "10"), ("A2", "c2", "2025-01-20", "12.5")])
    assert runner.invoke(app, ["import", "orders", str(orders)]).exit_code == 0
    return tmp_path


def test_feedback_import(env: Path) -> None:
    file = env / "feedback.csv"
    file.write_text("customer_id,created_at,kind,rating,text\nc1,2025-02-01,complaint,,物流太慢\n"
                    "c2,2025-02-02,review,5,Great!\nc9,2025-02-02,review,5,Great!\n", encoding="utf-8")
    result = runner.invoke(app, ["feedback", "import", str(file)])
    assert result.exit_code == 0, result.output
    assert "read 3, inserted 2, unchanged 0, rejected 1" in result.output and "rejects in" in result.output
    again = runner.invoke(app, ["feedback", "import", str(file), "--rejects", str(env / "bad.csv")])
    assert "inserted 0, unchanged 2, rejected 1" in again.output
    assert "c9" in (env / "bad.csv").read_text(encoding="utf-8-sig")
    missing = runner.invoke(app, ["feedback", "import", str(env / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output and "Traceback" not in missing.output


def test_tasks_list_mine(env: Path) -> None:
    settings = Settings(data_dir=env / "data", secret_key=SECRET, _env_file=None)
    now = datetime.now()
    with session_scope(settings.store_url) as session:
        agent = User(username="li", password_hash="x", role="agent")
        session.add(agent)
        session.flush()
        create_task(session, customer_id=1, kind="call_back", title="回访 c1", owner_id=agent.id,
                    due_at=now - timedelta(days=1), created_by=None)
        create_task(session, customer_id=2, kind="follow_up", title="跟进 c2", owner_id=None,
                    due_at=now + timedelta(days=1), created_by=None)
    everyone = runner.invoke(app, ["tasks", "list"], env={"COLUMNS": "200"})
    assert everyone.exit_code == 0, everyone.output
    assert everyone.output.index("回访 c1") < everyone.output.index("跟进 c2") and "OVERDUE" in everyone.output
    mine = runner.invoke(app, ["tasks", "list", "--mine", "--user", "li"], env={"COLUMNS": "200"})
    assert "回访 c1" in mine.output and "跟进 c2" not in mine.output
    nobody = runner.invoke(app, ["tasks", "list", "--mine", "--user", "nobody"])
    assert nobody.exit_code == 1 and "no kehu user named 'nobody'" in nobody.output
    bad = runner.invoke(app, ["tasks", "list", "--status", "finished"])
    assert bad.exit_code == 1 and "task status 'finished'" in bad.output
