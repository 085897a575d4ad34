"""The /tune form: name, data and settings checked as they are typed, the estimate worked out
in a worker from ``runner.prepare`` with ``dry_run``, and what the form says about them, from
the engine's structured results (``DatasetError``, ``Dataset.summary``, ``Plan.summary``).
``TuneScreen`` adds the layout, the training view and the result on top."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Static
from textual.worker import get_current_worker

from ragterm.engine.connection import connect
from ragterm.engine.tune import persona_service
from ragterm.engine.tune.persona_service import unfinished
from ragterm.engine.tune.runner import prepare
from ragterm.engine.tune.spec import OptionError, TrainSpec
from ragterm.engine.tune.training_data import DatasetError, open_dataset
from ragterm.errors import RagtermError
from ragterm.tui.tune_job import TuneController

DEFAULT_RANK = 8
DEFAULT_LR = "1e-3"
PAIRS_SHOWN = 3


@dataclass
class Checked(Message):
    """What the background check found for one state of the form."""

    key: tuple[Any, ...]
    data_ok: bool = False
    data_msg: str = ""
    pairs: list[tuple[str, str]] = field(default_factory=list)
    pairs_total: int = 0
    estimate: str = ""
    estimate_ok: bool = False


class TuneForm(Screen[None]):
    """The form's state and checks (the widgets are ``TuneScreen``'s)."""

    def __init__(
        self,
        cfg: Any,
        name: str = "",
        *,
        model: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """``extra``: TrainSpec fields the form does not show (batch size, max length...)."""
        super().__init__()
        self.cfg = cfg
        self.initial_name = name
        self.model = model or cfg["chat.model"]
        self.extra = dict(extra or {})
        self.ctl: TuneController | None = None
        self.conn: Any = None
        self.name_ok = False
        self.params_ok = True
        self.checked: Checked | None = None
        self.unfinished = False
        self.shown: str = ""  # persona whose run this screen shows

    def view(self, which: str) -> None:
        for part in ("form", "progress", "result"):
            self.query_one(f"#tune-{part}").display = part == which

    def _msg(self, widget_id: str, text: str, kind: str = "") -> None:
        w = self.query_one(widget_id, Static)
        w.update(text)
        w.set_class(kind == "error", "error")
        w.set_class(kind == "ok", "ok")

    # -- the form ------------------------------------------------------------------------------

    @on(Input.Changed, "#name")
    def _name_changed(self) -> None:
        self.check_name()

    @on(Input.Changed, "#data, #steps, #epochs, #rank, #lr")
    def _changed(self) -> None:
        self.schedule_check()

    def value(self, widget_id: str) -> str:
        return self.query_one(widget_id, Input).value.strip()

    def check_name(self) -> None:
        """Letters, digits, . _ - only; not an existing persona; resume offered if unfinished."""

        name = self.value("#name")
        self.name_ok, self.unfinished = False, False
        msg, kind = "", ""
        if not name:
            msg = "a name for the persona: letters, digits, . _ -"
        else:
            try:
                TrainSpec(name=name, data="").validate()
            except RagtermError:
                bad = sorted({c for c in name if not (c.isalnum() or c in "._-")})
                what = f"no {' '.join(repr(c) for c in bad)}; " if bad else ""
                msg, kind = (
                    f"✗ {name!r} cannot be a persona name: {what}use letters, digits, . _ - "
                    "(up to 64, starting with a letter or digit)",
                    "error",
                )
            else:
                if name in unfinished():
                    self.unfinished = True
                    self.name_ok = True
                    msg = (
                        f"{name} has an unfinished training run: Resume continues it, "
                        "Start begins again"
                    )
                elif persona_service.find(self.conn, name) is not None:
                    msg, kind = (
                        f"✗ persona {name!r} exists: pick another name "
                        f"(or remove it first: ragterm persona rm {name})",
                        "error",
                    )
                else:
                    self.name_ok = True
                    msg, kind = f"✓ new persona {name}", "ok"
        self._msg("#name-msg", msg, kind)
        self.query_one("#resume").display = self.unfinished
        self.schedule_check()

    def params(self) -> dict[str, Any] | None:
        """Steps, epochs, rank and lr from the form, or None (with the reason shown)."""

        out: dict[str, Any] = {}
        try:
            for key, cast, label in (
                ("steps", int, "steps: a whole number, or empty for auto"),
                ("epochs", float, "epochs: a number such as 2 or 0.5, or empty"),
                ("rank", int, "rank: a whole number from 1 to 512"),
                ("lr", float, "learning rate: a number such as 1e-3"),
            ):
                raw = self.value(f"#{key}")
                if raw:
                    try:
                        out[key] = cast(raw)
                    except ValueError:
                        raise RagtermError(f"✗ {label}, not {raw!r}") from None
            out.setdefault("rank", DEFAULT_RANK)
            out.setdefault("lr", float(DEFAULT_LR))
            out["alpha"] = 2.0 * out["rank"]
            TrainSpec(name="x", data="", **out).validate()
        except RagtermError as exc:
            # an option is a form field here, not a --flag
            text = exc.worded("") if isinstance(exc, OptionError) else exc.message
            if exc.hint:
                text += f" ({exc.hint})"
            self._msg("#params-msg", text, "error")
            self.params_ok = False
            return None
        auto = "steps" not in out and "epochs" not in out
        self._msg("#params-msg", "auto: 3 epochs, at least 24 steps" if auto else "")
        self.params_ok = True
        return out

    def spec(self, **kw: Any) -> Any:

        args: dict[str, Any] = {
            "name": self.value("#name"),
            "data": self.value("#data"),
            "base": self.model,
        }
        return TrainSpec(**(args | (self.params() or {}) | self.extra | kw))

    def key(self) -> tuple[Any, ...]:
        return tuple(self.value(w) for w in ("#name", "#data", "#steps", "#epochs", "#rank", "#lr"))

    def schedule_check(self) -> None:
        self.checked = None
        self.update_buttons()
        params = self.params()
        data = self.value("#data")
        if not data:
            self._msg(
                "#data-msg", "JSONL chats (messages, ShareGPT, Alpaca) or a folder of .txt/.md"
            )
            self._msg("#estimate", "")
            self.query_one("#pairs", Static).update("")
            return
        self._msg("#data-msg", "checking…")
        self._msg("#estimate", "estimating…")
        name = self.value("#name") if self.name_ok else "check"
        spec = self.spec(name=name, **(params or {}))
        self.run_check(self.key(), spec, params is not None)

    @work(thread=True, exclusive=True, group="tune-check", exit_on_error=False)
    def run_check(self, key: tuple[Any, ...], spec: Any, params_ok: bool) -> None:

        time.sleep(0.2)  # typing: wait for a pause before reading the data
        worker = get_current_worker()
        if worker.is_cancelled:
            return
        out = Checked(key)
        with tempfile.TemporaryDirectory(prefix="ragterm-tune-check-") as tmp:
            try:
                ds = open_dataset(
                    spec.data, work_dir=Path(tmp), seed=spec.seed,
                    follow_symlinks=self.cfg["index.follow_symlinks"],
                )  # fmt: skip
            except DatasetError as exc:
                out.data_msg = "✗ " + data_problem(exc)
                self.post_message(out)
                return
            except RagtermError as exc:
                out.data_msg = f"✗ {exc.message}"
                self.post_message(out)
                return
            out.data_ok = True
            out.data_msg = "✓ " + describe(ds)
            if Path(spec.data).expanduser().is_dir():
                out.pairs_total = len(ds)
                for ex in ds.examples(list(range(min(PAIRS_SHOWN, len(ds))))):
                    q = next(m["content"] for m in ex.messages if m["role"] == "user")
                    a = next(m["content"] for m in ex.messages if m["role"] == "assistant")
                    out.pairs.append((q, a))
        if not params_ok or worker.is_cancelled:
            self.post_message(out)
            return
        conn = connect()
        try:
            plan = prepare(spec, cfg=self.cfg, conn=conn, dry_run=True)
        except RagtermError as exc:
            out.estimate = f"✗ {exc.message}" + (f"\n  {exc.hint}" if exc.hint else "")
        else:
            out.estimate, out.estimate_ok = describe_estimate(plan), True
        finally:
            conn.close()
        self.post_message(out)

    @on(Checked)
    def _checked(self, msg: Checked) -> None:
        if msg.key != self.key():
            return  # the form changed since: a newer check is on its way
        self.checked = msg
        self._msg("#data-msg", msg.data_msg, "ok" if msg.data_ok else "error")
        est = self.query_one("#estimate", Static)
        est.update(msg.estimate)
        est.set_class(bool(msg.estimate) and not msg.estimate_ok, "error")
        pairs = ""
        if msg.pairs:
            lines = [f"Training pairs built from your writing ({len(msg.pairs)} of "
                     f"{msg.pairs_total}):"]  # fmt: skip
            for q, a in msg.pairs:
                lines += [f"  asks:    {short(q)}", f"  answers: {short(a)}"]
            pairs = "\n".join(lines)
        self.query_one("#pairs", Static).update(pairs)
        self.update_buttons()

    def update_buttons(self) -> None:
        busy = self.ctl is not None and self.ctl.running
        ready = (
            self.name_ok
            and self.params_ok
            and self.checked is not None
            and self.checked.data_ok
            and self.checked.estimate_ok
        )
        self.query_one("#start", Button).disabled = busy or not ready
        self.query_one("#resume", Button).disabled = busy or not (
            self.unfinished and self.params_ok
        )
        if busy and self.ctl is not None and self.ctl.progress is not None:
            self._msg("#estimate", f"persona {self.ctl.progress.name} is training: one at a time")


class PathSuggester(Suggester):
    """Completes file and folder names as the path is typed (Right or End accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or "\n" in value:
            return None
        path = Path(value).expanduser()
        folder, prefix = (path, "") if value.endswith(os.sep) else (path.parent, path.name)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return None
        for e in entries:
            if not e.name.startswith(prefix) or (e.name.startswith(".") and not prefix):
                continue
            rest = e.name[len(prefix) :] + (os.sep if e.is_dir() else "")
            if rest:
                return value + rest
        return None


def short(text: str, width: int = 70) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def data_problem(exc: DatasetError) -> str:
    """The first bad line named (with how many there are), or what is wrong with the path."""
    if exc.bad:
        n = exc.bad_total
        return f"{exc.bad[0]}" + (f" (the first of {n} bad lines)" if n > 1 else "")
    return exc.message + (f" — {exc.remedy}" if exc.remedy else "")


def describe(ds: Any) -> str:
    s = ds.summary()
    if "writing" in s["formats"]:
        what = f"folder of writing: {s['examples']} training pairs built"
    else:
        what = (
            f"{s['examples']} examples ("
            + ", ".join(f"{k} {v}" for k, v in s["formats"].items())
            + ")"
        )
    out = f"{what}; {s['train']} to train on, {s['validation']} held out"
    if s["notes"]:
        out += "\n  " + "\n  ".join(s["notes"][:3])
    return out


def describe_estimate(plan: Any) -> str:
    """The plan's summary (``Plan.summary``), the estimate first; the form shows the data above."""
    lines = dict((kind, line) for kind, line in plan.summary() if kind != "note")
    estimate = lines["estimate"]
    out = [estimate[:1].upper() + estimate[1:], "  " + lines["model"]]
    out += [f"  note: {line}" for kind, line in plan.summary() if kind == "note"]
    return "\n".join(out)
