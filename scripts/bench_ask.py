#!/usr/bin/env python
"""What retrieval costs per question: `ask` with retrieval vs `ask --no-rag`, and its parts.

One run, on one machine, both sides alternating (so load from elsewhere hits both alike):

1. the whole: wall time of ``ragterm ask --json --max-tokens N --temperature 0 --seed 1 Q`` and
   of the same with ``--no-rag`` (a fresh process each, the bundled chat model, the answer capped
   at the same N tokens), median of ``--repeat`` runs per side, and their difference.
   Target: difference <= 1.0 s on 2 cores.
   Beside them: bare llama-cpp-python (load the same GGUF, the same question and token cap) and
   ``ragterm search`` alone.
2. the parts, in this process with a fresh embedder, beside the whole: loading the embedding
   model, the first query embedding, the search (keyword + vector + fusion), evidence scoring
   (engine.evidence.rank, which embeds the lines of the hits), and the prompt evaluation of both
   sides (the time to the first token from ``--json``, with the prompt's tokens).
   ``--chat-threads N`` sets chat.threads for both sides (on a machine that other work keeps
   busy, llama.cpp's default of one thread per core waits on the busy cores).
   In ``ask`` the embedding model's load and first run happen in a thread while the chat model
   loads (Retriever.preload).

The index is a folder indexed first with ``ragterm index`` (default: the installed ``click``
package, as in docs/benchmarks.md).

    .venv/bin/python scripts/bench_ask.py [--folder PATH] [--repeat 5] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "How do I add a command line option with a default value?",
    "How does click prompt the user for a password?",
    "What does the echo function do?",
]


def default_folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("click")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("click is not installed here: pass --folder")
    return Path(list(spec.submodule_search_locations)[0])


def ragterm(*args: str, env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "ragterm", *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"ragterm {' '.join(args)} failed:\n{r.stderr}")
    return wall, r.stdout


RAW = """
import sys
import llama_cpp
from ragterm import config
from ragterm.engine.models.llm import physical_cores
from ragterm.engine.models.registry import bundled_chat_path
cfg = config.load()
threads = int(cfg["chat.threads"]) or physical_cores()
llm = llama_cpp.Llama(model_path=str(bundled_chat_path()), n_ctx=int(cfg["chat.context_length"]),
                      n_threads=threads, verbose=False)
out = llm.create_chat_completion([{"role": "user", "content": sys.argv[1]}],
                                 max_tokens=int(sys.argv[2]), temperature=0, seed=1)
