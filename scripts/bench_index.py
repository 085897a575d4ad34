#!/usr/bin/env python
"""Indexing throughput, incremental re-runs, and vector search latency/recall at scale.

Three measurements, each as a ratio or number from one run:

1. throughput: ``index_paths`` over a generated corpus (``--files`` markdown files of varied
   length) vs raw fastembed (``TextEmbedding.embed``) over exactly the chunk texts the indexer
   embedded. Target: indexing >= 0.85x raw.
2. re-run: the same corpus indexed again unchanged. Target: < 5% of the first run, 0 embedded.
3. search: synthetic clustered unit vectors (10k and 100k chunks; ``--sizes 1000000`` for 1M)
   written straight to the real tables (vectors + vec0 bit[dim] + chunks, in blocks of 100k, one
   transaction each: no embedding), then ``Retriever.vector_search`` latency p50/p95, recall@10
   against exact float cosine search, the process's RSS and the database's size on disk.
   Target at 100k: p50 < 15 ms, recall@10 >= 0.95.
4. big folder (``--big-files N``): ``index_paths`` over N generated files of ~10 chunks each with
   the embedding model replaced by hashed random vectors (``HashEmbedder``: the model's cost is
   item 1's business), sampling RSS as it goes: memory must stay flat as chunks accumulate.

5. memory (``--folder PATH``, ``--pydocs``): a real folder indexed by ragterm (model load, parse,
   chunk, embed, write) in one child process, and raw fastembed (``TextEmbedding`` as its docs
   show it, batch ``embed.batch_size``) embedding exactly the texts ragterm embeds in another:
   wall, peak RSS (the child's ru_maxrss from wait4), chunks/s and their ratio, from one run.
   Targets: peak RSS <= 400 MB, throughput >= 0.95x raw.

    .venv/bin/python scripts/bench_index.py              # 1-3 (~10 min on 2 cores)
    .venv/bin/python scripts/bench_index.py --skip-embed # only the search part
    .venv/bin/python scripts/bench_index.py --skip-embed --sizes 1000000   # 1M chunks
    .venv/bin/python scripts/bench_index.py --skip-embed --skip-search --big-files 10000
    .venv/bin/python scripts/bench_index.py --folder .venv/lib/python3.11/site-packages/click
    .venv/bin/python scripts/bench_index.py --pydocs [--max-files 80]   # pydocs corpus
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
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
    from ragterm.engine.index.pipeline import index_paths
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


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def rss_mib() -> float:
    """The process's resident memory now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fill(conn, vecs: np.ndarray, start: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Store one block of vectors through the real tables, in one transaction: collection,
    file, chunks (and their FTS rows), vectors, vec0."""
    from ragterm.store import index_rows as store
    from ragterm.store.db import transaction

    if start == 0:
        store.set_index_model(conn, "synthetic", vecs.shape[1])
        store.ensure_vec_table(conn, vecs.shape[1])
    with transaction(conn):
        if start == 0:
            conn.execute("INSERT INTO collections(id, name, root) VALUES (1, 'synthetic', '/syn')")
            conn.execute(
                "INSERT INTO files(id, collection_id, path, status) "
                "VALUES (1, 1, 'all.txt', 'indexed')"
            )
        for a in range(0, len(vecs), 10_000):
            part = vecs[a : a + 10_000]
            ids = range(start + a + 1, start + a + 1 + len(part))
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


BLOCK = 100_000


def bench_search(args: argparse.Namespace) -> None:
    from ragterm.store.db import connect

    print("\n## vector search (synthetic 384-d clustered unit vectors, k=10, retrieval depth 40)")
    print("| chunks | p50 ms | p95 ms | first search ms | recall@10 vs exact float | build s | "
          "RSS MiB (search delta) | db GiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        # unit vectors shaped like MiniLM sentence embeddings of real text: a shared direction
        # (random pairs have cosine ~0.2, as measured on the pydocs index), topic clusters, noise
        rng = np.random.default_rng(1)
        dim, clusters = 384, max(n // 50, 10)
        mean = _unit(rng.standard_normal(dim))
        centers = _unit(rng.standard_normal((clusters, dim)))
        folder = Path(tempfile.mkdtemp(prefix="ragterm-vec-", dir=args.tmp))
        t = time.perf_counter()
        conn = connect(folder / "v.db")
        queries = None
        best = None  # (queries, 10) exact top-10 so far: (cosines, ids), merged block by block
        for start in range(0, n, BLOCK):
            m = min(BLOCK, n - start)
            which = rng.integers(0, clusters, m)
            noise = _unit(rng.standard_normal((m, dim)))
            vecs = _unit(0.45 * mean + 0.6 * centers[which] + 0.65 * noise)
            del noise
            if queries is None:  # near a document but far from identical: top-1 cosine ~0.6
                idx = rng.integers(0, m, args.queries)
                jitter = _unit(rng.standard_normal((args.queries, dim)))
                queries = _unit(vecs[idx] + 1.2 * jitter)
            sims = queries @ vecs.T
            top = np.argpartition(-sims, 10, axis=1)[:, :10]
            cand_s = np.take_along_axis(sims, top, 1)
            cand_i = top + start + 1
            if best is not None:
                cand_s = np.concatenate([best[0], cand_s], 1)
                cand_i = np.concatenate([best[1], cand_i], 1)
            keep = np.argsort(-cand_s, axis=1)[:, :10]
            best = (np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_i, keep, 1))
            fill(conn, vecs, start)
            del vecs, sims
        build_s = time.perf_counter() - t
        assert queries is not None and best is not None
        conn.close()
        np.savez(folder / "queries.npz", queries=queries, exact=best[1])
        # searched in a fresh process: its RSS is what a reader of this index holds
        import subprocess

        out = subprocess.run(
            [sys.executable, __file__, "--search-db", str(folder)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        p50, p95, first_ms, recall, rss0, rss1 = (float(x) for x in out[-6:])
        size = sum(f.stat().st_size for f in folder.glob("v.db*")) / 2**30
        print(f"| {n:>7} | {p50:6.2f} | {p95:6.2f} | {first_ms:8.0f} | {recall:.4f} | "
              f"{build_s:7.1f} | {rss1:.0f} ({rss1 - rss0:+.0f}) | {size:.2f} |")  # fmt: skip
        if not args.keep:
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
    print("RSS: of a fresh process that opened the index and ran the queries (in brackets: what "
          "the first search added, the bit codes it loads)")  # fmt: skip


def search_child(folder: Path) -> None:
    """Open a built index in this (fresh) process and time the queries saved beside it."""
    from ragterm import config
    from ragterm.engine.retrieve.hybrid_search import Retriever
    from ragterm.store.db import connect

    data = np.load(folder / "queries.npz")
    queries, exact = data["queries"], data["exact"]
    conn = connect(folder / "v.db")
    retriever = Retriever(conn, cfg=config.load())
    rss0 = rss_mib()
    depth = 40  # what search(k=10) asks of the vector side
    t = time.perf_counter()
    retriever.vector_search(queries[0], depth)  # loads the bit codes
    first_ms = (time.perf_counter() - t) * 1000
    times, recalls = [], []
    for q, want in zip(queries, exact, strict=True):
        t = time.perf_counter()
        got = retriever.vector_search(q, depth)
        times.append((time.perf_counter() - t) * 1000)
        recalls.append(len({c for c, _ in got[:10]} & set(want.tolist())) / 10)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(statistics.median(times), p95, first_ms, np.mean(recalls), rss0, rss_mib())


class HashEmbedder:
    """Stands in for the embedding model in the big-folder run: a unit vector seeded by the text's
    hash, at no cost, with the bundled model's real tokenizer for chunking."""

    name, dim = "bench:hashed", 384

    def __init__(self) -> None:
        from ragterm.engine.embed import load_tokenizer

        self._tok = load_tokenizer()
        self.max_tokens = self._tok.max_tokens

    def count_tokens(self, texts):  # type: ignore[no-untyped-def]
        return self._tok.count_tokens(texts)

    def token_offsets(self, text):  # type: ignore[no-untyped-def]
        return self._tok.token_offsets(text)

    def embed(self, texts, batch_size=32):  # type: ignore[no-untyped-def]
        out = []
        for t in texts:
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            out.append(np.random.default_rng(seed).standard_normal(self.dim))
        return _unit(np.asarray(out))

    def embed_query(self, text):  # type: ignore[no-untyped-def]
        return self.embed([text])[0]


