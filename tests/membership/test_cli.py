"""``kehu members refresh|show`` and ``kehu points redeem`` through Typer's runner: output, idempotence, and user
mistakes as one line without a traceback."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SECRET
from factories import write_generic_orders
from kehu.cli import app

runner = CliRunner()


def _ago(days: int) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


def _run(args: list[str]) -> tuple[int, str]:
    """Exit code and output with line breaks folded (rich wraps long lines at the terminal width)."""
    result = runner.invoke(app, args)
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    orders = tmp_path / "orders.csv"
    # Dates relative to today: a redemption happens now, and points older than 24 months have expired by then.
    write_generic_orders(orders, [("A1", "c1", _ago(200), "600"), ("A2", "c1", _ago(60), "450.50"),
                                  ("A3", "c2", _ago(3 * 366), "99"), ("A4", "c3", _ago(30), "20", "pending")])
    result = runner.invoke(app, ["import", "orders", str(orders)])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_refresh_show_redeem(env: Path) -> None:
    code, out = _run(["members", "refresh"])
    assert code == 0, out
    assert "2 members" in out and "银卡" in out
    assert "points rows added: 4 (earned 1,149, reversed 0, expired 99)" in out
    code, out = _run(["members", "refresh"])
    assert "points rows added: 0" in out and "(0 tier-change rows written)" in out

    code, out = _run(["members", "show", "c1"])
    assert code == 0, out
    assert f"tier silver 银卡 since {_ago(60)}" in out
    assert "¥1,050.50" in out and "¥3,949.50 to go" in out
    assert "points balance 1,050" in out and f"{_ago(60)} up: standard → silver" in out

    code, out = _run(["points", "redeem", "c1", "50", "--reason", "兑换优惠券"])
    assert code == 0, out
    assert "redeemed 50 points of customer c1; balance now 1,000" in out
    code, out = _run(["members", "show", "c1", "--rows", "1"])
    assert "兑换优惠券" in out and "redeem" in out and "newest 1" in out


MISTAKES = [
    (["points", "redeem", "c1", "5000", "--reason", "x"], "cannot redeem 5,000 points: customer c1 has 1,050"),
    (["points", "redeem", "c1", "0", "--reason", "x"], "whole number above 0"),
    (["points", "redeem", "c1", "10", "--reason", "  "], "give a reason"),
    (["points", "redeem", "c1", "10", "--reason", "电话 13912345678"], "phone number"),
    (["points", "redeem", "nobody", "10", "--reason", "x"], "no customer with source id 'nobody'"),
    (["members", "show", "nobody"], "no customer with source id 'nobody'"),
    (["members", "refresh", "--as-of", "31/03/2024"], "is not a date like 2025-06-30"),
]


def test_mistakes_are_one_line_errors(env: Path) -> None:
    runner.invoke(app, ["members", "refresh"])
    for args, message in MISTAKES:
        code, out = _run(args)
        assert code == 1, (args, out)
        assert "Traceback" not in out and out.startswith("error:"), out
        assert message in out, (args, out)
    code, out = _run(["points", "redeem", "c1", "10"])
    assert code == 2 and "--reason" in out  # a missing option is Typer's usage error


def test_show_before_any_refresh_says_what_to_run(env: Path) -> None:
    code, out = _run(["members", "show", "c2"])
    assert code == 0, out
    assert "run kehu members refresh" in out
