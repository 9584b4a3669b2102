"""``kehu campaign …`` and ``kehu survey …`` through Typer's runner: results printed, mistakes in one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kehu.cli import app
from kehu.config import Settings

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    """Invoke ``kehu args``; the result with ``text``: the output with whitespace runs as single spaces."""
    result = runner.invoke(app, list(args))
    result.text = " ".join(result.output.split())
    return result
SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cfx) -> Path:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    from kehu import cli

    monkeypatch.setattr(cli.out, "_width", 200)  # tables in full, as on a wide terminal
    cfx.build(Settings(data_dir=tmp_path / "data", secret_key=SECRET, _env_file=None), 120)
    return tmp_path


def test_campaign_commands(env: Path) -> None:
    result = run("campaign", "create", "--template", "winback", "--holdout", "0.25",
                                 "--starts-on", "2025-07-01", "--coupon-value", "15")
    assert result.exit_code == 0, result.output
    assert "campaign 1 launched" in result.text and "without marketing consent" in result.text
    listed = run("campaign", "list")
    assert "Win-back" in listed.text and "coupon" in listed.text
    shown = run("campaign", "show", "1")
    assert "¥15.00" in shown.text and "25%" in shown.text
    out = env / "contacts.csv"
    exported = run("campaign", "export", "1", "--out", str(out), "--lang", "en")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows[0][:3] == ["customer id", "name", "phone"] and all("****" in r[2] for r in rows[1:])
    revealed = run("campaign", "export", "1", "--out", str(env / "plain.csv"), "--reveal")
    assert revealed.exit_code == 0 and (env / "plain.csv").stat().st_mode & 0o077 == 0
    measured = run("campaign", "result", "1")
    assert measured.exit_code == 0, measured.output
    assert "Newcombe" in measured.text and "treatment" in measured.text

    bad = run("campaign", "create", "X", "--target-kind", "lifecycle_stage", "--target", "gone")
    assert bad.exit_code == 1 and "unknown lifecycle stage 'gone'" in bad.text and "Traceback" not in bad.text
    missing = run("campaign", "result", "9")
    assert missing.exit_code == 1 and "campaign 9 does not exist" in missing.text
    money = run("campaign", "create", "--template", "winback", "--coupon-value", "abc")
    assert money.exit_code == 1 and "--coupon-value" in money.text


def test_survey_commands(env: Path) -> None:
    created = run("survey", "create", "售后", "--kind", "nps", "--follow-up-days", "3")
    assert created.exit_code == 0 and "survey 1 created" in created.text
    links = env / "links.csv"
    result = run("survey", "links", "1", "--out", str(links), "--target-kind", "rfm_group",
                                 "--target", "champions", "--base-url", "https://kehu.example.cn/")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(links.open(encoding="utf-8-sig")))
    assert rows[0] == ["customer_id", "link"] and rows[1][1].startswith("https://kehu.example.cn/s/")
    answers = env / "answers.csv"
    answers.write_text("customer_id,answered_at,score,comment\nK00002,2025-06-01,9,好\nK00006,2025-06-03,4,\n"
                       "K00006,2025-06-04,5,\nZZZ,2025-06-01,9,\n", encoding="utf-8")
    imported = run("survey", "import", "1", str(answers))
    assert imported.exit_code == 0, imported.output
    assert "2 answers added, 1 already answered, 1 rejected; 1 call-back tasks opened" in imported.text
    assert "line 5" in imported.text
    results = run("survey", "results", "1")
    assert results.exit_code == 0 and "NPS +0.0" not in results.text and "from 2 answers" in results.text
    listed = run("survey", "list")
    assert "售后" in listed.text
    wrong = run("survey", "create", "x", "--kind", "ces")
    assert wrong.exit_code == 1 and "unknown survey kind 'ces'" in wrong.text
