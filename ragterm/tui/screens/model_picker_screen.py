"""Choose a chat model (opened by /model with no name, or when a model fails to load).

Installed models first; then the catalog's models not yet downloaded, with their size, the memory
they need and whether this machine runs them. Choosing one of those downloads it in a worker (a
progress bar here, Esc stops it and a later choice resumes) and switches to it when it is ready.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, ProgressBar
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ragterm.engine.connection import connect
from ragterm.engine.events import DownloadProgress
from ragterm.engine.models.hub import pull
from ragterm.errors import Cancelled, RagtermError

_STYLE = {"recommended": "bold green", "fits": "green", "slow": "yellow", "tight": "yellow"}


def catalog_label(v: Any) -> Text:
    """``alias  1.1 GB · 1.7 GB RAM · fits this machine`` with the verdict coloured."""
    e = v.entry
    verdict = {
        "recommended": "★ recommended for this machine",
        "fits": "fits this machine",
        "slow": "fits, slow on this CPU",
        "tight": "tight: close other apps",
        "too big": "too big for this machine",
    }[v.status]
    text = Text(f"{e.alias}  ")
    text.append(f"{e.size / 1e9:.1f} GB · {e.ram_mb / 1000:.1f} GB RAM · ", style="dim")
    text.append(verdict, style=_STYLE.get(v.status, "red"))
    text.append(f"\n  {e.note}", style="dim")
    return text


class ModelPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    @dataclass
    class Progress(Message):
        done: int
        total: int | None
        verifying: bool = False

    @dataclass
    class Pulled(Message):
        name: str

    @dataclass
    class Failed(Message):
        message: str
        cancelled: bool = False

    def __init__(
        self, entries: list[Any], reason: str = "", verdicts: list[Any] | None = None
    ) -> None:
        super().__init__()
        self.entries = entries
        self.reason = reason
        self.verdicts = [v for v in (verdicts or []) if not v.installed]
        self.pulling: Any = None  # the catalog entry being downloaded
        self.cancel_event: threading.Event | None = None

    def compose(self) -> ComposeResult:
        options: list[Option | None] = [
            Option(Text(f"{e.name}  ({e.source})"), id=f"model:{e.name}") for e in self.entries
        ]
        if self.verdicts:
            options.append(None)
            options += [Option(catalog_label(v), id=f"pull:{v.entry.alias}") for v in self.verdicts]
        with Vertical(classes="dialog"):
            yield Label("Choose a model", classes="panel-title")
            if self.reason:
                yield Label(self.reason, classes="error-text", markup=False)
            yield OptionList(*options, id="model-list")
            yield Label("", id="pull-status", markup=False)
            yield ProgressBar(id="pull-progress", show_eta=False)
            yield Label(
                "Enter chooses (a model not on disk is downloaded first) · Esc cancels",
                classes="dim",
                id="picker-help",
            )

    def on_mount(self) -> None:
        self.query_one(".dialog").styles.width = 100  # catalog lines are long (max-width 95%)
        self.query_one("#pull-progress").display = False
        self.query_one("#pull-status").display = False
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        kind, _, name = str(event.option.id).partition(":")
        if kind == "model":
            self.dismiss(name)
            return
        if self.pulling is not None:
            self.notify("a download is already running (Esc stops it)", severity="warning")
            return
        verdict = next(v for v in self.verdicts if v.entry.alias == name)
        self.start_pull(verdict.entry)

    def start_pull(self, entry: Any) -> None:
        self.pulling = entry
        self.cancel_event = threading.Event()
        self._show_status(f"downloading {entry.alias} ({entry.size / 1e9:.1f} GB) · Esc stops")
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.update(total=entry.size or None, progress=0)
        bar.display = True
        self.pull(entry, self.cancel_event)

    @work(thread=True, exclusive=True, group="pull", exit_on_error=False)
    def pull(self, entry: Any, cancel: threading.Event) -> None:

        worker = get_current_worker()
        try:
            conn = connect()  # this thread's own connection
            for ev in pull(
                conn,
                entry.repo,
                entry.file,
                name=entry.alias,
                sha256=entry.sha256,
                size=entry.size,
                cancel=cancel,
            ):
                if worker.is_cancelled:
                    cancel.set()
                if isinstance(ev, DownloadProgress):
                    self.post_message(self.Progress(ev.done, ev.total, ev.verifying))
                else:
                    self.post_message(self.Pulled(ev[0].name))
        except Cancelled as exc:
            self.post_message(self.Failed(exc.message, cancelled=True))
        except RagtermError as exc:
            text = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
            self.post_message(self.Failed(text))

    @on(Progress)
    def _progress(self, event: Progress) -> None:
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.update(total=event.total, progress=event.done)
        if event.verifying:
            self._show_status(f"checking the sha256 of {self.pulling.alias}…")

    @on(Pulled)
    def _pulled(self, event: Pulled) -> None:
        self.pulling = None
        self.cancel_event = None
        self.notify(f"{event.name} downloaded and checked", title="Model")
        self.dismiss(event.name)

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        self.pulling = None
        self.cancel_event = None
        self.query_one("#pull-progress").display = False
        if event.cancelled:
            self._show_status("download stopped; choose the model again to resume")
        else:
            self._show_status(event.message, error=True)

    def _show_status(self, text: str, *, error: bool = False) -> None:
        label = self.query_one("#pull-status", Label)
        label.update(text)
        label.set_class(error, "error-text")
        label.display = True

    def action_cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self._show_status("stopping the download…")
            return
        self.dismiss(None)
