"""The chat screen's panels and background work: the state it shows, selection and sources,
the sessions sidebar, the context meter, attached files and indexing. ``ChatScreen`` adds the
layout, the model and the conversation itself on top."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import TextArea
from textual.worker import get_current_worker

from ragterm.engine.connection import connect
from ragterm.engine.events import IndexFinished
from ragterm.engine.index.walk import link_rule
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import RagtermError
from ragterm.tui.chat_controller import ChatController
from ragterm.tui.chat_rendering import (
    evidence_from_dict,
    hit_from_dict,
    preview_markdown,
    stored_notes,
)
from ragterm.tui.messages import (
    Attached,
    BudgetReady,
    IndexEvent,
)
from ragterm.tui.screens.text_view_screen import TextView
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.command_hint import CommandHint
from ragterm.tui.widgets.context_meter import ContextMeter
from ragterm.tui.widgets.index_progress import IndexProgress
from ragterm.tui.widgets.prompt_input import PromptInput
from ragterm.tui.widgets.sessions_sidebar import SessionsSidebar
from ragterm.tui.widgets.sources_panel import SourcesPanel
from ragterm.tui.widgets.status_bar import StatusBar


class ChatPanels(Screen[None]):
    def __init__(
        self,
        cfg: Any,
        *,
        model: str | None = None,
        persona: str | None = None,
        session_id: int | None = None,
    ) -> None:
        super().__init__()
        self._cfg = cfg
        self._model, self._persona = model, persona
        self.start_session = session_id
        self.ctl: ChatController | None = None  # made on mount, with the database
        self.answer: ChatMessage | None = None
        self.selected: ChatMessage | None = None
        self._session_query = ""

    # -- the controller's state, as the widgets and tests read it ------------------------------

    @property
    def controller(self) -> ChatController:
        if self.ctl is None:
            raise RagtermError("the chat screen is not mounted yet")
        return self.ctl

    @property
    def cfg(self) -> Any:
        return self.ctl.cfg if self.ctl is not None else self._cfg

    @cfg.setter
    def cfg(self, value: Any) -> None:
        self._cfg = value
        if self.ctl is not None:
            self.ctl.cfg = value

    @property
    def conn(self) -> Any:
        return self.controller.conn

    @property
    def conv(self) -> Any:
        return self.ctl.conv if self.ctl is not None else None

    @property
    def model_name(self) -> str:
        return self.ctl.model_name if self.ctl is not None else (self._model or "")

    @property
    def persona_name(self) -> str | None:
        return self.ctl.persona_name if self.ctl is not None else self._persona

    @property
    def rag(self) -> bool:
        return self.controller.rag

    @property
    def k(self) -> int:
        return self.controller.k

    @property
    def pinned(self) -> dict[int, Hit]:
        return self.controller.pinned

    @property
    def excluded(self) -> set[int]:
        return self.controller.excluded

    @property
    def generating(self) -> bool:
        return self.ctl is not None and self.ctl.generating

    def status(self, **values: Any) -> None:
        self.query_one(StatusBar).set(**values)

    # -- selection and sources -----------------------------------------------------------------

    def select(self, message: ChatMessage) -> None:
        for m in self.query(ChatMessage):
            m.set_class(m is message, "selected")
        self.selected = message
        self.query_one(SourcesPanel).show(message.sources)

    @on(ChatMessage.Selected)
    def _focus_message(self, event: ChatMessage.Selected) -> None:
        if event.message.role == "assistant":
            self.select(event.message)

    def selected_answer(self) -> ChatMessage | None:
        if self.selected is not None and self.selected.is_attached:
            return self.selected
        answers = [m for m in self.query(ChatMessage) if m.role == "assistant"]
        return answers[-1] if answers else None

    @on(SourcesPanel.Preview)
    def _preview(self, event: SourcesPanel.Preview) -> None:

        h = event.hit
        answer = self.selected_answer()
        quotes = [e for e in (answer.evidence if answer else []) if e.path == h.path]
        follow = self.cfg["index.follow_symlinks"]
        self.app.push_screen(TextView(h.citation(), preview_markdown(h, quotes, follow)))

    @on(SourcesPanel.OpenInEditor)
    def _open_editor(self, event: SourcesPanel.OpenInEditor) -> None:
        h = event.hit
        why = link_rule(h.path, h.root, self.cfg["index.follow_symlinks"])
        if why:
            self.notify(f"{h.rel_path}: not opened, {why}", severity="error")
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        args = [*shlex.split(editor)]
        if h.start_line:
            args.append(f"+{h.start_line}")
        args.append(h.path)
        try:
            with self.app.suspend():
                subprocess.run(args, check=False)
        except Exception as exc:  # no terminal to suspend, editor missing...
            self.notify(f"cannot open {editor}: {exc}", severity="error")

    # -- sessions ------------------------------------------------------------------------------

    def refresh_sessions(self) -> None:
        ctl = self.controller
        self.query_one(SessionsSidebar).show(ctl.sessions(self._session_query), ctl.session_id)
        history = ctl.history()
        if history:
            self.query_one(PromptInput).set_history(history)

    def show_session(self, session_id: int) -> None:
        view = self.query_one("#conversation", VerticalScroll)
        view.remove_children()
        stored = self.controller.messages(session_id)
        # the question each message answers: the user message before it; the turns before it
        # (as many as a context window holds) are what a follow-up's answer may name
        asked = ["", *(p.content if p.role == "user" else "" for p in stored[:-1])]
        widgets = [
            ChatMessage(
                m.role,
                m.content,
                status=m.status,
                sources=[hit_from_dict(s) for s in m.sources] if m.role == "assistant" else [],
                message_id=m.id,
                evidence=[evidence_from_dict(e) for e in m.evidence],
                notes=stored_notes(m, question, [p.as_sent for p in stored[max(0, i - 20) : i]]),
            )
            for i, (m, question) in enumerate(zip(stored, asked, strict=True))
        ]
        view.mount_all(widgets)
        view.scroll_end(animate=False)
        answers = [w for w in widgets if w.role == "assistant"]
        if answers:
            self.call_after_refresh(self.select, answers[-1])
        else:
            self.query_one(SourcesPanel).show([])

    def new_conversation(self, session_id: int | None = None) -> None:
        try:
            self.controller.new_conversation(session_id)
        except RagtermError as exc:
            self.notify(exc.message, severity="warning" if self.generating else "error")
            return
        self.selected = None
        if session_id is None:
            self.query_one("#conversation", VerticalScroll).remove_children()
            self.query_one(SourcesPanel).show([])
            self.query_one(PromptInput).set_history([])
        else:
            self.show_session(session_id)
        self.refresh_sessions()
        self.update_meter()
        self.query_one(PromptInput).focus()

    @on(SessionsSidebar.Resume)
    def _resume(self, event: SessionsSidebar.Resume) -> None:
        self.new_conversation(event.session_id)

    @on(SessionsSidebar.Rename)
    def _rename(self, event: SessionsSidebar.Rename) -> None:
        self.controller.rename(event.session_id, event.title)
        self.refresh_sessions()

    @on(SessionsSidebar.Delete)
    def _delete(self, event: SessionsSidebar.Delete) -> None:
        try:
            current = self.controller.delete(event.session_id)
        except RagtermError as exc:
            self.notify(exc.message, severity="warning")
            return
        self.notify("conversation deleted")
        if current:
            self.new_conversation(None)
        self.refresh_sessions()

    @on(SessionsSidebar.Search)
    def _search(self, event: SessionsSidebar.Search) -> None:
        self._session_query = event.query
        self.refresh_sessions()

    # -- context meter -------------------------------------------------------------------------

    @on(TextArea.Changed, "#prompt")
    def _typed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        self.query_one(CommandHint).show_for(text)
        self.update_meter(text)

    def update_meter(self, text: str | None = None) -> None:
        if self.conv is None or self.generating:
            return
        if text is None:
            text = self.query_one(PromptInput).text
        if text.startswith("/"):
            return
        self.compute_budget(text)

    @work(thread=True, exclusive=True, group="meter", exit_on_error=False)
    def compute_budget(self, text: str) -> None:
        time.sleep(0.3)  # debounce: a newer keystroke cancels this worker
        worker = get_current_worker()
        if worker.is_cancelled or self.conv is None or self.generating:
            return
        try:
            budget, hits = self.controller.budget(text)
        except RagtermError:
            return
        if not worker.is_cancelled:
            last = self.controller.attachments.last
            self.post_message(BudgetReady(budget, hits, last.files if last is not None else []))

    @on(BudgetReady)
    def _budget(self, event: BudgetReady) -> None:
        self.query_one(ContextMeter).show(event.budget, event.attached)
        self.status(ctx_used=event.budget.used + event.budget.reserved)

    # -- attached files ------------------------------------------------------------------------

    def attach_file(self, arg: str) -> None:
        """/attach PATH: the file is read and parsed in a worker (a big PDF takes a moment)."""
        self.status(activity=f"reading {Path(arg).name}…")
        self._read_attachment(arg)

    @work(thread=True, group="attach", exit_on_error=False)
    def _read_attachment(self, arg: str) -> None:
        try:
            found = self.controller.attachments.add(arg, self.cfg)
        except RagtermError as exc:
            self.post_message(Attached(error=f"{exc.message}\n{exc.hint or ''}".strip()))
            return
        self.post_message(Attached(found))

    @on(Attached)
    def _attached(self, event: Attached) -> None:
        self.status(activity="")
        if event.error:
            self.notify(event.error, title="Attach", severity="error")
            return
        n = len(self.controller.attachments.files)
        self.notify(
            f"{event.attachment.name} goes with every question until /detach "
            f"({n} file{'s' if n != 1 else ''} attached; the index is not searched meanwhile)",
            title="Attached",
        )
        self.update_meter()

    # -- indexing ------------------------------------------------------------------------------

    def start_index(self, arg: str) -> None:
        path = Path(os.path.expanduser(arg or ".")).resolve()
        if not path.exists():
            self.notify(f"no such folder: {path}", severity="error")
            return
        self.query_one(IndexProgress).start()
        self.status(activity=f"indexing {path.name}…")
        self.index(path)

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def index(self, path: Path) -> None:
        # lazy: the indexer brings the parsers and the embedding model: loaded on the first /index
        from ragterm.engine.index.pipeline import index_paths

        cancel = threading.Event()
        worker = get_current_worker()
        try:
            conn = connect()
            for ev in index_paths(conn, [path], cfg=self.cfg, cancel=cancel):
                if worker.is_cancelled:
                    cancel.set()
                self.post_message(IndexEvent(ev))
        except RagtermError as exc:
            self.post_message(IndexEvent(exc))

    @on(IndexEvent)
    def _index_event(self, event: IndexEvent) -> None:
        ev = event.event
        activity, note = self.query_one(IndexProgress).show(ev)
        if activity is not None:
            self.status(activity=activity)
        if isinstance(ev, IndexFinished):
            self.controller.index_changed()
            self.status(collections=self.controller.collection_count())
        if note is not None:
            error = isinstance(ev, RagtermError)
            self.notify(note, title="Index", severity="error" if error else "information")

    def index_failed(self) -> None:
        """The index worker died (a bug): hide the progress."""
        self.query_one(IndexProgress).stop()
        self.status(activity="")
