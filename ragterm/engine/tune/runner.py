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
import math
import os
import pickle
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ragterm import paths
from ragterm.engine.events import Stage, TrainStep, TuneFinished
from ragterm.engine.llm import physical_cores
from ragterm.engine.models import fingerprint, resolve_path
from ragterm.engine.threads import Stalled, bridge
from ragterm.engine.tune import deps
from ragterm.engine.tune.data import open_dataset
from ragterm.engine.tune.export import check_supported, read_base
from ragterm.engine.tune.spec import LOSS_CHUNK, Plan, TrainSpec, check_name
from ragterm.errors import TuningError
from ragterm.store import personas
from ragterm.store.db import connect, transaction

__all__ = ["Plan", "TrainSpec", "TrainingJob", "estimate", "prepare", "start_training"]

Event = Stage | TrainStep | TuneFinished

# Calibration of the estimate on the dev machine (scripts/bench_tune.py, 2 AVX-512 cores):
# effective LoRA training FLOP/s per core, and fixed start-up costs.
CPU_FLOPS_PER_CORE = 45e9
GPU_FLOPS = 20e12
STARTUP_S = 12.0
LOAD_S_PER_GB = 40.0
RUNTIME_BYTES = 1150 * 2**20  # python + torch + transformers + tokenizer, before any weights
# A child that prints nothing (no step, no stage) for this long is hung: killed, checkpoint kept.
# Steps of a large model on a slow CPU take minutes, so this is generous. tune.watchdog_s sets it.
WATCHDOG_S = 900.0


def persona_dir(name: str) -> Path:
    """The persona's folder under ``paths.adapters_dir()``; a name that would lead anywhere
    else (``..``, ``/``, a symlinked folder) is refused."""

    root = paths.adapters_dir()
    folder = root / check_name(name)
    real_root = root.resolve()
    real = folder.resolve()
    if real.parent != real_root:
        raise TuningError(
            f"persona folder {folder} leads outside {root}",
            hint="remove that link by hand; ragterm only manages folders it created",
        )
    return folder


def run_dir(name: str) -> Path:
    return persona_dir(name) / "run"


# --- before training ---------------------------------------------------------------------------


def _guess_device(requested: str) -> str:
    """The device torch will pick, guessed without importing torch."""
    if requested != "auto":
        return requested
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def _resolve_base(spec: TrainSpec, cfg: Any, conn: Any) -> tuple[str, Path, Path, str]:
    """(kind, base path, target GGUF, chat model name) for ``--base``."""

    name = spec.base or cfg["chat.model"]
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise TuningError(
                f"{folder} is a folder but not a Hugging Face model (no config.json)",
                hint="give a GGUF model name or path, or a folder saved with save_pretrained()",
            )
        target = spec.target or cfg["chat.model"]
        return "hf", folder.resolve(), resolve_path(target, conn).resolve(), target
    path = resolve_path(name, conn).resolve()
    is_path = Path(name).expanduser().is_file()
    return "gguf", path, path, str(path) if is_path else name


def _check_hf_matches(folder: Path, base: Any, target: Path) -> None:
    """A Hugging Face base must have the GGUF target's shapes, or the adapter cannot apply."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    cfg = cfg.get("text_config", cfg)
    theirs = (cfg.get("num_hidden_layers"), cfg.get("num_attention_heads"))
    ours = (base.n_layers, base.n_head)
    if theirs != ours:
        raise TuningError(
            f"the Hugging Face model in {folder} ({theirs[0]} layers, {theirs[1]} heads) is not "
            f"the chat model {target.name} ({ours[0]} layers, {ours[1]} heads)",
            hint="pass --target with the GGUF of the same model",
        )


def _free_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_flops(threads: int) -> float:
    """Effective LoRA training FLOP/s on this CPU: per-core speed measured on the dev machine
    (scripts/bench_tune.py) times the cores torch will use. A timing probe proved useless on a
    shared machine, where BLAS threads wait on each other; this is a rough, stable guess."""

    cores = physical_cores()
    return CPU_FLOPS_PER_CORE * (min(threads, cores) if threads else cores)


def count_tokens(model_path: Path | str, text: str) -> int | None:
    """Tokens of ``text`` in the model's own tokenizer, loading only its vocabulary (no weights)."""
    try:
        import llama_cpp

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), params)
    except Exception:
        return None
    if not model:
        return None
    try:
        data = text.encode("utf-8")
        size = len(data) + 16
        buf = (llama_cpp.llama_token * size)()
        vocab = llama_cpp.llama_model_get_vocab(model)
        n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, size, False, False)
        return n if n >= 0 else None
    finally:
        llama_cpp.llama_model_free(model)


def _chars_per_token(target: Path, ds: Any) -> float:
    """Characters per token, measured on a sample of the data with the model's tokenizer."""
    text = "\n".join(
        m["content"] for ex in ds.examples(list(range(min(len(ds), 64)))) for m in ex.messages
    )
    n = count_tokens(target, text)
    return max(1.0, len(text) / n) if n else 3.5


