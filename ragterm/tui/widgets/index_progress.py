"""The /index progress bar under the conversation: hidden until a folder is being indexed."""

from __future__ import annotations

from typing import Any

from textual.widgets import ProgressBar

from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted
from ragterm.errors import RagtermError


class IndexProgress(ProgressBar):
    """Follows the embedding count once chunks are being embedded (the slow part), the file
    count before; ``show`` says what to put in the status bar (the same count as the bar)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(show_eta=False, **kwargs)
        self._files = (0, 0)  # done, total
        self._embedding = False  # chunks are being embedded: the bar follows them

    def start(self) -> None:
        self.update(total=None, progress=0)
        self._files = (0, 0)
        self._embedding = False
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
            self._files = (0, ev.files_total)
            self.update(total=max(1, ev.files_total), progress=0)
            return f"indexing {ev.collection} 0/{ev.files_total}", None
        if isinstance(ev, FileDone):
            done, total = self._files[0] + 1, self._files[1]
            self._files = (done, total)
            if self._embedding:
                return None, None  # the bar and the status line follow the chunks now
            self.update(total=max(1, total), progress=done)
            return f"indexing {done}/{total}", None
        if isinstance(ev, EmbedProgress):
            self._embedding = True
            self.update(total=max(1, ev.chunks_total), progress=ev.chunks_done)
            return f"embedding {ev.chunks_done}/{ev.chunks_total}", None
        if isinstance(ev, IndexFinished):
            done, total = self._files
            self.update(total=max(1, total), progress=done)  # the last word: files indexed
            self.stop()
            summary = ", ".join(f"{v} {k}" for k, v in ev.counts.items() if v)
            verb = "cancelled" if ev.cancelled else "indexed"
            return "", f"{ev.collection} {verb}: {summary or 'nothing to do'}"
        return None, None
