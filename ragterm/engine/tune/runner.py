"""Start, watch, cancel and resume persona training in a child process.

The parent (CLI or chat TUI) never imports torch: it checks the request, the data, the disk and the
model *before* starting (``prepare``), estimates time and memory, then starts
``python -m ragterm.engine.tune.worker`` and turns its JSON lines into events. A crash, an
out-of-memory kill or a hung child never takes the chat down, and a cancelled run keeps its last
checkpoint for ``resume``.

    job = start_training(TrainSpec(name="pirate", data="pirate.jsonl", steps=30))
    for event in job.events():   # Stage, TrainStep, ..., TuneFinished
        ...
    job.cancel()                 # from another thread: stop after the current step
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ragterm import config, paths
from ragterm.engine.events import Stage, TrainStep, TuneFinished
from ragterm.engine.thread_bridge import Stalled, bridge
from ragterm.engine.tune.estimate import guess_device  # noqa: F401 - re-exported
from ragterm.engine.tune.prepare import estimate, persona_dir, prepare, run_dir
from ragterm.engine.tune.spec import Plan, TrainSpec
from ragterm.errors import TuningError
from ragterm.store import personas
from ragterm.store.db import connect, transaction

__all__ = [
    "Plan",
    "TrainSpec",
    "TrainingJob",
    "estimate",
    "persona_dir",
    "prepare",
    "run_dir",
    "start_training",
]

Event = Stage | TrainStep | TuneFinished

# A child that prints nothing (no step, no stage) for this long is hung: killed, checkpoint kept.
# Steps of a large model on a slow CPU take minutes, so this is generous. tune.watchdog_s sets it.
WATCHDOG_S = 900.0


# --- the child ---------------------------------------------------------------------------------


class TrainingJob:
    """A running training child. Iterate ``events()`` in one thread; ``cancel()`` from any."""

    def __init__(
        self,
        plan: Plan,
        proc: subprocess.Popen,
        log_path: Path,
        *,
        watchdog_s: float = WATCHDOG_S,
    ) -> None:
        self.plan = plan
        self.proc = proc
        self.log_path = log_path
        self.watchdog_s = watchdog_s  # a child silent this long is hung: killed, checkpoint kept
        self.result: TuneFinished | None = None
        self._cancelled = False

    @property
    def name(self) -> str:
        return self.plan.spec.name

    def cancel(self) -> None:
        """Stop after the current step; the checkpoint is kept for ``--resume``."""
        self._cancelled = True
        try:
            (Path(self.plan.run_dir) / "cancel").touch()
        except OSError:
            pass
        if self.proc.poll() is None and os.name == "posix":
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """Stop at once (no checkpoint beyond the last periodic one)."""
        if self.proc.poll() is None:
            try:  # the child leads its own session: take anything it started with it
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (OSError, AttributeError):
                self.proc.kill()

    def _lines(self) -> Iterator[str]:
        return _lines_with_watchdog(self)

    def events(self) -> Iterator[Event]:
        """Progress until the run ends; the last event is ``TuneFinished`` (or an error raises)."""
        error: dict[str, Any] | None = None
        final: dict[str, Any] | None = None
        assert self.proc.stdout is not None
        try:
            for line in self._lines():
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                kind = d.pop("type", None)
                if kind == "step":
                    yield TrainStep(**{k: d.get(k) for k in TrainStep.__dataclass_fields__})
                elif kind == "stage":
                    yield Stage(d.get("name", ""), d.get("detail", ""))
                elif kind == "error":
                    error = d
                elif kind in ("done", "cancelled"):
                    final = {"type": kind, **d}
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        code = self.proc.wait()
        if error is not None:
            raise TuningError(error.get("message", "training failed"), hint=error.get("hint"))
        if final is None:
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            oom = " (probably out of memory)" if code == -9 else ""
            ckpt = (Path(self.plan.run_dir) / "checkpoint").exists()
            raise TuningError(
                f"the training process stopped unexpectedly ({how}){oom}",
                hint=f"details in {self.log_path}"
                + (f"; `ragterm persona tune {self.name} --resume` continues" if ckpt else ""),
            )
        if final["type"] == "cancelled":
            self.result = TuneFinished(
                self.name,
                "cancelled",
                message=f"{final.get('message', 'cancelled')}; "
                f"resume with `ragterm persona tune {self.name} --resume`",
            )
        else:
            yield Stage("saving", f"persona {self.name}")
            self.result = finalize(self.plan, final["metrics"])
        yield self.result


def _lines_with_watchdog(job: TrainingJob) -> Iterator[str]:
    """The child's stdout lines; raises TuningError after ``watchdog_s`` without one."""
    assert job.proc.stdout is not None
    stdout = job.proc.stdout

    def read(emit: Callable[[str], None]) -> None:
        try:
            for line in stdout:
                emit(line)
        except (OSError, ValueError):
            pass

    try:
        yield from bridge(
            read,
            name="ragterm-tune-reader",
            poll_s=min(1.0, job.watchdog_s),
            stall_s=job.watchdog_s,
        )
    except Stalled:
        job.kill()
        job.proc.wait()
        ckpt = (Path(job.plan.run_dir) / "checkpoint").exists()
        raise TuningError(
            f"the training process made no progress for {job.watchdog_s:g} s and was stopped",
            hint=f"details in {job.log_path}"
            + (
                f"; `ragterm persona tune {job.name} --resume` continues from the last checkpoint"
                if ckpt
                else ""
            ),
        ) from None


