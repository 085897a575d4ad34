"""Helpers for the fault-injection suite: real `ragterm` processes, real files, real SQLite."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

TOPICS = [
    ("coffee", "Grind the beans coarsely and steep them for four minutes in hot water."),
    ("tea", "Green tea wants water at eighty degrees and two minutes at most."),
    ("bread", "Sourdough needs a lively starter, long fermentation and a very hot oven."),
    ("bikes", "Keep the chain clean and lubricated; check tyre pressure every week."),
    ("garden", "Tomatoes want full sun, deep watering and a stake before they flop."),
    ("backup", "Copy the data folder nightly and test a restore once a month."),
    ("logs", "Rotate the logs daily, compress old ones and keep fourteen days."),
    ("git", "Rebase feature branches on main and squash fixups before merging."),
    ("python", "Use a virtual environment per project and pin the dependencies."),
    ("sleep", "Keep a regular bedtime and no screens for an hour before it."),
]


def write_corpus(root: Path, n: int = 20, seed: int = 0) -> Path:
    """``n`` small Markdown/text files of a few paragraphs each (a few chunks each)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic, line = TOPICS[i % len(TOPICS)]
        paras = [
            f"{line} Note {i}.{j}: " + " ".join(rng.choice(line.split()) for _ in range(60))
            for j in range(rng.randint(3, 8))
        ]
        ext = ".md" if i % 2 else ".txt"
        head = f"# {topic.title()} {i}\n\n" if ext == ".md" else ""
        (root / f"{topic}-{i:02d}{ext}").write_text(head + "\n\n".join(paras) + "\n")
    return root


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTERM_")}
    env.update(
        RAGTERM_HOME=str(home),
        HOME=str(home / "user"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
        COLUMNS="200",
    )
    env.update(extra)
    return env


def ragterm(
    home: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m ragterm ARGS`` in its own process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "ragterm", *args],
        env=env or env_for(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ragterm", *args],
        env=env or env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def lock_file(home: Path) -> Path:
    return home / "data" / "ragterm.db.index-lock"


def wait_until(cond: Callable[[], bool], timeout: float = 60, step: float = 0.01) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(step)
    return False


def indexing(home: Path) -> bool:
    """The indexer holds the lock (its pid is in the lock file only while it does)."""
    try:
        return lock_file(home).stat().st_size > 0
    except OSError:
        return False


def kill(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def db_counts(db: Path) -> dict[str, Any]:
    """What a search can see: files by status, chunks, FTS rows, vectors, vec-index rows."""
    from ragterm.store import index_rows as store
    from ragterm.store.db import connect

    conn = connect(db)
    try:
        files = dict(conn.execute("SELECT status, count(*) FROM files GROUP BY status").fetchall())
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        out = {
            "files": files,
            "chunks": one("SELECT count(*) FROM chunks"),
            "fts": one("SELECT count(*) FROM chunks_fts"),
            "vectors": one("SELECT count(*) FROM vectors"),
            "distinct_texts": one("SELECT count(DISTINCT content_hash) FROM chunks"),
        }
        if store.has_vec_table(conn):
            out["vec_rows"] = one(f"SELECT count(*) FROM {store.VEC_TABLE}")
        return out
    finally:
        conn.close()


def search_results(db: Path, queries: list[str], k: int = 5) -> list[list[tuple]]:
    from ragterm import config
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.retrieve.hybrid_search import Retriever
    from ragterm.store.db import connect

    conn = connect(db)
    try:
        r = Retriever(conn, embedder=load_embedder(BUNDLED), cfg=config.load())
        return [
            [(Path(h.path).name, h.start_line, h.end_line, round(h.score, 4)) for h in hits]
            for hits in (r.search(q, k=k) for q in queries)
        ]
    finally:
        conn.close()


def search_works(db: Path) -> bool:
    """A search right now (in this process: a child per check would triple the suite's time)."""
    from ragterm import config
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.retrieve.hybrid_search import Retriever, has_index
    from ragterm.store.db import connect

    conn = connect(db)
    try:
        if not has_index(conn):  # killed before its first file was stored: nothing to find yet
            return True
        Retriever(conn, embedder=load_embedder(BUNDLED), cfg=config.load()).search("coffee", k=5)
        return True
    finally:
        conn.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h
