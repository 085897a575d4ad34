"""The index tables: collections, files, chunks and FTS5; the vectors are embedding_rows'.

A file's chunks and any vectors they need are written in one transaction.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragterm.errors import IndexingError
from ragterm.store.db import Connection, transaction

# The vectors' tables live in embedding_rows; callers that know them as part of the index keep
# finding them here.
from ragterm.store.embedding_rows import (  # noqa: F401
    META_DIM,
    META_GENERATION,
    META_MODEL,
    VEC_TABLE,
    add_vectors,
    count_missing_vectors,
    drop_vectors,
    ensure_vec_table,
    from_blobs,
    gc_vectors,
    has_vec_table,
    index_model,
    insert_vectors,
    known_hashes,
    load_bits,
    missing_vectors,
    quantize,
    set_index_model,
    to_blob,
    vectors_generation,
)


@dataclass
class Collection:
    id: int
    name: str
    root: str
    created_at: float
    indexed_at: float | None
    files: int = 0
    chunks: int = 0
    skipped: int = 0


@dataclass
class FileRow:
    id: int
    path: str
    size: int
    mtime: float
    sha256: str | None
    status: str
    reason: str | None


@dataclass
class StatusRow:
    """One file that needs attention: skipped, failed, pending, or stale on disk."""

    collection: str
    path: str  # relative to the collection root
    status: str  # skipped | failed | pending | stale | missing
    reason: str


# --- collections --------------------------------------------------------------------------------


def _collection(row: object) -> Collection:
    return Collection(*row[:5])  # type: ignore[index]


def list_collections(conn: Connection) -> list[Collection]:
    """Every collection with counts of indexed files, chunks and skipped/failed files."""
    rows = conn.execute(
        """
        SELECT c.id, c.name, c.root, c.created_at, c.indexed_at,
          (SELECT count(*) FROM files f WHERE f.collection_id = c.id AND f.status = 'indexed'),
          (SELECT count(*) FROM chunks k JOIN files f ON f.id = k.file_id
             WHERE f.collection_id = c.id),
          (SELECT count(*) FROM files f WHERE f.collection_id = c.id
             AND f.status IN ('skipped', 'failed'))
        FROM collections c ORDER BY c.name
        """
    ).fetchall()
    return [Collection(*r) for r in rows]


def count_collections(conn: Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM collections").fetchone()[0])


def get_collection(conn: Connection, name_or_path: str) -> Collection | None:
    """By name, or by its folder (any spelling of the path)."""
    row = conn.execute(
        "SELECT id, name, root, created_at, indexed_at FROM collections WHERE name = ?",
        (name_or_path,),
    ).fetchone()
    if row is None:
        try:
            root = str(Path(name_or_path).expanduser().resolve())
        except (OSError, RuntimeError):
            return None
        row = conn.execute(
            "SELECT id, name, root, created_at, indexed_at FROM collections WHERE root = ?",
            (root,),
        ).fetchone()
    return _collection(row) if row else None


def containing(conn: Connection, path: Path) -> tuple[Collection, str] | None:
    """The collection whose folder holds ``path`` (and the sub-path inside it), if any."""
    target = str(path)
    for c in list_collections(conn):
        if target == c.root:
            return c, ""
        if target.startswith(c.root.rstrip(os.sep) + os.sep):
            return c, Path(target).relative_to(c.root).as_posix()
    return None


def nested_in(conn: Connection, path: Path) -> list[Collection]:
    """Collections whose folders lie inside ``path``."""
    prefix = str(path).rstrip(os.sep) + os.sep
    return [c for c in list_collections(conn) if c.root.startswith(prefix)]


def add_collection(conn: Connection, root: Path, name: str | None = None) -> Collection:
    """Register a folder (or single file); the name is its base name, made unique."""
    base = name or root.name or "root"
    taken = {c.name for c in list_collections(conn)}
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO collections(name, root) VALUES (?, ?)", (candidate, str(root))
        )
    found = get_collection(conn, candidate)
    assert found is not None and found.id == cur.lastrowid
    return found


def remove_collection(conn: Connection, name_or_path: str) -> Collection:
    """Forget a collection, its files and chunks; vectors nobody else uses go too."""
    c = get_collection(conn, name_or_path)
    if c is None:
        known = ", ".join(x.name for x in list_collections(conn)) or "none"
        raise IndexingError(
            f"no collection named or rooted at {name_or_path!r} (known: {known})",
            hint="see `ragterm index --list`",
        )
    with transaction(conn):
        conn.execute("DELETE FROM collections WHERE id = ?", (c.id,))
    gc_vectors(conn)
    return c


def touch_collection(conn: Connection, collection_id: int) -> None:
    conn.execute("UPDATE collections SET indexed_at = ? WHERE id = ?", (time.time(), collection_id))


# --- files and chunks ---------------------------------------------------------------------------


def file_rows(conn: Connection, collection_id: int, scope: str = "") -> dict[str, FileRow]:
    """The collection's known files (under ``scope``, a sub-folder, when given), by path."""
    sql = "SELECT id, path, size, mtime, sha256, status, reason FROM files WHERE collection_id = ?"
    args: list[object] = [collection_id]
    if scope:
        sql += " AND (path = ? OR substr(path, 1, ?) = ?)"
        args += [scope, len(scope) + 1, scope + "/"]
    return {r[1]: FileRow(*r) for r in conn.execute(sql, args)}


