"""Past conversations: resume (Enter), rename (r), delete (d), search (type in the box)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ragterm.tui.screens.text_prompt_screen import TextPrompt


class SessionsSidebar(Vertical):
    BINDINGS = [
        Binding("r", "rename", "Rename"),
        Binding("d", "delete", "Delete"),
    ]

    @dataclass
    class Resume(Message):
        session_id: int

    @dataclass
    class Rename(Message):
        session_id: int
        title: str

    @dataclass
    class Delete(Message):
        session_id: int

    @dataclass
    class Search(Message):
        query: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions: list[Any] = []
        self.current: int | None = None

    def compose(self) -> ComposeResult:
        yield Label("Conversations", classes="panel-title")
        yield Input(placeholder="search…", id="session-search", compact=True)
        yield OptionList(id="session-list")

    def show(self, sessions: list[Any], current: int | None) -> None:
        self.sessions = list(sessions)
        self.current = current
        ol = self.query_one(OptionList)
        ol.clear_options()
        if not sessions:
            ol.add_option(Option("(none yet)", disabled=True))
            return
        for s in sessions:
            mark = "● " if s.id == current else "  "
            ol.add_option(Option(Text(f"{mark}{s.title or '(untitled)'}"), id=f"s{s.id}"))
        ids = [s.id for s in sessions]
        ol.highlighted = ids.index(current) if current in ids else 0

    def _selected(self) -> Any | None:
        ol = self.query_one(OptionList)
        i = ol.highlighted
        if i is None or not self.sessions or i >= len(self.sessions):
            return None
        return self.sessions[i]

    @on(OptionList.OptionSelected, "#session-list")
    def _resume(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        s = self._selected()
        if s is not None:
            self.post_message(self.Resume(s.id))

    @on(Input.Changed, "#session-search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Search(event.value))

    @on(Input.Submitted, "#session-search")
    def _search_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(OptionList).focus()

    def action_rename(self) -> None:
        s = self._selected()
        if s is None:
            return

        def done(title: str | None) -> None:
            if title:
                self.post_message(self.Rename(s.id, title))

        self.app.push_screen(TextPrompt("Rename conversation", s.title), done)

    def action_delete(self) -> None:
        s = self._selected()
        if s is not None:
            self.post_message(self.Delete(s.id))
