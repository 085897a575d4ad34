"""Check a training request before anything starts: name, base model, data, memory, disk;
the result is a ``Plan`` the child process follows (or resumes).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ragterm import config, paths
from ragterm.engine.models.registry import fingerprint, resolve_path
from ragterm.engine.tune import deps
from ragterm.engine.tune.adapter_export import check_supported, read_base
from ragterm.engine.tune.estimate import disk_needed, estimate_run, free_memory, guess_device
from ragterm.engine.tune.spec import Plan, TrainSpec, check_name
from ragterm.engine.tune.training_data import open_dataset
from ragterm.errors import TuningError
from ragterm.store import personas


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
        follow_symlinks=cfg.get("index.follow_symlinks", "inside"),
    )
    system_prompt = (
        spec.system_prompt
        if spec.system_prompt is not None
        else ds.common_system_prompt() or cfg["chat.system_prompt"]
    )
    device = guess_device(spec.device)
    if spec.checkpointing is None:  # free on a CPU (measured), the memory matters more there
        spec.checkpointing = device != "cuda"
    est = estimate_run(spec, ds, base, target, system_prompt, device)
    warnings = [f"skipping {ds.bad_total} bad line(s): " + ", ".join(map(str, ds.bad[:5]))] * bool(
        ds.bad_total
    ) + ds.notes[:5]
    if conn is not None and not dry_run:
        if personas.get(conn, spec.name) is not None:
            warnings.append(f"persona {spec.name} exists; it is replaced when this training ends")
    if spec.backend == "unsloth" and device != "cuda":
        raise TuningError("unsloth needs a CUDA GPU", hint="use --backend peft on this machine")
    if spec.backend == "unsloth" and not deps.have_unsloth():
        raise TuningError("unsloth is not installed", hint=deps.GPU_HINT)

    paths.ensure_private_dir(paths.data_dir())
    store = paths.ensure_private_dir(paths.adapters_dir())
    free = shutil.disk_usage(store).free
    need = disk_needed(spec, est, base)
    if free < need:
        raise TuningError(
            f"not enough disk space in {store}: training needs about {need / 2**20:.0f} MB, "
            f"{free / 2**20:.0f} MB free",
            hint="free some space, or set RAGTERM_HOME to a larger disk",
        )
    avail = free_memory()
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
