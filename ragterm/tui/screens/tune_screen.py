"""/tune: fine-tune a persona from chats or a folder of writing, watch it learn, switch to it.

The form checks as you type (name, data, numbers, then the estimate from ``runner.prepare`` with
``dry_run``); training runs in the child process through the app's ``TuneController`` so this
screen can be closed while it goes on. The loss chart is Textual's own ``Sparkline``: it needs no
extra dependency, draws in one row at 80 columns and renders the same in snapshots (the plotext
wrapper, textual-plotext, has had no release since 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Sparkline, Static

from ragterm.engine.connection import connect
from ragterm.engine.tune.persona_service import compare
from ragterm.engine.tune.spec import TrainSpec
from ragterm.errors import RagtermError
from ragterm.tui.screens.tune_form_screen import (
    DEFAULT_LR,
    DEFAULT_RANK,
    PathSuggester,
    TuneForm,
    short,
)
from ragterm.tui.tune_job import TuneController, TuneProgress
from ragterm.units import duration, number


@dataclass
class Compared(Message):
    label: str
    text: str


class TuneScreen(TuneForm):
    """Name, data, settings and estimate; then live training; then the result and "use now"."""

    BINDINGS = [
        Binding("escape", "escape", "Cancel training / close", priority=True),
        Binding("ctrl+g", "hide", "Back to chat"),
        Binding("ctrl+s", "start", "Start"),
    ]

    DEFAULT_CSS = """
    TuneScreen { layout: vertical; }
    TuneScreen #tune-title { height: 1; text-style: bold; color: $accent; padding: 0 1; }
    TuneScreen #tune-body { height: 1fr; padding: 0 1; }
    TuneScreen .row { height: auto; margin: 1 0 0 0; }
    TuneScreen .row Label { width: 8; padding: 0 1 0 0; }
    TuneScreen .row Input { width: 1fr; }
    TuneScreen #numbers Input { width: 1fr; margin: 0 1 0 0; }
    TuneScreen #numbers Label { width: auto; }
    TuneScreen .msg { height: auto; color: $text-muted; padding: 0 0 0 8; }
    TuneScreen .msg.error { color: $error; }
    TuneScreen .msg.ok { color: $success; }
    TuneScreen #base { height: auto; margin: 1 0 0 0; }
    TuneScreen #estimate { height: auto; margin: 1 0 0 0; }
    TuneScreen #estimate.error { color: $error; }
    TuneScreen #pairs { height: auto; color: $text-muted; }
    TuneScreen .buttons { height: auto; margin: 1 0 0 0; }
    TuneScreen .buttons Button { margin: 0 2 0 0; }
    TuneScreen #stats, TuneScreen #stage, TuneScreen #result { height: auto; }
    TuneScreen #stage.error { color: $error; }
    TuneScreen Sparkline { height: 3; margin: 0 0 1 0; }
    TuneScreen .chart-label { height: 1; color: $text-muted; margin: 1 0 0 0; }
    TuneScreen #answers { height: auto; }
    TuneScreen #answers Static { width: 1fr; height: auto; padding: 0 1; border: round $primary-background; }
    """  # noqa: E501

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("Fine-tune a persona", id="tune-title")
        with VerticalScroll(id="tune-body"):
            with Vertical(id="tune-form"):
                with Horizontal(classes="row"):
                    yield Label("Name")
                    yield Input(self.initial_name, placeholder="e.g. pirate", id="name",
                                compact=True)  # fmt: skip
                yield Static("", id="name-msg", classes="msg", markup=False)
                with Horizontal(classes="row"):
                    yield Label("Data")
                    yield Input(
                        placeholder="chats.jsonl, or a folder of your writing (→ completes)",
                        id="data",
                        suggester=PathSuggester(),
                        compact=True,
                    )
                yield Static("", id="data-msg", classes="msg", markup=False)
                yield Static(f"Base model: {self.model} (the chat model)", id="base", markup=False)
                with Horizontal(classes="row", id="numbers"):
                    yield Label("Steps")
                    yield Input(placeholder="auto", id="steps", compact=True)
                    yield Label("Epochs")
                    yield Input(placeholder="3", id="epochs", compact=True)
                    yield Label("Rank")
                    yield Input(str(DEFAULT_RANK), id="rank", compact=True)
                    yield Label("LR")
                    yield Input(DEFAULT_LR, id="lr", compact=True)
                yield Static("", id="params-msg", classes="msg", markup=False)
                yield Static("", id="estimate", markup=False)
                yield Static("", id="pairs", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Start", id="start", variant="primary", disabled=True,
                                 compact=True)  # fmt: skip
                    yield Button("Resume", id="resume", compact=True)
            with Vertical(id="tune-progress"):
                yield Static("", id="stage", markup=False)
                yield ProgressBar(id="bar", show_eta=False)
                yield Static("", id="stats", markup=False)
                yield Label("training loss", classes="chart-label", id="loss-label")
                yield Sparkline([], id="loss-chart")
                yield Label("validation loss", classes="chart-label", id="val-label")
                yield Sparkline([], id="val-chart")
                with Horizontal(classes="buttons"):
                    yield Button("Cancel (keeps a checkpoint)", id="cancel", variant="error",
                                 compact=True)  # fmt: skip
                    yield Button("Back to chat", id="hide", compact=True)
            with Vertical(id="tune-result"):
                yield Static("", id="result", markup=False)
                with Horizontal(classes="row"):
                    yield Label("Ask")
                    yield Input(placeholder="a question for the base model and the persona",
                                id="question", compact=True)  # fmt: skip
                with Horizontal(id="answers"):
                    yield Static("", id="base-answer", markup=False)
                    yield Static("", id="persona-answer", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Use now", id="use-now", variant="success", compact=True)
                    yield Button("Close", id="close", compact=True)
        yield Footer()

    def on_mount(self) -> None:

        self.conn = connect()
        self.query_one("#resume").display = False
        self.query_one("#answers").display = False
        self.ctl = TuneController.of(self.app)
        self.ctl.listener = self.show_progress
        p = self.ctl.progress
        if p is not None and (not self.initial_name or self.initial_name == p.name):
            if p.running or (p.result is not None and p.result.status == "ready"):
                self.query_one("#name", Input).value = p.name
                self.show_progress(p)
                return
        self.view("form")
        self.query_one("#name" if not self.initial_name else "#data", Input).focus()
        self.check_name()

    def on_unmount(self) -> None:
        if self.ctl is not None and self.ctl.listener == self.show_progress:
            self.ctl.listener = None
        if self.conn is not None:
            self.conn.close()

    # -- training ------------------------------------------------------------------------------

    def action_start(self) -> None:
        if self.query_one("#tune-form").display and not self.query_one("#start").disabled:
            self.begin(self.spec(restart=True))

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#resume")
    def _resume(self) -> None:

        p = self.params() or {}
        kw = {k: p[k] for k in ("steps", "epochs") if k in p}
        spec = TrainSpec(name=self.value("#name"), data="", resume=True, **(self.extra | kw))
        self.begin(spec)

    def begin(self, spec: Any) -> None:
        assert self.ctl is not None
        try:
            self.ctl.start(spec, self.cfg)
        except RagtermError as exc:
            self.notify(f"{exc.message}\n{exc.hint or ''}".strip(), severity="error")
            return
        self.query_one("#loss-chart", Sparkline).data = []
        self.query_one("#val-chart", Sparkline).data = []
        self.query_one("#cancel", Button).focus()

    def show_progress(self, p: TuneProgress) -> None:
        """Redraw from the controller's state (called on every event while this screen is open)."""
        self.shown = p.name
        stage = self.query_one("#stage", Static)
        if p.result is not None and p.result.status == "ready":
            self.show_result(p)
            return
        if not p.running:  # cancelled or failed: back to the form, which offers resume
            self.view("form")
            self.check_name()
            if p.error:
                self._msg("#estimate", f"✗ {p.error}", "error")
            elif p.result is not None:
                self._msg("#estimate", p.result.message)
            self.query_one("#name", Input).focus()
            return
        self.view("progress")
        stage.update(f"{p.name}: {p.stage}" + (f" — {p.detail}" if p.detail else ""))
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=p.total or None, progress=p.step)
        ev = p.last
        if ev is not None:
            parts = [f"step {ev.step}/{ev.total_steps}", f"loss {ev.loss:.3f}"]
            if p.val_losses:
                parts.append(f"val {p.val_losses[-1]:.3f}")
            if ev.tokens_per_s:
                parts.append(f"{ev.tokens_per_s:.0f} tok/s")
            parts.append(f"ETA {duration(ev.eta_s)}")
            self.query_one("#stats", Static).update(" · ".join(parts))
        self.query_one("#loss-chart", Sparkline).data = list(p.losses)
        self.query_one("#val-chart", Sparkline).data = list(p.val_losses)
        if p.losses:
            self.query_one("#loss-label", Label).update(
                f"training loss {p.losses[0]:.2f} → {p.losses[-1]:.2f}"
            )
        if p.val_losses:
            self.query_one("#val-label", Label).update(
                f"validation loss {p.val_losses[0]:.2f} → {p.val_losses[-1]:.2f}"
            )

    def show_result(self, p: TuneProgress) -> None:
        m = p.result.metrics

        def num(key: str, fmt: str = "{:.3f}") -> str:
            return number(m.get(key), fmt)

        smoke = m.get("smoke_sample", "")
        lines = [
            f"persona {p.name} is ready: smoke test passed (llama.cpp loaded the adapter and "
            f"said: {short(smoke, 60)!r})",
            f"validation loss:  {num('base_val_loss')} before → {num('val_loss')} after",
            f"perplexity:       {num('base_val_ppl', '{:.2f}')} before → "
            f"{num('val_ppl', '{:.2f}')} after",
            f"llama.cpp loss:   {num('gguf_val_loss')} (the exported adapter)",
            f"{m.get('steps', '?')} steps in {duration(m.get('seconds'))} on "
            f"{m.get('device', '?')} ({m.get('backend', '?')})",
        ]
        self.query_one("#result", Static).update("\n".join(lines))
        self.view("result")
        self.query_one("#question", Input).focus()

    def action_escape(self) -> None:
        if self.ctl is not None and self.ctl.running and self.shown == self.ctl.progress.name:  # type: ignore[union-attr]
            self.cancel_training()
        else:
            self.dismiss()

    @on(Button.Pressed, "#cancel")
    def cancel_training(self) -> None:
        if self.ctl is not None and self.ctl.running:
            self.ctl.cancel()
            self.query_one("#stage", Static).update("cancelling after this step…")

    def action_hide(self) -> None:
        self.dismiss()

    @on(Button.Pressed, "#hide, #close")
    def _hide(self) -> None:
        self.dismiss()

    # -- after training ------------------------------------------------------------------------

    @on(Input.Submitted, "#question")
    def _ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        self.query_one("#answers").display = True
        self.query_one("#base-answer", Static).update("base: …")
        self.query_one("#persona-answer", Static).update(f"{self.shown}: …")
        self.compare(self.shown, question)

    @work(thread=True, exclusive=True, group="tune-compare", exit_on_error=False)
    def compare(self, name: str, question: str) -> None:

        conn = connect()
        try:
            tokens = int(self.cfg["chat.max_tokens"] or 200)
            for label, text in compare(conn, name, question, cfg=self.cfg, max_tokens=tokens):
                self.post_message(Compared(label, text))
        except RagtermError as exc:
            self.post_message(Compared("error", exc.message))
        finally:
            conn.close()

    @on(Compared)
    def _compared(self, msg: Compared) -> None:
        if msg.label == "error":
            self.notify(msg.text, severity="error")
            return
        target = "#base-answer" if msg.label == "base" else "#persona-answer"
        who = "base" if msg.label == "base" else self.shown
        self.query_one(target, Static).update(f"{who}: {msg.text}")

    @on(Button.Pressed, "#use-now")
    def use_now(self) -> None:
        """Switch the open chat to the persona (same base: only the adapter changes)."""
        chat = self.app.chat  # type: ignore[attr-defined]
        chat.switch_model(chat.model_name, persona=self.shown)
        self.notify(f"chat now answers as {self.shown}")
        self.dismiss()
