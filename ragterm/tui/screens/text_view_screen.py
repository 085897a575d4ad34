"""A read-only modal: help, a source chunk in its file's context, the retrieval inspector."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown


class TextView(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
    ]

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self.title_text = title
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="text-view-body"):
            yield Label(self.title_text, classes="panel-title", markup=False)
            yield Markdown(self.markdown)
            yield Label("Esc closes", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#text-view-body").focus()
