"""Retrieval inspector: the query searched (a follow-up's standalone rewrite), then keyword rank,
vector rank, fused score and token cost of each hit.

p pins a chunk (always included), x excludes it, r regenerates the answer with those choices.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label


class InspectorScreen(ModalScreen[str | None]):
    """Dismisses with "regenerate" when the user asks for a new answer, else None."""

    BINDINGS = [
        Binding("p", "pin", "Pin"),
        Binding("x", "exclude", "Exclude"),
        Binding("r", "regenerate", "Regenerate"),
        Binding("escape", "dismiss(None)", "Close"),
    ]

    def __init__(
        self,
        hits: list[Any],
        pinned: dict[int, Any],
        excluded: set[int],
        searched_for: tuple[str, str] = ("", "none"),
    ) -> None:
        super().__init__()
        self.hits = hits
        self.searched_for = searched_for  # (query, how it was rewritten: none | terms | model)
        self.pinned = pinned  # chunk_id -> Hit, shared with the chat screen
        self.excluded = excluded

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Retrieval inspector", classes="panel-title")
            query, how = self.searched_for
            if query:
                note = {"terms": "follow-up + earlier terms", "model": "rewritten by the model"}
                extra = f"  ({note[how]})" if how in note else ""
                yield Label(Text(f"searched for: {query}{extra}"), id="inspector-query")
            yield DataTable(id="inspector-table", cursor_type="row", zebra_stripes=True)
            yield Label("p pin · x exclude · r regenerate · Esc close", classes="dim")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "source", "keyword", "vector", "fused", "tokens", "")
        self._fill()
        table.focus()

    def _mark(self, h: Any) -> str:
        if h.chunk_id in self.pinned:
            return "pinned"
        if h.chunk_id in self.excluded:
            return "excluded"
        return ""

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for i, h in enumerate(self.hits, 1):
            table.add_row(
                str(i),
                Text(h.citation()),
                str(h.keyword_rank or "-"),
                str(h.vector_rank or "-"),
                f"{h.score:.4f}",
                str(h.n_tokens),
                self._mark(h),
                key=str(h.chunk_id),
            )
        if self.hits:
            table.move_cursor(row=min(row, len(self.hits) - 1))

    def _current(self) -> Any | None:
        table = self.query_one(DataTable)
        if not self.hits:
            return None
        return self.hits[table.cursor_row]

    def action_pin(self) -> None:
        h = self._current()
        if h is None:
            return
        if h.chunk_id in self.pinned:
            del self.pinned[h.chunk_id]
        else:
            self.pinned[h.chunk_id] = h
            self.excluded.discard(h.chunk_id)
        self._fill()

    def action_exclude(self) -> None:
        h = self._current()
        if h is None:
            return
        if h.chunk_id in self.excluded:
            self.excluded.discard(h.chunk_id)
        else:
            self.excluded.add(h.chunk_id)
            self.pinned.pop(h.chunk_id, None)
        self._fill()

    def action_regenerate(self) -> None:
        self.dismiss("regenerate")
