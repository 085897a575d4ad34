"""Where the selected answer came from: file, lines or page, score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class SourcesPanel(Vertical):
    BINDINGS = [
        Binding("enter", "preview", "Preview", show=True),
        Binding("e", "edit", "Open in $EDITOR", show=True),
    ]

    @dataclass
    class Preview(Message):
        hit: Any

    @dataclass
    class OpenInEditor(Message):
        hit: Any

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hits: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Label("Sources", classes="panel-title")
        yield OptionList(id="sources-list")

    def show(self, hits: list[Any]) -> None:
        self.hits = list(hits)
        ol = self.query_one(OptionList)
        ol.clear_options()
        if not hits:
            ol.add_option(Option("(no sources for this answer)", disabled=True))
            return
        for i, h in enumerate(hits, 1):
            how = "attached" if getattr(h, "attached", False) else f"{h.score:.3f}"
            ol.add_option(Option(Text(f"[{i}] {h.citation()}  {how}"), id=f"hit-{i - 1}"))

    def _selected(self) -> Any | None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.hits:
            return None
        i = ol.highlighted
        return self.hits[i] if 0 <= i < len(self.hits) else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        hit = self._selected()
        if hit is not None:
            self.post_message(self.Preview(hit))

    def action_preview(self) -> None:
        hit = self._selected()
        if hit is not None:
            self.post_message(self.Preview(hit))

    def action_edit(self) -> None:
        hit = self._selected()
        if hit is not None:
            self.post_message(self.OpenInEditor(hit))
