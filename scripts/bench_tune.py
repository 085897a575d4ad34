#!/usr/bin/env python
"""Persona training speed and memory on the bundled model, each figure beside a baseline.

    .venv/bin/python scripts/bench_tune.py [--steps 10] [--batch-size 4] [--max-len 256]
                                           [--threads 2] [--device auto] [--json]

Measured in this process with the same code the training child runs (``ragterm.engine.tune.train``):
  * LoRA training: seconds per step and tokens/s, beside a forward-only pass over the same batches
    (the ratio says what backward + optimizer cost on top of inference);
  * peak memory of training, beside the base weights in float32;
  * the exported GGUF adapter in llama.cpp: generation tokens/s with and without it;
  * the chunked answer-only loss beside the old full-logits loss (peak RSS, speed, loss curve),
    each configuration in its own process so each peak is its own;
  * on a CUDA GPU: unsloth and plain PEFT side by side (unsloth when it is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = (
    "The harbour master kept a ledger of every ship that came and went, and in the margins "
    "he wrote small notes about the weather, the gulls and the mood of the sailors. "
)


def examples(n: int, chars: int):
    from ragterm.engine.tune.training_data import Example

    body = (TEXT * (chars // len(TEXT) + 1))[:chars]
    return [
        Example(
            [
                {"role": "user", "content": f"Tell me about day {i} at the harbour."},
                {"role": "assistant", "content": body},
            ],
            f"bench:{i}",
        )
        for i in range(n)
    ]


def peak_rss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def make_plan(args, backend: str, tmp: Path):
    from ragterm.engine.models.registry import bundled_chat_path, fingerprint
    from ragterm.engine.tune.spec import Plan, TrainSpec

    gguf = bundled_chat_path()
    spec = TrainSpec(
        name="bench",
        data="",
        steps=args.steps,
        batch_size=args.batch_size,
        max_seq_len=args.max_len,
        threads=args.threads,
        backend=backend,
        device=args.device,
        checkpointing=args.checkpointing,
    )
    return Plan(
        spec=spec,
        base_kind="gguf",
        base_path=str(gguf),
        target_path=str(gguf),
        base_model="smollm2-135m",
        fingerprint=fingerprint(gguf),
        architecture="llama",
        system_prompt="You are a helpful assistant.",
        run_dir=str(tmp),
        dataset_file="",
        data_summary={},
        estimate={},
        device=args.device,
        warnings=[],
    )


def bench_backend(args, backend: str, loss_mode: str, tmp: Path) -> dict:
    """One configuration, in a process of its own (``--one``) so its peak RSS is its own."""
    loss_mode = loss_mode.split(":")[0]
    import torch

    from ragterm.engine.tune import train

    if args.threads:
        torch.set_num_threads(args.threads)
    plan = make_plan(args, backend, tmp)
    device = train.pick_device(args.device)
    t0 = time.perf_counter()
    torch.manual_seed(0)  # the same LoRA initialisation for every configuration
    model, tok = train.load_model(plan, device, train.pick_backend(backend, device))
    load_s = time.perf_counter() - t0
    load_rss = peak_rss()
    enc = train.Encoder(tok, plan.system_prompt, args.max_len)
    data = [enc.encode(e) for e in examples(args.batch_size * (args.steps + 1), args.chars)]
    batches = [
        train.collate(data[i : i + args.batch_size], tok.pad_token_id, device)
        for i in range(0, len(data), args.batch_size)
    ]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def loss_of(b):
        if loss_mode == "native":  # the backend's own loss (unsloth fuses a chunked one)
            return model(**b).loss
        fn = train.answer_loss if loss_mode == "chunked" else train.full_logits_loss
        total, n = fn(model, b)
        return total / n

    model.train()
    loss_of(batches[0]).backward()  # warm-up
    opt.zero_grad()
    sync()
    t0 = time.perf_counter()
    tokens = 0
    losses = []
    for b in batches[1:]:
        loss = loss_of(b)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(b["attention_mask"].sum())
        losses.append(float(loss))
    sync()
    train_s = time.perf_counter() - t0

    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for b in batches[1:]:
            train._parts(model)[0](input_ids=b["input_ids"], attention_mask=b["attention_mask"])
    sync()
    fwd_s = time.perf_counter() - t0
    out = {
        "backend": backend,
        "loss": loss_mode,
        "checkpointing": bool(args.checkpointing),
        "device": device,
        "load_s": load_s,
        "s_per_step": train_s / args.steps,
        "train_tok_s": tokens / train_s,
        "forward_tok_s": tokens / fwd_s,
        "tokens_per_step": tokens / args.steps,
        "load_rss": load_rss,
        "peak_rss": peak_rss(),
        "weights_fp32": sum(p.numel() for p in model.parameters()) * 4,
        "trainable": sum(p.numel() for p in params),
        "losses": losses,
    }
    if device == "cuda":
        out["peak_gpu"] = torch.cuda.max_memory_allocated()
    model.save_pretrained(str(tmp / f"peft-{backend}"))
    return out


def run_one(args, config: str) -> dict:
    """``config`` (backend:loss) measured in a child process."""
    cmd = [sys.executable, __file__, "--one", config, "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--max-len", str(args.max_len),
           "--chars", str(args.chars), "--threads", str(args.threads), "--device", args.device,
           "--tmp", args.tmp]  # fmt: skip
    if args.checkpointing:
        cmd.append("--checkpointing")
    env = dict(os.environ)
    if config.endswith(":ckpt"):  # the new default, run as the training child runs it
        env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def llama_speed(adapter: str | None, threads: int, n: int = 96) -> float:
    import llama_cpp

    from ragterm.engine.models.registry import bundled_chat_path

    llm = llama_cpp.Llama(
        model_path=str(bundled_chat_path()),
        lora_path=adapter,
        n_ctx=512,
        n_threads=threads,
        verbose=False,
    )
    best = 0.0
    for _ in range(3):
        llm.reset()
        t0 = time.perf_counter()
        r = llm.create_completion(TEXT, max_tokens=n, temperature=0)
        best = max(best, r["usage"]["completion_tokens"] / (time.perf_counter() - t0))
    llm.close()
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--chars", type=int, default=700, help="characters per training reply")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    ap.add_argument("--checkpointing", action="store_true", help="gradient checkpointing")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # backend:loss, run in a child process
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        backend, loss_mode, *ckpt = args.one.split(":")
        args.checkpointing = args.checkpointing or ckpt == ["ckpt"]
        print(json.dumps(bench_backend(args, backend, loss_mode, Path(args.tmp))))
        return

    from ragterm.engine.models.registry import bundled_chat_path
    from ragterm.engine.tune.adapter_export import export_adapter
    from ragterm.engine.tune.deps import have_unsloth
    from ragterm.engine.tune.train import pick_device

    device = pick_device(args.device)
    # the old full-logits loss is the baseline of the chunked answer-only loss, in the same run
    configs = ["peft:full", "peft:chunked", "peft:chunked:ckpt"]
    if device == "cuda" and have_unsloth():
        configs.append("unsloth:native")
    results = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        args.tmp = d
        for c in configs:
            results.append(run_one(args, c))
            r = results[-1]
            print(f"{c}: peak RSS {r['peak_rss'] / 2**20:.0f} MiB, {r['train_tok_s']:.0f} tok/s, "
                  f"losses {r['losses']}", file=sys.stderr)  # fmt: skip
        t0 = time.perf_counter()
        adapter = export_adapter(tmp / "peft-peft", bundled_chat_path(), tmp / "a.gguf")
        export_s = time.perf_counter() - t0
        base_speed = llama_speed(None, args.threads)
        lora_speed = llama_speed(str(adapter.path), args.threads)
    report = {
        "args": vars(args),
        "results": results,
        "export_s": export_s,
        "llama_tok_s": base_speed,
        "llama_lora_tok_s": lora_speed,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    mib = 2**20
    per_seq = results[0]["tokens_per_step"] / args.batch_size
    extra = ", gradient checkpointing" if args.checkpointing else ""
    print(
        f"bundled SmolLM2-135M, batch {args.batch_size} x ~{per_seq:.0f} tokens, {args.steps} "
        f"steps, {args.threads} threads, {device}{extra}\n"
    )

    def row(measure: str, baseline: str, value: str, ratio: float | None = None) -> None:
        print(f"| {measure} | {baseline} | {value} | {'' if ratio is None else f'{ratio:.2f}'} |")

    print("| measure | baseline | value | ratio |")
    print("|---|---|---|---|")
    for r in results:
        ckpt = ", checkpointing" if r["checkpointing"] else ""
        name = f"{r['backend']} ({r['loss']} loss{ckpt}) on {r['device']}"
        fwd, tr = r["forward_tok_s"], r["train_tok_s"]
        row(f"{name}: training tokens/s (vs forward-only)", f"{fwd:.0f}", f"{tr:.0f}", tr / fwd)
        row(f"{name}: seconds per step", "", f"{r['s_per_step']:.2f}")
        w, peak = r["weights_fp32"], r["peak_rss"]
        row(f"{name}: peak RSS (vs fp32 weights)", f"{w / mib:.0f} MiB", f"{peak / mib:.0f} MiB",
            peak / w)  # fmt: skip
        row(f"{name}: peak RSS after loading the base", "", f"{r['load_rss'] / mib:.0f} MiB")
        if "peak_gpu" in r:
            row(f"{name}: peak GPU memory", "", f"{r['peak_gpu'] / mib:.0f} MiB")
        row(f"{name}: load base (GGUF dequantized)", "", f"{r['load_s']:.1f} s")
    full, chunked = results[0], results[1]
    row("chunked answer-only loss vs full logits: peak RSS", f"{full['peak_rss'] / mib:.0f} MiB",
        f"{chunked['peak_rss'] / mib:.0f} MiB", chunked["peak_rss"] / full["peak_rss"])  # fmt: skip
    row("chunked vs full logits: training tokens/s", f"{full['train_tok_s']:.0f}",
        f"{chunked['train_tok_s']:.0f}", chunked["train_tok_s"] / full["train_tok_s"])  # fmt: skip
    drift = max(abs(a - b) for a, b in zip(full["losses"], chunked["losses"], strict=True))
    row("chunked vs full logits: largest per-step loss difference", "", f"{drift:.2e}")
    print(f"loss curve, full: {' '.join(f'{x:.4f}' for x in full['losses'])}")
    print(f"loss curve, chunked: {' '.join(f'{x:.4f}' for x in chunked['losses'])}")
    if len(results) > 2 and results[2]["checkpointing"]:
        c = results[2]
        row("chunked loss + checkpointing vs full logits: peak RSS",
            f"{full['peak_rss'] / mib:.0f} MiB", f"{c['peak_rss'] / mib:.0f} MiB",
            c["peak_rss"] / full["peak_rss"])  # fmt: skip
        row("chunked loss + checkpointing vs full logits: training tokens/s",
            f"{full['train_tok_s']:.0f}", f"{c['train_tok_s']:.0f}",
            c["train_tok_s"] / full["train_tok_s"])  # fmt: skip
    if results[-1]["backend"] == "unsloth":
        p, u = chunked, results[-1]
        row("unsloth vs PEFT: training tokens/s", f"{p['train_tok_s']:.0f}",
            f"{u['train_tok_s']:.0f}", u["train_tok_s"] / p["train_tok_s"])  # fmt: skip
        if "peak_gpu" in p and "peak_gpu" in u:
            row("unsloth vs PEFT: peak GPU memory", f"{p['peak_gpu'] / mib:.0f} MiB",
                f"{u['peak_gpu'] / mib:.0f} MiB", u["peak_gpu"] / p["peak_gpu"])  # fmt: skip
    row(f"export PEFT -> GGUF LoRA ({adapter.tensors} tensors)", "", f"{export_s:.2f} s")
    row("llama.cpp generation tok/s with the adapter (vs without)", f"{base_speed:.1f}",
        f"{lora_speed:.1f}", lora_speed / base_speed)  # fmt: skip


if __name__ == "__main__":
    main()
