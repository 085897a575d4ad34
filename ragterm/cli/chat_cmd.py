"""`ragterm chat` (and bare `ragterm`): the Textual chat app."""

from __future__ import annotations

import click


@click.command()
@click.option("--model", help="Model name or GGUF path (default: chat.model).")
@click.option("--persona", help="Answer as this persona ('off' for none).")
@click.option("--session", "session_id", type=int, help="Resume conversation ID.")
def chat(model: str | None, persona: str | None, session_id: int | None) -> None:
    """Open the chat."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.cli.common import load_config, open_db
    from ragterm.tui.app import RagtermApp  # textual is imported only here

    cfg = load_config()
    open_db().close()  # a damaged or newer database: one line here, not a crash in the app
    RagtermApp(cfg, model=model, persona=persona, session_id=session_id).run()