def make_big_corpus(root: Path, n_files: int, seed: int = 0) -> None:
    """Files of ~10 chunks (at 200 tokens): ten paragraphs of 120-170 words."""
    rng = random.Random(seed)
    for i in range(n_files):
        folder = root / f"part{i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        paras = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(120, 170))).capitalize() + "."
            for _ in range(10)
        ]
        (folder / f"doc{i:06d}.md").write_text(f"# Doc {i}\n\n" + "\n\n".join(paras) + "\n")


def bench_big_folder(args: argparse.Namespace) -> None:
    from ragterm import config
    from ragterm.engine.events import FileDone, IndexFinished
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.store.db import connect

    corpus = Path(tempfile.mkdtemp(prefix="ragterm-big-", dir=args.tmp))
    t = time.perf_counter()
    make_big_corpus(corpus, args.big_files)
    gen_s = time.perf_counter() - t
    size_mb = sum(p.stat().st_size for p in corpus.rglob("*.md")) / 2**20
    conn = connect()
    samples: list[tuple[int, float]] = []  # (files done, RSS MiB)
    peak = [rss_mib()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_mib())

    threading.Thread(target=sample, daemon=True).start()
    start_rss = rss_mib()
    t = time.perf_counter()
    counts: dict[str, int] = {}
    done = 0
    step = max(args.big_files // 10, 1)
    for ev in index_paths(conn, [corpus], cfg=config.load(), embedder=HashEmbedder()):
        if isinstance(ev, FileDone):
            done += 1
            if done % step == 0:
                samples.append((done, rss_mib()))
        elif isinstance(ev, IndexFinished):
            counts = ev.counts
    index_s = time.perf_counter() - t
    stop.set()
    (n_chunks,) = conn.execute("SELECT count(*) FROM chunks").fetchone()
    print(f"\n## big folder: {args.big_files} files, {size_mb:.0f} MB of text (generated in "
          f"{gen_s:.0f} s), {n_chunks} chunks, hashed vectors instead of the model")  # fmt: skip
    print(f"indexed in {index_s:.0f} s ({n_chunks / index_s:.0f} chunks/s without embedding); "
          f"counts {counts}")  # fmt: skip
    print(f"RSS before {start_rss:.0f} MiB, peak {peak[0]:.0f} MiB; by files done: "
          + ", ".join(f"{d}: {r:.0f}" for d, r in samples))  # fmt: skip


# -- 5. memory and throughput on a real folder, each side in its own process --------------------

PYDOCS = Path(os.environ.get("RAGTERM_PYDOCS", "/work/shared/eval/pydocs"))


class _Recorder(HashEmbedder):
    """The chunker's view of a folder: every text the indexer would hand to the model."""

    def __init__(self) -> None:
        super().__init__()
        from ragterm.engine.embed import BUNDLED

        self.name = BUNDLED  # the chunker's settings key includes the model name
        self.texts: list[str] = []

    def embed(self, texts, batch_size=32):  # type: ignore[no-untyped-def]
        self.texts.extend(texts)
        return super().embed(texts, batch_size)


def _texts_of(folder: Path) -> list[str]:
    """The chunk texts ragterm embeds for ``folder``, in the order the indexer meets them (file
    by file), found with the real walker, parsers and chunker but no model."""
    from ragterm import config
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.store.db import connect

    rec = _Recorder()
    db = Path(os.environ["RAGTERM_HOME"]) / "texts.db"
    for _ in index_paths(connect(db), [folder], cfg=config.load(), embedder=rec):
        pass
    return rec.texts


def _child_main(mode: str, arg: str, out: str) -> None:
    """One side of the memory bench, in a fresh process: result as JSON into ``out``."""
    if mode == "ragterm":
        from ragterm import config
        from ragterm.engine.embed import bundled_model_dir, load_embedder
        from ragterm.engine.events import IndexFinished
        from ragterm.engine.index.pipeline import index_paths
        from ragterm.store.db import connect

        cfg = config.load()
        bundled_model_dir()  # copied into the cache once per home: not part of either side
        t = time.perf_counter()
        embedder = load_embedder(cfg["embed.model"])
        counts: dict[str, int] = {}
        for ev in index_paths(connect(), [Path(arg)], cfg=cfg, embedder=embedder):
            if isinstance(ev, IndexFinished):
                counts = ev.counts
        result = {"wall": time.perf_counter() - t, "n": counts.get("embedded", 0)}
    else:
        from ragterm import config
        from ragterm.engine.embed.local_embedder import BUNDLED_FASTEMBED_NAME, bundled_model_dir

        texts = json.loads(Path(arg).read_text())
        batch = int(config.load()["embed.batch_size"])
        folder = str(bundled_model_dir())
        from fastembed import TextEmbedding

        t = time.perf_counter()
        model = TextEmbedding(BUNDLED_FASTEMBED_NAME, specific_model_path=folder)
        n = sum(1 for _ in model.embed(texts, batch_size=batch))
        result = {"wall": time.perf_counter() - t, "n": n}
    Path(out).write_text(json.dumps(result))


def _run_child(mode: str, arg: str, home: Path) -> dict[str, float]:
    """Run one side in a child process; its peak RSS is the child's own ru_maxrss (wait4)."""
    import subprocess

    out = home / f"{mode}.json"
    env = dict(os.environ, RAGTERM_HOME=str(home / mode))
    shutil.rmtree(home / mode, ignore_errors=True)
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, arg, str(out)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the {mode} child failed with {proc.returncode}")
    result = json.loads(out.read_text())
    result["rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def bench_memory(folder: Path, label: str, repeat: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="ragterm-mem-"))
    os.environ["RAGTERM_HOME"] = str(home / "prep")
    texts = _texts_of(folder)
    texts_file = home / "texts.json"
    texts_file.write_text(json.dumps(texts))
    n_files = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"\n## memory and throughput: {label} ({n_files} files, {len(texts)} chunk texts)")
    print("| run | side | wall s | peak RSS MB | chunks/s |")
    print("|---|---|---|---|---|")
    rows: dict[str, list[dict[str, float]]] = {"raw": [], "ragterm": []}
    for r in range(1, repeat + 1):
        # alternate the order, so neither side always runs on a warmer (or busier) machine
        for mode in ("raw", "ragterm") if r % 2 else ("ragterm", "raw"):
            arg = str(texts_file) if mode == "raw" else str(folder)
            res = _run_child(mode, arg, home)
            rows[mode].append(res)
            name = "raw fastembed" if mode == "raw" else "ragterm index"
            print(f"| {r} | {name} | {res['wall']:.1f} | {res['rss_mb']:.0f} | "
                  f"{res['n'] / res['wall']:.2f} |", flush=True)  # fmt: skip
    raw_rate = statistics.median(x["n"] / x["wall"] for x in rows["raw"])
    rag_rate = statistics.median(x["n"] / x["wall"] for x in rows["ragterm"])
    raw_rss = max(x["rss_mb"] for x in rows["raw"])
    rag_rss = max(x["rss_mb"] for x in rows["ragterm"])
    embedded = {int(x["n"]) for x in rows["ragterm"]}
    print(f"ragterm embedded {sorted(embedded)} texts (raw: {len(texts)}); median chunks/s "
          f"ragterm {rag_rate:.2f} vs raw {raw_rate:.2f}: ratio {rag_rate / raw_rate:.3f} "
          f"(target >= 0.95); peak RSS ragterm {rag_rss:.0f} MB vs raw {raw_rss:.0f} MB "
          f"(target <= 400)")  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)


