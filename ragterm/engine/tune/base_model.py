"""The base model for training: device and backend, tokenizer, HF weights from the GGUF, LoRA."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

from ragterm import paths
from ragterm.engine.tune.adapter_export import TARGET_MODULES
from ragterm.engine.tune.deps import GPU_HINT, have_unsloth
from ragterm.engine.tune.spec import Plan
from ragterm.errors import TuningError


def pick_device(requested: str = "auto") -> str:
    # lazy: torch loads only when this runs
    import torch

    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TuningError("--device cuda: no CUDA GPU is visible to torch")
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if requested == "mps" or (requested == "auto" and mps is not None and mps.is_available()):
        if mps is None or not mps.is_available():
            raise TuningError("--device mps: Apple MPS is not available")
        return "mps"
    return "cpu"


def pick_backend(requested: str, device: str) -> str:
    """unsloth when asked for or when it is installed on a CUDA machine; PEFT otherwise."""

    if requested == "unsloth":
        if device != "cuda":
            raise TuningError("unsloth needs a CUDA GPU", hint="use --backend peft on this machine")
        if not have_unsloth():
            raise TuningError("unsloth is not installed", hint=GPU_HINT)
        return "unsloth"
    if requested == "auto" and device == "cuda" and have_unsloth():
        return "unsloth"
    return "peft"


# --- the base model ----------------------------------------------------------------------------


def _cache_gguf_name_maps() -> None:
    """transformers rebuilds gguf's tensor-name table once per tensor while loading a GGUF (seconds
    even for a small model); the table depends only on (architecture, layers), so cache it."""

    # lazy: gguf loads only when this runs
    import gguf
    import gguf.tensor_mapping as tm

    if not hasattr(gguf.get_tensor_name_map, "cache_info"):
        cached = functools.lru_cache(maxsize=16)(tm.get_tensor_name_map)
        gguf.get_tensor_name_map = cached
        tm.get_tensor_name_map = cached


def load_tokenizer(plan: Plan) -> Any:
    # lazy: transformers loads only when this runs
    from transformers import AutoTokenizer

    p = Path(plan.base_path)
    if plan.base_kind == "gguf":
        _cache_gguf_name_maps()
        tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    else:
        tok = AutoTokenizer.from_pretrained(str(p))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def hf_copy_of_gguf(plan: Plan) -> Path:
    """unsloth loads only Hugging Face folders: dequantize the GGUF once into the cache."""

    folder = paths.cache_dir() / "tune" / f"hf-{plan.fingerprint}"
    if (folder / "config.json").is_file():
        return folder
    # lazy: torch, transformers load only when this runs
    import torch
    from transformers import AutoModelForCausalLM

    p = Path(plan.base_path)
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(p.parent), gguf_file=p.name, dtype=torch.float16
    )
    model.save_pretrained(tmp)
    load_tokenizer(plan).save_pretrained(tmp)
    del model
    tmp.rename(folder)
    return folder


def load_model(plan: Plan, device: str, backend: str) -> tuple[Any, Any]:
    """The base weights with a fresh LoRA adapter on every attention and MLP projection."""
    spec = plan.spec
    if backend == "unsloth":
        # lazy: unsloth loads only when this runs
        from unsloth import FastLanguageModel  # must come before transformers' patched classes

        src = hf_copy_of_gguf(plan) if plan.base_kind == "gguf" else Path(plan.base_path)
        model, tok = FastLanguageModel.from_pretrained(
            model_name=str(src), max_seq_length=spec.max_seq_len, dtype=None, load_in_4bit=False
        )
        model = FastLanguageModel.get_peft_model(
            model,
            r=spec.rank,
            lora_alpha=spec.alpha,
            lora_dropout=0,
            bias="none",
            target_modules=list(TARGET_MODULES),
            use_gradient_checkpointing="unsloth",
            random_state=spec.seed,
        )
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return model, tok

    # lazy: peft, torch, transformers load only when this runs
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    dtype = torch.float32
    if device == "cuda" and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    p = Path(plan.base_path)
    if plan.base_kind == "gguf":
        _cache_gguf_name_maps()
        model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(p), dtype=dtype)
    model.to(device)
    if spec.checkpointing:  # recompute activations in backward: far less memory, ~30% slower
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in TARGET_MODULES if t in present]
    if not targets:
        raise TuningError(
            "the base model has none of the projections LoRA targets "
            f"({', '.join(TARGET_MODULES)})",
            hint="this architecture is not supported for tuning",
        )
    cfg = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=0.0,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, cfg)
    return model, load_tokenizer(plan)