def set_file_status(
    conn: Connection,
    collection_id: int,
    path: str,
    status: str,
    reason: str | None = None,
    *,
    size: int = 0,
    mtime: float = 0.0,
    kind: str | None = None,
    drop_chunks: bool = False,
) -> int:
    """Record a file that is pending, skipped or failed (keeping its old chunks unless told)."""
    conn.execute(
        """
        INSERT INTO files(collection_id, path, size, mtime, kind, status, reason)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(collection_id, path) DO UPDATE SET
          status = excluded.status, reason = excluded.reason,
          size = CASE WHEN excluded.status = 'pending' THEN files.size ELSE excluded.size END,
          mtime = CASE WHEN excluded.status = 'pending' THEN files.mtime ELSE excluded.mtime END,
          kind = coalesce(excluded.kind, files.kind)
        """,
        (collection_id, path, size, mtime, kind, status, reason),
    )
    (file_id,) = conn.execute(
        "SELECT id FROM files WHERE collection_id = ? AND path = ?", (collection_id, path)
    ).fetchone()
    if drop_chunks:
        conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
        conn.execute("UPDATE files SET sha256 = NULL WHERE id = ?", (file_id,))
    return int(file_id)


def mark_unchanged(conn: Connection, file_id: int, size: int, mtime: float) -> None:
    """Same content, new timestamp (touched, or copied back): no work but remember the stat."""
    conn.execute(
        "UPDATE files SET size = ?, mtime = ?, status = 'indexed', reason = NULL WHERE id = ?",
        (size, mtime, file_id),
    )


def write_file(
    conn: Connection,
    collection_id: int,
    path: str,
    *,
    size: int,
    mtime: float,
    sha256: str,
    kind: str,
    chunks: Sequence[object],
    vectors: dict[str, np.ndarray],
) -> None:
    """Replace one file's chunks (and add the vectors they need) in one transaction."""
    if vectors:
        ensure_vec_table(conn, len(next(iter(vectors.values()))))
    with transaction(conn):
        insert_vectors(conn, vectors)
        file_id = set_file_status(
            conn, collection_id, path, "indexed", size=size, mtime=mtime, kind=kind
        )
        conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
        conn.executemany(
            """
            INSERT INTO chunks(file_id, seq, content_hash, text, heading, start_line, end_line,
                               page, n_tokens)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                (
                    file_id,
                    seq,
                    c.content_hash,  # type: ignore[attr-defined]
                    c.text,  # type: ignore[attr-defined]
                    c.heading,  # type: ignore[attr-defined]
                    c.start_line,  # type: ignore[attr-defined]
                    c.end_line,  # type: ignore[attr-defined]
                    c.page,  # type: ignore[attr-defined]
                    c.n_tokens,  # type: ignore[attr-defined]
                )
                for seq, c in enumerate(chunks)
            ],
        )
        conn.execute(
            "UPDATE files SET size = ?, mtime = ?, sha256 = ?, kind = ?, indexed_at = ?, "
            "reason = NULL WHERE id = ?",
            (size, mtime, sha256, kind, time.time(), file_id),
        )


def delete_files(conn: Connection, ids: Iterable[int]) -> int:
    """Forget files that are gone from disk (their chunks go with them)."""
    items = list(ids)
    with transaction(conn):
        for k in range(0, len(items), 500):
            part = items[k : k + 500]
            conn.execute(f"DELETE FROM files WHERE id IN ({','.join('?' * len(part))})", part)
    return len(items)


def delete_file(conn: Connection, collection_id: int, path: str) -> None:
    """Forget one file of a collection (it vanished while being indexed)."""
    conn.execute("DELETE FROM files WHERE collection_id = ? AND path = ?", (collection_id, path))


def has_chunks(conn: Connection) -> bool:
    return conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None


def counts(conn: Connection) -> dict[str, int]:
    """Totals for doctor/TUI: collections, files, chunks, vectors."""
    out = {}
    for table in ("collections", "files", "chunks", "vectors"):
        (out[table],) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return out


def status(conn: Connection, *, check_disk: bool = True) -> list[StatusRow]:
    """Files that failed, were skipped, are still pending, or changed on disk since indexing."""
    out: list[StatusRow] = []
    rows = conn.execute(
        """
        SELECT c.name, c.root, f.path, f.status, coalesce(f.reason, ''), f.size, f.mtime
        FROM files f JOIN collections c ON c.id = f.collection_id
        ORDER BY c.name, f.path
        """
    ).fetchall()
    for name, root, path, st, reason, size, mtime in rows:
        if st in ("skipped", "failed"):
            out.append(StatusRow(name, path, st, reason))
        elif st == "pending":
            out.append(StatusRow(name, path, st, reason or "indexing did not finish"))
        elif check_disk:
            full = Path(root) if Path(root).is_file() else Path(root) / path
            try:
                s = full.stat()
            except FileNotFoundError:
                out.append(StatusRow(name, path, "missing", "deleted since it was indexed"))
                continue
            except OSError as exc:
                out.append(StatusRow(name, path, "stale", f"unreadable: {exc.strerror or exc}"))
                continue
            if s.st_size != size or s.st_mtime != mtime:
                out.append(StatusRow(name, path, "stale", "changed since it was indexed"))
    return out
