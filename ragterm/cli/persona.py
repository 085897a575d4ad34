"""`ragterm persona` (placeholder until its issue lands)."""

from __future__ import annotations

import click

from ragterm.errors import NotAvailable


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def persona(args: tuple[str, ...]) -> None:
    """Not yet available."""
    raise NotAvailable("`ragterm persona` is not yet available in this version")
