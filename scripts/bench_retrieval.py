#!/usr/bin/env python
"""Retrieval quality on a BEIR-layout dev set, through the real pipeline.

Indexes ``--corpus-dir`` with ``ragterm.engine.index.pipeline.index_paths`` into a temporary
RAGTERM_HOME (or ``--home DIR``, reused if already indexed), runs every query through
``ragterm.engine.retrieve.hybrid_search.Retriever.search`` and prints MRR@10, Recall@5 and nDCG@10
at document level (corpus-id = file path relative to the corpus folder) for keyword (BM25), vector
and hybrid.

``--tune`` also sweeps the fusion settings (rag.fusion, rag.rrf_k, rag.vector_weight) over the same
candidate lists and prints the best ones.

    .venv/bin/python scripts/bench_retrieval.py --corpus-dir ../shared/eval/pydocs/corpus \\
        --queries ../shared/eval/pydocs/queries.jsonl --qrels ../shared/eval/pydocs/qrels.tsv
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.strip().split("\t")
        if len(parts) < 3 or (n == 0 and parts[0] == "query-id"):
            continue
        qid, doc, score = parts[0], parts[1], int(float(parts[2]))
        if score > 0:
            out.setdefault(qid, {})[doc] = score
    return out


def load_queries(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            out[str(q["_id"])] = q["text"]
    return out


def metrics(ranked: list[str], relevant: dict[str, int]) -> tuple[float, float, float]:
    """MRR@10, Recall@5, nDCG@10 for one query's ranked document ids."""
    mrr = 0.0
    for i, d in enumerate(ranked[:10], 1):
        if d in relevant:
            mrr = 1.0 / i
            break
    recall = len(set(ranked[:5]) & relevant.keys()) / max(len(relevant), 1)
    dcg = sum(
        (2 ** relevant.get(d, 0) - 1) / math.log2(i + 1) for i, d in enumerate(ranked[:10], 1)
    )
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 1) for i, g in enumerate(ideal, 1))
    return mrr, recall, dcg / idcg if idcg else 0.0


def doc_ranking(chunk_paths: list[str]) -> list[str]:
    return list(dict.fromkeys(chunk_paths))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus-dir", type=Path, required=True)
    ap.add_argument("--queries", type=Path, required=True)
    ap.add_argument("--qrels", type=Path, required=True)
    ap.add_argument("--home", type=Path, help="RAGTERM_HOME to use (kept; reused if indexed)")
    ap.add_argument("--chunks", type=int, default=50, help="chunks retrieved per query")
    ap.add_argument("--tune", action="store_true", help="sweep fusion settings")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, e.g. --set rag.rrf_k=20")  # fmt: skip
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="ragterm-bench-"))
    os.environ["RAGTERM_HOME"] = str(home)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from ragterm import config
    from ragterm.engine.embed import load_embedder
    from ragterm.engine.events import EmbedProgress, IndexFinished
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.engine.retrieve.hybrid_search import Retriever
    from ragterm.store.db import connect

    cfg = config.load().with_overrides(**dict(kv.split("=", 1) for kv in args.set))
    conn = connect()
    embedder = load_embedder(cfg["embed.model"])
    corpus = args.corpus_dir.resolve()
    t0 = time.monotonic()
    last = 0.0
    for ev in index_paths(conn, [corpus], cfg=cfg, embedder=embedder):
        if isinstance(ev, EmbedProgress) and time.monotonic() - last > 30:
            last = time.monotonic()
            msg = f"  embedded {ev.chunks_done}/~{ev.chunks_total} ({ev.chunks_per_s:.1f}/s, "
            msg += f"files {ev.files_done}/{ev.files_total})"
            print(msg, file=sys.stderr, flush=True)
        if isinstance(ev, IndexFinished):
            print(f"indexed {ev.counts} in {ev.seconds:.0f}s", file=sys.stderr)
    index_s = time.monotonic() - t0
    (n_chunks,) = conn.execute("SELECT count(*) FROM chunks").fetchone()

    queries = load_queries(args.queries)
    qrels = load_qrels(args.qrels)
    qids = [q for q in queries if q in qrels]
    retriever = Retriever(conn, embedder=embedder, cfg=cfg)
    rows: dict[str, tuple[float, float, float, float]] = {}
    for mode in ("keyword", "vector", "hybrid"):
        sums = [0.0, 0.0, 0.0]
        t = time.monotonic()
        for qid in qids:
            hits = retriever.search(queries[qid], k=args.chunks, mode=mode)
            m = metrics(doc_ranking([h.rel_path for h in hits]), qrels[qid])
            sums = [a + b for a, b in zip(sums, m, strict=True)]
        ms = (time.monotonic() - t) / max(len(qids), 1) * 1000
        rows[mode] = (*(s / len(qids) for s in sums), ms)  # type: ignore[assignment]

    print(f"\ncorpus {corpus} ({n_chunks} chunks, indexed in {index_s:.0f}s), "
          f"{len(qids)} queries, {args.chunks} chunks per query")  # fmt: skip
    print(f"fusion={cfg['rag.fusion']} rrf_k={cfg['rag.rrf_k']} "
          f"vector_weight={cfg['rag.vector_weight']}\n")  # fmt: skip
    print("| mode    | MRR@10 | Recall@5 | nDCG@10 | ms/query |")
    print("|---------|--------|----------|---------|----------|")
    for mode, (mrr, rec, ndcg, ms) in rows.items():
        print(f"| {mode:<7} | {mrr:.4f} | {rec:.4f}   | {ndcg:.4f}  | {ms:8.1f} |")
    best_single = max(rows["keyword"][0], rows["vector"][0])
    verdict = "beats" if rows["hybrid"][0] > best_single else "does NOT beat"
    print(f"\nhybrid {verdict} the better single mode on MRR@10 "
          f"({rows['hybrid'][0]:.4f} vs {best_single:.4f})")  # fmt: skip

    if args.tune:
        tune(retriever, cfg, queries, qrels, qids, args.chunks)
    if not args.home:
        print(f"\n(temporary home {home} left for inspection; delete it when done)")
    return 0


