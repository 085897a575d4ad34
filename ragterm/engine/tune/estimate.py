"""How long training will take and how much memory and disk it needs, before it starts.

Calibrated on the dev machine (scripts/bench_tune.py); ``prepare`` puts the numbers in the plan.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from ragterm.engine.models.llm import physical_cores
from ragterm.engine.tune.spec import LOSS_CHUNK, TrainSpec

# Calibration of the estimate on the dev machine (scripts/bench_tune.py, 2 AVX-512 cores):
# effective LoRA training FLOP/s per core, and fixed start-up costs.
CPU_FLOPS_PER_CORE = 45e9
GPU_FLOPS = 20e12
STARTUP_S = 12.0
LOAD_S_PER_GB = 40.0
RUNTIME_BYTES = 1150 * 2**20  # python + torch + transformers + tokenizer, before any weights


def guess_device(requested: str) -> str:
    """The device torch will pick, guessed without importing torch."""
    if requested != "auto":
        return requested
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def free_memory() -> int | None:
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
        # lazy: llama_cpp loads only when this runs
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


def estimate_run(
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


def disk_needed(spec: TrainSpec, est: dict[str, Any], base: Any) -> int:
    hidden = base.tensors.get("token_embd.weight", (4096,))[0]
    adapter = spec.rank * 7 * base.n_layers * hidden * 2 * 4
    need = adapter * 6 + 50 * 2**20  # adapter, checkpoint + optimizer, GGUF copy, margin
    if spec.merge:
        need += est["parameters"] * 2 * 2  # F16 merge, then the quantized copy
    return need
