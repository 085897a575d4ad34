"""One turn in the conversation: the question, or an answer rendered as streamed Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Markdown, Static
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
        evidence: list[Any] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        super().__init__(classes=role)
        self.role = role
        self.content = content
        self.status = status
        self.sources: list[Any] = list(sources or [])  # Hit objects
        self.searched_for: tuple[str, str] = ("", "none")  # (query, rewrite) of this answer
        self.message_id = message_id
        self.evidence: list[Any] = list(evidence or [])  # engine.retrieve.evidence.Evidence
        self.notes: list[str] = list(notes or [])
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Label(self._title(), classes="title", markup=False)
        yield Markdown(self.content)
        yield Static(self._evidence_text(), classes="evidence")

    def _evidence_text(self) -> Text:
        """Quoted lines under the answer: a user who does not trust the model reads these."""
        out = Text()
        for note in self.notes:
            out.append(f"⚠ {note}\n", style="bold yellow")
        if self.evidence:
            out.append("Evidence from your files\n", style="bold")
        for e in self.evidence:
            out.append(f"[{e.source}] {e.citation()}", style="cyan")
            if e.heading:
                out.append(f"  {e.heading}", style="dim")
            if e.context:
                out.append(f"\n    {e.context}", style="dim")
            out.append(f"\n    “{e.text}”\n")
            if e.note:
                out.append(f"    ({e.note})\n", style="yellow")
        out.rstrip()
        return out

    def set_evidence(self, evidence: list[Any], notes: list[str] | None = None) -> None:
        self.evidence = list(evidence)
        if notes is not None:
            self.notes = list(notes)
        box = self.query_one(".evidence", Static)
        box.update(self._evidence_text())
        box.display = bool(self.evidence or self.notes)

    def on_mount(self) -> None:
        self.query_one(".evidence", Static).display = bool(self.evidence or self.notes)

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
