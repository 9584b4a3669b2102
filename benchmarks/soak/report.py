"""The soak's summary: a rich table on the terminal and the figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def latency_table(title: str, load: dict[str, Any]) -> Table:
    """Count, requests/s, p50, p99 and max (ms) per kind of one load run."""
    table = Table(title=title)
    for name in ("kind", "count", "per s", "p50 ms", "p99 ms", "max ms"):
        table.add_column(name, justify="left" if name == "kind" else "right")
    for kind, row in load["kinds"].items():
        table.add_row(kind, f"{row['count']:,}", f"{row['per_s']:.1f}", f"{row['p50_ms']:.0f}",
                      f"{row['p99_ms']:.0f}", f"{row['max_ms']:.0f}")
    return table


def checks_table(results: dict[str, Any]) -> Table:
    """One line per phase: passed or the first problems."""
    table = Table(title="checks")
    table.add_column("phase")
    table.add_column("result")
    table.add_column("notes")
    for phase, found in results["phases"].items():
        problems = found.get("problems", [])
        notes = "; ".join(problems[:3]) if problems else str(found.get("note", ""))
        table.add_row(phase, "[green]ok[/]" if found.get("ok") else "[red]FAILED[/]", notes[:300])
    return table


def show(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the tables of ``results`` (see :func:`soak.__main__.main`)."""
    console = console or Console()
    phases = results["phases"]
    if "load" in phases and "summary" in phases["load"]:
        console.print(latency_table(f"load: {results['clients']} clients, {results['seconds']:.0f} s",
                                    phases["load"]["summary"]))
    if "pg_restart" in phases and "load" in phases["pg_restart"]:
        console.print(latency_table("during the PostgreSQL restart (successful requests)",
                                    phases["pg_restart"]["load"]))
    console.print(checks_table(results))


def write(results: dict[str, Any], path: Path) -> None:
    """``results`` as indented JSON (UTF-8)."""
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
