"""`ragterm chat` (placeholder until the chat issue lands)."""

from __future__ import annotations

import click

from ragterm.errors import NotAvailable


@click.command()
def chat() -> None:
    """Open the chat."""
    raise NotAvailable("the chat is not yet available in this version")
