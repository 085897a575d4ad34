"""Helpers shared by tests in several folders (fixtures live in the conftest files)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_files(root: Path, files: dict[str, str]) -> Path:
    """``files`` (relative path -> text) written under ``root``; returns ``root``."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def index_folder(conn: Any, *roots: Path, cfg: Any = None) -> list[Any]:
    """Index ``roots`` into ``conn`` with the real pipeline and the bundled embedding model;
    returns the events."""
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.index.pipeline import index_paths

    return list(index_paths(conn, list(roots), embedder=load_embedder(BUNDLED), cfg=cfg))


def assert_consistent(db: Any, *, after_a_kill: bool = False) -> None:
    """The index agrees with itself: SQLite's integrity check, FTS matches the chunks, every
    chunk has a vector, vec0 holds exactly the stored vectors, and no vector is unused.

    ``db`` is a connection or a database path. ``after_a_kill``: an interrupted run may leave
    pending files (chunks not yet embedded) and vectors nothing uses yet; only indexed files'
    chunks must have vectors and unused vectors are allowed (the next run collects them).
    """
    from ragterm.store import index_rows as store
    from ragterm.store.db import connect

    conn = connect(db) if isinstance(db, (str, Path)) else db
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        only_indexed = (
            " AND c.file_id IN (SELECT id FROM files WHERE status = 'indexed')"
            if after_a_kill
            else ""
        )
        (orphans,) = conn.execute(
            "SELECT count(*) FROM chunks c LEFT JOIN vectors v USING (content_hash) "
            "WHERE v.id IS NULL" + only_indexed
        ).fetchone()
        assert orphans == 0
        if not after_a_kill:
            (unused,) = conn.execute(
                "SELECT count(*) FROM vectors v WHERE NOT EXISTS "
                "(SELECT 1 FROM chunks c WHERE c.content_hash = v.content_hash)"
            ).fetchone()
            assert unused == 0
        if store.has_vec_table(conn):
            ids = {r[0] for r in conn.execute("SELECT id FROM vectors")}
            bits = {r[0] for r in conn.execute(f"SELECT rowid FROM {store.VEC_TABLE}")}
            assert ids == bits
    finally:
        if conn is not db:
            conn.close()
