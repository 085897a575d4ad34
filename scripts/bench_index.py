#!/usr/bin/env python
"""Indexing throughput, incremental re-runs, and vector search latency/recall at scale.

Three measurements, each as a ratio or number from one run:

1. throughput: ``index_paths`` over a generated corpus (``--files`` markdown files of varied
   length) vs raw fastembed (``TextEmbedding.embed``) over exactly the chunk texts the indexer
   embedded. Target: indexing >= 0.85x raw.
2. re-run: the same corpus indexed again unchanged. Target: < 5% of the first run, 0 embedded.
3. search: synthetic clustered unit vectors (10k and 100k chunks) stored through the real tables
   (vectors + vec0 bit[dim]); ``Retriever.vector_search`` latency p50/p95 and recall@10 against
   exact float cosine search. Target at 100k: p50 < 15 ms, recall@10 >= 0.95.

    .venv/bin/python scripts/bench_index.py              # everything (~10 min on 2 cores)
    .venv/bin/python scripts/bench_index.py --skip-embed # only the search part
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = (
    "index search vector chunk token embed query model folder file parse text page heading "
    "python config cache retrieve answer cite line source build test run fast slow memory disk "
    "network thread process queue batch stream event table column row schema migrate store "
    "binary float rank score fuse weight tune measure report error hint user value key path"
).split()


def make_corpus(root: Path, n_files: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(n_files):
        folder = root / f"part{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        paras = []
        for _ in range(rng.randint(1, 4)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(20, 90))]
            paras.append(" ".join(words).capitalize() + ".")
        (folder / f"note{i:05d}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(paras) + "\n")


def bench_embedding(args: argparse.Namespace) -> None:
    from ragterm import config
    from ragterm.engine.embed import load_embedder
    from ragterm.engine.events import IndexFinished
    from ragterm.engine.indexer import index_paths
    from ragterm.store.db import connect

    cfg = config.load()
    embedder = load_embedder(cfg["embed.model"])
    corpus = Path(tempfile.mkdtemp(prefix="ragterm-corpus-"))
    make_corpus(corpus, args.files)
    conn = connect()

    def index() -> tuple[float, dict[str, int]]:
        t = time.perf_counter()
        counts: dict[str, int] = {}
        for ev in index_paths(conn, [corpus], cfg=cfg, embedder=embedder):
            if isinstance(ev, IndexFinished):
                counts = ev.counts
        return time.perf_counter() - t, counts

    first_s, first = index()
    texts = [
        (f"{r[0]}\n\n{r[1]}" if r[0] else r[1])
        for r in conn.execute(
            "SELECT heading, text FROM chunks GROUP BY content_hash ORDER BY min(id)"
        )
    ]
    assert len(texts) == first["embedded"], (len(texts), first)
    batch = int(cfg["embed.batch_size"])
    t = time.perf_counter()
    raw = list(embedder._model.embed(texts, batch_size=batch))
    raw_s = time.perf_counter() - t
    assert len(raw) == len(texts)
    # the indexer embeds shortest first (less padding per batch); give raw the same advantage
    t = time.perf_counter()
    list(embedder._model.embed(sorted(texts, key=len), batch_size=batch))
    sorted_s = time.perf_counter() - t
    again_s, again = index()
    index_rate = first["embedded"] / first_s
    raw_rate = len(texts) / raw_s
    sorted_rate = len(texts) / sorted_s
    share = again_s / first_s * 100
    print(f"\n## throughput ({args.files} files, {first['embedded']} chunks embedded)")
    print(f"indexing:      {first_s:7.1f} s {index_rate:6.2f} chunks/s (whole pipeline)")
    print(f"raw fastembed: {raw_s:7.1f} s {raw_rate:6.2f} chunks/s (same texts, batch {batch})")
    print(f"raw, shortest first: {sorted_s:5.1f} s {sorted_rate:6.2f} chunks/s")
    print(f"ratio indexing/raw: {index_rate / raw_rate:.3f}, indexing/raw shortest-first: "
          f"{index_rate / sorted_rate:.3f}  (target >= 0.85)")  # fmt: skip
    print(f"\n## unchanged re-run: {again_s:.2f} s = {share:.2f}% of the first run (target < 5%), "
          f"embedded {again['embedded']}, unchanged {again['unchanged']}")  # fmt: skip


def synthetic(n: int, dim: int, rng: np.random.Generator, clusters: int) -> np.ndarray:
    """Unit vectors shaped like MiniLM sentence embeddings of real text: a shared direction
    (random pairs have cosine ~0.2, as measured on the pydocs index), topic clusters, noise."""
    mean = _unit(rng.standard_normal(dim))
    centers = _unit(rng.standard_normal((clusters, dim)))
    which = rng.integers(0, clusters, n)
    noise = _unit(rng.standard_normal((n, dim)))
    return _unit(0.45 * mean + 0.6 * centers[which] + 0.65 * noise)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def fill(conn, vecs: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Store vectors through the real tables: collection, files, chunks, vectors, vec0."""
    from ragterm.store import index as store
    from ragterm.store.db import transaction

    store.set_index_model(conn, "synthetic", vecs.shape[1])
    store.ensure_vec_table(conn, vecs.shape[1])
    with transaction(conn):
        conn.execute("INSERT INTO collections(id, name, root) VALUES (1, 'synthetic', '/syn')")
        conn.execute(
            "INSERT INTO files(id, collection_id, path, status) VALUES (1, 1, 'all.txt', 'indexed')"
        )
        for a in range(0, len(vecs), 10_000):
            part = vecs[a : a + 10_000]
            ids = range(a + 1, a + 1 + len(part))
            conn.executemany(
                "INSERT INTO vectors(id, content_hash, embedding) VALUES (?, ?, ?)",
                ((i, f"h{i}", v.tobytes()) for i, v in zip(ids, part, strict=True)),
            )
            conn.executemany(
                f"INSERT INTO {store.VEC_TABLE}(rowid, embedding) VALUES (?, vec_bit(?))",
                ((i, b.tobytes()) for i, b in zip(ids, store.quantize(part), strict=True)),
            )
            conn.executemany(
                "INSERT INTO chunks(id, file_id, seq, content_hash, text) VALUES (?, 1, ?, ?, '')",
                ((i, i, f"h{i}") for i in ids),
            )


