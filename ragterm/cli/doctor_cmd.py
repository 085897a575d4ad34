"""`ragterm doctor`: one report of everything ragterm depends on."""

from __future__ import annotations

import click

from ragterm.cli.common import console

STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


@click.command()
def doctor() -> None:
    """Check Python, llama.cpp, SQLite + sqlite-vec, models, database and tuning backends."""
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.markup import escape

    from ragterm.engine.diagnostics import run_checks

    failed = 0
    for check in run_checks():
        style = STYLE[check.status]
        console.print(
            f"[{style}]{check.status:<4}[/] [bold]{check.name:<16}[/] {escape(check.detail)}",
            soft_wrap=True,
        )
        if check.fix:
            console.print(f"{'':<22}[dim]fix:[/] {escape(check.fix)}", soft_wrap=True)
        failed += check.status == "FAIL"
    if failed:
        raise click.exceptions.Exit(1)
