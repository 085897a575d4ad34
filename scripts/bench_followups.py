#!/usr/bin/env python
"""Conversation-aware retrieval: recall@5 of follow-up questions with and without rewriting.

``scripts/data/followups_dev.jsonl`` holds two-turn conversations over the pydocs dev set
(``../shared/eval/pydocs``): a standalone first question with a short answer, then a follow-up
that leans on it ("how do I undo it?"), and the page(s) that answer the follow-up. Rows marked
``switch`` change topic instead: rewriting must not hurt them.

Every query runs through ``Retriever.search`` (hybrid, the default settings) over an existing
pydocs index (``--home``, copied to a temporary folder: the original is never written), and
recall@5 is at document level (the 5 best distinct pages), as in bench_retrieval.py.

    .venv/bin/python scripts/bench_followups.py --home /work/cache/pydocs-home [--model]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def recall_at_5(paths: list[str], relevant: list[str]) -> float:
    top = list(dict.fromkeys(paths))[:5]
    return 1.0 if set(top) & set(relevant) else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path("/work/cache/pydocs-home"))
    ap.add_argument("--data", type=Path, default=ROOT / "scripts/data/followups_dev.jsonl")
    ap.add_argument("--model", action="store_true", help="also rewrite with the bundled chat model")
    ap.add_argument("--chunks", type=int, default=50)
    ap.add_argument("--show", action="store_true", help="print each rewritten query")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ragterm-followups-"))
    shutil.copytree(args.home / "data", home / "data")
    os.environ["RAGTERM_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    from ragterm import config
    from ragterm.engine.retrieve import query_rewrite
    from ragterm.engine.retrieve.hybrid_search import Retriever
    from ragterm.store.db import connect

    cfg = config.load()
    conn = connect()
    retriever = Retriever(conn, cfg=cfg)
    rows = [json.loads(x) for x in args.data.read_text().splitlines() if x.strip()]
    backend = None
    methods = ["off", "terms"]
    if args.model:
        from ragterm.engine.models.llm import open_backend

        backend = open_backend(cfg.with_overrides(**{"chat.context_length": 2048}))
        methods.append("model")
    methods.append("oracle")  # the first question and the follow-up searched together

    scores: dict[str, dict[str, list[float]]] = {m: {"follow": [], "switch": []} for m in methods}
    rewrite_ms: dict[str, list[float]] = {m: [] for m in methods}
    for row in rows:
        turns = [(u, a) for u, a in row["history"]]
        group = "switch" if row.get("switch") else "follow"
        for m in methods:
            t = time.perf_counter()
            if m == "oracle":
                q = " ".join(u for u, _ in turns) + " " + row["followup"]
                if group == "switch":
                    q = row["followup"]
            else:
                q = query_rewrite.standalone(row["followup"], turns, m, backend).query
            rewrite_ms[m].append((time.perf_counter() - t) * 1000)
            hits = retriever.search(q, k=args.chunks)
            r = recall_at_5([h.rel_path for h in hits], row["relevant"])
            scores[m][group].append(r)
            if args.show:
                print(f"{row['id']} {m:<6} {r:.0f}  {q}")
    n_f = len(scores["off"]["follow"])
    n_s = len(scores["off"]["switch"])
    print(f"\n## follow-up recall@5 ({n_f} follow-ups, {n_s} topic switches, pydocs, hybrid)")
    print("| rewriting | follow-up recall@5 | topic-switch recall@5 | rewrite ms (median) |")
    print("|---|---|---|---|")
    for m in methods:
        f = statistics.mean(scores[m]["follow"])
        s = statistics.mean(scores[m]["switch"]) if n_s else float("nan")
        print(f"| {m} | {f:.3f} | {s:.3f} | {statistics.median(rewrite_ms[m]):.1f} |")
    base = statistics.mean(scores["off"]["follow"]) or 1e-9
    print(f"terms / off on follow-ups: {statistics.mean(scores['terms']['follow']) / base:.2f}x")
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
