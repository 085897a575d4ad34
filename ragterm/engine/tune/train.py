"""The training loop: LoRA on the chat model's own weights, with PEFT (CPU, MPS, CUDA) or unsloth.

Runs inside the training child (see ``runner``); progress leaves through ``emit`` as plain dicts.
torch, transformers, peft and unsloth are imported here only, never by the chat.
"""

from __future__ import annotations

import math
import pickle
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragterm.engine.tune.adapter_export import export_adapter, merge_to_gguf, quantize
from ragterm.engine.tune.base_model import (
    _cache_gguf_name_maps,
    load_model,
    pick_backend,
    pick_device,
)
from ragterm.engine.tune.encode import Encoder, collate
from ragterm.engine.tune.loss import answer_loss, evaluate, full_logits_loss, loss_sum
from ragterm.engine.tune.spec import Plan
from ragterm.engine.tune.training_data import Dataset
from ragterm.engine.tune.verify import smoke_test
from ragterm.errors import Cancelled, TuningError

__all__ = [  # the pieces, for tests and benchmarks that drive them one at a time
    "Encoder",
    "_cache_gguf_name_maps",
    "answer_loss",
    "collate",
    "full_logits_loss",
    "load_model",
    "loss_sum",
    "run",
]

Emit = Callable[[dict[str, Any]], None]
StopCheck = Callable[[], bool]

VAL_CAP = 64  # validation examples scored at each evaluation (keeps evaluations short)


# --- the loop ----------------------------------------------------------------------------------


class EpochOrder:
    """A fresh shuffle of the training examples per epoch, reproducible so resume continues."""

    def __init__(self, train_ids: list[int], seed: int) -> None:
        self.ids, self.seed = train_ids, seed
        self.epoch, self.order = -1, train_ids

    def batch(self, step: int, bs: int) -> list[int]:
        out = []
        for k in range(step * bs, step * bs + bs):
            epoch, pos = divmod(k, len(self.ids))
            if epoch != self.epoch:
                self.order = list(self.ids)
                random.Random(self.seed * 1_000_003 + epoch).shuffle(self.order)
                self.epoch = epoch
            out.append(self.order[pos])
        return out


