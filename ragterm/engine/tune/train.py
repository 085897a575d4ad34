"""The training loop: LoRA on the chat model's own weights, with PEFT (CPU, MPS, CUDA) or unsloth.

Runs inside the training child (see ``runner``); progress leaves through ``emit`` as plain dicts.
torch, transformers, peft and unsloth are imported here only, never by the chat.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragterm.engine.tune.data import Dataset, Example
from ragterm.engine.tune.deps import GPU_HINT
from ragterm.engine.tune.export import TARGET_MODULES, export_adapter
from ragterm.engine.tune.spec import LOSS_CHUNK, Plan
from ragterm.errors import Cancelled, TuningError

Emit = Callable[[dict[str, Any]], None]
StopCheck = Callable[[], bool]

VAL_CAP = 64  # validation examples scored at each evaluation (keeps evaluations short)


def pick_device(requested: str = "auto") -> str:
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
    from ragterm.engine.tune.deps import have_unsloth

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
    import functools

    import gguf
    import gguf.tensor_mapping as tm

    if not hasattr(gguf.get_tensor_name_map, "cache_info"):
        cached = functools.lru_cache(maxsize=16)(tm.get_tensor_name_map)
        gguf.get_tensor_name_map = cached
        tm.get_tensor_name_map = cached


def load_tokenizer(plan: Plan) -> Any:
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
    from ragterm import paths

    folder = paths.cache_dir() / "tune" / f"hf-{plan.fingerprint}"
    if (folder / "config.json").is_file():
        return folder
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


# --- examples -> tokens ------------------------------------------------------------------------


class Encoder:
    """Renders conversations with the model's chat template; only assistant turns are learned."""

    def __init__(self, tokenizer: Any, system_prompt: str, max_len: int) -> None:
        self.tok = tokenizer
        self.system_prompt = system_prompt
        self.max_len = max_len
        self.truncated = 0

    def render(self, messages: list[dict[str, str]], gen: bool = False) -> str:
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)

    def with_system(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if messages and messages[0]["role"] == "system" or not self.system_prompt:
            return messages
        return [{"role": "system", "content": self.system_prompt}, *messages]

    def encode(self, ex: Example) -> tuple[list[int], list[int]]:
        msgs = self.with_system(ex.messages)
        full = self.render(msgs)
        spans = []
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            before = self.render(msgs[:i], gen=True) if i else ""
            upto = self.render(msgs[: i + 1])
            if full.startswith(before) and full.startswith(upto):
                spans.append((len(before), len(upto)))
        if not spans:  # a template that re-renders history differently: learn the whole text
            ids = self.ids(full)
            labels = list(ids)
        elif getattr(self.tok, "is_fast", False):
            enc = self.tok(full, add_special_tokens=False, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            labels = [
                t if any(a <= s < b for a, b in spans) else -100
                for t, (s, _) in zip(ids, enc["offset_mapping"], strict=True)
            ]
        else:  # slow tokenizers have no offsets: count the tokens of each prefix instead
            ids = self.ids(full)
            labels = [-100] * len(ids)
            for a, b in spans:
                lo, hi = len(self.ids(full[:a])), len(self.ids(full[:b]))
                labels[lo:hi] = ids[lo:hi]
        if len(ids) > self.max_len:
            self.truncated += 1
            ids, labels = ids[: self.max_len], labels[: self.max_len]
        return ids, labels

    def ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a conversation up to the assistant's turn (for generation)."""
        text = self.render(self.with_system(messages), gen=True)
        return list(self.tok(text, add_special_tokens=False)["input_ids"])


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int, device: str) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = [x + [pad_id] * (width - len(x)) for x, _ in batch]
    labels = [y + [-100] * (width - len(y)) for _, y in batch]
    mask = [[1] * len(x) + [0] * (width - len(x)) for x, _ in batch]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def _parts(model: Any) -> tuple[Any, Any]:
    """(transformer body, lm_head) of a causal LM, through PEFT's wrapper when there is one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = base.get_decoder() if hasattr(base, "get_decoder") else base.model
    return body, base.get_output_embeddings()


def _chunked_ce(hidden: Any, weight: Any, bias: Any, target: Any, chunk: int) -> Any:
    """Summed cross-entropy of ``hidden @ weight.T (+ bias)`` against ``target``, chunk by chunk.

    The gradient with respect to ``hidden`` (and the head, if it trains) is worked out in the same
    pass, one chunk of logits at a time, so the [tokens, vocab] float32 logits never exist whole,
    neither now nor in backward (the approach of Liger's fused linear cross-entropy).
    """
    import torch

    class ChunkedCE(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, h: Any, w: Any, b: Any) -> Any:
            want_h = ctx.needs_input_grad[0]
            want_w = ctx.needs_input_grad[1]
            want_b = b is not None and ctx.needs_input_grad[2]
            total = torch.zeros((), dtype=torch.float32, device=h.device)
            grad_h = torch.empty_like(h) if want_h else None
            grad_w = torch.zeros_like(w, dtype=torch.float32) if want_w else None
            grad_b = torch.zeros_like(b, dtype=torch.float32) if want_b else None
            for i in range(0, h.shape[0], chunk):
                hc, tc = h[i : i + chunk], target[i : i + chunk]
                logits = (hc @ w.t()).float()
                if b is not None:
                    logits += b.float()
                lse = torch.logsumexp(logits, dim=-1)
                total += (lse - logits.gather(1, tc[:, None]).squeeze(1)).sum()
                if not (want_h or want_w or want_b):
                    continue
                # d(loss)/d(logits) = softmax - one_hot, computed in place over the chunk
                logits.sub_(lse[:, None]).exp_()
                logits[torch.arange(len(tc), device=h.device), tc] -= 1.0
                g = logits.to(h.dtype)
                if grad_h is not None:  # want_h
                    grad_h[i : i + chunk] = g @ w
                if want_w:
                    grad_w += logits.t() @ hc.float()
                if want_b:
                    grad_b += logits.sum(0)
            ctx.save_for_backward(*(x for x in (grad_h, grad_w, grad_b) if x is not None))
            ctx.have = (grad_h is not None, grad_w is not None, grad_b is not None)
            return total

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> tuple[Any, Any, Any]:
            saved = iter(ctx.saved_tensors)
            out = [next(saved) * grad_out if have else None for have in ctx.have]
            if out[1] is not None:
                out[1] = out[1].to(weight.dtype)
            if out[2] is not None:
                out[2] = out[2].to(bias.dtype)
            return out[0], out[1], out[2]

    return ChunkedCE.apply(hidden, weight, bias)


def answer_loss(model: Any, batch: dict[str, Any], chunk: int = LOSS_CHUNK) -> tuple[Any, int]:
    """Summed loss over the answer tokens (labels != -100) and their count; differentiable.

    The model body runs to hidden states; only the positions that predict an answer token go
    through the lm_head, in chunks, so memory no longer grows with vocabulary x sequence.
    """
    body, head = _parts(model)
    hidden = body(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
    ).last_hidden_state
    target = batch["labels"][:, 1:]
    keep = target != -100
    h = hidden[:, :-1][keep]  # [answer tokens, hidden]
    t = target[keep]
    return _chunked_ce(h, head.weight, getattr(head, "bias", None), t, chunk), int(t.numel())


def full_logits_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """The old way (transformers' own loss over full float32 logits): the benchmark's baseline
    and the reference the chunked loss is tested against."""
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, :-1].float()
    target = batch["labels"][:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum"
    )
    return loss, int((target != -100).sum())


def loss_sum(model: Any, batch: dict[str, Any]) -> tuple[float, int]:
    """Summed token loss and token count, so losses average over tokens, not batches."""
    import torch

    with torch.no_grad():
        loss, n = answer_loss(model, batch)
    return float(loss), n


def evaluate(model: Any, encoded: list[tuple[list[int], list[int]]], pad_id: int, bs: int,
             device: str, stop: StopCheck | None = None) -> float | None:  # fmt: skip
    """Mean token loss over held-out examples (None without any)."""
    total, count = 0.0, 0
    model.eval()
    for i in range(0, len(encoded), bs):
        if stop is not None and stop():
            model.train()
            return None  # a partial average would be misleading
        s, n = loss_sum(model, collate(encoded[i : i + bs], pad_id, device))
        total, count = total + s, count + n
    model.train()
    return total / count if count else None


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
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def save_checkpoint(model: Any, opt: Any, state: dict[str, Any], ckpt: Path) -> None:
    """Adapter + optimizer + counters, swapped in whole so a crash never leaves half of one."""
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
        from ragterm.engine.tune.export import merge_to_gguf, quantize

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


def smoke_test(
    model_path: str | Path, adapter: Path, enc: Encoder, examples: list[Example]
) -> dict[str, Any]:
    """Load the GGUF adapter in llama.cpp, generate a few tokens, and score held-out replies.

    A persona is never reported ready unless this passes: it is exactly what the chat will do.
    """
    import llama_cpp
    import numpy as np

    try:
        llm = llama_cpp.Llama(
            model_path=str(model_path),
            lora_path=str(adapter),
            n_ctx=max(512, min(4096, enc.max_len + 64)),
            logits_all=True,
            verbose=False,
            # one thread for small models: llama.cpp's spinning threads crawl on a busy machine
            n_threads=1 if Path(model_path).stat().st_size < 2**29 else min(4, os.cpu_count() or 1),
        )
    except Exception as exc:
        raise TuningError(
            f"llama.cpp cannot load the exported adapter {adapter}: {exc}",
            hint="this is a bug in the exporter for this model; please report it",
        ) from exc
    prompt = enc.prompt_ids(examples[0].messages[:-1] if examples else [])
    if not examples:
        prompt = enc.prompt_ids([{"role": "user", "content": "Hello!"}])
    out: list[int] = []
    for t in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
        if t == llm.token_eos() or len(out) >= 16:
            break
        out.append(t)
    sample = llm.detokenize(out).decode("utf-8", "replace")
    total, count = 0.0, 0
    for ex in examples:
        ids, labels = enc.encode(ex)
        if len(ids) + 1 > llm.n_ctx():
            continue
        llm.reset()
        llm.eval(ids)
        scores = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
        for pos in range(1, len(ids)):
            if labels[pos] == -100:
                continue
            row = scores[pos - 1]
            m = row.max()
            total += m + math.log(np.exp(row - m).sum()) - row[ids[pos]]
            count += 1
    llm.close()
    gguf_loss = total / count if count else None
    return {"smoke_sample": sample, "gguf_val_loss": gguf_loss}
