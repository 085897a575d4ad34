"""The persona training the app is running, kept apart from the /tune screen that shows it.

The screen can be closed while training goes on: this controller lives on the app, runs the
training child (``engine.tune.runner``) from an app-level thread worker, keeps the progress, tells
the chat's status bar, and redraws the screen when one is open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.app import App
from textual.worker import get_current_worker

from ragterm.engine.connection import connect
from ragterm.engine.events import Stage, TrainStep, TuneFinished
from ragterm.engine.tune.runner import start_training
from ragterm.errors import RagtermError


@dataclass
class TuneProgress:
    """What one training run has reported so far."""

    name: str
    stage: str = "starting"
    detail: str = ""
    step: int = 0
    total: int = 0
    losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    last: Any = None  # the latest TrainStep
    result: Any = None  # TuneFinished, once it ends
    error: str = ""
    running: bool = True


class TuneController:
    """One training at a time, owned by the app; ``listener`` is the open /tune screen, if any."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.progress: TuneProgress | None = None
        self.job: Any = None  # runner.TrainingJob while the child runs
        self.listener: Callable[[TuneProgress], None] | None = None
        self._cancel = False

    @classmethod
    def of(cls, app: App[Any]) -> TuneController:
        ctl = getattr(app, "tuning", None)
        if ctl is None:
            ctl = cls(app)
            app.tuning = ctl  # type: ignore[attr-defined]
        return ctl

    @property
    def running(self) -> bool:
        return self.progress is not None and self.progress.running

    def start(self, spec: Any, cfg: Any) -> None:
        """Start training ``spec`` (a TrainSpec, maybe ``resume``) in the background."""
        if self.running:
            raise RagtermError(
                f"persona {self.progress.name!r} is training",  # type: ignore[union-attr]
                hint="wait for it, or cancel it on its /tune screen",
            )
        self.progress = TuneProgress(spec.name, stage="checking", detail="data and model")
        self._cancel = False
        self._changed()
        self.app.run_worker(
            lambda: self._run(spec, cfg),
            name=f"tune {spec.name}",
            group="tune",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def cancel(self) -> None:
        """Stop after the current step; the child keeps its checkpoint for resume."""
        self._cancel = True
        if self.job is not None:
            self.job.cancel()

    def _run(self, spec: Any, cfg: Any) -> None:

        try:
            conn = connect()
            try:
                job = start_training(spec, cfg=cfg, conn=conn)
            finally:
                conn.close()
            self.job = job
            if self._cancel:
                job.cancel()
            worker = get_current_worker()
            for ev in job.events():
                if worker.is_cancelled:  # the app is closing: stop the child, keep its checkpoint
                    job.cancel()
                    continue
                self.app.call_from_thread(self._event, ev)
        except RagtermError as exc:
            self.app.call_from_thread(self._failed, f"{exc.message}\n{exc.hint or ''}".strip())
        except Exception as exc:  # a bug: say so on the screen, keep the chat alive
            self.app.call_from_thread(self._failed, f"training failed: {type(exc).__name__}: {exc}")
        finally:
            self.job = None

    # -- on the UI thread ----------------------------------------------------------------------

    def _event(self, ev: Any) -> None:

        p = self.progress
        if p is None:
            return
        if isinstance(ev, Stage):
            p.stage, p.detail = ev.name, ev.detail
        elif isinstance(ev, TrainStep):
            p.stage, p.detail = "training", ""
            p.step, p.total, p.last = ev.step, ev.total_steps, ev
            if ev.loss == ev.loss:  # NaN: a batch with nothing to learn
                p.losses.append(ev.loss)
            if ev.val_loss is not None:
                p.val_losses.append(ev.val_loss)
        elif isinstance(ev, TuneFinished):
            p.result, p.running = ev, False
            p.stage = ev.status
            if ev.status == "ready":
                self.app.notify(f"persona {ev.name} is ready (/tune {ev.name})", title="Tune")
            else:
                self.app.notify(f"training of {ev.name} stopped; /tune {ev.name} resumes it")
        self._changed()

    def _failed(self, message: str) -> None:
        p = self.progress
        if p is None:
            return
        p.error, p.running, p.stage = message, False, "failed"
        if self.listener is None:
            self.app.notify(message, title="Tune", severity="error", timeout=10)
        self._changed()

    def _changed(self) -> None:
        p = self.progress
        text = ""
        if p is not None and p.running:
            text = f"tuning {p.name} {p.step}/{p.total}" if p.total else f"tuning {p.name}…"
        try:
            self.app.chat.status(training=text)  # type: ignore[attr-defined]
        except LookupError:
            pass
        if self.listener is not None and p is not None:
            self.listener(p)