def lr_at(step: int, total: int, lr: float) -> float:
    """Short linear warm-up, then cosine decay to a tenth."""
    warm = max(1, min(10, total // 10))
    if step < warm:
        return lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def peak_memory_bytes() -> int:
    # lazy: resource exists only on some platforms
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def save_checkpoint(model: Any, opt: Any, state: dict[str, Any], ckpt: Path) -> None:
    """Adapter + optimizer + counters, swapped in whole so a crash never leaves half of one."""
    # lazy: torch loads only when this runs
    import torch

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    torch.save({"optimizer": opt.state_dict(), **state}, tmp / "trainer_state.pt")
    old = ckpt.with_name(ckpt.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(model: Any, opt: Any, ckpt: Path) -> dict[str, Any]:
    # lazy: peft, safetensors, torch load only when this runs
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(ckpt / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    state = torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=False)
    opt.load_state_dict(state.pop("optimizer"))
    return state


def run(plan: Plan, emit: Emit, should_stop: StopCheck) -> dict[str, Any]:
    """Train, export, smoke-test; returns the metrics. Raises ``Cancelled`` after checkpointing."""
    # lazy: torch loads only when this runs
    import torch

    spec = plan.spec
    run_dir = Path(plan.run_dir)
    out_dir = run_dir / "out"
    ckpt = run_dir / "checkpoint"
    started = time.monotonic()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    device = pick_device(spec.device)
    backend = pick_backend(spec.backend, device)
    emit(
        {"type": "stage", "name": "loading", "detail": f"{plan.base_model} on {device} ({backend})"}
    )
    with open(plan.dataset_file, "rb") as fh:
        ds: Dataset = pickle.load(fh)
    model, tok = load_model(plan, device, backend)
    enc = Encoder(tok, plan.system_prompt, spec.max_seq_len)
    pad_id = tok.pad_token_id
    train_ids = ds.train_ids
    val = [enc.encode(e) for e in ds.examples(ds.val_ids[:VAL_CAP])]
    total = spec.planned_steps(len(train_ids))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=0.0)
    model.train()

    step = 0
    base_val: float | None = None
    val_loss: float | None = None
    history: list[dict[str, Any]] = []
    if spec.resume and (ckpt / "trainer_state.pt").is_file():
        state = load_checkpoint(model, opt, ckpt)
        step, base_val = int(state["step"]), state.get("base_val_loss")
        val_loss, history = state.get("val_loss"), state.get("history", [])
        emit({"type": "stage", "name": "resumed", "detail": f"from step {step} of {total}"})
    if base_val is None and val:
        emit({"type": "stage", "name": "evaluating", "detail": "base model on held-out examples"})
        with model.disable_adapter():
            base_val = evaluate(model, val, pad_id, spec.batch_size, device)

    def checkpoint() -> None:
        state = {"step": step, "base_val_loss": base_val, "val_loss": val_loss, "history": history}
        save_checkpoint(model, opt, state, ckpt)

    eval_every = spec.eval_every or max(1, total // 5)
    order = EpochOrder(train_ids, spec.seed)
    last_save = time.monotonic()
    times: list[float] = []
    trained_tokens = 0
    train_time = 0.0
    while step < total:
        if should_stop():
            checkpoint()
            raise Cancelled(f"stopped at step {step} of {total}; the checkpoint is kept")
        t0 = time.monotonic()
        batch = [enc.encode(e) for e in ds.examples(order.batch(step, spec.batch_size))]
        inputs = collate(batch, pad_id, device)
        if int((inputs["labels"] != -100).sum()) == 0:
            loss_value = float("nan")  # every reply was cut off by --max-len: nothing to learn
        else:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, spec.lr)
            if backend == "unsloth":  # unsloth fuses its own chunked cross-entropy
                loss = model(**inputs).loss
            else:
                total_loss, n_answer = answer_loss(model, inputs)
                loss = total_loss / n_answer
            if not torch.isfinite(loss):
                raise TuningError(
                    f"the loss diverged at step {step + 1} ({float(loss)})",
                    hint="lower the learning rate (--lr)",
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_value = float(loss.detach())
        step += 1
        dt = time.monotonic() - t0
        n_tokens = int(inputs["attention_mask"].sum())
        trained_tokens += n_tokens
        train_time += dt
        times.append(dt)
        event: dict[str, Any] = {
            "type": "step",
            "step": step,
            "total_steps": total,
            "loss": loss_value,
            "tokens_per_s": n_tokens / dt if dt > 0 else None,
            "eta_s": (sum(times[-20:]) / len(times[-20:])) * (total - step),
        }
        if val and (step % eval_every == 0 or step == total):
            v = evaluate(model, val, pad_id, spec.batch_size, device, should_stop)
            event["val_loss"] = v
            val_loss = v if v is not None else val_loss
        history.append({k: event.get(k) for k in ("step", "loss", "val_loss")})
        emit(event)
        if time.monotonic() - last_save > 60 and step < total:
            checkpoint()
            last_save = time.monotonic()

    out_dir.mkdir(parents=True, exist_ok=True)
    peft_dir = out_dir / "peft"
    shutil.rmtree(peft_dir, ignore_errors=True)
    model.save_pretrained(str(peft_dir))
    checkpoint()
    seconds = time.monotonic() - started
    peak = peak_memory_bytes()
    if device == "cuda":
        peak_gpu = int(torch.cuda.max_memory_allocated())
    model = opt = None  # free the weights before export and merge  # noqa: F841
    emit({"type": "stage", "name": "exporting", "detail": "GGUF LoRA adapter"})
    adapter = out_dir / "adapter.gguf"
    res = export_adapter(
        peft_dir,
        plan.target_path,
        adapter,
        metadata={
            "general.name": spec.name,
            "ragterm.persona": spec.name,
            "ragterm.base_fingerprint": plan.fingerprint,
        },
    )
    emit({"type": "stage", "name": "smoke test", "detail": "loading the adapter in llama.cpp"})
    val_examples = list(ds.examples(ds.val_ids[:8]))
    smoke = smoke_test(plan.target_path, adapter, enc, val_examples)
    metrics: dict[str, Any] = {
        "val_loss": val_loss,
        "val_ppl": math.exp(val_loss) if val_loss is not None else None,
        "base_val_loss": base_val,
        "base_val_ppl": math.exp(base_val) if base_val is not None else None,
        "train_loss": _recent_loss(history),
        "steps": step,
        "seconds": round(seconds, 1),
        "train_seconds": round(train_time, 1),
        "tokens_per_s": round(trained_tokens / train_time, 1) if train_time else None,
        "peak_memory_bytes": peak,
        "device": device,
        "backend": backend,
        "rank": res.rank,
        "alpha": res.alpha,
        "truncated_examples": enc.truncated,
        "val_examples": min(len(val), VAL_CAP),
        **smoke,
    }
    if device == "cuda":
        metrics["peak_gpu_memory_bytes"] = peak_gpu
    if spec.merge:
        emit({"type": "stage", "name": "merging", "detail": "base + adapter -> F16 GGUF"})
        merged = out_dir / "merged-F16.gguf"
        merge_to_gguf(plan.target_path, peft_dir, merged)
        if spec.quantize and spec.quantize != "F16":
            emit({"type": "stage", "name": "quantizing", "detail": spec.quantize})
            q = out_dir / f"merged-{spec.quantize}.gguf"
            quantize(merged, q, spec.quantize)
            merged.unlink()
            merged = q
        metrics["merged_file"] = merged.name
    return metrics


def _recent_loss(history: list[dict[str, Any]]) -> float | None:
    losses = [h["loss"] for h in history[-10:] if h.get("loss") == h.get("loss")]  # skip NaN
    return sum(losses) / len(losses) if losses else None
