"""The main screen: conversation, input, sources, sessions, status; workers do the slow work."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, TextArea
from textual.worker import get_current_worker

from ragterm.errors import RagtermError
from ragterm.tui import commands
from ragterm.tui.messages import BudgetReady, GenerationEvent, IndexEvent, ModelFailed, ModelLoaded
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.command_hint import CommandHint
from ragterm.tui.widgets.context_meter import ContextMeter
from ragterm.tui.widgets.prompt_input import PromptInput
from ragterm.tui.widgets.sessions_sidebar import SessionsSidebar
from ragterm.tui.widgets.sources_panel import SourcesPanel
from ragterm.tui.widgets.status_bar import StatusBar
from ragterm.tui.widgets.welcome import Welcome, show_welcome


def hit_from_dict(d: dict[str, Any]) -> Any:
    """A stored source (``Hit.to_dict()``) back into a Hit."""
    from dataclasses import fields

    from ragterm.engine.events import Hit

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
        self.cfg = cfg
        self.model_name = model or cfg["chat.model"]
        self.persona_name = persona if persona is not None else (cfg["chat.persona"] or None)
        self.start_session = session_id
        self.conn: Any = None  # PerThreadConnection: the UI thread's and each worker's own
        self.conv: Any = None  # ragterm.engine.chat.Conversation, used only by workers
        self.rag: bool = bool(cfg["rag.enabled"])
        self.k: int = int(cfg["rag.top_k"])
        self.cancel_event: threading.Event | None = None
        self.answer: ChatMessage | None = None
        self.selected: ChatMessage | None = None
        self._retrieve: Any = None
        self._retrieve_ready = False
        self._session_query = ""
        self.pinned: dict[int, Any] = {}  # chunk_id -> Hit, always sent (inspector "p")
        self.excluded: set[int] = set()  # chunk ids never sent (inspector "x")
        self.edit_from: int | None = None  # /edit: the next question replaces from this message
        self._replacing = False  # the answer being written replaces the last exchange

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield SessionsSidebar(id="sessions")
            with Vertical(id="center"):
                yield VerticalScroll(id="conversation")
                yield ProgressBar(id="index-progress", show_eta=False)
                yield CommandHint("", id="command-hint", markup=False)
                yield PromptInput(id="prompt")
                yield ContextMeter("", id="meter", markup=False)
            yield SourcesPanel(id="sources")
        yield Footer()

    def on_mount(self) -> None:
        from ragterm.store.db import PerThreadConnection

        # one object for the screen and its workers, one SQLite connection per thread under it
        self.conn = PerThreadConnection()
        self.query_one("#sessions").display = False
        # at 80 columns the conversation needs the room; ctrl+o shows the panel
        wide = self.app.size.width >= 100
        self.query_one("#sources").display = bool(self.cfg["ui.show_sources"]) and wide
        self.query_one("#index-progress").display = False
        self.query_one("#command-hint").display = False
        self.query_one(SourcesPanel).show([])
        self.status(model=f"{self.model_name} (loading…)", persona=self.persona_name or "")
        self.status(rag=self.rag, k=self.k, collections=self._count_collections())
        self.query_one(PromptInput).focus()
        self.refresh_sessions()
        self.load_model(self.model_name, self.persona_name, self.start_session)

    def status(self, **values: Any) -> None:
        self.query_one(StatusBar).set(**values)

    def _count_collections(self) -> int:
        try:
            return int(self.conn.execute("SELECT count(*) FROM collections").fetchone()[0])
        except Exception:
            return 0

    @property
    def generating(self) -> bool:
        return self.cancel_event is not None

    # -- model ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def load_model(
        self, model: str, persona: str | None, session_id: int | None, reuse: Any = None
    ) -> None:
        from ragterm.engine.chat import open_conversation

        t0 = time.perf_counter()
        try:
            conv = open_conversation(
                self.cfg,
                self.conn,
                model=model,
                persona=persona or "off",
                session_id=session_id,
                reuse=reuse,  # same model: only the persona's adapter changes, no reload
            )
        except RagtermError as exc:
            self.post_message(ModelFailed(exc.message, exc.hint or ""))
            return
        if get_current_worker().is_cancelled:
            return
        self.post_message(ModelLoaded(conv, time.perf_counter() - t0))

    @on(ModelLoaded)
    def _model_loaded(self, event: ModelLoaded) -> None:
        old = self.conv
        self.conv = event.conversation
        if old is not None and old.backend is not self.conv.backend:
            old.backend.close()
        self._retrieve_ready = False
        self.model_name = self.conv.model_name
        persona = getattr(self.conv.persona, "name", None)
        self.persona_name = persona
        self.status(
            model=self.model_name,
            persona=persona or "",
            ctx_total=self.conv.backend.n_ctx,
            ctx_used=0,
        )
        if self.conv.session_id is not None and not self.query(ChatMessage):
            self.show_session(self.conv.session_id)
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
        from ragterm.engine import catalog
        from ragterm.engine.models import Registry
        from ragterm.tui.screens.model_picker import ModelPicker

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
        if self.generating:
            self.notify("wait for the answer to finish (Esc cancels it)", severity="warning")
            return
        self.model_name = name
        self.status(model=f"{name} (loading…)")
        sid = self.conv.session_id if self.conv is not None else None
        p = persona if persona is not None else (self.persona_name or "off")
        self.load_model(name, p, sid, self.conv.backend if self.conv is not None else None)

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
        if self.conv is None:
            self.notify("the model is still loading", severity="warning")
            return
        if self.generating:
            self.notify("an answer is being written (Esc cancels it)", severity="warning")
            return
        view = self.query_one("#conversation", VerticalScroll)
        self.query(Welcome).remove()
        if not regenerate:
            await view.mount(ChatMessage("user", text))
        self.answer = ChatMessage("assistant", status="writing")
        await view.mount(self.answer)
        view.anchor()
        self.cancel_event = threading.Event()
        replace, self.edit_from = (None if regenerate else self.edit_from), None
        self._replacing = regenerate or replace is not None
        self.generate(text, regenerate, self.cancel_event, replace)

    def _retriever(self) -> Any:
        if not self._retrieve_ready:
            from ragterm.engine.chat import make_retriever

            self._retrieve = make_retriever(self.conv.conn, self.cfg)
            self._retrieve_ready = True
        return self._retrieve

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def generate(
        self, text: str, regenerate: bool, cancel: threading.Event, replace: int | None = None
    ) -> None:
        from ragterm.engine.events import Done

        worker = get_current_worker()
        try:
            retrieve = self._retriever() if self.rag else None
            kwargs = {
                "cancel": cancel,
                "retrieve": retrieve,
                "rag": self.rag,
                "k": self.k,
                "pinned": list(self.pinned.values()),
                "excluded": set(self.excluded),
            }
            events = (
                self.conv.regenerate(**kwargs)
                if regenerate
                else self.conv.send(text, replace_from=replace, **kwargs)
            )
            for ev in events:
                if worker.is_cancelled:
                    cancel.set()
                self.post_message(GenerationEvent(ev))
        except RagtermError as exc:
            self.post_message(GenerationEvent(Done(content="", status="error", error=exc.message)))

    @on(GenerationEvent)
    async def _generation_event(self, event: GenerationEvent) -> None:
        from ragterm.engine.events import Done, Retrieved, Token, Trimmed

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
            answer.set_evidence(ev.evidence, notes)
            self.select(answer)
        elif isinstance(ev, Trimmed):
            self.notify(ev.message, title="Context")
        elif isinstance(ev, Done):
            await answer.finish(ev.content or answer.content)
            answer.sources = list(ev.sources)
            answer.set_evidence(ev.evidence, ev.notes)
            answer.message_id = ev.message_id
            answer.set_status(ev.status)
            self.cancel_event = None
            self.answer = None
            if ev.status == "error":
                self.notify(ev.error or "generation failed", title="Answer", severity="error")
                if self._replacing and self.conv is not None and self.conv.session_id is not None:
                    self.show_session(self.conv.session_id)  # the old exchange is still stored
            if ev.timings.get("tokens_per_s"):
                self.status(tokens_per_s=ev.timings["tokens_per_s"])
            self.status(ctx_used=ev.prompt_tokens + ev.completion_tokens)
            self.select(answer)
            self.refresh_sessions()
            self.update_meter()

    def action_cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
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

    def _answer(self) -> ChatMessage | None:
        if self.selected is not None and self.selected.is_attached:
            return self.selected
        answers = [m for m in self.query(ChatMessage) if m.role == "assistant"]
        return answers[-1] if answers else None

    @on(SourcesPanel.Preview)
    def _preview(self, event: SourcesPanel.Preview) -> None:
        from ragterm.tui.screens.text_view import TextView

        h = event.hit
        answer = self._answer()
        quotes = [e for e in (answer.evidence if answer else []) if e.path == h.path]
        self.app.push_screen(TextView(h.citation(), preview_markdown(h, quotes)))

    @on(SourcesPanel.OpenInEditor)
    def _open_editor(self, event: SourcesPanel.OpenInEditor) -> None:
        import shlex
        import subprocess

        h = event.hit
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
        from ragterm.store import chats

        sid = self.conv.session_id if self.conv is not None else None
        sessions = chats.list_sessions(self.conn, self._session_query)
        self.query_one(SessionsSidebar).show(sessions, sid)
        history: list[str] = []
        if sid is not None:
            history = [m.content for m in chats.messages(self.conn, sid) if m.role == "user"]
        if history:
            self.query_one(PromptInput).set_history(history)

    def show_session(self, session_id: int) -> None:
        from ragterm.store import chats

        view = self.query_one("#conversation", VerticalScroll)
        view.remove_children()
        widgets = []
        for m in chats.messages(self.conn, session_id):
            if m.role == "system":
                continue
            widgets.append(
                ChatMessage(
                    m.role,
                    m.content,
                    status=m.status,
                    sources=[hit_from_dict(s) for s in m.sources] if m.role == "assistant" else [],
                    message_id=m.id,
                    evidence=[evidence_from_dict(e) for e in m.evidence],
                    notes=stored_notes(m),
                )
            )
        view.mount_all(widgets)
        view.scroll_end(animate=False)
        answers = [w for w in widgets if w.role == "assistant"]
        if answers:
            self.call_after_refresh(self.select, answers[-1])
        else:
            self.query_one(SourcesPanel).show([])

    def new_conversation(self, session_id: int | None = None) -> None:
        from ragterm.engine.chat import Conversation

        if self.generating:
            self.notify("wait for the answer to finish (Esc cancels it)", severity="warning")
            return
        if self.conv is None:
            self.notify("the model is still loading", severity="warning")
            return
        try:
            self.conv = Conversation(
                self.conv.backend,
                self.conv.conn,
                self.cfg,
                session_id=session_id,
                persona=self.conv.persona,
                model_name=self.conv.model_name,
            )
        except RagtermError as exc:
            self.notify(exc.message, severity="error")
            return
        self.selected = None
        self.edit_from = None
        self.pinned.clear()
        self.excluded.clear()
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
        from ragterm.store import chats

        chats.rename_session(self.conn, event.session_id, event.title)
        self.refresh_sessions()

    @on(SessionsSidebar.Delete)
    def _delete(self, event: SessionsSidebar.Delete) -> None:
        from ragterm.store import chats

        current = self.conv is not None and self.conv.session_id == event.session_id
        if current and self.generating:
            self.notify("wait for the answer to finish", severity="warning")
            return
        chats.delete_session(self.conn, event.session_id)
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
            hits: list[Any] = []
            retrieve = self._retriever() if (self.rag and text.strip()) else None
            if retrieve is not None:
                hits = retrieve(text, self.k)
            budget = self.conv.budget_preview(text.strip() or "?", hits=hits)
        except RagtermError:
            return
        if not worker.is_cancelled:
            self.post_message(BudgetReady(budget, hits))

    @on(BudgetReady)
    def _budget(self, event: BudgetReady) -> None:
        self.query_one(ContextMeter).show(event.budget)
        self.status(ctx_used=event.budget.used + event.budget.reserved)

    # -- indexing ------------------------------------------------------------------------------

    def start_index(self, arg: str) -> None:
        path = Path(os.path.expanduser(arg or ".")).resolve()
        if not path.exists():
            self.notify(f"no such folder: {path}", severity="error")
            return
        bar = self.query_one("#index-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.status(activity=f"indexing {path.name}…")
        self.index(path)

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def index(self, path: Path) -> None:
        try:
            from ragterm.engine.indexer import index_paths
        except ImportError:
            self.post_message(IndexEvent(RagtermError("indexing is not available yet")))
            return
        from ragterm.store.db import connect

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
        from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted

        ev = event.event
        bar = self.query_one("#index-progress", ProgressBar)
        if isinstance(ev, RagtermError):
            bar.display = False
            self.status(activity="")
            self.notify(f"{ev.message}\n{ev.hint or ''}".strip(), title="Index", severity="error")
        elif isinstance(ev, IndexStarted):
            bar.update(total=max(1, ev.files_total), progress=0)
            self.status(activity=f"indexing {ev.collection} 0/{ev.files_total}")
        elif isinstance(ev, FileDone):
            bar.advance(1)
            self.status(activity=f"indexing {int(bar.progress)}/{int(bar.total or 0)}")
        elif isinstance(ev, EmbedProgress):
            self.status(activity=f"embedding {ev.chunks_done}/{ev.chunks_total}")
        elif isinstance(ev, IndexFinished):
            bar.display = False
            self._retrieve_ready = False
            c = ev.counts
            summary = ", ".join(f"{v} {k}" for k, v in c.items() if v)
            self.status(activity="", collections=self._count_collections())
            verb = "cancelled" if ev.cancelled else "indexed"
            self.notify(f"{ev.collection} {verb}: {summary or 'nothing to do'}", title="Index")

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
        from ragterm.tui.screens.text_view import TextView

        self.app.push_screen(TextView("Help", help_markdown()))

    def action_inspect(self) -> None:
        from ragterm.tui.screens.inspector import InspectorScreen

        answer = self._answer()
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
        from ragterm.tui.screens.tune import TuneScreen

        self.app.push_screen(TuneScreen(self.cfg, name, model=self.model_name))

    async def run_command(self, name: str, arg: str) -> None:
        from ragterm.tui.slash import run

        await run(self, name, arg)


def preview_markdown(h: Any, evidence: list[Any] | None = None) -> str:
    """The chunk in its file's context with line numbers; evidence lines marked with ★."""
    text = h.text
    marked = {e.line for e in evidence or [] if e.status == "current" and e.line}
    try:
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
    quotes = "".join(f"\n\n★ line {e.line}: “{e.text}”" for e in evidence or [] if e.line in marked)
    return f"{head}{quotes}\n\n```\n{text}\n```\n\n`{h.path}`"


def evidence_from_dict(d: dict[str, Any]) -> Any:
    from ragterm.engine.evidence import Evidence

    fields = Evidence.__dataclass_fields__
    return Evidence(**{k: v for k, v in d.items() if k in fields})


def stored_notes(m: Any) -> list[str]:
    """The notes of a saved answer, as they were shown when it was written."""
    from ragterm.engine.events import Done

    if m.role != "assistant" or m.grounding is None:
        return []
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", m.content)]
    done = Done(content=m.content, grounding=m.grounding, citations=cited)
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
