"""Regenerate the generated parts of the docs: ``docs/cli.md`` from ``kehu --help`` and ``docs/configuration.md``
from the Settings fields. ``tests/test_docs.py`` fails when they are out of date: run ``python scripts/gen_docs.py``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    [], ["import", "orders"], ["import", "customers"], ["classify"], ["validate"], ["export", "classifications"],
    ["init"], ["serve"], ["demo"], ["version"],
    ["user", "add"], ["user", "list"], ["user", "disable"], ["user", "enable"], ["user", "set-role"],
    ["user", "password"], ["keys", "rotate"], ["privacy", "export"], ["privacy", "erase"],
    ["segment", "add"], ["segment", "list"], ["segment", "show"], ["segment", "check"], ["segment", "export"],
    ["segment", "refresh"], ["segment", "archive"],
    ["members", "refresh"], ["members", "show"], ["points", "redeem"],
    ["feedback", "import"], ["tasks", "list"],
    ["campaign", "create"], ["campaign", "list"], ["campaign", "show"], ["campaign", "export"], ["campaign", "result"],
    ["survey", "create"], ["survey", "list"], ["survey", "links"], ["survey", "import"], ["survey", "results"],
    ["report", "monthly"],
]


def cli_markdown() -> str:
    """``kehu … --help`` of every command, in one Markdown page."""
    from typer.testing import CliRunner

    from kehu.cli import app

    runner = CliRunner()
    parts = ["# CLI reference\n", "Generated from `kehu --help` by `scripts/gen_docs.py`; do not edit by hand.\n"]
    for command in COMMANDS:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"},
                               terminal_width=100, prog_name="kehu")
        text = "\n".join(line.rstrip() for line in result.output.splitlines()).strip()
        parts.append(f"## `kehu {' '.join(command)}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def config_markdown() -> str:
    """A table of every setting: environment variable, default and description."""
    from kehu.config import Settings

    lines = [
        "# Configuration",
        "",
        "Generated from `kehu.config.Settings` by `scripts/gen_docs.py`; do not edit by hand.",
        "Every setting is an environment variable (or a line in `.env`).",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(none)" if default is None else f"`{default}`"
        lines.append(f"| `KEHU_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    os.environ.setdefault("COLUMNS", "100")
    (ROOT / "docs" / "cli.md").write_text(cli_markdown(), encoding="utf-8")
    (ROOT / "docs" / "configuration.md").write_text(config_markdown(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
