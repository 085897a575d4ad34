"""The index's read side: the SQL behind keyword and vector search (engine/retrieve/ ranks).

Filters are a ``where`` fragment (``" AND ..."``, over aliases ``c`` chunks, ``f`` files and
``col`` collections) with its arguments, made by :func:`filters`; every query here accepts one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragterm.store.db import Connection
from ragterm.store.embedding_rows import VEC_TABLE

# chunks with their file and collection: the join every filtered query needs
_SCOPE = "JOIN files f ON f.id = c.file_id JOIN collections col ON col.id = f.collection_id"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def filters(collections: Sequence[str] | None, path_glob: str | None) -> tuple[str, list[Any]]:
    """The ``where`` fragment for collection names and a path glob (relative or absolute)."""
    where, args = "", []
    if collections:
        where += f" AND col.name IN ({_marks(len(collections))})"
        args += list(collections)
    if path_glob:
        where += " AND (f.path GLOB ? OR (col.root || '/' || f.path) GLOB ? OR col.root GLOB ?)"
        args += [path_glob, path_glob, path_glob]
    return where, args


def keyword_rows(
    conn: Connection,
    fts: str,
    n: int,
    heading_weight: float,
    where: str = "",
    args: Sequence[Any] = (),
) -> list[tuple[int, float]]:
    """(chunk id, BM25) for an FTS5 query, best (lowest) first."""
    rows = conn.execute(
        f"""
        SELECT c.id, bm25(chunks_fts, 1.0, {float(heading_weight)}) AS s
        FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid {_SCOPE}
        WHERE chunks_fts MATCH ? {where}
        ORDER BY s LIMIT ?
        """,
        (fts, *args, n),
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def count_chunks(conn: Connection, where: str = "", args: Sequence[Any] = ()) -> int:
    (count,) = conn.execute(
        f"SELECT count(*) FROM chunks c {_SCOPE} WHERE 1 {where}", tuple(args)
    ).fetchone()
    return int(count)


def vectors_by_id(conn: Connection, ids: Sequence[int]) -> list[tuple[int, bytes]]:
    """(vector id, float32 blob) for the given vector ids."""
    rows = conn.execute(
        f"SELECT id, embedding FROM vectors WHERE id IN ({_marks(len(ids))})", tuple(ids)
    ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def chunks_of_vectors(
    conn: Connection, vector_ids: Sequence[int], where: str = "", args: Sequence[Any] = ()
) -> list[tuple[int, int]]:
    """(chunk id, vector id) for chunks with those vectors (same text), within the filter."""
    rows = conn.execute(
        f"""
        SELECT c.id, v.id FROM vectors v JOIN chunks c ON c.content_hash = v.content_hash
        {_SCOPE} WHERE v.id IN ({_marks(len(vector_ids))}) {where}
        """,
        (*vector_ids, *args),
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def knn_bits(conn: Connection, qbits: bytes, k: int) -> list[int]:
    """Vector ids nearest to the packed query bits by vec0's own (Hamming) KNN."""
    rows = conn.execute(
        f"SELECT rowid FROM {VEC_TABLE} WHERE embedding MATCH vec_bit(?) AND k = ?", (qbits, k)
    ).fetchall()
    return [int(r[0]) for r in rows]


def chunk_vectors(
    conn: Connection, where: str = "", args: Sequence[Any] = ()
) -> list[tuple[int, bytes]]:
    """(chunk id, float32 blob) for every chunk within the filter."""
    rows = conn.execute(
        f"""
        SELECT c.id, v.embedding FROM chunks c
        JOIN vectors v ON v.content_hash = c.content_hash {_SCOPE}
        WHERE 1 {where}
        """,
        tuple(args),
    ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def vectors_of_chunks(conn: Connection, chunk_ids: Sequence[int]) -> list[tuple[int, bytes]]:
    """(chunk id, float32 blob) for the given chunks that have a vector."""
    rows = conn.execute(
        f"""
        SELECT c.id, v.embedding FROM chunks c JOIN vectors v ON v.content_hash = c.content_hash
        WHERE c.id IN ({_marks(len(chunk_ids))})
        """,
        tuple(chunk_ids),
    ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def hit_rows(conn: Connection, chunk_ids: Sequence[int]) -> dict[int, Any]:
    """Chunk id -> row with the chunk's text and place (path, collection name and root)."""
    if not chunk_ids:
        return {}
    rows = conn.execute(
        f"""
        SELECT c.id, c.text, c.heading, c.start_line, c.end_line, c.page, c.content_hash,
               f.path, col.name AS collection, col.root
        FROM chunks c {_SCOPE}
        WHERE c.id IN ({_marks(len(chunk_ids))})
        """,
        tuple(chunk_ids),
    ).fetchall()
    return {int(r["id"]): r for r in rows}