print(out["usage"]["completion_tokens"])
"""


def raw_answer(question: str, max_tokens: int, env: dict[str, str]) -> tuple[float, int]:
    """Bare llama-cpp-python in a fresh process: load the bundled GGUF, answer, exit."""
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", RAW, question, str(max_tokens)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - t, int(r.stdout.split()[-1])


def parts(question: str) -> dict[str, float]:
    """The retrieval steps of one question, timed one by one in this process."""
    from ragterm import config
    from ragterm.engine.embed import load_embedder
    from ragterm.engine.retrieve import evidence
    from ragterm.engine.retrieve.hybrid_search import Retriever
    from ragterm.store.db import connect

    cfg = config.load()
    conn = connect()
    out: dict[str, float] = {}
    t = time.perf_counter()
    embedder = load_embedder(cfg["embed.model"])
    out["embedder load"] = time.perf_counter() - t
    retriever = Retriever(conn, embedder=embedder, cfg=cfg)
    t = time.perf_counter()
    embedder.embed_query(question)
    out["query embedding (first)"] = time.perf_counter() - t
    t = time.perf_counter()
    embedder.embed_query(question + " ")
    out["query embedding (next)"] = time.perf_counter() - t
    t = time.perf_counter()
    hits = retriever.search(question, k=int(cfg["rag.top_k"]), threshold=cfg["rag.threshold"])
    out["search, first (bit codes read)"] = time.perf_counter() - t
    t = time.perf_counter()
    hits = retriever.search(question, k=int(cfg["rag.top_k"]), threshold=cfg["rag.threshold"])
    out["search"] = time.perf_counter() - t
    t = time.perf_counter()
    units = evidence.rank(question, hits, embedder)
    out["evidence scoring"] = time.perf_counter() - t
    out["evidence units"] = float(len(units))
    out["hits"] = float(len(hits))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--folder", type=Path, help="folder to index (default: the click package)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per side (median)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--chat-threads", type=int, help="chat.threads for both sides")
    ap.add_argument(
        "--assembly",
        default="excerpts",
        help="rag.assembly of the retrieval side (default excerpts: it generates, as --no-rag "
        "does; the bundled model's own default, extractive, generates nothing)",
    )
    args = ap.parse_args()
    os.environ["RAGTERM_RAG__ASSEMBLY"] = args.assembly
    if args.chat_threads:
        os.environ["RAGTERM_CHAT__THREADS"] = str(args.chat_threads)
    folder = (args.folder or default_folder()).resolve()
    home = tempfile.mkdtemp(prefix="ragterm-bench-ask-")
    os.environ["RAGTERM_HOME"] = home
    root = str(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, root)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    index_s, _ = ragterm("index", str(folder), env=env)
    print(f"## ask with retrieval vs --no-rag ({folder.name} indexed in {index_s:.0f} s)")
    common = ["ask", "--json", "--max-tokens", str(args.max_tokens), "--temperature", "0"]
    common += ["--seed", "1"]
    ragterm(*common, "--no-rag", "warm the page cache", env=env)
    runs: dict[str, list[dict[str, float]]] = {"rag": [], "no-rag": []}
    raw: list[tuple[float, int]] = []
    search: list[float] = []
    for r in range(args.repeat):
        q = QUESTIONS[r % len(QUESTIONS)]
        for side in ("rag", "no-rag", "raw", "search")[:: 1 if r % 2 == 0 else -1]:
            if side == "raw":
                raw.append(raw_answer(q, args.max_tokens, env))
                continue
            if side == "search":
                search.append(ragterm("search", q, env=env)[0])
                continue
            extra = ["--no-rag"] if side == "no-rag" else []
            wall, out = ragterm(*common, *extra, q, env=env)
            data = json.loads(out)
            runs[side].append(
                {
                    "wall": wall,
                    "prompt_tokens": data["tokens"]["prompt"],
                    "completion_tokens": data["tokens"]["completion"],
                    # time to the first token: the prompt's evaluation and one token (llama.cpp's
                    # own prompt_eval_s reads ~0 here: its perf counters are off)
                    "prompt_eval_s": data["timings"].get("ttft_s", 0.0),
                    "total_s": data["timings"].get("total_s", 0.0),
                    "sources": len(data["sources"]),
                }
            )

    def med(side: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[side])

    print("| side | wall s (median) | walls | prompt tokens | answer tokens | "
          "TTFT s (prompt eval) | answer s | sources |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for side in ("no-rag", "rag"):
        walls = " ".join(f"{x['wall']:.2f}" for x in runs[side])
        name = "ask --no-rag" if side == "no-rag" else "ask (retrieval)"
        cells = [f"{med(side, 'wall'):.2f}", walls, f"{med(side, 'prompt_tokens'):.0f}"]
        cells += [f"{med(side, 'completion_tokens'):.0f}", f"{med(side, 'prompt_eval_s'):.2f}"]
        cells += [f"{med(side, 'total_s'):.2f}", f"{med(side, 'sources'):.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    raw_wall = statistics.median(w for w, _ in raw)
    walls = " ".join(f"{w:.2f}" for w, _ in raw)
    n_raw = statistics.median(n for _, n in raw)
    print(f"| raw llama-cpp-python (load + answer) | {raw_wall:.2f} | {walls} | – | {n_raw:.0f} "
          "| – | – | – |")  # fmt: skip
    walls = " ".join(f"{w:.2f}" for w in search)
    print(f"| ragterm search | {statistics.median(search):.2f} | {walls} | – | – | – | – | – |")
    print(f"\nask --no-rag vs raw llama-cpp-python: {med('no-rag', 'wall') / raw_wall:.2f}x")
    diff = med("rag", "wall") - med("no-rag", "wall")
    ratio = med("rag", "wall") / med("no-rag", "wall")
    print(
        f"\nretrieval costs {diff:+.2f} s per question ({ratio:.2f}x of --no-rag); target <= 1.0 s"
    )
    extra_prompt = med("rag", "prompt_eval_s") - med("no-rag", "prompt_eval_s")
    print(f"\n## the parts (this process, question {QUESTIONS[0]!r})")
    p = parts(QUESTIONS[0])
    for name, v in p.items():
        print(
            f"- {name}: {v:.0f}" if name in ("hits", "evidence units") else f"- {name}: {v:.3f} s"
        )
    more = med("rag", "prompt_tokens") - med("no-rag", "prompt_tokens")
    print(f"- longer prompt (TTFT, rag - no-rag): {extra_prompt:+.3f} s ({more:+.0f} tokens)")
    in_line = p["query embedding (next)"] + p["search"] + p["evidence scoring"] + extra_prompt
    print(f"- on the question's path (query + search + evidence + longer prompt): {in_line:.2f} s")
    print(f"- loading the embedding model ({p['embedder load']:.2f} s) overlaps the chat model's")
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
