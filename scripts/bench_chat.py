#!/usr/bin/env python
"""Chat speed and memory: ragterm against raw llama-cpp-python, measured side by side in one run.

    .venv/bin/python scripts/bench_chat.py [--model PATH] [--tokens 128] [--repeats 3]

Prints a table: generation tokens/s (ratio to raw, target >= 0.95), time to first token at turn 2 vs
turn 10 of a conversation that fills most of the context (target <= 1.5x), and peak RSS of
`ragterm ask` beside a bare llama-cpp-python process loading the same model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PROMPT = "Write a detailed essay about the history of the printing press in Europe."


def raw_tokens_per_s(path: str, threads: int, n: int) -> float:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, verbose=False)
    from ragterm.engine.models.llm import LocalLlama

    toks = LocalLlama.tokens.__get__(_Shim(llm))([{"role": "user", "content": PROMPT}])
    first = None
    count = 0
    t0 = time.perf_counter()
    for chunk in llm.create_completion(
        prompt=toks,
        max_tokens=n,
        temperature=0,
        stream=True,
        top_k=40,
        top_p=0.95,
        min_p=0.05,
        repeat_penalty=1.1,
    ):
        if chunk["choices"][0]["text"]:
            count += 1
            first = first or time.perf_counter()
    end = time.perf_counter()
    llm.close()
    del t0
    return (count - 1) / (end - first) if first and count > 1 else 0.0


class _Shim:
    """Lets the raw run render the exact same prompt tokens as ragterm (same template)."""

    def __init__(self, llm):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from ragterm.engine.models.llm import CHATML

        self.llm = llm
        tpl = llm.metadata.get("tokenizer.chat_template", CHATML)
        eos = llm.detokenize([llm.token_eos()], special=True).decode()
        bos = llm.detokenize([llm.token_bos()], special=True).decode()
        fmt = Jinja2ChatFormatter(template=tpl, eos_token=eos, bos_token=bos)
        self._bos_text = bos
        self.render = lambda msgs: fmt(messages=msgs).prompt


def ragterm_tokens_per_s(path: str, threads: int, n: int) -> float:
    from ragterm.engine.models.llm import LocalLlama, SamplingParams

    m = LocalLlama(path, n_ctx=2048, threads=threads)
    list(
        m.stream([{"role": "user", "content": PROMPT}], SamplingParams(temperature=0, max_tokens=n))
    )
    tps = m.last_stats()["tokens_per_s"]
    m.close()
    return tps


def ttft_turns(path: str, threads: int, n_ctx: int = 2048) -> dict[str, float]:
    """TTFT at turn 2 and turn 10 of a conversation that ends near the context limit, then the
    turns past it: the one that trims history (a full re-evaluation) and the one after it."""
    from ragterm import config
    from ragterm.engine.answer.conversation import Conversation
    from ragterm.engine.events import Trimmed
    from ragterm.engine.models.llm import LocalLlama
    from ragterm.store.db import connect

    cfg = config.load().with_overrides(**{"chat.temperature": 0, "chat.max_tokens": 48})
    m = LocalLlama(path, n_ctx=n_ctx, threads=threads)
    conv = Conversation(m, connect(), cfg)
    filler = (
        "Here are my notes on the project: the build uses cmake, tests run nightly, the "
        "release train leaves every second Tuesday and the changelog lives in docs. "
    ) * 3
    out: dict[str, float] = {}
    trimmed_at = None
    for turn in range(1, 21):
        trims = 0
        for ev in conv.send(f"Turn {turn}. {filler} What should I check first?"):
            if isinstance(ev, Trimmed):
                trims = ev.dropped_turns
        stats = m.last_stats()
        if turn in (2, 10):
            out[f"ttft{turn}"] = stats["ttft_s"]
            out[f"eval{turn}"] = stats.get("prompt_eval_tokens", 0)
            out[f"prompt{turn}"] = stats["prompt_tokens"]
        if turn == 10:
            out["used10"] = stats["prompt_tokens"] + stats["completion_tokens"]
        if trims and trimmed_at is None:
            trimmed_at, out["ttft_trim"] = turn, stats["ttft_s"]
            out["eval_trim"] = stats.get("prompt_eval_tokens", 0)
        elif trimmed_at is not None and turn == trimmed_at + 1:
            out["ttft_after"] = stats["ttft_s"]
            out["eval_after"] = stats.get("prompt_eval_tokens", 0)
            break
    m.close()
    out["n_ctx"] = n_ctx
    return out


def peak_rss(cmd: list[str], env: dict[str, str]) -> float:
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024  # MiB (Linux reports KiB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="ragterm-bench-")
    os.environ["RAGTERM_HOME"] = home
    from ragterm.engine.models.llm import physical_cores
    from ragterm.engine.models.registry import bundled_chat_path

    path = args.model or str(bundled_chat_path())
    threads = physical_cores()
    raw, ours = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        raw.append(raw_tokens_per_s(path, threads, args.tokens))
        ours.append(ragterm_tokens_per_s(path, threads, args.tokens))
    raw_m, ours_m = statistics.median(raw), statistics.median(ours)
    tt = ttft_turns(path, threads)
    env = {**os.environ, "RAGTERM_CHAT__MAX_TOKENS": "32", "RAGTERM_CHAT__TEMPERATURE": "0"}
    bin_dir = os.path.dirname(sys.executable)
    rss_ask = peak_rss([os.path.join(bin_dir, "ragterm"), "ask", "--no-rag", "Say hi."], env)
    rss_raw = peak_rss(
        [
            sys.executable,
            "-c",
            "import llama_cpp, sys; l = llama_cpp.Llama(model_path=sys.argv[1], "
            "n_ctx=8192, verbose=False); "
            "l.create_completion('Say hi.', max_tokens=32)",
            path,
        ],
        env,
    )
    rows = [
        ("generation tok/s", f"{raw_m:.1f}", f"{ours_m:.1f}", ours_m / raw_m, ">= 0.95"),
        (
            "TTFT turn 2 vs turn 10 (s)",
            f"{tt['ttft2']:.3f}",
            f"{tt['ttft10']:.3f} ({tt['used10']:.0f}/{tt['n_ctx']:.0f} tok)",
            tt["ttft10"] / tt["ttft2"],
            "<= 1.5",
        ),
        (
            "prompt tokens evaluated, turn 2 vs 10",
            f"{tt['eval2']:.0f}/{tt['prompt2']:.0f}",
            f"{tt['eval10']:.0f}/{tt['prompt10']:.0f}",
            tt["eval10"] / max(tt["eval2"], 1),
            "report",
        ),
    ]
    if "ttft_after" in tt:
        rows.append(
            (
                "TTFT trimming turn vs the next (s)",
                f"{tt['ttft_trim']:.3f} ({tt['eval_trim']:.0f} ev)",
                f"{tt['ttft_after']:.3f} ({tt['eval_after']:.0f} ev)",
                tt["ttft_after"] / tt["ttft_trim"],
                "report",
            )
        )
    rows += [
        (
            "peak RSS, MiB (raw load vs ragterm ask)",
            f"{rss_raw:.0f}",
            f"{rss_ask:.0f}",
            rss_ask / rss_raw,
            "report",
        ),
    ]
    print(
        f"model {os.path.basename(path)}, threads {threads}, {args.tokens} tokens, "
        f"median of {args.repeats}"
    )
    print(f"{'measure':<42} {'baseline':>12} {'ragterm':>24} {'ratio':>7}  target")
    for name, base, ours_s, ratio, target in rows:
        print(f"{name:<42} {base:>12} {ours_s:>24} {ratio:>7.2f}  {target}")


if __name__ == "__main__":
    main()