def _estimate(
    spec: TrainSpec, ds: Any, base: Any, target: Path, system_prompt: str, device: str
) -> dict[str, Any]:
    n_params = sum(math.prod(shape) for shape in base.tensors.values())
    cpt = _chars_per_token(target, ds)
    overhead = (len(system_prompt) / cpt) + 24  # template tokens and the system prompt
    lens = [min(spec.max_seq_len, c / cpt + overhead) for c in ds.chars]
    n_train = len(ds) - len(ds.val)
    mean = sum(lens) / len(lens)
    steps = spec.planned_steps(n_train)
    trained = steps * spec.batch_size * mean
    evals = 6 * min(len(ds.val), 64) * mean  # about five evaluations + the base one
    # LoRA: forward 2N, backward 2N (activation gradients only; the base weights get none)
    work = 4 * n_params * trained + 2 * n_params * evals
    flops = GPU_FLOPS if device == "cuda" else _cpu_flops(spec.threads)
    size_gb = target.stat().st_size / 1e9
    if spec.checkpointing:
        work *= 4 / 3  # the forward pass runs twice
    seconds = STARTUP_S + LOAD_S_PER_GB * size_gb * 2.5 + work / flops
    if spec.merge:
        seconds += 60 * n_params / 1e9 * 2
    # memory: fp32 weights on CPU (bf16 on CUDA), LoRA + Adam, activations, logits
    wbytes = 2 if device == "cuda" else 4
    width = max(1, round(mean)) if spec.batch_size > 1 else spec.max_seq_len
    seq = min(spec.max_seq_len, max(width, max(lens)))
    hidden, vocab = base.tensors.get("token_embd.weight", (4096, 32000))[:2]
    tokens = spec.batch_size * seq
    per_layer = 2 if spec.checkpointing else 34  # bytes kept per hidden unit, per layer
    activations = tokens * base.n_layers * hidden * per_layer * wbytes + tokens * hidden * 34 * 4
    # the loss runs the lm_head over LOSS_CHUNK answer positions at a time (train.answer_loss):
    # one chunk of float32 logits and its softmax gradient, never [tokens, vocab] whole
    logits = min(tokens, LOSS_CHUNK) * vocab * 4 * 2
    lora = spec.rank * 7 * base.n_layers * hidden * 4 * 2 * 4
    memory = RUNTIME_BYTES + n_params * wbytes + activations + logits + lora
    return {
        "seconds": round(seconds),
        "memory_bytes": int(memory),
        "examples": len(ds),
        "train_examples": n_train,
        "val_examples": len(ds.val),
        "tokens": int(sum(lens)),
        "steps": steps,
        "trained_tokens": int(trained),
        "parameters": int(n_params),
        "device": device,
    }


def _disk_needed(spec: TrainSpec, est: dict[str, Any], base: Any) -> int:
    hidden = base.tensors.get("token_embd.weight", (4096,))[0]
    adapter = spec.rank * 7 * base.n_layers * hidden * 2 * 4
    need = adapter * 6 + 50 * 2**20  # adapter, checkpoint + optimizer, GGUF copy, margin
    if spec.merge:
        need += est["parameters"] * 2 * 2  # F16 merge, then the quantized copy
    return need


