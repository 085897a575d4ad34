"""The /index progress bar under the conversation: hidden until a folder is being indexed."""

from __future__ import annotations

from typing import Any

from textual.widgets import ProgressBar

from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted
from ragterm.errors import RagtermError


class IndexProgress(ProgressBar):
    """Counts files as the indexer reports them; ``show`` says what to put in the status bar."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(show_eta=False, **kwargs)

    def start(self) -> None:
        self.update(total=None, progress=0)
        self.display = True

    def stop(self) -> None:
        self.display = False

    def show(self, ev: Any) -> tuple[str | None, str | None]:
        """(status bar activity, a notification) for one indexing event or error; None: no
        change, no notification."""
        if isinstance(ev, RagtermError):
            self.stop()
            return "", f"{ev.message}\n{ev.hint or ''}".strip()
        if isinstance(ev, IndexStarted):
            self.update(total=max(1, ev.files_total), progress=0)
            return f"indexing {ev.collection} 0/{ev.files_total}", None
        if isinstance(ev, FileDone):
            self.advance(1)
            return f"indexing {int(self.progress)}/{int(self.total or 0)}", None
        if isinstance(ev, EmbedProgress):
            return f"embedding {ev.chunks_done}/{ev.chunks_total}", None
        if isinstance(ev, IndexFinished):
            self.stop()
            summary = ", ".join(f"{v} {k}" for k, v in ev.counts.items() if v)
            verb = "cancelled" if ev.cancelled else "indexed"
            return "", f"{ev.collection} {verb}: {summary or 'nothing to do'}"
        return None, None
