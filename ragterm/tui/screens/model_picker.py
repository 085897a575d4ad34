"""Choose a chat model (opened by /model with no name, or when a model fails to load)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ModelPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, entries: list[Any], reason: str = "") -> None:
        super().__init__()
        self.entries = entries
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Choose a model", classes="panel-title")
            if self.reason:
                yield Label(self.reason, classes="error-text", markup=False)
            yield OptionList(
                *[Option(Text(f"{e.name}  ({e.source})"), id=e.name) for e in self.entries],
                id="model-list",
            )
            yield Label("Enter chooses · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
