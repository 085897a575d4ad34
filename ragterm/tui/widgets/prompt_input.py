"""Multi-line input: Enter sends, ctrl+j / shift+enter insert a newline, Up/Down walk history."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from ragterm.tui import commands
from ragterm.tui.attachments import complete_path

NEWLINE_KEYS = {"ctrl+j", "shift+enter", "alt+enter", "ctrl+enter"}
ATTACH = "/attach "  # Tab completes the path after it


class PromptInput(TextArea):
    """The question box."""

    @dataclass
    class Submitted(Message):
        text: str

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder="Ask something, or / for commands (Enter sends, ctrl+j new line)",
            **kwargs,  # type: ignore[arg-type]
        )
        self.past: list[str] = []
        self._pos: int | None = None  # index into history while browsing
        self._draft = ""

    def set_history(self, items: list[str]) -> None:
        self.past = [i for i in items if i.strip()]
        self._pos = None

    def set_value(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text.strip()
            if text:
                if not self.past or self.past[-1] != text:
                    self.past.append(text)
                self._pos = None
                self.text = ""
                self.post_message(self.Submitted(text))
            return
        if key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if key == "tab" and self.text.startswith(ATTACH):
            done, _ = complete_path(self.text[len(ATTACH) :])
            event.stop()
            event.prevent_default()
            if done is not None:
                self.set_value(ATTACH + done)
            return
        if key == "tab" and self.text.startswith("/"):
            done = commands.complete(self.text)
            if done is not None:
                event.stop()
                event.prevent_default()
                self.set_value(done)
                return
        row, _ = self.cursor_location
        if key == "up" and row == 0 and self.past:
            event.stop()
            event.prevent_default()
            if self._pos is None:
                self._draft = self.text
                self._pos = len(self.past)
            self._pos = max(0, self._pos - 1)
            self.set_value(self.past[self._pos])
            return
        if key == "down" and self._pos is not None and row == self.document.line_count - 1:
            event.stop()
            event.prevent_default()
            self._pos += 1
            if self._pos >= len(self.past):
                self._pos = None
                self.set_value(self._draft)
            else:
                self.set_value(self.past[self._pos])
            return
        await super()._on_key(event)