def _pydocs_folder(max_files: int | None) -> Path:
    corpus = PYDOCS / "corpus"
    if not corpus.is_dir():
        raise SystemExit(f"no pydocs corpus at {corpus} (set RAGTERM_PYDOCS)")
    if not max_files:
        return corpus
    part = Path(tempfile.mkdtemp(prefix="ragterm-pydocs-"))
    for p in sorted(corpus.iterdir())[:max_files]:
        shutil.copyfile(p, part / p.name)
    return part


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-embed", action="store_true")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--big-files", type=int, default=0, help="big-folder run with N files")
    ap.add_argument("--tmp", default=None, help="folder for the temporary databases")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic databases")
    ap.add_argument("--folder", type=Path, help="memory run: index this folder vs raw fastembed")
    ap.add_argument("--pydocs", action="store_true", help="memory run on the pydocs corpus")
    ap.add_argument("--max-files", type=int, help="--pydocs: only its first N pages")
    ap.add_argument("--repeat", type=int, default=1, help="memory runs per side (median)")
    ap.add_argument("--search-db", type=Path, help=argparse.SUPPRESS)  # the search child
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # a memory-run child
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        _child_main(*args.child)
        return 0
    if args.folder or args.pydocs:  # the memory runs alone
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        if args.folder:
            bench_memory(args.folder.resolve(), args.folder.name, args.repeat)
        if args.pydocs:
            label = "pydocs" + (f" (first {args.max_files} pages)" if args.max_files else "")
            folder = _pydocs_folder(args.max_files)
            bench_memory(folder, label, args.repeat)
            if folder != PYDOCS / "corpus":
                shutil.rmtree(folder, ignore_errors=True)  # the copy of the first pages
        return 0
    if args.search_db:
        os.environ["RAGTERM_HOME"] = str(args.search_db / "home")
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        search_child(args.search_db)
        return 0
    os.environ["RAGTERM_HOME"] = tempfile.mkdtemp(prefix="ragterm-bench-")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if not args.skip_embed:
        bench_embedding(args)
    if not args.skip_search:
        bench_search(args)
    if args.big_files:
        bench_big_folder(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