def prepare(
    spec: TrainSpec,
    *,
    cfg: Any = None,
    conn: Any = None,
    dry_run: bool = False,
) -> Plan:
    """Check everything that can fail before training starts, and estimate time and memory.

    Raises ``NotAvailable`` when torch/transformers/peft are missing, ``DatasetError`` (with line
    numbers) for bad data, ``TuningError`` for an unsupported model, too little disk or memory.
    """

    if cfg is None:
        from ragterm import config

        cfg = config.load()
    spec.validate()
    deps.require()
    if spec.resume:
        return _prepare_resume(spec)

    spec.data = str(Path(spec.data).expanduser().resolve())  # resume may run from elsewhere
    kind, base_path, target, base_model = _resolve_base(spec, cfg, conn)
    base = read_base(target)
    check_supported(base, target)
    if kind == "hf":
        _check_hf_matches(base_path, base, target)

    rdir = Path(tempfile.mkdtemp(prefix="ragterm-tune-")) if dry_run else run_dir(spec.name)
    if not dry_run:
        _refuse_if_running(spec.name)
        if (rdir / "checkpoint").exists() and not spec.restart:
            raise TuningError(
                f"persona {spec.name!r} has an unfinished training run",
                hint="continue it with --resume, or pass --restart to discard it",
            )
        if rdir.exists():
            shutil.rmtree(rdir)
        paths.ensure_dir(rdir)
    ds = open_dataset(
        spec.data,
        work_dir=rdir,
        val_fraction=spec.val_fraction,
        skip_bad=spec.skip_bad,
        seed=spec.seed,
    )
    system_prompt = (
        spec.system_prompt
        if spec.system_prompt is not None
        else ds.common_system_prompt() or cfg["chat.system_prompt"]
    )
    device = _guess_device(spec.device)
    if spec.checkpointing is None:  # free on a CPU (measured), the memory matters more there
        spec.checkpointing = device != "cuda"
    est = _estimate(spec, ds, base, target, system_prompt, device)
    warnings = [f"skipping {ds.bad_total} bad line(s): " + ", ".join(map(str, ds.bad[:5]))] * bool(
        ds.bad_total
    ) + ds.notes[:5]
    if conn is not None and not dry_run:
        from ragterm.store import personas

        if personas.get(conn, spec.name) is not None:
            warnings.append(f"persona {spec.name} exists; it is replaced when this training ends")
    if spec.backend == "unsloth" and device != "cuda":
        raise TuningError("unsloth needs a CUDA GPU", hint="use --backend peft on this machine")
    if spec.backend == "unsloth" and not deps.have_unsloth():
        raise TuningError("unsloth is not installed", hint=deps.GPU_HINT)

    paths.ensure_private_dir(paths.data_dir())
    store = paths.ensure_private_dir(paths.adapters_dir())
    free = shutil.disk_usage(store).free
    need = _disk_needed(spec, est, base)
    if free < need:
        raise TuningError(
            f"not enough disk space in {store}: training needs about {need / 2**20:.0f} MB, "
            f"{free / 2**20:.0f} MB free",
            hint="free some space, or set RAGTERM_HOME to a larger disk",
        )
    avail = _free_memory()
    if device == "cpu" and avail is not None and est["memory_bytes"] > avail:
        raise TuningError(
            f"training would need about {est['memory_bytes'] / 2**30:.1f} GB of memory, "
            f"{avail / 2**30:.1f} GB is available",
            hint="try --batch-size 1 and a smaller --max-len, or a smaller --base model",
        )
    est |= {"disk_bytes": need, "disk_free": free, "memory_free": avail}  # for the /tune screen

    dataset_file = rdir / "dataset.pkl"
    with open(dataset_file, "wb") as fh:
        pickle.dump(ds, fh)
    data_path = Path(spec.data).expanduser()
    stat = data_path.stat()
    summary = ds.summary() | {"size": stat.st_size, "mtime": stat.st_mtime}
    plan = Plan(
        spec=spec,
        base_kind=kind,
        base_path=str(base_path),
        target_path=str(target),
        base_model=base_model,
        fingerprint=fingerprint(target),
        architecture=base.architecture,
        system_prompt=system_prompt,
        run_dir=str(rdir),
        dataset_file=str(dataset_file),
        data_summary=summary,
        estimate=est,
        device=device,
        warnings=warnings,
    )
    if dry_run:
        shutil.rmtree(rdir, ignore_errors=True)
    return plan


def _refuse_if_running(name: str) -> None:
    """One training per persona at a time: a second would overwrite the first's checkpoint."""
    pid_file = run_dir(name) / "pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"ragterm.engine.tune.worker" not in cmdline.read_bytes():
        return  # the pid was reused by something else
    raise TuningError(
        f"persona {name!r} is already training (process {pid})",
        hint="wait for it, or cancel it first",
    )


def _prepare_resume(spec: TrainSpec) -> Plan:
    _refuse_if_running(spec.name)
    rdir = run_dir(spec.name)
    saved = rdir / "plan.json"
    if not (rdir / "checkpoint" / "trainer_state.pt").is_file() or not saved.is_file():
        raise TuningError(
            f"no unfinished training of persona {spec.name!r} to resume",
            hint=f"start one with `ragterm persona tune {spec.name} --data FILE`",
        )
    plan = Plan.from_dict(json.loads(saved.read_text(encoding="utf-8")))
    data = Path(plan.spec.data).expanduser()
    try:
        stat = data.stat()
    except OSError:
        raise TuningError(
            f"the training data {data} is gone", hint="start over without --resume"
        ) from None
    if stat.st_size != plan.data_summary.get("size") or (
        stat.st_mtime != plan.data_summary.get("mtime") and data.is_file()
    ):
        raise TuningError(
            f"{data} changed since this training started",
            hint="start over without --resume to train on the new data",
        )
    plan.spec.resume = True
    if spec.steps is not None or spec.epochs is not None:  # resuming may extend the run
        plan.spec.steps, plan.spec.epochs = spec.steps, spec.epochs
    if spec.merge:  # ... or ask for a merged model this time
        plan.spec.merge, plan.spec.quantize = True, spec.quantize
    return plan


def estimate(spec: TrainSpec, *, cfg: Any = None, conn: Any = None) -> dict[str, Any]:
    """Seconds, memory_bytes, examples and tokens for ``spec``, without starting anything."""
    return prepare(spec, cfg=cfg, conn=conn, dry_run=True).estimate


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
        from ragterm import config

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
