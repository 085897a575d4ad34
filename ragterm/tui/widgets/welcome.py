"""The first-run panel in an empty chat: what to do next, which model answers, where data lives.

Shown while the conversation is empty until the user dismisses it; the dismissal is remembered
(``ui.welcome = false`` in the config file). The model advice comes from the same
``catalog.recommend`` that ``ragterm models recommend`` prints.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from ragterm import config, paths
from ragterm.engine.models import catalog
from ragterm.engine.models.registry import Registry
from ragterm.errors import RagtermError
from ragterm.units import format_size


def model_advice(cfg: Any, conn: Any, model_name: str) -> tuple[str, str]:
    """(the model in use, what a bigger one would give) as two short lines."""

    current = model_name
    current_size = 0
    try:
        registry = Registry(conn)
        entries = registry.entries(discover=False)
        entry = registry.get(model_name)
        current_size = entry.path.stat().st_size
        current = f"{entry.name} ({entry.source}, {format_size(current_size)})"
        verdicts = catalog.recommend(
            catalog.load(cfg["models.catalog"] or None),
            catalog.machine(),
            catalog.installed_names(entries),
        )
    except (RagtermError, OSError):
        return current, "see /model for the models this machine can run"
    top = catalog.top_pick(verdicts)
    if top is None:
        return current, "no catalog model fits this machine's memory: the bundled one is best here"
    e = top.entry
    if e.alias == model_name or (current_size and current_size >= e.size):
        return current, "you are on a model this machine runs well; /model lists others"
    how = (
        f"/model {e.alias}"
        if top.installed
        else f"/model downloads it, or `ragterm models pull {e.alias}`"
    )
    return current, f"{e.alias} ({format_size(e.size)}, fits this machine): {e.note}. {how}"


class Welcome(Vertical):
    """Dismissible first-run help, mounted in the conversation area."""

    DEFAULT_CSS = """
    Welcome {
        height: auto;
        border: round $accent;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    Welcome #welcome-title { text-style: bold; color: $accent; }
    Welcome #welcome-actions { height: auto; align-horizontal: right; }
    """

    def __init__(self, cfg: Any, conn: Any, model_name: str) -> None:
        super().__init__(id="welcome")
        self.cfg = cfg
        self.conn = conn
        self.model_name = model_name

    def compose(self) -> ComposeResult:
        yield Static("Welcome to ragterm: everything stays on this machine.", id="welcome-title")
        yield Static(self._body(), id="welcome-body")
        with Horizontal(id="welcome-actions"):
            yield Button(
                "Got it, don't show again", id="welcome-dismiss", variant="primary", compact=True
            )

    def _body(self) -> Table:

        model, bigger = model_advice(self.cfg, self.conn, self.model_name)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(
            "Your files",
            Text.assemble(
                ("/index ~/notes", "bold"),
                " indexes a folder; answers then cite its files and quote the lines used.",
            ),
        )
        grid.add_row("Model", model)
        grid.add_row("Bigger model", bigger)
        grid.add_row("Your data", str(paths.data_dir()))
        grid.add_row("Settings", str(paths.config_file()))
        grid.add_row("Help", "F1 keys and commands · ctrl+p command palette")
        return grid

    def show_model(self, model_name: str) -> None:
        """The model changed while the panel is up: say which one answers now."""
        self.model_name = model_name
        if self.is_mounted:
            self.query_one("#welcome-body", Static).update(self._body())

    @on(Button.Pressed, "#welcome-dismiss")
    def forget(self, event: Button.Pressed | None = None) -> None:

        if event is not None:
            event.stop()
        try:
            config.set_value("ui.welcome", "false")
        except RagtermError as exc:
            self.notify(f"{exc.message}\n{exc.hint or ''}".strip(), severity="warning")
        self.screen.cfg = self.screen.cfg.with_overrides(**{"ui.welcome": False})  # type: ignore[attr-defined]
        self.remove()
        self.screen.query_one("#prompt").focus()


def show_welcome(screen: Any) -> None:
    """Mount the panel in an empty chat, or update it if it is up already."""
    found = screen.query(Welcome)
    if found:
        found.first().show_model(screen.model_name)
        return
    if not screen.cfg["ui.welcome"]:
        return
    screen.query_one("#conversation").mount(Welcome(screen.cfg, screen.conn, screen.model_name))
