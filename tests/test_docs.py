"""Docs that are generated stay in step with the code; every setting is documented (datasette's test_docs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kehu.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _gen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_cli_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == _gen().cli_markdown(), (
        "docs/cli.md is stale: run python scripts/gen_docs.py")


def test_configuration_reference_is_current() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8") == _gen().config_markdown(), (
        "docs/configuration.md is stale: run python scripts/gen_docs.py")


def test_every_setting_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"KEHU_{name.upper()}" in readme, f"KEHU_{name.upper()} is not in the README"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
