#!/usr/bin/env python
"""Remote vs local embedding throughput, and the client's overhead.

Starts ``ragterm.engine.embed_serve`` in a child process on loopback (the bundled MiniLM), then
embeds the same real chunk texts three ways:

1. local: ``Embedder.embed`` in this process (what ``embed.backend = local`` does);
2. remote: ``RemoteEmbedder.embed`` through the server (what ``embed.backend = remote`` does);
3. the server's own throughput: texts / seconds spent inside its model (its ``/stats``).

The figure that matters is remote / server-own (the client's overhead ratio, goal >= 0.9); on a
real deployment the server is a bigger machine and remote / local is the speed-up.

    .venv/bin/python scripts/bench_embed_remote.py --texts 600
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chunk_texts(n: int, home: Path | None) -> list[str]:
    """Real chunk texts: from an existing index (read-only) if given, else generated notes."""
    if home is not None and (home / "data" / "ragterm.db").is_file():
        import sqlite3

        db = sqlite3.connect(f"file:{home / 'data' / 'ragterm.db'}?immutable=1", uri=True)
        rows = db.execute(
            "SELECT heading, text FROM chunks GROUP BY content_hash ORDER BY min(id) LIMIT ?", (n,)
        ).fetchall()
        return [f"{h}\n\n{t}" if h else t for h, t in rows]
    sys.path.insert(0, str(ROOT / "scripts"))
    import random

    from bench_index import WORDS

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 160))) for _ in range(n)]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument(
        "--home",
        type=Path,
        default=Path("/work/cache/pydocs-home"),
        help="an indexed RAGTERM_HOME to take chunk texts from (read only)",
    )
    args = ap.parse_args()
    texts = chunk_texts(args.texts, args.home)
    os.environ["RAGTERM_HOME"] = tempfile.mkdtemp(prefix="ragterm-bench-")
    sys.path.insert(0, str(ROOT))
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.embed.remote_embedder import RemoteEmbedder

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-m", "ragterm.engine.embed_serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            try:
                get(f"{url}/models")
                break
            except OSError:
                time.sleep(0.1)
        local = load_embedder(BUNDLED)
        remote = RemoteEmbedder(url, "all-MiniLM-L6-v2", batch_size=args.batch)
        local.embed(texts[: args.batch]), remote.embed(texts[: args.batch])  # warm both
        t = time.perf_counter()
        local.embed(texts, batch_size=args.batch)
        local_s = time.perf_counter() - t
        before = get(f"{url}/stats")
        t = time.perf_counter()
        remote.embed(sorted(texts, key=len), batch_size=args.batch)
        remote_s = time.perf_counter() - t
        after = get(f"{url}/stats")
    finally:
        child.terminate()
        child.wait(10)
    busy = after["busy_s"] - before["busy_s"]
    n = len(texts)
    print(f"## remote embeddings ({n} chunk texts, batch {args.batch}, server on loopback)")
    print("| path | seconds | chunks/s |")
    print("|---|---|---|")
    print(f"| local (in process) | {local_s:.1f} | {n / local_s:.1f} |")
    print(f"| server's own (time inside its model) | {busy:.1f} | {n / busy:.1f} |")
    print(f"| remote client (end to end) | {remote_s:.1f} | {n / remote_s:.1f} |")
    print(f"client overhead ratio remote/server-own: {busy / remote_s:.3f} (goal >= 0.9); "
          f"remote/local: {local_s / remote_s:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