def bench_search(args: argparse.Namespace) -> None:
    from ragterm import config
    from ragterm.engine.retrieval import Retriever
    from ragterm.store.db import connect

    rng = np.random.default_rng(1)
    print("\n## vector search (synthetic 384-d clustered unit vectors, k=10, retrieval depth 40)")
    print("| chunks | p50 ms | p95 ms | recall@10 vs exact float | build s |")
    print("|--------|--------|--------|--------------------------|---------|")
    for n in args.sizes:
        vecs = synthetic(n, 384, rng, clusters=max(n // 50, 10))
        t = time.perf_counter()
        conn = connect(Path(tempfile.mkdtemp(prefix="ragterm-vec-")) / "v.db")
        fill(conn, vecs)
        build_s = time.perf_counter() - t
        retriever = Retriever(conn, cfg=config.load())
        # queries near a document but far from identical: best cosine ~0.6, as real queries
        idx = rng.integers(0, n, args.queries)
        queries = _unit(vecs[idx] + 1.2 * _unit(rng.standard_normal((args.queries, 384))))
        times, recalls = [], []
        depth = 40  # what search(k=10) asks of the vector side
        for q in queries:
            t = time.perf_counter()
            got = retriever.vector_search(q, depth)
            times.append((time.perf_counter() - t) * 1000)
            exact = np.argsort(-(vecs @ q))[:10] + 1
            recalls.append(len({c for c, _ in got[:10]} & set(exact.tolist())) / 10)
        times.sort()
        p50 = statistics.median(times)
        p95 = times[int(len(times) * 0.95) - 1]
        top1 = float(np.mean([np.max(vecs @ q) for q in queries[:50]]))
        rand = float(np.mean(vecs[:200] @ vecs[200:400].T))
        print(f"| {n:>6} | {p50:6.2f} | {p95:6.2f} | {np.mean(recalls):24.4f} | {build_s:7.1f} |"
              f"  (query top-1 cos {top1:.2f}, random pair cos {rand:.2f})")  # fmt: skip
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-embed", action="store_true")
    ap.add_argument("--skip-search", action="store_true")
    args = ap.parse_args()
    os.environ["RAGTERM_HOME"] = tempfile.mkdtemp(prefix="ragterm-bench-")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if not args.skip_embed:
        bench_embedding(args)
    if not args.skip_search:
        bench_search(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
