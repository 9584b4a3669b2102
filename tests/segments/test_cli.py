"""``kehu segment …`` through Typer's runner: add, list, show, check, export, refresh, archive; rule mistakes as one
line with a caret under the offending text, never a traceback."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from conftest import SECRET
from kehu.cli import app
from kehu.config import Settings
from kehu.store import AuditEvent, session_scope

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fx: Any) -> Settings:  # noqa: ANN401
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET, _env_file=None)
    fx.build_store(settings)
    return settings


def test_add_list_show_check_refresh_archive(env: Settings) -> None:
    result = runner.invoke(app, ["segment", "refresh", "--all"])
    assert result.exit_code == 0, result.output
    assert "created the default tags: 价格敏感" in result.output and "2025-06-30: 7 segments" in result.output

    result = runner.invoke(app, ["segment", "add", "广东复购", "province = '广东' AND frequency >= 2", "--description",
                                 "Guangdong repeat buyers"])
    assert result.exit_code == 0, result.output
    assert "added segment 广东复购" in result.output and "customers as of 2025-06-30" in result.output

    result = runner.invoke(app, ["segment", "list"])
    assert result.exit_code == 0 and "广东复购" in result.output and "价格敏感" in result.output

    result = runner.invoke(app, ["segment", "show", "广东复购"])
    assert result.exit_code == 0, result.output
    assert "of 60 customers" in result.output and "over time: 2025-03-31" in result.output
    assert "139****" in result.output and "13900000" not in result.output  # masked phones only

    result = runner.invoke(app, ["segment", "show", "price_sensitive", "--as-of", "2025-03-31"])
    assert result.exit_code == 0 and "as of 2025-03-31" in result.output

    result = runner.invoke(app, ["segment", "check", "城市等级 = '一线' AND 年龄 < 40"])
    assert result.exit_code == 0 and "of 60 customers" in result.output

    result = runner.invoke(app, ["segment", "archive", "广东复购"])
    assert result.exit_code == 0 and "archived 广东复购" in result.output
    assert "广东复购" not in runner.invoke(app, ["segment", "list"]).output
    assert "广东复购" in runner.invoke(app, ["segment", "list", "--archived"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "add", "x", "province = '广东' AND upper(city) = 'A'"], "functions such as upper"),
        (["segment", "check", "frequency > 1; DROP TABLE customers"], "a rule is one condition"),
        (["segment", "check", "provnce = '广东'"], "did you mean province"),
        (["segment", "show", "nope"], "no segment 'nope'"),
        (["segment", "show", "price_sensitive", "--as-of", "2020-01-01"], "no ready classification snapshot dated"),
        (["segment", "export", "price_sensitive", "--out", "x.json"], "unknown export format .json"),
    ],
)
def test_mistakes_are_one_line_errors(env: Settings, args: list[str], message: str) -> None:
    runner.invoke(app, ["segment", "refresh"])
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_rule_error_shows_a_caret_under_the_offending_text(env: Settings) -> None:
    result = runner.invoke(app, ["segment", "check", "省份 = '广东' AND upper(city) = 'A'"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    rule_line = next(i for i, line in enumerate(lines) if "upper(city)" in line and "error" not in line)
    caret = lines[rule_line + 1]
    assert caret.strip() == "^^^^^"
    # 省份 and 广东 are two columns wide each on a terminal: the caret sits under "upper".
    assert caret.index("^") == len("  省份 = '广东' AND ") + 4


def test_export_writes_masked_members_and_audits(env: Settings, tmp_path: Path, fx: Any) -> None:  # noqa: ANN401
    runner.invoke(app, ["segment", "refresh"])
    out = tmp_path / "out" / "members.csv"
    result = runner.invoke(app, ["segment", "export", "first_tier_city", "--out", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "wrote 15 members" in result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["customer_id", "name", "phone"] and len(rows) == 16
    assert all(r[5] == "深圳" for r in rows[1:])
    assert fx.VIP_PHONE not in out.read_text(encoding="utf-8-sig")
    with session_scope(env.store_url) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
        assert event is not None and event.target_type == "segment" and event.via == "cli"
        assert event.username.startswith("cli:") and event.detail["rows"] == 15