def tune(retriever, cfg, queries, qrels, qids, n_chunks) -> None:  # type: ignore[no-untyped-def]
    """Fuse the same candidate lists under many settings (the real fusion code, no re-search);
    the BM25 weight of the heading column is swept too (it changes the keyword lists)."""
    from ragterm.engine.retrieve import hybrid_search

    depth = max(n_chunks * 4, 40)
    qvecs = {qid: retriever.embedder.embed_query(queries[qid]) for qid in qids}
    vec_lists = {qid: retriever.vector_search(qvecs[qid], depth) for qid in qids}
    grid = [("rrf", k, w) for k in (5, 10, 20, 40, 60, 100) for w in (0.5, 0.6, 0.7, 0.8, 0.9)]
    grid += [("convex", 60, w) for w in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)]
    results = []
    path_of: dict[int, str] = {}
    default_hw = hybrid_search.HEADING_WEIGHT
    for hw in (0.5, 1.0, 2.0, 4.0):
        hybrid_search.HEADING_WEIGHT = hw
        cands = []
        for qid in qids:
            kw = retriever.keyword_search(queries[qid], depth)
            vec = vec_lists[qid]
            vscore = dict(vec)
            vscore.update(retriever._cosines(qvecs[qid], [c for c, _ in kw if c not in vscore]))
            cands.append((qid, kw, vec, vscore))
            new = [c for c, _ in kw + vec if c not in path_of]
            path_of.update((c, r["path"]) for c, r in retriever._rows(new).items())
        for fusion, k, w in [("keyword", 0, 0.0), *grid]:
            retriever.cfg = cfg.with_overrides(
                **{"rag.fusion": fusion if fusion != "keyword" else "rrf", "rag.rrf_k": max(k, 1),
                   "rag.vector_weight": w}
            )  # fmt: skip
            sums = [0.0, 0.0, 0.0]
            for qid, kw, vec, vscore in cands:
                if fusion == "keyword":
                    order = [c for c, _ in kw]
                else:
                    fused = retriever._fuse(vec, kw, vscore)
                    order = sorted(fused, key=lambda c: fused[c], reverse=True)
                m = metrics(doc_ranking([path_of[c] for c in order[:n_chunks]]), qrels[qid])
                sums = [a + b for a, b in zip(sums, m, strict=True)]
            n = len(qids)
            results.append((sums[0] / n, sums[1] / n, sums[2] / n, fusion, k, w, hw))
    hybrid_search.HEADING_WEIGHT = default_hw
    retriever.cfg = cfg
    print("\nkeyword-only by heading weight: MRR@10 Recall@5 nDCG@10")
    for r in results:
        if r[3] == "keyword":
            print(f"  heading_weight={r[6]}: {r[0]:.4f} {r[1]:.4f} {r[2]:.4f}")
    fused_results = sorted((r for r in results if r[3] != "keyword"), reverse=True)
    print("\nfusion sweep (best first): MRR@10 Recall@5 nDCG@10 fusion rrf_k vector_weight "
          "heading_weight")  # fmt: skip
    for mrr, rec, ndcg, fusion, k, w, hw in fused_results[:15]:
        print(f"  {mrr:.4f} {rec:.4f} {ndcg:.4f}  {fusion:<6} {k:>3} {w:<4} {hw}")


if __name__ == "__main__":
    raise SystemExit(main())
