"""The answer-only loss, computed in chunks so the full logits never exist at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragterm.engine.tune.encode import collate
from ragterm.engine.tune.spec import LOSS_CHUNK


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
    # lazy: torch loads only when this runs
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
    # lazy: torch loads only when this runs
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
    # lazy: torch loads only when this runs
    import torch

    with torch.no_grad():
        loss, n = answer_loss(model, batch)
    return float(loss), n


def evaluate(model: Any, encoded: list[tuple[list[int], list[int]]], pad_id: int, bs: int,
             device: str, stop: Callable[[], bool] | None = None) -> float | None:  # fmt: skip
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
