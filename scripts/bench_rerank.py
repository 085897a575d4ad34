#!/usr/bin/env python
"""Reranking on pydocs: nDCG@10 and latency with and without a cross-encoder pass.

Searches every pydocs query (hybrid, default settings) over an existing index (``--home``, copied
to a temporary folder), then again with ``rag.rerank`` on over the top ``--candidates`` chunks.

No reranker weights can be had offline here, so ``--model`` defaults to a stand-in built from the
bundled MiniLM (tests/engine/crossencoder.py): the same architecture and size as
ms-marco-MiniLM-L-6-v2, so its *latency* is that model's, but it was never trained to rank, so
its nDCG is printed only to show the pipeline runs and is no measure of reranking. On a machine
that can reach the hub, ``--model Xenova/ms-marco-MiniLM-L-6-v2`` measures the real thing.

    .venv/bin/python scripts/bench_rerank.py --home /work/cache/pydocs-home --queries 60
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYDOCS = ROOT.parent / "shared" / "eval" / "pydocs"


def ndcg10(paths: list[str], relevant: dict[str, int]) -> float:
    ranked = list(dict.fromkeys(paths))[:10]
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 1) for i, d in enumerate(ranked, 1))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 1) for i, g in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path("/work/cache/pydocs-home"))
    ap.add_argument("--eval", type=Path, default=PYDOCS)
    ap.add_argument("--model", default="", help="rag.rerank value (default: the stand-in)")
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--queries", type=int, default=0, help="only the first N queries (0 = all)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ragterm-rerank-"))
    shutil.copytree(args.home / "data", home / "data")
    os.environ["RAGTERM_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_retrieval import load_qrels, load_queries

    from ragterm import config
    from ragterm.engine.retrieve.hybrid_search import Retriever
    from ragterm.store.db import connect

    model = args.model
    if not model:
        from tests.engine.crossencoder import build

        model = str(build(home / "standin"))
    queries = load_queries(args.eval / "queries.jsonl")
    qrels = load_qrels(args.eval / "qrels.tsv")
    qids = [q for q in queries if q in qrels][: args.queries or None]
    conn = connect()
    base = config.load()
    rows = {}
    for label, cfg in (
        ("hybrid", base),
        ("hybrid + rerank", base.with_overrides(**{"rag.rerank": model,
                                                   "rag.rerank_candidates": args.candidates})),
    ):  # fmt: skip
        retriever = Retriever(conn, cfg=cfg)
        retriever.search("warm up", k=10)  # loads the models
        scores, times = [], []
        for qid in qids:
            t = time.perf_counter()
            hits = retriever.search(queries[qid], k=10)
            times.append((time.perf_counter() - t) * 1000)
            scores.append(ndcg10([h.rel_path for h in hits], qrels[qid]))
        times.sort()
        rows[label] = (statistics.mean(scores), statistics.median(times),
                       times[max(int(len(times) * 0.95) - 1, 0)])  # fmt: skip
    standin = "" if args.model else " (stand-in, untrained: its nDCG is no quality figure)"
    print(f"\n## reranking ({len(qids)} pydocs queries, k=10, {args.candidates} candidates "
          f"re-scored, model {args.model or 'stand-in MiniLM-L6 cross-encoder'})")  # fmt: skip
    print("| search | nDCG@10 | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for label, (nd, p50, p95) in rows.items():
        note = standin if "rerank" in label else ""
        print(f"| {label} | {nd:.4f}{note} | {p50:.0f} | {p95:.0f} |")
    added = rows["hybrid + rerank"][1] - rows["hybrid"][1]
    print(f"added latency (p50): {added:.0f} ms per question, "
          f"{rows['hybrid + rerank'][1] / rows['hybrid'][1]:.1f}x")  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
