"""The main screen: conversation, input, sources, sessions, status; workers do the slow work.

What to do lives in ``ChatController`` (no Textual); this screen lays out the widgets, runs the
controller's blocking calls in thread workers and shows what comes back.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, TextArea
from textual.worker import get_current_worker

from ragterm.engine.answer.prompt import check_quote_sources, check_quotes
from ragterm.engine.connection import PerThreadConnection, connect
from ragterm.engine.events import Done, IndexFinished, Retrieved, Token, Trimmed
from ragterm.engine.models import catalog
from ragterm.engine.models.registry import Registry
from ragterm.engine.retrieve.evidence import Evidence
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import RagtermError
from ragterm.tui import commands, slash
from ragterm.tui.chat_controller import ChatController
from ragterm.tui.messages import (
    Attached,
    BudgetReady,
    GenerationEvent,
    IndexEvent,
    ModelFailed,
    ModelLoaded,
)
from ragterm.tui.screens.inspector_screen import InspectorScreen
from ragterm.tui.screens.model_picker_screen import ModelPicker
from ragterm.tui.screens.text_view_screen import TextView
from ragterm.tui.screens.tune_screen import TuneScreen
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.command_hint import CommandHint
from ragterm.tui.widgets.context_meter import ContextMeter
from ragterm.tui.widgets.index_progress import IndexProgress
from ragterm.tui.widgets.prompt_input import PromptInput
from ragterm.tui.widgets.sessions_sidebar import SessionsSidebar
from ragterm.tui.widgets.sources_panel import SourcesPanel
from ragterm.tui.widgets.status_bar import StatusBar
from ragterm.tui.widgets.welcome import Welcome, show_welcome


def hit_from_dict(d: dict[str, Any]) -> Hit:
    """A stored source (``Hit.to_dict()``) back into a Hit."""
    names = {f.name for f in fields(Hit)}
    return Hit(**{k: v for k, v in d.items() if k in names})


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", priority=True, show=True),
        Binding("ctrl+n", "new", "New chat"),
        Binding("ctrl+b", "toggle_sessions", "Sessions"),
        Binding("ctrl+o", "toggle_sources", "Sources"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
        Binding("f1", "help", "Help"),
        Binding("f2", "inspect", "Inspect"),
    ]

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

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield SessionsSidebar(id="sessions")
            with Vertical(id="center"):
                yield VerticalScroll(id="conversation")
                yield IndexProgress(id="index-progress")
                yield CommandHint("", id="command-hint", markup=False)
                yield PromptInput(id="prompt")
                yield ContextMeter("", id="meter", markup=False)
            yield SourcesPanel(id="sources")
        yield Footer()

    def on_mount(self) -> None:

        # one object for the screen and its workers, one SQLite connection per thread under it
        self.ctl = ChatController(
            self._cfg, PerThreadConnection(), model=self._model, persona=self._persona
        )
        self.query_one("#sessions").display = False
        # at 80 columns the conversation needs the room; ctrl+o shows the panel
        wide = self.app.size.width >= 100
        self.query_one("#sources").display = bool(self.cfg["ui.show_sources"]) and wide
        self.query_one(IndexProgress).stop()
        self.query_one("#command-hint").display = False
        self.query_one(SourcesPanel).show([])
        self.status(model=f"{self.model_name} (loading…)", persona=self.persona_name or "")
        self.status(rag=self.rag, k=self.k, collections=self.ctl.collection_count())
        self.query_one(PromptInput).focus()
        self.refresh_sessions()
        self.load_model(self.model_name, self.persona_name, self.start_session)

    def status(self, **values: Any) -> None:
        self.query_one(StatusBar).set(**values)

    # -- model ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def load_model(self, model: str, persona: str | None, session_id: int | None) -> None:
        t0 = time.perf_counter()
        try:
            conv = self.controller.load(model, persona, session_id)
        except RagtermError as exc:
            self.post_message(ModelFailed(exc.message, exc.hint or ""))
            return
        if get_current_worker().is_cancelled:
            return
        self.post_message(ModelLoaded(conv, time.perf_counter() - t0))

    @on(ModelLoaded)
    def _model_loaded(self, event: ModelLoaded) -> None:
        ctl = self.controller
        ctl.loaded(event.conversation)
        self.status(
            model=ctl.model_name,
            persona=ctl.persona_name or "",
            ctx_total=event.conversation.backend.n_ctx,
            ctx_used=0,
        )
        if ctl.session_id is not None and not self.query(ChatMessage):
            self.show_session(ctl.session_id)
        if not self.query(ChatMessage):
            show_welcome(self)
        self.update_meter()

    @on(ModelFailed)
    def _model_failed(self, event: ModelFailed) -> None:
        self.notify(
            f"{event.message}\n{event.hint}".strip(), title="Model", severity="error", timeout=10
        )
        self.status(model=f"{self.model_name} (failed)")
        self.pick_model(reason=event.message)

    def pick_model(self, reason: str = "") -> None:

        entries = Registry(self.conn).entries()
        try:
            verdicts = catalog.recommend(
                catalog.load(self.cfg["models.catalog"] or None),
                catalog.machine(),
                catalog.installed_names(entries),
            )
        except RagtermError as exc:  # a broken custom catalog must not hide the installed models
            self.notify(exc.message, title="Catalog", severity="warning")
            verdicts = []

        def chosen(name: str | None) -> None:
            if name:
                self.switch_model(name)

        self.app.push_screen(ModelPicker(entries, reason, verdicts), chosen)

    def switch_model(self, name: str, persona: str | None = None) -> None:
        try:
            model, persona_name, sid = self.controller.switch(name, persona)
        except RagtermError as exc:
            self.notify(exc.message, severity="warning")
            return
        self.status(model=f"{model} (loading…)")
        self.load_model(model, persona_name, sid)

    # -- sending -------------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        self.query_one(CommandHint).display = False
        parsed = commands.parse(event.text)
        if parsed is not None:
            await self.run_command(*parsed)
            return
        text = event.text[1:] if event.text.startswith("//") else event.text
        await self.ask(text)

    async def ask(self, text: str, *, regenerate: bool = False) -> None:
        try:
            turn = self.controller.begin(text, regenerate=regenerate)
        except RagtermError as exc:
            self.notify(exc.message, severity="warning")
            return
        view = self.query_one("#conversation", VerticalScroll)
        self.query(Welcome).remove()
        if not regenerate:
            await view.mount(ChatMessage("user", text))
        self.answer = ChatMessage("assistant", status="writing")
        await view.mount(self.answer)
        view.anchor()
        self.generate(turn)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def generate(self, turn: Any) -> None:
        worker = get_current_worker()
        for ev in self.controller.events(turn):
            if worker.is_cancelled:
                turn.cancel.set()
            self.post_message(GenerationEvent(ev))

    @on(GenerationEvent)
    async def _generation_event(self, event: GenerationEvent) -> None:
        ev = event.event
        answer = self.answer
        if answer is None:
            return
        if isinstance(ev, Token):
            await answer.append(ev.text)
        elif isinstance(ev, Retrieved):
            answer.sources = list(ev.hits)
            answer.searched_for = (ev.query, ev.rewrite)
            notes = []
            if ev.nothing_found:
                notes.append(
                    "nothing in your indexed folders is about this: the answer is the model's "
                    "general knowledge, not from your files"
                )
            answer.set_evidence(ev.evidence, [*notes, *self._attach_notes()])
            self.select(answer)
        elif isinstance(ev, Trimmed):
            self.notify(ev.message, title="Context")
        elif isinstance(ev, Done):
            await answer.finish(ev.content or answer.content)
            answer.sources = list(ev.sources)
            answer.set_evidence(ev.evidence, [*ev.notes, *self._attach_notes()])
            answer.message_id = ev.message_id
            answer.set_status(ev.status)
            self.answer = None
            reshow = self.controller.finished(ev)
            if ev.status == "error":
                self.notify(ev.error or "generation failed", title="Answer", severity="error")
            if reshow and self.conv is not None:
                self.show_session(self.conv.session_id)  # the old exchange is still stored
            if ev.timings.get("tokens_per_s"):
                self.status(tokens_per_s=ev.timings["tokens_per_s"])
            self.status(ctx_used=ev.prompt_tokens + ev.completion_tokens)
            self.select(answer)
            self.refresh_sessions()
            self.update_meter()

    def _attach_notes(self) -> list[str]:
        """What the answer must say about attached files that did not fit whole."""
        turn = self.controller.turn
        return list(turn.fitted.notes) if turn is not None and turn.fitted is not None else []

    def generation_failed(self) -> None:
        """The generate worker died (a bug): mark the answer and accept questions again."""
        if self.answer is not None:
            self.answer.set_status("error")
            self.answer = None
        self.controller.finished(Done(content="", status="error"))

    def action_cancel(self) -> None:
        if self.controller.cancel():
            if self.answer is not None:
                self.answer.set_status("cancelled")
            return
        if isinstance(self.focused, PromptInput):
            self.query_one(PromptInput).text = ""
        else:
            self.query_one(PromptInput).focus()

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
        import shlex
        import subprocess

        from ragterm.engine.index.walk import link_rule

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
        widgets = [
            ChatMessage(
                m.role,
                m.content,
                status=m.status,
                sources=[hit_from_dict(s) for s in m.sources] if m.role == "assistant" else [],
                message_id=m.id,
                evidence=[evidence_from_dict(e) for e in m.evidence],
                notes=stored_notes(m),
            )
            for m in self.controller.messages(session_id)
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
        # the indexer brings the parsers and the embedding model: loaded on the first /index
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

    # -- actions -------------------------------------------------------------------------------

    def action_new(self) -> None:
        self.new_conversation(None)

    def action_toggle_sessions(self) -> None:
        bar = self.query_one(SessionsSidebar)
        bar.display = not bar.display
        if bar.display:
            self.refresh_sessions()
            bar.query_one("#session-list").focus()
        else:
            self.query_one(PromptInput).focus()

    def action_toggle_sources(self) -> None:
        panel = self.query_one(SourcesPanel)
        panel.display = not panel.display

    async def action_regenerate(self) -> None:
        await self.run_command("regenerate", "")

    def action_toggle_theme(self) -> None:
        dark = self.app.current_theme.dark
        self.app.theme = "textual-light" if dark else "textual-dark"

    def action_help(self) -> None:

        self.app.push_screen(TextView("Help", help_markdown()))

    def action_inspect(self) -> None:

        answer = self.selected_answer()
        if answer is None or not answer.sources:
            self.notify("no retrieved sources for this answer")
            return

        async def done(result: str | None) -> None:
            n = len(self.pinned) + len(self.excluded)
            if n:
                self.notify(f"{len(self.pinned)} pinned, {len(self.excluded)} excluded")
            if result == "regenerate":
                await self.run_command("regenerate", "")

        self.app.push_screen(
            InspectorScreen(answer.sources, self.pinned, self.excluded, answer.searched_for), done
        )

    def open_tune(self, name: str = "") -> None:

        self.app.push_screen(TuneScreen(self.cfg, name, model=self.model_name))

    async def run_command(self, name: str, arg: str) -> None:
        await slash.run(self, name, arg)


def preview_markdown(h: Any, evidence: list[Any] | None = None, follow: str = "inside") -> str:
    """The chunk in its file's context with line numbers; evidence lines marked with ★.

    The file is read only where the symlink rule (``follow``, index.follow_symlinks) allows:
    otherwise the chunk is shown as indexed, with the reason."""
    from ragterm.engine.index.walk import link_rule

    text = h.text
    marked = {e.line for e in evidence or [] if e.status == "current" and e.line}
    refused = link_rule(h.path, h.root, follow) if os.path.lexists(h.path) else None
    try:
        if refused:
            raise OSError(refused)
        lines = Path(h.path).read_text(encoding="utf-8", errors="replace").splitlines()
        if h.start_line:
            lo = max(1, h.start_line - 3)
            hi = min(len(lines), (h.end_line or h.start_line) + 3)
            width = len(str(hi))

            def mark(i: int) -> str:
                if i in marked:
                    return "★"
                return ">" if h.start_line <= i <= (h.end_line or h.start_line) else " "

            text = "\n".join(f"{mark(i)}{i:>{width}} {lines[i - 1]}" for i in range(lo, hi + 1))
    except OSError:
        pass
    head = f"**{h.citation()}** · score {h.score:.3f}" + (f" · {h.heading}" if h.heading else "")
    if refused:
        head += f"\n\nthe file was not read: {refused}; shown as indexed"
    quotes = "".join(f"\n\n★ line {e.line}: “{e.text}”" for e in evidence or [] if e.line in marked)
    return f"{head}{quotes}\n\n```\n{text}\n```\n\n`{h.path}`"


def evidence_from_dict(d: dict[str, Any]) -> Evidence:
    known = Evidence.__dataclass_fields__
    return Evidence(**{k: v for k, v in d.items() if k in known})


def stored_notes(m: Any) -> list[str]:
    """The notes of a saved answer, as they were shown when it was written."""
    if m.role != "assistant" or m.grounding is None:
        return []
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", m.content)]
    texts = [str(s["text"]) for s in m.sources if s.get("text")]
    unquoted = check_quotes(m.content, texts) if texts else []
    miscited = check_quote_sources(m.content, texts) if texts else []
    done = Done(
        content=m.content,
        grounding=m.grounding,
        citations=cited,
        unquoted=unquoted,
        miscited=miscited,
    )
    return done.notes


def help_markdown() -> str:
    cmd = "\n".join(
        f"| `/{c.name}{' ' + c.args if c.args else ''}` | {c.help} |" for c in commands.COMMANDS
    )
    return (
        "## Keys\n\n| key | does |\n|---|---|\n"
        "| Enter | send |\n| ctrl+j / shift+enter | new line |\n"
        "| Up / Down | input history |\n| Tab | complete a /command, move focus |\n"
        "| Esc | cancel the answer being written |\n| ctrl+n | new conversation |\n"
        "| ctrl+b | conversations sidebar (Enter resume, r rename, d delete) |\n"
        "| ctrl+o | sources panel (Enter preview, e open in $EDITOR) |\n"
        "| ctrl+r | regenerate |\n| f2 | retrieval inspector |\n| ctrl+t | light/dark theme |\n"
        "| ctrl+p | command palette |\n| ctrl+q | quit |\n\n"
        f"## Commands\n\n| command | does |\n|---|---|\n{cmd}\n"
    )