def start_training(spec: TrainSpec | Plan, *, cfg: Any = None, conn: Any = None) -> TrainingJob:
    """Check the request (see ``prepare``) and start the training child."""
    plan = spec if isinstance(spec, Plan) else prepare(spec, cfg=cfg, conn=conn)
    rdir = Path(plan.run_dir)
    paths.ensure_dir(rdir)
    (rdir / "cancel").unlink(missing_ok=True)
    (rdir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=1), encoding="utf-8")
    log_path = rdir / "train.log"
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
            "TQDM_DISABLE": "1",
        }
    )
    # glibc keeps freed activation buffers in its heap: mmap the large ones so they go back to the
    # system (peak RSS of the bundled model's training 2.0 -> 1.2 GB, docs/benchmarks.md)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ragterm.engine.tune.worker", str(rdir)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # Ctrl-C in the terminal reaches the parent, which cancels
        )
    (rdir / "pid").write_text(str(proc.pid))
    if cfg is None:
        cfg = config.load()
    return TrainingJob(plan, proc, log_path, watchdog_s=float(cfg["tune.watchdog_s"]))


def finalize(plan: Plan, metrics: dict[str, Any]) -> TuneFinished:
    """Move the tested adapter into place and record the persona (replacing an older one)."""

    name = plan.spec.name
    rdir, pdir = Path(plan.run_dir), persona_dir(name)
    out = rdir / "out"
    adapter = pdir / "adapter.gguf"
    os.replace(out / "adapter.gguf", adapter)
    shutil.rmtree(pdir / "peft", ignore_errors=True)
    os.replace(out / "peft", pdir / "peft")
    for old in pdir.glob("merged-*.gguf"):
        old.unlink()
    merged = None
    if metrics.get("merged_file"):
        merged = pdir / metrics["merged_file"]
        os.replace(out / metrics["merged_file"], merged)
    if (rdir / "train.log").exists():
        os.replace(rdir / "train.log", pdir / "train.log")
    spec = plan.spec.to_dict()
    persona = personas.Persona(
        name=name,
        base_model=plan.base_model,
        base_fingerprint=plan.fingerprint,
        adapter_path=str(adapter),
        system_prompt=plan.system_prompt,
        data_summary=plan.data_summary,
        metrics=metrics,
        status="ready",
        params={
            k: spec[k]
            for k in (
                "rank",
                "alpha",
                "lr",
                "epochs",
                "steps",
                "batch_size",
                "max_seq_len",
                "base",
                "backend",
            )
        }
        | {  # fmt: skip
            "base_kind": plan.base_kind,
            "architecture": plan.architecture,
        },
        merged_path=str(merged) if merged else None,
    )
    (pdir / "persona.json").write_text(
        json.dumps(persona.__dict__, indent=1, default=str), encoding="utf-8"
    )
    paths.make_private(pdir)
    for f in (adapter, pdir / "persona.json", *([merged] if merged else [])):
        paths.make_private(f)
    conn = connect()
    try:
        with transaction(conn):
            personas.save(conn, persona)
    finally:
        conn.close()
    shutil.rmtree(rdir, ignore_errors=True)
    return TuneFinished(name, "ready", str(adapter), metrics, persona.merged_path)
