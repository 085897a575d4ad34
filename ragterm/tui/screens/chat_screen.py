"""The main screen: conversation, input, sources, sessions, status; workers do the slow work.

What to do lives in ``ChatController`` (no Textual); this screen lays out the widgets, runs the
controller's blocking calls in thread workers and shows what comes back.
"""

from __future__ import annotations

import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer
from textual.worker import get_current_worker

from ragterm.engine.connection import PerThreadConnection
from ragterm.engine.events import Done, Retrieved, Token, Trimmed
from ragterm.engine.models import catalog
from ragterm.engine.models.registry import Registry
from ragterm.errors import RagtermError
from ragterm.tui import commands, slash
from ragterm.tui.chat_controller import ChatController
from ragterm.tui.chat_rendering import (
    help_markdown,
)
from ragterm.tui.messages import (
    GenerationEvent,
    ModelFailed,
    ModelLoaded,
)
from ragterm.tui.screens.chat_panels import ChatPanels
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


class ChatScreen(ChatPanels):
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

    async def edit_last_question(self) -> None:
        """/edit: the last question back in the input; sending it replaces that exchange."""
        question = self.controller.start_edit()
        views = list(self.query(ChatMessage))
        while views:
            w = views.pop()
            await w.remove()
            if w.role == "user":
                break
        box = self.query_one(PromptInput)
        box.set_value(question)
        box.focus()
