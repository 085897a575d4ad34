"""RagtermApp: the Textual application behind bare ``ragterm`` and ``ragterm chat``."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ragterm import config
from ragterm.errors import RagtermError
from ragterm.tui import slash
from ragterm.tui.screens.chat_screen import ChatScreen
from ragterm.tui.widgets.prompt_input import PromptInput


class RagtermApp(App[None]):
    TITLE = "ragterm"
    CSS_PATH = "styles/app.tcss"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        cfg: Any = None,
        *,
        model: str | None = None,
        persona: str | None = None,
        session_id: int | None = None,
    ) -> None:
        super().__init__()
        if cfg is None:
            cfg = config.load()
        self.cfg = cfg
        self._screen_args: dict[str, Any] = {
            "model": model,
            "persona": persona,
            "session_id": session_id,
        }
        theme = cfg["ui.theme"]
        if theme in self.available_themes:
            self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(ChatScreen(self.cfg, **self._screen_args))

    @property
    def chat(self) -> ChatScreen:
        for s in self.screen_stack:
            if isinstance(s, ChatScreen):
                return s
        raise LookupError("no chat screen")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for c in slash.COMMANDS:
            yield SystemCommand(c.usage, c.help, partial(self._palette, c))

    async def _palette(self, c: slash.Command) -> None:
        chat = self.chat
        if c.args and not c.bare:
            box = chat.query_one(PromptInput)
            box.set_value(f"/{c.name} ")
            box.focus()
            return
        await chat.run_command(c.name, "")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that died with an exception: say so, never crash."""
        if event.state != WorkerState.ERROR:
            return
        exc = event.worker.error
        if isinstance(exc, RagtermError):
            msg = f"{exc.message}\n{exc.hint or ''}".strip()
        else:
            msg = f"internal error in {event.worker.group}: {type(exc).__name__}: {exc}"
        self.notify(msg, severity="error", timeout=10)
        try:
            chat = self.chat
        except LookupError:
            return
        if event.worker.group == "generate":
            chat.generation_failed()
        if event.worker.group == "index":
            chat.index_failed()
