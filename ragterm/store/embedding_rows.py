"""The vectors of the index: one float32 row per distinct chunk text (``vectors.content_hash``)
for exact scoring, its 1-bit quantization in a ``vec0`` table (``bit[dim]``, rowid =
``vectors.id``) for fast candidate search, and the embedding model that made them. The ``vec0``
table is created when the first vector's dimension is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ragterm.store.db import Connection, get_meta, set_meta, transaction

VEC_TABLE = "vectors_bit"
META_MODEL = "index.embed_model"
META_DIM = "index.embed_dim"
META_GENERATION = "index.vectors_generation"  # bumped whenever the set of vectors changes


# --- the embedding model ------------------------------------------------------------------------


def index_model(conn: Connection) -> tuple[str, int] | None:
    """The embedding model the stored vectors come from, or None if nothing is embedded yet."""
    name = get_meta(conn, META_MODEL)
    dim = get_meta(conn, META_DIM)
    if name is None or dim is None:
        return None
    return name, int(dim)


def set_index_model(conn: Connection, name: str, dim: int) -> None:
    set_meta(conn, META_MODEL, name)
    set_meta(conn, META_DIM, str(dim))


def has_vec_table(conn: Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VEC_TABLE,)
    ).fetchone()
    return row is not None


def ensure_vec_table(conn: Connection, dim: int) -> None:
    """Create the 1-bit KNN table for ``dim``-dimensional vectors (dim is known only now)."""
    if not has_vec_table(conn):
        conn.execute(f"CREATE VIRTUAL TABLE {VEC_TABLE} USING vec0(embedding bit[{int(dim)}])")


def drop_vectors(conn: Connection) -> None:
    """Forget every vector (a new embedding model): chunks stay and are embedded again."""
    with transaction(conn):
        conn.execute("DELETE FROM vectors")
        conn.execute(f"DROP TABLE IF EXISTS {VEC_TABLE}")
        conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (META_MODEL, META_DIM))
        _bump_generation(conn)


def _bump_generation(conn: Connection) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
        "SET value = CAST(value AS INTEGER) + 1",
        (META_GENERATION,),
    )


def vectors_generation(conn: Connection) -> str:
    """Changes whenever vectors are added or removed: lets readers cache what they loaded."""
    return get_meta(conn, META_GENERATION, "0") or "0"


def load_bits(conn: Connection, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(vector ids, packed bit vectors) of every live vector, read in bulk, or None.

    Reads the ``vec0`` table's own storage (sqlite-vec 0.1.x keeps vectors in blobs of 1024 with
    a validity bitmap), so a full Hamming scan in numpy costs a few ms even at 100k vectors;
    ``vec0``'s KNN selection grows with k, which hurts when re-scoring hundreds of candidates.
    Returns None when that layout is not what this code knows: callers then use the KNN query.
    """
    nbytes = (dim + 7) // 8
    try:
        rows = conn.execute(
            f"""
            SELECT c.size, c.validity, c.rowids, v.vectors
            FROM "{VEC_TABLE}_chunks" c JOIN "{VEC_TABLE}_vector_chunks00" v
              ON v.rowid = c.chunk_id
            ORDER BY c.chunk_id
            """
        ).fetchall()
    except Exception:  # noqa: BLE001 - another sqlite-vec layout: use the KNN query instead
        return None
    ids: list[np.ndarray] = []
    bits: list[np.ndarray] = []
    for size, validity, rowids, vectors in rows:
        if not (
            isinstance(size, int)
            and len(validity) * 8 >= size
            and len(rowids) == size * 8
            and len(vectors) == size * nbytes
        ):
            return None
        valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[:size]
        mask = valid.astype(bool)
        ids.append(np.frombuffer(rowids, np.int64)[mask])
        bits.append(np.frombuffer(vectors, np.uint8).reshape(size, nbytes)[mask])
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, nbytes), np.uint8)
    return np.concatenate(ids), np.ascontiguousarray(np.concatenate(bits))


def quantize(vectors: np.ndarray) -> np.ndarray:
    """1 bit per dimension (positive -> 1), packed like sqlite-vec's ``vec_quantize_binary``."""
    return np.packbits(np.asarray(vectors) > 0, axis=-1, bitorder="little")


def to_blob(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


def known_hashes(conn: Connection, hashes: Iterable[str]) -> set[str]:
    """Which of these chunk texts already have a vector."""
    found: set[str] = set()
    items = list(set(hashes))
    for k in range(0, len(items), 500):
        part = items[k : k + 500]
        marks = ",".join("?" * len(part))
        found.update(
            r[0]
            for r in conn.execute(
                f"SELECT content_hash FROM vectors WHERE content_hash IN ({marks})", part
            )
        )
    return found


def insert_vectors(conn: Connection, vectors: dict[str, np.ndarray]) -> int:
    added = 0
    for h, vec in vectors.items():
        cur = conn.execute(
            "INSERT OR IGNORE INTO vectors(content_hash, embedding) VALUES (?, ?)",
            (h, to_blob(vec)),
        )
        if cur.rowcount:
            added += 1
            conn.execute(
                f"INSERT INTO {VEC_TABLE}(rowid, embedding) VALUES (?, vec_bit(?))",
                (cur.lastrowid, quantize(vec).tobytes()),
            )
    if added:  # readers that cached the bit codes (store.vector_rows) must see the new vectors
        _bump_generation(conn)
    return added


def add_vectors(conn: Connection, vectors: dict[str, np.ndarray]) -> int:
    """Store vectors for chunk texts (in their own transaction); returns how many were new."""
    if not vectors:
        return 0
    dim = len(next(iter(vectors.values())))
    ensure_vec_table(conn, dim)
    with transaction(conn):
        return insert_vectors(conn, vectors)


def missing_vectors(conn: Connection, limit: int = 256) -> list[tuple[str, str]]:
    """(content_hash, text to embed) of chunks whose vector is missing (a re-embed in progress)."""
    rows = conn.execute(
        """
        SELECT c.content_hash, c.heading, c.text FROM chunks c
        LEFT JOIN vectors v ON v.content_hash = c.content_hash
        WHERE v.id IS NULL GROUP BY c.content_hash LIMIT ?
        """,
        (limit,),
    ).fetchall()
    return [(r[0], f"{r[1]}\n\n{r[2]}" if r[1] else r[2]) for r in rows]


def count_missing_vectors(conn: Connection) -> int:
    (n,) = conn.execute(
        """
        SELECT count(DISTINCT c.content_hash) FROM chunks c
        LEFT JOIN vectors v ON v.content_hash = c.content_hash WHERE v.id IS NULL
        """
    ).fetchone()
    return int(n)


def gc_vectors(conn: Connection) -> int:
    """Delete vectors no chunk refers to any more (deleted files, edited text)."""
    with transaction(conn):
        if has_vec_table(conn):
            conn.execute(
                f"""
                DELETE FROM {VEC_TABLE} WHERE rowid IN (
                    SELECT v.id FROM vectors v WHERE NOT EXISTS (
                        SELECT 1 FROM chunks c WHERE c.content_hash = v.content_hash))
                """
            )
        cur = conn.execute(
            """
            DELETE FROM vectors WHERE NOT EXISTS (
                SELECT 1 FROM chunks c WHERE c.content_hash = vectors.content_hash)
            """
        )
        if cur.rowcount:
            _bump_generation(conn)
        return cur.rowcount
