"""The command line through Typer's runner: import, classify, export, and user mistakes without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SECRET
from factories import write_generic_orders
from kehu.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEHU_SECRET_KEY", SECRET)
    monkeypatch.delenv("KEHU_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_import_classify_export(env: Path) -> None:
    orders = env / "orders.csv"
    write_generic_orders(orders, [("A1", "c1", "2025-01-02", "10"), ("A2", "c1", "2025-01-20", "12.5"),
                                  ("A3", "c2", "2024-03-01", "99"), ("A4", "c3", "2025-01-05", "abc")])
    result = runner.invoke(app, ["import", "orders", str(orders), "--format", "generic"])
    assert result.exit_code == 0, result.output
    assert "read 4, inserted 3, updated 0, unchanged 0, rejected 1" in result.output
    again = runner.invoke(app, ["import", "orders", str(orders)])
    assert "inserted 0, updated 0, unchanged 3, rejected 1" in again.output

    result = runner.invoke(app, ["classify", "--as-of", "2025-01-31"])
    assert result.exit_code == 0, result.output
    assert "snapshot" in result.output and "2 with orders" in result.output
    assert "重要价值客户" in result.output or "一般" in result.output

    out = env / "classes.csv"
    result = runner.invoke(app, ["export", "classifications", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith('"customer_id","recency_days"')
    assert len(text.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["import", "orders", "missing.csv"], "missing.csv: no such file", 2),
        (["import", "orders", "orders.csv", "--format", "nope"], "unknown orders format 'nope'", 1),
        (["import", "orders", "orders.csv", "--map", "amount"], "expected FIELD=HEADER", 1),
        (["import", "orders", "orders.csv", "--map", "colour=amount"], "'colour' is not a orders field", 1),
        (["classify", "--as-of", "2025-02-30"], "is not a date like", 1),
        (["export", "classifications", "--out", "x.csv"], "run `kehu classify` first", 1),
        (["demo", "--dataset", "nope", "--no-serve"], "choose synthetic or cdnow", 1),
    ],
)
def test_mistakes_give_one_line_and_no_traceback(env: Path, args: list[str], message: str, code: int) -> None:
    write_generic_orders(env / "orders.csv", [("A1", "c1", "2025-01-02", "10")])
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_missing_column_names_headers(env: Path) -> None:
    (env / "bad.csv").write_text("id,when,total\n1,2025-01-01,3\n", encoding="utf-8")
    result = runner.invoke(app, ["import", "orders", "bad.csv"])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "required column missing" in flat and "customer_id" in flat and "Headers found: id, when, total" in flat


def test_bad_secret_setting_is_reported(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEHU_SECRET_KEY", "short")
    result = runner.invoke(app, ["classify"])
    assert result.exit_code == 1
    assert "KEHU_SECRET_KEY" in result.output and "Traceback" not in result.output


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.strip() == "0.1.0"


def test_classify_on_an_empty_store_says_what_to_do(env: Path) -> None:
    result = runner.invoke(app, ["classify", "--as-of", "2025-01-31"])
    assert result.exit_code == 0, result.output
    assert "0 customers" in result.output and "import orders first" in result.output
