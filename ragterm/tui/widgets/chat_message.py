"""One turn in the conversation: the question, or an answer rendered as streamed Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Markdown
from textual.widgets.markdown import MarkdownStream


class ChatMessage(Vertical, can_focus=True):
    """A user question or an assistant answer (focus one to see its sources)."""

    @dataclass
    class Selected(Message):
        message: ChatMessage

    def __init__(
        self,
        role: str,
        content: str = "",
        *,
        status: str = "ok",
        sources: list[Any] | None = None,
        message_id: int | None = None,
    ) -> None:
        super().__init__(classes=role)
        self.role = role
        self.content = content
        self.status = status
        self.sources: list[Any] = list(sources or [])  # Hit objects
        self.message_id = message_id
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Label(self._title(), classes="title", markup=False)
        yield Markdown(self.content)

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))

    def _title(self) -> str:
        who = "You" if self.role == "user" else "Assistant"
        if self.status == "cancelled":
            who += "  [cancelled]"
        elif self.status == "error":
            who += "  [failed]"
        elif self.status == "writing":
            who += "  …"
        if self.sources and self.role == "assistant":
            n = len(self.sources)
            who += f"  ({n} source{'s' if n != 1 else ''})"
        return who

    def set_status(self, status: str) -> None:
        self.status = status
        self.set_class(status == "cancelled", "cancelled")
        self.set_class(status == "error", "error")
        self.query_one(".title", Label).update(self._title())

    async def append(self, text: str) -> None:
        """Add streamed text; MarkdownStream batches updates when tokens come fast."""
        self.content += text
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        await self._stream.write(text)

    async def finish(self, content: str | None = None) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if content is not None:
            self.content = content
        # stop() may drop fragments still queued, so render the whole answer once more
        await self.query_one(Markdown).update(self.content)
